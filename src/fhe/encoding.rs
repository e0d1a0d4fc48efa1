//! Signed integers in the top bits of a 64-bit torus element, and modulus switching.

/// `t`-bit signed messages scaled by `2^(64 - t)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub message_bits: u32,
}

impl Encoding {
    pub fn delta_log(&self) -> u32 {
        64 - self.message_bits
    }

    /// `m * 2^(64 - t)`, wrapping: negative messages are two's complement.
    pub fn encode(&self, message: i64) -> u64 {
        (message as u64) << self.delta_log()
    }

    /// Rounds to the nearest multiple of `2^(64 - t)` and sign-extends the `t`-bit message.
    pub fn decode(&self, value: u64) -> i64 {
        let shift = self.delta_log();
        let rounded = value.wrapping_add(1 << (shift - 1)) >> shift;
        ((rounded << shift) as i64) >> shift
    }
}

/// Rounds a 64-bit value to its top `bits` bits (the result is below `2^bits`).
pub fn switch_down(value: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    let rounded = (value >> (shift - 1)).wrapping_add(1) >> 1;
    if bits == 64 {
        value
    } else {
        rounded & ((1u64 << bits) - 1)
    }
}

/// Puts a `bits`-bit value back at the top of 64 bits.
pub fn switch_up(value: u64, bits: u32) -> u64 {
    if bits == 64 {
        value
    } else {
        value << (64 - bits)
    }
}

/// The largest error [`switch_down`] then [`switch_up`] can add: `2^(63 - bits)`.
pub fn switch_error_log2(bits: u32) -> u32 {
    63 - bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_messages_round_trip_with_noise_below_half_a_step() {
        let encoding = Encoding { message_bits: 11 };
        let half_step = 1u64 << (encoding.delta_log() - 1);
        for message in [-1024i64, -3, -1, 0, 1, 700, 1023] {
            let encoded = encoding.encode(message);
            for noise in [0u64, half_step - 1, (half_step - 1).wrapping_neg()] {
                assert_eq!(encoding.decode(encoded.wrapping_add(noise)), message);
            }
        }
    }

    #[test]
    fn modulus_switching_errs_by_at_most_half_a_step() {
        for bits in [8u32, 23, 40] {
            for value in [
                0u64,
                1,
                u64::MAX,
                0x8000_0000_0000_0000,
                0x1234_5678_9abc_def0,
            ] {
                let back = switch_up(switch_down(value, bits), bits);
                let error = back.wrapping_sub(value) as i64;
                assert!(
                    error.unsigned_abs() <= 1 << switch_error_log2(bits),
                    "{bits} {value:#x}"
                );
                assert!(switch_down(value, bits) < 1 << bits);
            }
        }
    }
}
