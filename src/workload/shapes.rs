//! The synthetic load families, one day of per-minute load each, in replicas' worth (1.0 is what
//! one replica completes when always busy). Every day is drawn from its own seed.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::trace::DAY_MINUTES;
use crate::sim::standard_normal;

/// Which synthetic family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A daily cycle peaking mid-afternoon, trough at a quarter of the peak, a per-day level.
    Diurnal,
    /// Paper A's future work: a gradual ramp from a low base to a plateau and back.
    Ramp,
    /// A low base with two or three sudden spikes of 5 to 10 times it that decay in minutes.
    FlashCrowd,
    /// Alternating busy and quiet periods of half an hour to three hours.
    OnOff,
}

/// One day of `family` with the given peak, multiplied by lognormal noise of log-sd `noise`
/// per minute.
pub fn day(family: Family, peak: f64, noise: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut levels = match family {
        Family::Diurnal => diurnal(peak, rng),
        Family::Ramp => ramp(peak, rng),
        Family::FlashCrowd => flash_crowd(peak, rng),
        Family::OnOff => on_off(peak, rng),
    };
    for level in &mut levels {
        *level *= (noise * standard_normal(rng) - noise * noise / 2.0).exp();
    }
    levels
}

fn minutes() -> impl Iterator<Item = f64> {
    (0..DAY_MINUTES).map(|m| m as f64)
}

fn diurnal(peak: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    const TROUGH_SHARE: f64 = 0.25;
    let day_level = rng.random_range(0.6..=1.0);
    let peak_minute = rng.random_range(13.0..=15.0) * 60.0;
    minutes()
        .map(|m| {
            let cycle = 0.5 * (1.0 + (std::f64::consts::TAU * (m - peak_minute) / 1440.0).cos());
            peak * day_level * (TROUGH_SHARE + (1.0 - TROUGH_SHARE) * cycle)
        })
        .collect()
}

fn ramp(peak: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let base = 0.15 * peak;
    let top = peak * rng.random_range(0.7..=1.0);
    let mut at = rng.random_range(0.1..=0.3) * 1440.0;
    let mut knots = vec![(0.0, base), (at, base)];
    for level in [top, top, base] {
        at += rng.random_range(0.1..=0.25) * 1440.0;
        knots.push((at, level));
    }
    knots.push((f64::INFINITY, base));
    minutes()
        .map(|m| {
            let i = knots.iter().rposition(|&(t, _)| t <= m).unwrap_or(0);
            let ((t0, l0), (t1, l1)) = (knots[i], knots[i + 1]);
            if t1.is_finite() {
                l0 + (l1 - l0) * (m - t0) / (t1 - t0)
            } else {
                l0
            }
        })
        .collect()
}

fn flash_crowd(peak: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let base = peak / rng.random_range(5.0..=10.0);
    let mut levels = vec![base; DAY_MINUTES];
    for _ in 0..rng.random_range(2..=3) {
        let start = rng.random_range(60.0..1300.0);
        let rise = rng.random_range(2.0..=5.0);
        let half_life = rng.random_range(10.0..=30.0);
        let height = peak * rng.random_range(0.8..=1.0) - base;
        for (m, level) in minutes().zip(&mut levels) {
            let since = m - start;
            let shape = match since {
                s if s < 0.0 => 0.0,
                s if s < rise => s / rise,
                s => 0.5f64.powf((s - rise) / half_life),
            };
            *level = level.max(base + height * shape);
        }
    }
    levels
}

fn on_off(peak: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut levels = Vec::with_capacity(DAY_MINUTES);
    let mut on = rng.random_bool(0.5);
    while levels.len() < DAY_MINUTES {
        let length = rng.random_range(30..=180);
        let level = if on {
            peak * rng.random_range(0.7..=1.0)
        } else {
            0.1 * peak
        };
        levels.extend(std::iter::repeat_n(level, length));
        on = !on;
    }
    levels.truncate(DAY_MINUTES);
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn stats(levels: &[f64]) -> (f64, f64, f64) {
        let max = levels.iter().copied().fold(0.0, f64::max);
        let min = levels.iter().copied().fold(f64::INFINITY, f64::min);
        (min, levels.iter().sum::<f64>() / levels.len() as f64, max)
    }

    #[test]
    fn each_family_has_its_shape_and_stays_under_its_peak() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for family in [
            Family::Diurnal,
            Family::Ramp,
            Family::FlashCrowd,
            Family::OnOff,
        ] {
            for _ in 0..20 {
                let levels = day(family, 8.0, 0.0, &mut rng);
                assert_eq!(levels.len(), DAY_MINUTES);
                let (min, mean, max) = stats(&levels);
                assert!(min > 0.0 && max <= 8.0 + 1e-9, "{family:?}: {min} {max}");
                match family {
                    // Trough a quarter of the day's peak, at night.
                    Family::Diurnal => {
                        assert!((min / max - 0.25).abs() < 0.01);
                        assert!(levels[4 * 60] < levels[14 * 60]);
                    }
                    // Spikes of 5 to 10 times the base, short: the mean stays near the base.
                    Family::FlashCrowd => {
                        assert!(max / min >= 0.8 * 5.0 - 1e-9 && max / min <= 10.0 + 1e-9);
                        assert!(mean < 0.5 * max, "{mean} {max}");
                    }
                    Family::Ramp | Family::OnOff => assert!(max / min >= 4.5),
                }
            }
        }
    }

    #[test]
    fn noise_is_mean_preserving() {
        let mut a = ChaCha8Rng::seed_from_u64(2);
        let noisy: f64 = (0..50)
            .map(|_| day(Family::OnOff, 8.0, 0.3, &mut a).iter().sum::<f64>())
            .sum();
        let mut b = ChaCha8Rng::seed_from_u64(2);
        let clean: f64 = (0..50)
            .map(|_| day(Family::OnOff, 8.0, 0.0, &mut b).iter().sum::<f64>())
            .sum();
        // Not the same draws (noise consumes the generator), so compare loosely.
        assert!((noisy / clean - 1.0).abs() < 0.1, "{noisy} {clean}");
    }
}
