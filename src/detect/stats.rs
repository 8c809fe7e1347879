//! Small numeric helpers for the detectors. Every function tolerates NaN, empty input and
//! mismatched lengths: a gap in a scrape must never panic the cockpit or fake a verdict.

/// A usable positive number: false for zero, negatives and NaN alike, which is what a
/// baseline to divide by or a count to test must be.
pub fn positive(x: f64) -> bool {
    x > 0.0
}

/// `x` above `line`; false when either is NaN (no data is never a breach).
pub fn over(x: f64, line: f64) -> bool {
    x > line
}

/// The finite values of a window; NaN marks a step with no data.
pub fn finite(xs: &[f64]) -> impl Iterator<Item = f64> + '_ {
    xs.iter().copied().filter(|v| v.is_finite())
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

/// The last `n` points (fewer when the series is shorter).
pub fn tail(points: &[f64], n: usize) -> &[f64] {
    &points[points.len().saturating_sub(n)..]
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

/// Median absolute deviation scaled to estimate a standard deviation (x 1.4826, exact for a
/// normal distribution): a spread that one wild value cannot inflate.
pub fn robust_sd(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = finite(xs).map(|v| (v - m).abs()).collect();
    median(&dev).map(|d| d * 1.4826)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7), accurate to ~1e-13 relative: enough for tail
/// probabilities down to 1e-300.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Regularised incomplete gamma P(a, x) by its series (converges fast for x < a + 1).
fn gamma_p_series(a: f64, x: f64) -> f64 {
    let mut term = 1.0 / a;
    let mut sum = term;
    let mut ap = a;
    for _ in 0..10_000 {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * 1e-15 {
            break;
        }
    }
    (sum.ln() - x + a * x.ln() - ln_gamma(a)).exp()
}

/// Regularised incomplete gamma Q(a, x) by Lentz's continued fraction (for x >= a + 1).
fn gamma_q_fraction(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a) + h.ln()).exp()
}

/// P(X <= k) for X ~ Poisson(lambda): how surprising it is to see this few events when
/// `lambda` were expected. Computed directly in whichever tail is small, so 1e-12 is
/// 1e-12 and not 1 - (1 - 1e-12).
pub fn poisson_at_most(k: f64, lambda: f64) -> f64 {
    if !(k.is_finite() && lambda.is_finite()) || k < 0.0 {
        return if k >= 0.0 { 1.0 } else { 0.0 };
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    // P(X <= k) = Q(k + 1, lambda).
    let a = k.floor() + 1.0;
    if lambda < a + 1.0 {
        (1.0 - gamma_p_series(a, lambda)).clamp(0.0, 1.0)
    } else {
        gamma_q_fraction(a, lambda).clamp(0.0, 1.0)
    }
}

/// P(X >= k) for X ~ Poisson(lambda): how surprising it is to see this many.
pub fn poisson_at_least(k: f64, lambda: f64) -> f64 {
    if !(k.is_finite() && lambda.is_finite()) {
        return 1.0;
    }
    let a = k.ceil();
    if a <= 0.0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    // P(X >= k) = P(k, lambda).
    if lambda < a + 1.0 {
        gamma_p_series(a, lambda).clamp(0.0, 1.0)
    } else {
        (1.0 - gamma_q_fraction(a, lambda)).clamp(0.0, 1.0)
    }
}

/// Continued fraction for the regularised incomplete beta function (Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Regularised incomplete beta I_x(a, b), for a, b > 0 and x in [0, 1].
fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast on one side of the mean; use symmetry on the other.
    if x < (a + 1.0) / (a + b + 2.0) {
        (front * beta_fraction(a, b, x) / a).clamp(0.0, 1.0)
    } else {
        (1.0 - front * beta_fraction(b, a, 1.0 - x) / b).clamp(0.0, 1.0)
    }
}

