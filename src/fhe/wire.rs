//! The wire format of everything that crosses the network: requests, responses, evaluation keys.
//!
//! A message is a fixed header and a payload, all little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `CSFH` |
//! | 2 | format version ([`VERSION`]) |
//! | 1 | kind: 1 request, 2 response, 3 evaluation key, 4 secret key (client-local file only) |
//! | 1 | pipeline: 1 `glwe-packed`, 2 `lwe`, 3 `integer`, 4 `glwe-argmax` |
//! | 8 | fingerprint of the circuit's public parameters |
//! | 8 | payload length in bytes |
//!
//! Readers check the size limit before reading anything, then every header field, and the payload
//! length against the shape the parameters imply, before allocating. Nothing here panics on input.

use super::Pipeline;

pub const MAGIC: [u8; 4] = *b"CSFH";
pub const VERSION: u16 = 1;
pub const HEADER_BYTES: usize = 24;

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request = 1,
    Response = 2,
    EvalKey = 3,
    /// A client's secret key in its local key cache; never sent anywhere.
    SecretKey = 4,
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message of {len} bytes is over the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("message truncated: {0}")]
    Truncated(String),
    #[error("not a cipherscale message (bad magic bytes)")]
    BadMagic,
    #[error("unsupported format version {found}; this build reads version {VERSION}")]
    Version { found: u16 },
    #[error("expected a {expected:?} message, got kind {found}")]
    WrongKind { expected: Kind, found: u8 },
    #[error("message is for pipeline {found}, this circuit is `{expected}`")]
    WrongPipeline { expected: Pipeline, found: u8 },
    #[error("parameters do not match this circuit (fingerprint {found:#018x}, expected {expected:#018x})")]
    WrongParameters { expected: u64, found: u64 },
    #[error("malformed payload: {0}")]
    Malformed(String),
}

/// The public parameters a message must match: pipeline and fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub pipeline: Pipeline,
    pub fingerprint: u64,
}

impl Stamp {
    /// A stamp whose fingerprint hashes `description` (FNV-1a, 64 bits).
    pub fn new(pipeline: Pipeline, description: &str) -> Self {
        let fingerprint = description
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        Self {
            pipeline,
            fingerprint,
        }
    }

    /// Frames `payload` as a message of `kind`.
    pub fn seal(&self, kind: Kind, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(kind as u8);
        out.push(self.pipeline.wire_id());
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Checks the header of `message` and returns its payload.
    pub fn open<'a>(
        &self,
        kind: Kind,
        message: &'a [u8],
        limit: usize,
    ) -> Result<&'a [u8], WireError> {
        if message.len() > limit {
            return Err(WireError::TooLarge {
                len: message.len(),
                limit,
            });
        }
        let mut reader = Reader::new(message);
        if reader.bytes(4)? != MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = reader.u16()?;
        if version != VERSION {
            return Err(WireError::Version { found: version });
        }
        let found_kind = reader.u8()?;
        if found_kind != kind as u8 {
            return Err(WireError::WrongKind {
                expected: kind,
                found: found_kind,
            });
        }
        let pipeline = reader.u8()?;
        if pipeline != self.pipeline.wire_id() {
            return Err(WireError::WrongPipeline {
                expected: self.pipeline,
                found: pipeline,
            });
        }
        let fingerprint = reader.u64()?;
        if fingerprint != self.fingerprint {
            return Err(WireError::WrongParameters {
                expected: self.fingerprint,
                found: fingerprint,
            });
        }
        let length = reader.u64()?;
        let payload = reader.rest();
        if length != payload.len() as u64 {
            return Err(WireError::Truncated(format!(
                "header announces {length} payload bytes, {} present",
                payload.len()
            )));
        }
        Ok(payload)
    }
}

/// Largest secret key a client reads back from its cache (an `integer` client key is ~0.1 MB).
pub const MAX_SECRET_KEY_BYTES: usize = 64 << 20;

fn secret_codec() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_SECRET_KEY_BYTES as u64)
}

impl Stamp {
    /// A client's secret key, framed so that a key cached for another circuit is refused.
    pub fn seal_secret<T: serde::Serialize>(&self, key: &T) -> Vec<u8> {
        use bincode::Options;
        let payload = secret_codec()
            .serialize(key)
            .expect("a secret key serializes within the limit");
        self.seal(Kind::SecretKey, &payload)
    }

    /// Reads back what [`Stamp::seal_secret`] wrote.
    pub fn open_secret<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
    ) -> Result<T, WireError> {
        use bincode::Options;
        let payload = self.open(Kind::SecretKey, bytes, MAX_SECRET_KEY_BYTES)?;
        secret_codec()
            .deserialize(payload)
            .map_err(|e| WireError::Malformed(format!("secret key: {e}")))
    }
}

