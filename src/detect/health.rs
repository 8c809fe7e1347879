//! Latency and errors: conditions that must *hold* for a while before they page, because a
//! single slow scrape or a burst of 5xx during a deploy is not an incident.

use super::stats::{baseline_before, covered, finite, points_for, tail};
use super::{fmt_coverage, fmt_ratio, fmt_secs, sev, Breach, DetectConfig, Verdict};
use crate::domain::{IncidentType, Signal};

/// A hold window with more gaps than this proves nothing about the whole stretch.
const MIN_HOLD_SHARE: f64 = 0.8;

/// Lowest value of the last `hold_secs` when every finite point there is above `line` and
/// enough of them are finite; `None` otherwise (including a series shorter than the hold).
fn held_above(sig: &Signal, hold_secs: u64, line: f64) -> Option<f64> {
    let h = points_for(hold_secs, sig.step_secs);
    let recent = tail(&sig.points, h);
    if !covered(recent, h, MIN_HOLD_SHARE) || !finite(recent).all(|v| v > line) {
        return None;
    }
    finite(recent).reduce(f64::min)
}

/// TTFT or TPOT p99 above `latency_multiplier` x baseline for all of `latency_hold_secs`.
pub fn latency(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    let Some(base) = baseline_before(sig, cfg.latency_hold_secs, cfg).filter(|b| *b > 0.0) else {
        return Verdict::default();
    };
    let threshold = base * cfg.latency_multiplier;
    let verdict = Verdict::line(sig, Some(threshold), None);
    let (Some(lowest), Some(now)) = (
        held_above(sig, cfg.latency_hold_secs, threshold),
        sig.last(),
    ) else {
        return verdict;
    };
    let fmt = |v| sig.kind.format(v);
    let (label, hold) = (sig.kind.label(), fmt_secs(cfg.latency_hold_secs));
    let held = tail(
        &sig.points,
        points_for(cfg.latency_hold_secs, sig.step_secs),
    );
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::LatencyDegradation,
            // The ladder reads the level that held for the whole stretch, not the last blip.
            sev: sev::latency_sev(lowest / base),
            value: now,
            baseline: base,
            threshold,
            summary: format!(
                "{label} {}, {} baseline for {hold}",
                fmt(now),
                fmt_ratio(now / base)
            ),
            evidence: vec![
                format!(
                    "{label} now {}; lowest in last {hold} {}",
                    fmt(now),
                    fmt(lowest)
                ),
                format!(
                    "{label} baseline {} (median of {} before that)",
                    fmt(base),
                    fmt_secs(cfg.baseline_secs)
                ),
                format!(
                    "{label} threshold {} = {} baseline, held {hold} ({})",
                    fmt(threshold),
                    fmt_ratio(cfg.latency_multiplier),
                    fmt_coverage(held, points_for(cfg.latency_hold_secs, sig.step_secs))
                ),
            ],
        },
    )
}

