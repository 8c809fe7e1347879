//! Quality failures that return 200 OK: refusal rate off its baseline either way, output drift,
//! eval regression, retrieval degradation.

use super::stats::{
    baseline_before, covered, finite, mean, median, points_for, psi, tail, total_variation,
    window_before,
};
use super::{fmt_secs, fmt_share, sev, Breach, DetectConfig, Verdict};
use crate::domain::{Distribution, IncidentType, Signal, SignalKind};

/// A "current" window with more gaps than this is not the current rate.
const MIN_RECENT_SHARE: f64 = 0.8;
/// Below a 1% refusal baseline a drop is not measurable: halving 0.2% is noise, not a bypass.
const MIN_MEASURABLE_REFUSALS: f64 = 0.01;

/// Mean of the last `secs`, when enough of it is there.
fn recent_mean(sig: &Signal, secs: u64) -> Option<f64> {
    let n = points_for(secs, sig.step_secs);
    let recent = tail(&sig.points, n);
    covered(recent, n, MIN_RECENT_SHARE)
        .then(|| mean(recent))
        .flatten()
}

/// Refusal band around the baseline: `high` always, `low` only when a drop is measurable.
fn refusal_band(base: f64, cfg: &DetectConfig) -> (f64, Option<f64>) {
    let high = (base * cfg.refusal_high_factor).max(base + cfg.refusal_min_increase);
    let low = (base >= MIN_MEASURABLE_REFUSALS).then_some(base * cfg.refusal_low_factor);
    (high, low)
}

/// Refusal rate (mean of the last `refusal_window_secs`) outside its band, either way: too few
/// refusals means the guardrail stopped catching what it used to, too many means the feature
/// stopped answering.
pub fn refusals(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    let Some(base) = baseline_before(sig, cfg.refusal_window_secs, cfg) else {
        return Verdict::default();
    };
    let (high, low) = refusal_band(base, cfg);
    let verdict = Verdict::line(sig, Some(high), low);
    let Some(now) = recent_mean(sig, cfg.refusal_window_secs) else {
        return verdict;
    };
    let (kind, sev, threshold, tag) = match low {
        Some(low) if now < low => (
            IncidentType::GuardrailBypass,
            sev::guardrail_sev(),
            low,
            "guardrail bypass?",
        ),
        _ if now > high => (
            IncidentType::OverRefusal,
            sev::quality_sev(now - base),
            high,
            "over-refusal",
        ),
        _ => return verdict,
    };
    let fmt = |v| SignalKind::RefusalRate.format(v);
    let window = fmt_secs(cfg.refusal_window_secs);
    let band = match low {
        Some(low) => format!("normal band {} to {}", fmt(low), fmt(high)),
        None => format!(
            "upper bound {}; no lower bound below a {} baseline",
            fmt(high),
            fmt(MIN_MEASURABLE_REFUSALS)
        ),
    };
    verdict.with(
        sig,
        Breach {
            kind,
            sev,
            value: now,
            baseline: base,
            threshold,
            summary: format!("refusals {} vs baseline {}: {tag}", fmt(now), fmt(base)),
            evidence: vec![
                format!("refusal rate {} (mean of last {window})", fmt(now)),
                format!(
                    "baseline {} (median of {} before that)",
                    fmt(base),
                    fmt_secs(cfg.baseline_secs)
                ),
                band,
                format!("shift {:+.1} points of traffic", (now - base) * 100.0),
            ],
        },
    )
}

/// How the output categories moved, from the source's distribution when it sent one.
struct Shift {
    psi: f64,
    tv: f64,
    largest: Option<String>,
}

fn shift(dist: &Distribution) -> Shift {
    Shift {
        psi: psi(&dist.baseline, &dist.current),
        tv: total_variation(&dist.baseline, &dist.current),
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

/// Output drift: the JS distance the source computed, averaged over `drift_window_secs`, above
/// `drift_js`. The share of traffic that moved (total variation) sets the SEV when the source
/// also sent the category distribution.
pub fn drift(sig: &Signal, dist: Option<&Distribution>, cfg: &DetectConfig) -> Verdict {
    let threshold = cfg.drift_js;
    let verdict = Verdict::line(sig, Some(threshold), None);
    let Some(now) = recent_mean(sig, cfg.drift_window_secs).filter(|v| *v > threshold) else {
        return verdict;
    };
    let fmt = |v| SignalKind::Drift.format(v);
    let shift = dist.map(shift);
    let tv = shift.as_ref().map_or(f64::NAN, |s| s.tv);
    let mut summary = format!("output drift JS {} > {}", fmt(now), fmt(threshold));
    if tv.is_finite() {
        summary.push_str(&format!(", {} of traffic shifted", fmt_share(tv)));
    }
    let mut evidence = vec![format!(
        "JS distance {} (mean of last {}), threshold {}",
        fmt(now),
        fmt_secs(cfg.drift_window_secs),
        fmt(threshold)
    )];
    match &shift {
        Some(s) if s.psi.is_finite() => {
            evidence.push(format!(
                "PSI {:.3}, total variation {}",
                s.psi,
                fmt_share(s.tv)
            ));
            evidence.extend(s.largest.clone());
        }
        _ => evidence.push("no category distribution from the source: PSI unavailable".into()),
    }
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::CapabilityDrift,
            sev: sev::quality_sev(tv),
            value: now,
            // Distance from the baseline distribution to itself.
            baseline: 0.0,
            threshold,
            summary,
            evidence,
        },
    )
}

