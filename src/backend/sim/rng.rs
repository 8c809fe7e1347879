//! SplitMix64: tiny, fast and, unlike `rand`'s StdRng, guaranteed to produce the same stream
//! forever, which a `--seed` replay of a drill depends on.

#[derive(Clone, Debug)]
pub struct Rng(u64);

/// SplitMix64's finaliser: a bijection on u64 that scatters nearby inputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent stream per (seed, a, b), so what happens in second `b` of feature `a`
    /// does not depend on how the cockpit happened to batch its polls. Each part goes through
    /// the full mixing function before the next is combined: a state that is a linear function
    /// of `b` lets one second's stream be another's shifted by a few draws, which showed as
    /// bursts of correlated refusals.
    pub fn for_key(seed: u64, a: u64, b: i64) -> Self {
        let k = mix(seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
        let k = mix(k ^ a.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Rng(mix(k ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal around `median` with spread `sigma` (latencies and token counts are skewed).
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Poisson by inversion; rates here are small (a few requests per second).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.f64();
        while p > limit && k < 10_000 {
            k += 1;
            p *= self.f64();
        }
        k
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Log-uniform in [lo, hi): as likely 2x-4x as 20x-40x.
    pub fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.f64()).exp()
    }

    /// Uniform index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Index drawn by weight; weights need not sum to 1.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_keys_are_independent() {
        let a: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            Rng::for_key(7, 1, 10).next_u64(),
            Rng::for_key(7, 1, 11).next_u64()
        );
        assert_ne!(
            Rng::for_key(7, 1, 10).next_u64(),
            Rng::for_key(7, 2, 10).next_u64()
        );
    }

    #[test]
    fn poisson_mean_is_close() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let sum: u32 = (0..n).map(|_| r.poisson(4.0)).sum();
        let mean = sum as f64 / n as f64;
        assert!((mean - 4.0).abs() < 0.1, "mean {mean}");
    }
}
