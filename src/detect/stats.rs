//! Small numeric helpers for the detectors. Every function tolerates NaN, empty input and
//! mismatched lengths: a gap in a scrape must never panic the cockpit or fake a verdict.

/// The finite values of a window; NaN marks a step with no data.
pub fn finite(xs: &[f64]) -> impl Iterator<Item = f64> + '_ {
    xs.iter().copied().filter(|v| v.is_finite())
}

pub fn finite_count(xs: &[f64]) -> usize {
    finite(xs).count()
}

/// Mean of the finite values; `None` when there are none.
pub fn mean(xs: &[f64]) -> Option<f64> {
    let (sum, n) = finite(xs).fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Median of the finite values; `None` when there are none. Baselines use the median so one
/// spike inside the baseline window does not raise the bar for the next one.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = finite(xs).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// Number of points covering `secs` at `step_secs` spacing: rounded up so a window is never
/// shorter than configured, and at least one point. A zero step (malformed source) counts as 1s.
pub fn points_for(secs: u64, step_secs: u32) -> usize {
    let step = u64::from(step_secs.max(1));
    let n = secs.div_ceil(step).max(1);
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The last `n` points (fewer when the series is shorter).
pub fn tail(points: &[f64], n: usize) -> &[f64] {
    &points[points.len().saturating_sub(n)..]
}

/// The `n` points that end `skip` points before the end of the series: a baseline window
/// that does not overlap the recent window it is compared with.
pub fn window_before(points: &[f64], skip: usize, n: usize) -> &[f64] {
    let end = points.len().saturating_sub(skip);
    &points[end.saturating_sub(n)..end]
}

/// Whether a window holds at least `share` of its nominal `n` points as finite values. The
/// nominal size, not the slice length, is the denominator: a series shorter than the window
/// counts as missing data rather than as a complete small window.
pub fn covered(window: &[f64], n: usize, share: f64) -> bool {
    // The slack keeps "12 of 15 at 80%" true despite 0.8 * 15 rounding above 12.
    n > 0 && finite_count(window) as f64 + 1e-9 >= share * n as f64
}

/// Clamp negatives and NaN to zero and scale to sum 1. `None` when nothing is left.
fn normalise(xs: &[f64]) -> Option<Vec<f64>> {
    let clean: Vec<f64> = xs
        .iter()
        .map(|v| if v.is_finite() && *v > 0.0 { *v } else { 0.0 })
        .collect();
    let sum: f64 = clean.iter().sum();
    (sum > 0.0 && sum.is_finite()).then(|| clean.iter().map(|v| v / sum).collect())
}

/// Both distributions normalised and padded to the same length (a category missing on one
/// side has zero mass there).
fn pair(p: &[f64], q: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut p = normalise(p)?;
    let mut q = normalise(q)?;
    let len = p.len().max(q.len());
    p.resize(len, 0.0);
    q.resize(len, 0.0);
    Some((p, q))
}

/// Kullback-Leibler divergence in bits; a zero bin of `p` contributes nothing (0 log 0 = 0).
/// Only called against the mixture, which is non-zero wherever `p` is.
fn kl_bits(p: &[f64], m: &[f64]) -> f64 {
    p.iter()
        .zip(m)
        .filter(|(pi, mi)| **pi > 0.0 && **mi > 0.0)
        .map(|(pi, mi)| pi * (pi / mi).log2())
        .sum()
}

/// Jensen-Shannon distance (square root of the JS divergence, log base 2), in [0, 1]:
/// 0 for identical distributions, 1 for disjoint ones. Inputs are counts or shares.
/// NaN when either side has no mass, since there is nothing to compare.
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let Some((p, q)) = pair(p, q) else {
        return f64::NAN;
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let jsd = 0.5 * kl_bits(&p, &m) + 0.5 * kl_bits(&q, &m);
    // Rounding can leave a hair below 0 or above 1.
    jsd.clamp(0.0, 1.0).sqrt()
}

/// Share floor for an empty bin in PSI, which otherwise divides by or logs zero.
const PSI_EPSILON: f64 = 1e-4;

/// Population stability index, natural log: sum (c - b) ln(c / b). Rule of thumb: < 0.1
/// stable, 0.1-0.25 moderate shift, > 0.25 major shift. NaN when either side has no mass.
pub fn psi(baseline: &[f64], current: &[f64]) -> f64 {
    let Some((b, c)) = pair(baseline, current) else {
        return f64::NAN;
    };
    b.iter()
        .zip(&c)
        .map(|(b, c)| {
            let (b, c) = (b.max(PSI_EPSILON), c.max(PSI_EPSILON));
            (c - b) * (c / b).ln()
        })
        .sum()
}

/// Total variation distance, in [0, 1]: the share of probability mass (here: of traffic) that
/// would have to move to turn one distribution into the other. NaN when either side is empty.
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    let Some((p, q)) = pair(p, q) else {
        return f64::NAN;
    };
    0.5 * p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// A baseline from fewer than half its window is too noisy to compare with.
const MIN_BASELINE_SHARE: f64 = 0.5;

/// Median of the `baseline_secs` window that ends `recent_secs` before now, where the window
/// being judged starts; `None` when too little of it has data.
pub fn baseline_before(
    sig: &crate::domain::Signal,
    recent_secs: u64,
    cfg: &super::DetectConfig,
) -> Option<f64> {
    let skip = points_for(recent_secs, sig.step_secs);
    let n = points_for(cfg.baseline_secs, sig.step_secs);
    let window = window_before(&sig.points, skip, n);
    covered(window, n, MIN_BASELINE_SHARE)
        .then(|| median(window))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn mean_and_median_ignore_nan() {
        assert_eq!(mean(&[1.0, NAN, 3.0]), Some(2.0));
        assert_eq!(mean(&[NAN, NAN]), None);
        assert_eq!(mean(&[]), None);
        assert_eq!(median(&[5.0, NAN, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, NAN, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[NAN]), None);
        assert_eq!(median(&[f64::INFINITY, 1.0]), Some(1.0));
    }

    #[test]
    fn points_for_rounds_up_and_is_at_least_one() {
        assert_eq!(points_for(900, 60), 15);
        assert_eq!(points_for(901, 60), 16);
        assert_eq!(points_for(10, 60), 1);
        assert_eq!(points_for(0, 60), 1);
        assert_eq!(points_for(120, 0), 120);
    }

    #[test]
    fn windows_do_not_overlap_and_survive_short_series() {
        let xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(tail(&xs, 2), &[4.0, 5.0]);
        assert_eq!(window_before(&xs, 2, 3), &[1.0, 2.0, 3.0]);
        assert_eq!(window_before(&xs, 2, 10), &[0.0, 1.0, 2.0, 3.0]);
        assert!(window_before(&xs, 10, 3).is_empty());
        assert_eq!(tail(&xs, 100).len(), 6);
        assert!(covered(&[1.0, NAN, 1.0, 1.0], 4, 0.75));
        assert!(!covered(&[1.0, NAN, NAN, 1.0], 4, 0.75));
        // A short series is not a full window.
        assert!(!covered(&[1.0, 1.0], 4, 0.75));
        assert!(!covered(&[], 0, 0.5));
    }

    #[test]
    fn js_distance_identical_disjoint_and_known_value() {
        assert!(close(js_distance(&[0.2, 0.3, 0.5], &[2.0, 3.0, 5.0]), 0.0));
        assert!(close(js_distance(&[1.0, 0.0], &[0.0, 1.0]), 1.0));
        // M = [0.75, 0.25]; JSD = 0.5*log2(4/3) + 0.5*(0.5*log2(2/3) + 0.5) = 0.311278.
        let d = js_distance(&[1.0, 0.0], &[0.5, 0.5]);
        assert!(close(d, 0.557_923_05), "{d}");
        // Symmetric, and a missing category counts as zero mass.
        assert!(close(js_distance(&[0.5, 0.5], &[1.0]), d));
        assert!(js_distance(&[0.0, 0.0], &[1.0]).is_nan());
        assert!(js_distance(&[], &[]).is_nan());
        assert!(close(js_distance(&[NAN, 1.0], &[0.0, 1.0]), 0.0));
    }

    #[test]
    fn psi_known_value_and_empty_bins() {
        // (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5) = 0.274653
        let v = psi(&[0.5, 0.5], &[0.25, 0.75]);
        assert!(close(v, 0.274_653_07), "{v}");
        assert!(close(psi(&[1.0, 1.0], &[1.0, 1.0]), 0.0));
        // An empty bin is floored, not infinite: (1e-4 - 0.5) ln(1e-4/0.5) + (1-0.5) ln(2).
        let v = psi(&[0.5, 0.5], &[0.0, 1.0]);
        let want = (1e-4 - 0.5) * (1e-4f64 / 0.5).ln() + 0.5 * 2f64.ln();
        assert!(v.is_finite() && close(v, want), "{v} vs {want}");
        assert!(psi(&[], &[1.0]).is_nan());
    }

    #[test]
    fn total_variation_is_half_l1() {
        assert!(close(total_variation(&[0.5, 0.5], &[0.25, 0.75]), 0.25));
        assert!(close(total_variation(&[1.0, 0.0], &[0.0, 3.0]), 1.0));
        assert!(close(total_variation(&[2.0, 2.0], &[1.0, 1.0]), 0.0));
        assert!(total_variation(&[0.0], &[1.0]).is_nan());
    }
}