/// Baseline eval score and where it came from. Evals are scheduled, so the series is mostly
/// gaps: no coverage requirement, and the feature's recorded baseline as a last resort.
fn eval_baseline(
    sig: &Signal,
    last_index: usize,
    cfg: &DetectConfig,
    recorded: Option<f64>,
) -> Option<(f64, String)> {
    let skip = points_for(cfg.drift_window_secs, sig.step_secs);
    let n = points_for(cfg.baseline_secs, sig.step_secs);
    let earlier = &sig.points[..last_index];
    median(window_before(&sig.points, skip, n))
        .map(|b| (b, format!("median of {}", fmt_secs(cfg.baseline_secs))))
        .or_else(|| median(earlier).map(|b| (b, "median of earlier evals".to_string())))
        .or_else(|| recorded.map(|b| (b, "recorded for the feature".to_string())))
}

/// Latest eval score below `eval_min`.
pub fn eval(sig: &Signal, cfg: &DetectConfig, recorded_baseline: Option<f64>) -> Verdict {
    let threshold = cfg.eval_min;
    let verdict = Verdict::line(sig, None, Some(threshold));
    let Some((last_index, now)) = sig
        .points
        .iter()
        .copied()
        .enumerate()
        .rfind(|(_, v)| v.is_finite())
    else {
        return verdict;
    };
    if now >= threshold {
        return verdict;
    }
    let base = eval_baseline(sig, last_index, cfg, recorded_baseline);
    let baseline = base.as_ref().map_or(f64::NAN, |(b, _)| *b);
    // Relative drop stands in for "share of traffic affected"; unknown without a baseline.
    let drop = if baseline > 0.0 {
        ((baseline - now) / baseline).max(0.0)
    } else {
        f64::NAN
    };
    let fmt = |v| SignalKind::EvalScore.format(v);
    let mut summary = format!("eval score {} < {}", fmt(now), fmt(threshold));
    if baseline.is_finite() {
        summary.push_str(&format!(" (baseline {})", fmt(baseline)));
    }
    let base_line = match &base {
        Some((b, from)) => format!(
            "baseline {} ({from}); relative drop {}",
            fmt(*b),
            fmt_share(drop)
        ),
        None => "no baseline: SEV from the threshold alone".to_string(),
    };
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::EvalRegression,
            sev: sev::quality_sev(drop),
            value: now,
            baseline,
            threshold,
            summary,
            evidence: vec![
                format!("latest eval {}, minimum {}", fmt(now), fmt(threshold)),
                base_line,
            ],
        },
    )
}