/// A bounds-checked cursor over bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                WireError::Truncated(format!(
                    "needed {n} bytes at offset {}, {} left",
                    self.at,
                    self.bytes.len() - self.at
                ))
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(
            self.bytes(2)?.try_into().expect("2 bytes"),
        ))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub fn u128(&mut self) -> Result<u128, WireError> {
        Ok(u128::from_le_bytes(
            self.bytes(16)?.try_into().expect("16 bytes"),
        ))
    }

    /// `count` little-endian u64 values.
    pub fn u64s(&mut self, count: usize) -> Result<Vec<u64>, WireError> {
        let raw = self.bytes(
            count
                .checked_mul(8)
                .ok_or_else(|| WireError::Malformed("count overflows".into()))?,
        )?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// `count` values of `bits` bits each, packed by [`pack_bits`].
    pub fn packed(&mut self, count: usize, bits: u32) -> Result<Vec<u64>, WireError> {
        let raw = self.bytes(packed_len(count, bits))?;
        unpack_bits(raw, count, bits)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.at..];
        self.at = self.bytes.len();
        rest
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(WireError::Malformed(format!(
                "{extra} unexpected trailing bytes"
            ))),
        }
    }
}

/// Appends u64 values little-endian.
pub fn put_u64s(out: &mut Vec<u8>, values: &[u64]) {
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Bytes that `count` values of `bits` bits take when packed.
pub fn packed_len(count: usize, bits: u32) -> usize {
    (count * bits as usize).div_ceil(8)
}

/// Packs the low `bits` bits of each value, least significant first, into bytes.
pub fn pack_bits(values: &[u64], bits: u32) -> Vec<u8> {
    assert!((1..=64).contains(&bits));
    let mut out = vec![0u8; packed_len(values.len(), bits)];
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    for (i, value) in values.iter().enumerate() {
        let value = value & mask;
        let start = i * bits as usize;
        for bit in 0..bits as usize {
            if value >> bit & 1 == 1 {
                let at = start + bit;
                out[at / 8] |= 1 << (at % 8);
            }
        }
    }
    out
}

/// The inverse of [`pack_bits`]; padding bits past the last value must be zero.
pub fn unpack_bits(bytes: &[u8], count: usize, bits: u32) -> Result<Vec<u64>, WireError> {
    if !(1..=64).contains(&bits) || bytes.len() != packed_len(count, bits) {
        return Err(WireError::Malformed(format!(
            "{} bytes cannot hold {count} values of {bits} bits",
            bytes.len()
        )));
    }
    let used = count * bits as usize;
    if bytes.len() * 8 > used && bytes[bytes.len() - 1] >> (used % 8) != 0 {
        return Err(WireError::Malformed("non-zero padding bits".into()));
    }
    let bit = |at: usize| u64::from(bytes[at / 8] >> (at % 8) & 1);
    Ok((0..count)
        .map(|i| (0..bits as usize).fold(0u64, |value, b| value | bit(i * bits as usize + b) << b))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_packing_round_trips_and_rejects_dirty_padding() {
        let values = [0u64, 1, 5, 7, 3];
        let packed = pack_bits(&values, 3);
        assert_eq!(packed.len(), 2);
        assert_eq!(unpack_bits(&packed, 5, 3).unwrap(), values);
        let mut dirty = packed.clone();
        dirty[1] |= 0x80;
        assert!(matches!(
            unpack_bits(&dirty, 5, 3),
            Err(WireError::Malformed(_))
        ));
        assert!(unpack_bits(&packed, 6, 3).is_err());
        let wide = [u64::MAX, 1 << 63];
        assert_eq!(unpack_bits(&pack_bits(&wide, 64), 2, 64).unwrap(), wide);
    }

    #[test]
    fn header_checks_each_field() {
        let stamp = Stamp::new(Pipeline::Lwe, "shape");
        let message = stamp.seal(Kind::Request, b"payload");
        assert_eq!(
            stamp.open(Kind::Request, &message, 1024).unwrap(),
            b"payload"
        );
        assert_eq!(
            stamp.open(Kind::Request, &message, 10),
            Err(WireError::TooLarge {
                len: message.len(),
                limit: 10
            })
        );
        assert!(matches!(
            stamp.open(Kind::Response, &message, 1024),
            Err(WireError::WrongKind { .. })
        ));
        let other = Stamp::new(Pipeline::Lwe, "other shape");
        assert!(matches!(
            other.open(Kind::Request, &message, 1024),
            Err(WireError::WrongParameters { .. })
        ));
        let glwe = Stamp::new(Pipeline::GlwePacked, "shape");
        assert!(matches!(
            glwe.open(Kind::Request, &message, 1024),
            Err(WireError::WrongPipeline { .. })
        ));
        let mut versioned = message.clone();
        versioned[4] = 9;
        assert_eq!(
            stamp.open(Kind::Request, &versioned, 1024),
            Err(WireError::Version { found: 9 })
        );
        assert!(matches!(
            stamp.open(Kind::Request, &message[..30], 1024),
            Err(WireError::Truncated(_))
        ));
        assert!(matches!(
            stamp.open(Kind::Request, &message[..10], 1024),
            Err(WireError::Truncated(_))
        ));
        assert_eq!(
            stamp.open(Kind::Request, b"GARBAGE-GARBAGE-GARBAGE-", 1024),
            Err(WireError::BadMagic)
        );
    }
}
