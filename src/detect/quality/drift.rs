//! Output drift: the distance the source computed from its reference distribution, and
//! which categories moved.

use crate::detect::caps::Caps;
use crate::detect::memory::Baseline;
use crate::detect::rule::{fmt_p, held_inside, values, Band, Ctx, Dir, Finding, Rule};
use crate::detect::stats::{finite, g_test, mean, psi, total_variation};
use crate::detect::{fmt_beyond, fmt_secs, fmt_share, sev, DetectConfig};
use crate::domain::{Distribution, IncidentType, SignalKind};

/// How the output categories moved, from the source's distribution when it sent one.
struct Shift {
    psi: f64,
    tv: f64,
    /// Sampling noise of `tv`: a window of a few hundred answers differs from the reference
    /// by a few points of traffic by chance alone.
    tv_noise: f64,
    largest: Option<String>,
}

fn shift(dist: &Distribution) -> Shift {
    let n: f64 = finite(&dist.current).filter(|v| *v > 0.0).sum();
    let tv_noise = if n > 0.0 {
        0.5 * dist
            .current
            .iter()
            .filter(|c| c.is_finite() && **c > 0.0)
            .map(|c| {
                let p = c / n;
                (p * (1.0 - p) / n).sqrt()
            })
            .sum::<f64>()
    } else {
        f64::NAN
    };
    Shift {
        psi: psi(&dist.baseline, &dist.current),
        tv: total_variation(&dist.baseline, &dist.current),
        tv_noise,
        largest: largest_move(dist),
    }
}

/// The category whose share moved most, "'code' 12.0% → 31.0%", so the responder sees *what*
/// the feature now produces instead of a bare distance.
fn largest_move(dist: &Distribution) -> Option<String> {
    let shares = |xs: &[f64]| -> Option<Vec<f64>> {
        let sum: f64 = finite(xs).filter(|v| *v > 0.0).sum();
        (sum > 0.0).then(|| {
            xs.iter()
                .map(|v| {
                    if v.is_finite() && *v > 0.0 {
                        v / sum
                    } else {
                        0.0
                    }
                })
                .collect()
        })
    };
    let (b, c) = (shares(&dist.baseline)?, shares(&dist.current)?);
    let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
    let (i, name) = dist
        .categories
        .iter()
        .enumerate()
        .max_by(|(i, _), (j, _)| {
            let di = (at(&c, *i) - at(&b, *i)).abs();
            let dj = (at(&c, *j) - at(&b, *j)).abs();
            di.total_cmp(&dj)
        })?;
    Some(format!(
        "largest shift: '{name}' {} → {}",
        fmt_share(at(&b, i)),
        fmt_share(at(&c, i))
    ))
}

/// Output drift: the JS distance the source computed against its reference distribution,
/// averaged over `drift_window_secs`, above `drift_js`; back below `drift_exit_js` for the
/// recovery hold to recover. The share of traffic that moved (total variation) sets the SEV
/// when the source also sent the category distribution.
pub struct Drift;

impl Rule for Drift {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Up, IncidentType::CapabilityDrift)]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.drift_window_secs.max(cfg.recover_hold_secs) + 60
    }

    fn needs_baseline(&self) -> bool {
        false
    }

    fn band(&self, _base: &Baseline, cfg: &DetectConfig, _caps: &Caps) -> Band {
        Band {
            low: None,
            high: Some(cfg.drift_js),
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        cx.mem
            .recent
            .back()
            .is_some_and(|s| s.value > cx.cfg.drift_js)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let threshold = cx.cfg.drift_js;
        let (vals, n) = values(cx, cx.cfg.drift_window_secs);
        if (vals.len() as f64) + 1e-9 < crate::detect::rule::MIN_COVERAGE * n as f64 {
            return None;
        }
        let now = mean(&vals).filter(|v| *v > threshold)?;
        // A distance from a few dozen answers is mostly sampling noise (90 answers over four
        // categories read JS 0.08 on average and 0.18 one time in a thousand): the counts must
        // also differ from the reference beyond chance.
        let p = cx
            .dist
            .map_or(f64::NAN, |d| g_test(&d.baseline, &d.current));
        if p.is_finite() && p >= cx.cfg.count_p_value {
            return None;
        }
        let fmt = |v| SignalKind::Drift.format(v);
        let reading = fmt_beyond(SignalKind::Drift, now, threshold);
        let shift = cx.dist.map(shift);
        let tv = shift.as_ref().map_or(f64::NAN, |s| s.tv);
        // The ladder reads the share that surely moved, not the noise on top of it.
        let moved = shift
            .as_ref()
            .map_or(f64::NAN, |s| (s.tv - s.tv_noise.max(0.0)).max(0.0));
        let mut summary = format!("output drift JS {reading} > {}", fmt(threshold));
        if tv.is_finite() {
            summary.push_str(&format!(", {} of traffic shifted", fmt_share(tv)));
        }
        let mut evidence = vec![format!(
            "JS distance {reading} (mean of the last {}), threshold {}",
            fmt_secs(cx.cfg.drift_window_secs),
            fmt(threshold)
        )];
        if p.is_finite() {
            let n: f64 = cx
                .dist
                .map_or(0.0, |d| finite(&d.current).filter(|v| *v > 0.0).sum());
            evidence.push(format!(
                "{n:.0} answers in the current window differ from the reference beyond chance ({})",
                fmt_p(p)
            ));
        }
        match &shift {
            Some(s) if s.psi.is_finite() => {
                evidence.push(format!(
                    "PSI {:.3}, total variation {} (±{} sampling noise)",
                    s.psi,
                    fmt_share(s.tv),
                    fmt_share(s.tv_noise)
                ));
                evidence.extend(s.largest.clone());
            }
            _ => evidence.push("no category distribution from the source: PSI unavailable".into()),
        }
        Some(Finding {
            segment: None,
            sev: sev::quality_sev(moved),
            value: now,
            // Distance from the baseline distribution to itself.
            baseline: 0.0,
            threshold,
            summary,
            evidence,
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        held_inside(cx, cx.cfg.recover_hold_secs, cx.cfg.drift_exit_js, Dir::Up)
    }
}