/// A count expected from a rate that is itself estimated: `base_events` events seen in
/// `base_trials` trials, now `trials` more trials. The predictive distribution is negative
/// binomial (Poisson with a Gamma posterior on the rate), wider than Poisson by about
/// 1 + expected / base_events: a baseline of a few hundred events is not the truth. Returns
/// P(X <= k).
pub fn predictive_at_most(k: f64, trials: f64, base_events: f64, base_trials: f64) -> f64 {
    if !(k.is_finite() && trials.is_finite() && base_trials > 0.0) || k < 0.0 {
        return if k >= 0.0 { 1.0 } else { 0.0 };
    }
    if trials <= 0.0 {
        return 1.0;
    }
    // Half an event of prior keeps a baseline with no events from claiming certainty.
    let r = base_events.max(0.0) + 0.5;
    let p = base_trials / (base_trials + trials);
    beta_reg(r, k.floor() + 1.0, p)
}

/// P(X >= k) under the same predictive distribution.
pub fn predictive_at_least(k: f64, trials: f64, base_events: f64, base_trials: f64) -> f64 {
    if !(k.is_finite() && trials.is_finite() && base_trials > 0.0) {
        return 1.0;
    }
    let k = k.ceil();
    if k <= 0.0 {
        return 1.0;
    }
    if trials <= 0.0 {
        return 0.0;
    }
    let r = base_events.max(0.0) + 0.5;
    let p = base_trials / (base_trials + trials);
    // P(X >= k) = 1 - I_p(r, k) = I_(1-p)(k, r)
    beta_reg(k, r, 1.0 - p)
}

