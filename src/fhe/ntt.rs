//! Exact negacyclic products modulo 2^64 through tfhe-ntt's five-prime NTT, with one operand
//! (the weights) transformed once when the model is loaded.

use tfhe_ntt::native64::Plan32;

/// A polynomial in the NTT domain: its residues modulo each of the five primes, transformed.
#[derive(Clone)]
pub struct Spectrum([Vec<u32>; 5]);

pub struct Ntt {
    plan: Plan32,
    size: usize,
}

impl Ntt {
    pub fn new(size: usize) -> Self {
        let plan = Plan32::try_new(size).expect("tfhe-ntt supports power-of-two sizes from 32");
        Self { plan, size }
    }

    pub fn forward(&self, polynomial: &[u64]) -> Spectrum {
        let mut parts: [Vec<u32>; 5] = std::array::from_fn(|_| vec![0u32; self.size]);
        let [p0, p1, p2, p3, p4] = &mut parts;
        self.plan.fwd(polynomial, p0, p1, p2, p3, p4);
        Spectrum(parts)
    }

    /// `out = a * b` in `Z[X]/(X^N + 1)` modulo 2^64.
    pub fn multiply(&self, a: &Spectrum, b: &Spectrum, out: &mut [u64]) {
        let mut product = a.clone();
        let plans = [
            self.plan.ntt_0(),
            self.plan.ntt_1(),
            self.plan.ntt_2(),
            self.plan.ntt_3(),
            self.plan.ntt_4(),
        ];
        for ((plan, lhs), rhs) in plans.iter().zip(&mut product.0).zip(&b.0) {
            plan.mul_assign_normalize(lhs, rhs);
        }
        let [p0, p1, p2, p3, p4] = &mut product.0;
        self.plan.inv(out, p0, p1, p2, p3, p4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schoolbook(a: &[u64], b: &[u64]) -> Vec<u64> {
        let n = a.len();
        let mut out = vec![0u64; n];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                let (k, term) = ((i + j) % n, x.wrapping_mul(y));
                out[k] = if i + j < n {
                    out[k].wrapping_add(term)
                } else {
                    out[k].wrapping_sub(term)
                };
            }
        }
        out
    }

    #[test]
    fn matches_the_schoolbook_product_mod_2_64() {
        let n = 64;
        let a: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let b: Vec<u64> = (0..n as i64).map(|i| ((i % 7) - 3) as u64).collect();
        let ntt = Ntt::new(n);
        let mut out = vec![0u64; n];
        ntt.multiply(&ntt.forward(&a), &ntt.forward(&b), &mut out);
        assert_eq!(out, schoolbook(&a, &b));
    }
}