/// Error ratio above `error_ratio` for all of `error_hold_secs`.
pub fn errors(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    let threshold = cfg.error_ratio;
    let verdict = Verdict::line(sig, Some(threshold), None);
    let (Some(lowest), Some(now)) = (held_above(sig, cfg.error_hold_secs, threshold), sig.last())
    else {
        return verdict;
    };
    let fmt = |v| sig.kind.format(v);
    let hold = fmt_secs(cfg.error_hold_secs);
    // Context only: the trigger is absolute, so a missing baseline is shown as "—".
    let base = baseline_before(sig, cfg.error_hold_secs, cfg).unwrap_or(f64::NAN);
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::Errors,
            sev: sev::errors_sev(now),
            value: now,
            baseline: base,
            threshold,
            summary: format!("errors {} for {hold} (> {})", fmt(now), fmt(threshold)),
            evidence: vec![
                format!(
                    "error ratio now {}; lowest in last {hold} {}",
                    fmt(now),
                    fmt(lowest)
                ),
                format!(
                    "before that {} (median of {})",
                    fmt(base),
                    fmt_secs(cfg.baseline_secs)
                ),
                format!("threshold {} held {hold}", fmt(threshold)),
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::domain::{Sev, SignalKind};

    fn fired(v: &Verdict) -> Option<(IncidentType, Sev)> {
        v.detection.as_ref().map(|d| (d.kind, d.sev))
    }

    const LATENCY: Option<(IncidentType, Sev)> =
        Some((IncidentType::LatencyDegradation, Sev::Sev3));

    #[test]
    fn latency_fires_after_fifteen_minutes_above_twice_baseline() {
        let v = latency(&step_up(SignalKind::TtftP99, 90, 0.6, 15, 1.84), &cfg());
        assert_eq!(fired(&v), LATENCY);
        let d = v.detection.expect("fires");
        assert_eq!(d.summary.as_str(), "TTFT p99 1.84s, 3.1x baseline for 15m");
        assert!(close(d.baseline, 0.6) && close(d.threshold, 1.2));
        let tpot = latency(&step_up(SignalKind::TpotP99, 90, 0.04, 15, 0.1), &cfg());
        assert_eq!(fired(&tpot), LATENCY);
    }

    #[test]
    fn latency_just_under_threshold_is_quiet() {
        let v = latency(&step_up(SignalKind::TtftP99, 90, 0.6, 15, 1.19), &cfg());
        assert_eq!(v.detection, None);
        assert!(close(v.threshold.and_then(|t| t.high).unwrap_or(0.0), 1.2));
    }

    #[test]
    fn latency_hold_not_yet_met() {
        let v = latency(&step_up(SignalKind::TtftP99, 90, 0.6, 14, 1.84), &cfg());
        assert_eq!(v.detection, None);
        // One dip below the line inside the hold resets it.
        let mut sig = step_up(SignalKind::TtftP99, 90, 0.6, 15, 1.84);
        sig.points[80] = 1.0;
        assert_eq!(latency(&sig, &cfg()).detection, None);
    }

    #[test]
    fn latency_tolerates_a_few_gaps_in_the_hold() {
        let mut sig = step_up(SignalKind::TtftP99, 90, 0.6, 15, 1.84);
        sig.points[78] = NAN;
        sig.points[83] = NAN;
        sig.points[86] = NAN; // 12/15 = 80% finite
        assert_eq!(fired(&latency(&sig, &cfg())), LATENCY);
        sig.points[87] = NAN; // 11/15
        assert_eq!(latency(&sig, &cfg()).detection, None);
    }

    #[test]
    fn latency_without_baseline_or_data_says_nothing() {
        let short = series(SignalKind::TtftP99, 60, 20, |_| 5.0);
        assert_eq!(latency(&short, &cfg()), Verdict::default());
        let empty = series(SignalKind::TtftP99, 60, 0, |_| 0.0);
        assert_eq!(latency(&empty, &cfg()), Verdict::default());
        let gaps = series(SignalKind::TtftP99, 60, 90, |i| {
            if i < 75 && i % 3 != 0 {
                NAN
            } else {
                5.0
            }
        });
        assert_eq!(latency(&gaps, &cfg()), Verdict::default());
        let all_nan = series(SignalKind::TtftP99, 60, 90, |_| NAN);
        assert_eq!(latency(&all_nan, &cfg()), Verdict::default());
    }

    #[test]
    fn errors_fire_after_ten_minutes_above_five_percent() {
        let v = errors(&step_up(SignalKind::ErrorRatio, 90, 0.01, 10, 0.12), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::Errors, Sev::Sev3)));
        let d = v.detection.expect("fires");
        assert_eq!(d.summary.as_str(), "errors 12.0% for 10m (> 5.0%)");
        assert!(close(d.baseline, 0.01));
        let v = errors(&step_up(SignalKind::ErrorRatio, 90, 0.01, 10, 0.5), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::Errors, Sev::Sev2)));
    }

    #[test]
    fn errors_at_or_under_threshold_are_quiet() {
        for now in [0.05, 0.049] {
            let v = errors(&step_up(SignalKind::ErrorRatio, 90, 0.01, 10, now), &cfg());
            assert_eq!(v.detection, None, "{now}");
            assert_eq!(v.threshold.and_then(|t| t.high), Some(0.05));
        }
    }

    #[test]
    fn errors_hold_not_yet_met_or_gappy() {
        let v = errors(&step_up(SignalKind::ErrorRatio, 90, 0.01, 9, 0.9), &cfg());
        assert_eq!(v.detection, None);
        let mut sig = step_up(SignalKind::ErrorRatio, 90, 0.01, 10, 0.9);
        sig.points[82] = NAN;
        sig.points[85] = NAN;
        sig.points[88] = NAN; // 7/10 finite
        assert_eq!(errors(&sig, &cfg()).detection, None);
        let short = series(SignalKind::ErrorRatio, 60, 5, |_| 0.9);
        assert_eq!(errors(&short, &cfg()).detection, None);
        let nan = series(SignalKind::ErrorRatio, 60, 30, |_| NAN);
        assert_eq!(errors(&nan, &cfg()).detection, None);
    }

    #[test]
    fn errors_without_history_still_fire_with_unknown_baseline() {
        let v = errors(&series(SignalKind::ErrorRatio, 60, 10, |_| 0.2), &cfg());
        let d = v.detection.expect("fires");
        assert!(d.baseline.is_nan());
        assert!(evidence_text(&d).contains("before that —"));
    }
}