/// Retrieval hit rate (mean of the last `retrieval_window_secs`) below `retrieval_factor` x
/// its baseline.
pub fn retrieval(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    let Some(base) = baseline_before(sig, cfg.retrieval_window_secs, cfg).filter(|b| *b > 0.0)
    else {
        return Verdict::default();
    };
    let threshold = base * cfg.retrieval_factor;
    let verdict = Verdict::line(sig, None, Some(threshold));
    let Some(now) = recent_mean(sig, cfg.retrieval_window_secs).filter(|v| *v < threshold) else {
        return verdict;
    };
    let fmt = |v| SignalKind::RetrievalHit.format(v);
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::RetrievalDegradation,
            sev: sev::retrieval_sev(now, base),
            value: now,
            baseline: base,
            threshold,
            summary: format!("retrieval hit {} vs baseline {}", fmt(now), fmt(base)),
            evidence: vec![
                format!(
                    "hit rate {} (mean of last {})",
                    fmt(now),
                    fmt_secs(cfg.retrieval_window_secs)
                ),
                format!(
                    "baseline {} (median of {} before that)",
                    fmt(base),
                    fmt_secs(cfg.baseline_secs)
                ),
                format!(
                    "threshold {} = {:.0}% of baseline",
                    fmt(threshold),
                    cfg.retrieval_factor * 100.0
                ),
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::domain::Sev;

    fn fired(v: &Verdict) -> Option<(IncidentType, Sev)> {
        v.detection.as_ref().map(|d| (d.kind, d.sev))
    }

    fn refusal(base: f64, now: f64) -> Signal {
        step_up(SignalKind::RefusalRate, 90, base, 5, now)
    }

    #[test]
    fn refusal_drop_is_a_guardrail_bypass() {
        let v = refusals(&refusal(0.061, 0.004), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::GuardrailBypass, Sev::Sev1)));
        let d = v.detection.expect("fires");
        assert_eq!(
            d.summary.as_str(),
            "refusals 0.4% vs baseline 6.1%: guardrail bypass?"
        );
        assert!(close(d.threshold, 0.0305));
        let t = v.threshold.expect("band");
        assert!(close(t.high.unwrap_or(0.0), 0.122) && close(t.low.unwrap_or(0.0), 0.0305));
    }

    #[test]
    fn refusal_rise_is_over_refusal_sized_by_traffic() {
        let v = refusals(&refusal(0.03, 0.142), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::OverRefusal, Sev::Sev3)));
        assert_eq!(
            v.detection.expect("fires").summary.as_str(),
            "refusals 14.2% vs baseline 3.0%: over-refusal"
        );
        // 27 extra points of traffic refused: > 20%.
        let v = refusals(&refusal(0.03, 0.30), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::OverRefusal, Sev::Sev2)));
    }

    #[test]
    fn refusal_inside_the_band_is_quiet() {
        // high = max(0.06, 0.05); low = 0.015
        for now in [0.0599, 0.0151, 0.03] {
            assert_eq!(
                refusals(&refusal(0.03, now), &cfg()).detection,
                None,
                "{now}"
            );
        }
        // The minimum increase keeps tiny baselines from paging on noise: high = 0.03.
        assert_eq!(refusals(&refusal(0.01, 0.025), &cfg()).detection, None);
        assert_eq!(
            fired(&refusals(&refusal(0.01, 0.031), &cfg())),
            Some((IncidentType::OverRefusal, Sev::Sev3))
        );
    }

    #[test]
    fn refusal_drop_from_near_zero_is_not_measurable() {
        let v = refusals(&refusal(0.005, 0.0), &cfg());
        assert_eq!(v.detection, None);
        assert_eq!(v.threshold.and_then(|t| t.low), None);
    }

    #[test]
    fn refusal_gaps_and_short_series() {
        assert_eq!(
            refusals(&series(SignalKind::RefusalRate, 60, 20, |_| 0.0), &cfg()),
            Verdict::default()
        );
        let mut sig = refusal(0.061, 0.004);
        sig.points[86] = NAN;
        sig.points[88] = NAN; // 3/5 recent points: not the current rate
        let v = refusals(&sig, &cfg());
        assert_eq!(v.detection, None);
        assert!(v.threshold.is_some());
        let nan = series(SignalKind::RefusalRate, 60, 90, |_| NAN);
        assert_eq!(refusals(&nan, &cfg()), Verdict::default());
    }

    fn dist(current: Vec<f64>) -> Distribution {
        Distribution {
            feature: "chat".into(),
            categories: vec!["answer".into(), "code".into(), "refusal".into()],
            baseline: vec![0.7, 0.2, 0.1],
            current,
        }
    }

    #[test]
    fn drift_fires_with_psi_and_traffic_share() {
        let sig = step_up(SignalKind::Drift, 30, 0.02, 5, 0.18);
        let d = dist(vec![0.45, 0.5, 0.05]); // TV 0.3
        let v = drift(&sig, Some(&d), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::CapabilityDrift, Sev::Sev2)));
        let det = v.detection.expect("fires");
        assert_eq!(
            det.summary.as_str(),
            "output drift JS 0.180 > 0.100, 30.0% of traffic shifted"
        );
        let text = evidence_text(&det);
        assert!(text.contains("PSI 0.420, total variation 30.0%"), "{text}");
        assert!(text.contains("'code' 20.0% → 50.0%"), "{text}");
        // 10% of traffic moved: the smaller rung.
        let small = dist(vec![0.6, 0.3, 0.1]);
        assert_eq!(
            fired(&drift(&sig, Some(&small), &cfg())),
            Some((IncidentType::CapabilityDrift, Sev::Sev3))
        );
    }

    #[test]
    fn drift_without_distribution_is_sev3() {
        let sig = step_up(SignalKind::Drift, 30, 0.02, 5, 0.18);
        let v = drift(&sig, None, &cfg());
        assert_eq!(fired(&v), Some((IncidentType::CapabilityDrift, Sev::Sev3)));
        assert!(evidence_text(&v.detection.expect("fires")).contains("PSI unavailable"));
        // An empty distribution is as good as none.
        let empty = dist(vec![0.0, 0.0, 0.0]);
        let v = drift(&sig, Some(&empty), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::CapabilityDrift, Sev::Sev3)));
    }

    #[test]
    fn drift_under_threshold_or_missing_is_quiet() {
        let v = drift(
            &step_up(SignalKind::Drift, 30, 0.02, 5, 0.099),
            None,
            &cfg(),
        );
        assert_eq!(v.detection, None);
        assert_eq!(v.threshold.and_then(|t| t.high), Some(0.1));
        let nan = series(SignalKind::Drift, 60, 30, |_| NAN);
        assert_eq!(drift(&nan, None, &cfg()).detection, None);
        let empty = series(SignalKind::Drift, 60, 0, |_| 0.0);
        assert_eq!(drift(&empty, None, &cfg()).detection, None);
    }

    #[test]
    fn eval_below_minimum_sized_by_relative_drop() {
        let v = eval(
            &step_up(SignalKind::EvalScore, 90, 0.9, 1, 0.71),
            &cfg(),
            None,
        );
        assert_eq!(fired(&v), Some((IncidentType::EvalRegression, Sev::Sev2)));
        let d = v.detection.expect("fires");
        assert_eq!(d.summary.as_str(), "eval score 0.71 < 0.80 (baseline 0.90)");
        // (0.9 - 0.78) / 0.9 = 13%: the smaller rung.
        let v = eval(
            &step_up(SignalKind::EvalScore, 90, 0.9, 1, 0.78),
            &cfg(),
            None,
        );
        assert_eq!(fired(&v), Some((IncidentType::EvalRegression, Sev::Sev3)));
    }

    #[test]
    fn eval_at_minimum_is_quiet() {
        let v = eval(
            &step_up(SignalKind::EvalScore, 90, 0.9, 1, 0.8),
            &cfg(),
            None,
        );
        assert_eq!(v.detection, None);
        let t = v.threshold.expect("line");
        assert_eq!((t.high, t.low), (None, Some(0.8)));
    }

    #[test]
    fn eval_sparse_series_falls_back_for_baseline() {
        // Two evals an hour apart, gaps between: the earlier one is the baseline.
        let sig = series(SignalKind::EvalScore, 60, 90, |i| match i {
            20 => 0.92,
            89 => 0.6,
            _ => NAN,
        });
        let d = eval(&sig, &cfg(), Some(0.5)).detection.expect("fires");
        assert!(close(d.baseline, 0.92));
        // Only one eval: the feature's recorded baseline, else none at all.
        let one = series(SignalKind::EvalScore, 60, 10, |i| {
            if i == 9 {
                0.75
            } else {
                NAN
            }
        });
        let d = eval(&one, &cfg(), Some(0.95)).detection.expect("fires");
        assert!(close(d.baseline, 0.95));
        assert_eq!(d.sev, Sev::Sev2);
        let d = eval(&one, &cfg(), None).detection.expect("fires");
        assert!(d.baseline.is_nan());
        assert_eq!(d.sev, Sev::Sev3);
        let none = series(SignalKind::EvalScore, 60, 10, |_| NAN);
        assert_eq!(eval(&none, &cfg(), Some(0.9)).detection, None);
    }

    fn hits(now: f64) -> Signal {
        step_up(SignalKind::RetrievalHit, 90, 0.82, 5, now)
    }

    #[test]
    fn retrieval_below_baseline_fraction() {
        // threshold 0.656; half the baseline 0.41
        let v = retrieval(&hits(0.6), &cfg());
        assert_eq!(
            fired(&v),
            Some((IncidentType::RetrievalDegradation, Sev::Sev3))
        );
        assert_eq!(
            v.detection.expect("fires").summary.as_str(),
            "retrieval hit 60.0% vs baseline 82.0%"
        );
        let v = retrieval(&hits(0.35), &cfg());
        assert_eq!(
            fired(&v),
            Some((IncidentType::RetrievalDegradation, Sev::Sev2))
        );
    }

    #[test]
    fn retrieval_just_above_threshold_or_gappy_is_quiet() {
        let v = retrieval(&hits(0.66), &cfg());
        assert_eq!(v.detection, None);
        assert!(close(v.threshold.and_then(|t| t.low).unwrap_or(0.0), 0.656));
        let short = series(SignalKind::RetrievalHit, 60, 10, |_| 0.1);
        assert_eq!(retrieval(&short, &cfg()), Verdict::default());
        let zero = step_up(SignalKind::RetrievalHit, 90, 0.0, 5, 0.0);
        assert_eq!(retrieval(&zero, &cfg()), Verdict::default());
        let mut sig = hits(0.1);
        sig.points[85] = NAN;
        sig.points[87] = NAN;
        assert_eq!(retrieval(&sig, &cfg()).detection, None);
    }
}