/// P(X >= x) for X ~ chi-squared with `df` degrees of freedom: the p-value of a G-test or
/// chi-squared test.
pub fn chi2_at_least(x: f64, df: f64) -> f64 {
    if !(x.is_finite() && df > 0.0) {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let (a, half) = (df / 2.0, x / 2.0);
    if half < a + 1.0 {
        (1.0 - gamma_p_series(a, half)).clamp(0.0, 1.0)
    } else {
        gamma_q_fraction(a, half).clamp(0.0, 1.0)
    }
}

/// Two-sample G-test of category counts: the p-value that the reference's counts and the
/// observed ones come from one distribution. The reference is a sample too: a reference of a
/// few dozen answers (a feature launched minutes ago) leaves room for a lot of chance, where
/// treating its shares as exact would call every rare category it happened not to see
/// "impossible". With a large reference this is the goodness-of-fit test against its shares.
/// NaN when either side is empty.
pub fn g_test(reference: &[f64], observed: &[f64]) -> f64 {
    let count = |v: &[f64], i: usize| {
        v.get(i)
            .copied()
            .filter(|c| c.is_finite() && *c > 0.0)
            .unwrap_or(0.0)
    };
    let k = reference.len().max(observed.len());
    let nr: f64 = (0..k).map(|i| count(reference, i)).sum();
    let no: f64 = (0..k).map(|i| count(observed, i)).sum();
    if !positive(nr) || !positive(no) {
        return f64::NAN;
    }
    let n = nr + no;
    let mut g = 0.0;
    let mut df: f64 = -1.0;
    for i in 0..k {
        let (r, o) = (count(reference, i), count(observed, i));
        let column = r + o;
        if column <= 0.0 {
            continue;
        }
        df += 1.0;
        for (x, row) in [(r, nr), (o, no)] {
            if x > 0.0 {
                g += 2.0 * x * (x / (row * column / n)).ln();
            }
        }
    }
    chi2_at_least(g.max(0.0), df.max(1.0))
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

    #[test]
    fn poisson_tails_match_known_values() {
        // P(X <= 0; 2) = e^-2
        assert!(close(poisson_at_most(0.0, 2.0), (-2f64).exp()));
        // P(X <= 2; 3) = e^-3 (1 + 3 + 4.5) = 0.42319008
        assert!(close(poisson_at_most(2.0, 3.0), 0.423_190_08));
        // P(X >= 3; 3) = 1 - 0.42319008
        assert!(close(poisson_at_least(3.0, 3.0), 1.0 - 0.423_190_08));
        // Deep tail, computed directly: P(X <= 1; 25) = e^-25 * 26 = 3.6104e-10.
        let deep = poisson_at_most(1.0, 25.0);
        assert!(
            (deep / (26.0 * (-25f64).exp()) - 1.0).abs() < 1e-9,
            "{deep}"
        );
        // P(X >= 40; 10) ~ 1.3e-11, against the summed probability mass function.
        let mut upper = 0.0;
        let mut t = (-10f64).exp();
        for i in 0..200 {
            if i >= 40 {
                upper += t;
            }
            t *= 10.0 / (i as f64 + 1.0);
        }
        let got = poisson_at_least(40.0, 10.0);
        assert!((got / upper - 1.0).abs() < 1e-8, "{got} vs {upper}");
        // Large counts stay accurate: P(X <= 900; 1000) ~ 7.4e-4 (normal approx 7.9e-4).
        let big = poisson_at_most(900.0, 1000.0);
        assert!(big > 5e-4 && big < 1e-3, "{big}");
        // Edges.
        assert_eq!(poisson_at_most(-1.0, 5.0), 0.0);
        assert_eq!(poisson_at_most(3.0, 0.0), 1.0);
        assert_eq!(poisson_at_least(0.0, 5.0), 1.0);
        assert_eq!(poisson_at_least(2.0, 0.0), 0.0);
        assert_eq!(poisson_at_most(f64::NAN, 5.0), 0.0);
    }

    #[test]
    fn predictive_tails_approach_poisson_and_widen_with_a_thin_baseline() {
        // A baseline of a million events is the truth: the tails are Poisson's.
        let lam = 25.0;
        let exact = poisson_at_most(5.0, lam);
        let near = predictive_at_most(5.0, 2500.0, 1e6, 1e8);
        assert!((near / exact - 1.0).abs() < 0.05, "{near} vs {exact}");
        let exact_up = poisson_at_least(45.0, lam);
        let near_up = predictive_at_least(45.0, 2500.0, 1e6, 1e8);
        assert!(
            (near_up / exact_up - 1.0).abs() < 0.05,
            "{near_up} vs {exact_up}"
        );
        // Fifty baseline events: the same count is much less surprising.
        let thin = predictive_at_most(5.0, 2500.0, 50.0, 5000.0);
        assert!(thin > 10.0 * exact, "{thin} vs {exact}");
        // Sums to one across the split.
        let a = predictive_at_most(20.0, 2500.0, 300.0, 30_000.0);
        let b = predictive_at_least(21.0, 2500.0, 300.0, 30_000.0);
        assert!((a + b - 1.0).abs() < 1e-9, "{a} + {b}");
        assert_eq!(predictive_at_most(-1.0, 10.0, 5.0, 10.0), 0.0);
        assert_eq!(predictive_at_least(0.0, 10.0, 5.0, 10.0), 1.0);
    }

    #[test]
    fn chi_squared_and_g_test() {
        // chi2 with 2 dof: P(X >= x) = e^(-x/2).
        assert!(close(chi2_at_least(4.0, 2.0), (-2f64).exp()));
        // 1 dof at 3.841 is the 5% point.
        assert!((chi2_at_least(3.841, 1.0) - 0.05).abs() < 1e-3);
        // Counts exactly in proportion: nothing surprising.
        assert!(close(g_test(&[500.0, 500.0], &[50.0, 50.0]), 1.0));
        // Against an hour of reference answers, a few points of shift in 90 answers is noise;
        // the same shares in 10,000 are not.
        let hour = [4500.0, 3500.0, 1200.0, 800.0];
        let p = g_test(&hour, &[36.0, 34.0, 12.0, 8.0]);
        assert!(p > 0.01, "{p}");
        let p = g_test(&hour, &[4000.0, 3800.0, 1300.0, 900.0]);
        assert!(p < 1e-6, "{p}");
        // A category the reference never saw: decisive against a big reference...
        assert!(g_test(&[5000.0, 0.0], &[100.0, 20.0]) < 1e-10);
        // ...not against twenty answers, which could easily have missed a 3% category.
        assert!(g_test(&[20.0, 0.0], &[290.0, 10.0]) > 0.01);
        assert!(g_test(&[], &[1.0]).is_nan());
    }

    #[test]
    fn robust_sd_ignores_one_wild_value() {
        let calm = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0];
        let mut wild = calm.to_vec();
        wild.push(1000.0);
        let a = robust_sd(&calm).unwrap_or(f64::NAN);
        let b = robust_sd(&wild).unwrap_or(f64::NAN);
        assert!(a > 0.0 && b < 0.15, "{a} {b}");
        assert_eq!(robust_sd(&[]), None);
    }
}
