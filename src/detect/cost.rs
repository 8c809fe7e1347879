//! Cost explosion: $/min against its trailing average, and today's projected cost against the
//! previous days. Tokens/min gets the same line drawn but raises nothing on its own: a token
//! surge that costs nothing extra (a cheap model) is not a cost incident.

use super::stats::{covered, finite, mean, points_for, tail, window_before};
use super::{fmt_coverage, fmt_ratio, fmt_secs, sev, Breach, DetectConfig, Verdict};
use crate::domain::{IncidentType, Sev, Signal, SignalKind};

/// A trailing average from fewer than half its points is too noisy to multiply.
const MIN_TRAILING_SHARE: f64 = 0.5;
/// DESIGN.md: "daily cost > 2x 7-day average".
const HISTORY_DAYS: usize = 7;
/// Fewer past days than this say nothing about a normal day.
const MIN_HISTORY_DAYS: usize = 3;

/// Trailing average of a rate signal, ending `cost_exclude_recent_secs` before now so a spike
/// does not dampen its own alarm.
struct Trailing {
    avg: f64,
    coverage: String,
}

fn trailing(sig: &Signal, cfg: &DetectConfig) -> Option<Trailing> {
    let skip = points_for(cfg.cost_exclude_recent_secs, sig.step_secs);
    let n = points_for(cfg.cost_trailing_secs, sig.step_secs);
    let window = window_before(&sig.points, skip, n);
    if !covered(window, n, MIN_TRAILING_SHARE) {
        return None;
    }
    Some(Trailing {
        avg: mean(window)?,
        coverage: fmt_coverage(window, n),
    })
}

/// The latest value inside the excluded recent stretch; older than that is stale, and a
/// scrape gap must not keep an old spike firing.
fn recent_value(sig: &Signal, cfg: &DetectConfig) -> Option<f64> {
    let skip = points_for(cfg.cost_exclude_recent_secs, sig.step_secs);
    finite(tail(&sig.points, skip)).last()
}

/// A breach below the ladder's first cost rung (a trigger tuned under 2x) is still reported,
/// as the minor rung.
fn cost_ladder(multiplier: f64) -> Sev {
    sev::cost_sev(multiplier).unwrap_or(Sev::Sev4)
}

/// $/min above `cost_rate_multiplier` x its trailing average.
pub fn cost_rate(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    let Some(base) = trailing(sig, cfg) else {
        return Verdict::default();
    };
    let threshold = base.avg * cfg.cost_rate_multiplier;
    let verdict = Verdict::line(sig, Some(threshold), None);
    let Some(now) = recent_value(sig, cfg) else {
        return verdict;
    };
    if !(base.avg > 0.0 && now > threshold) {
        return verdict;
    }
    let multiplier = now / base.avg;
    let fmt = |v| SignalKind::CostPerMin.format(v);
    let window = fmt_secs(cfg.cost_trailing_secs);
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::CostExplosion,
            sev: cost_ladder(multiplier),
            value: now,
            baseline: base.avg,
            threshold,
            summary: format!(
                "cost {}/min, {} trailing {window} avg",
                fmt(now),
                fmt_ratio(multiplier)
            ),
            evidence: vec![
                format!(
                    "cost now {}/min = {} baseline",
                    fmt(now),
                    fmt_ratio(multiplier)
                ),
                format!(
                    "trailing {window} avg {}/min, ending {} ago ({})",
                    fmt(base.avg),
                    fmt_secs(cfg.cost_exclude_recent_secs),
                    base.coverage
                ),
                format!(
                    "threshold {}/min = {} trailing avg",
                    fmt(threshold),
                    fmt_ratio(cfg.cost_rate_multiplier)
                ),
            ],
        },
    )
}

/// Tokens/min: only the line, at the same multiple of the same trailing window as $/min.
pub fn tokens_rate(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    match trailing(sig, cfg) {
        Some(base) => Verdict::line(sig, Some(base.avg * cfg.cost_rate_multiplier), None),
        None => Verdict::default(),
    }
}

/// Today's projected cost (last point) above `daily_cost_multiplier` x the average of up to
/// the previous seven days.
pub fn daily_cost(sig: &Signal, cfg: &DetectConfig) -> Verdict {
    let Some((&today, past)) = sig.points.split_last() else {
        return Verdict::default();
    };
    let history = tail(past, HISTORY_DAYS);
    let days = finite(history).count();
    let Some(avg) = mean(history).filter(|_| days >= MIN_HISTORY_DAYS) else {
        return Verdict::default();
    };
    let threshold = avg * cfg.daily_cost_multiplier;
    let verdict = Verdict::line(sig, Some(threshold), None);
    if !(avg > 0.0 && today > threshold) {
        // NaN today (no projection yet) also ends here.
        return verdict;
    }
    let multiplier = today / avg;
    let fmt = |v| SignalKind::DailyCost.format(v);
    verdict.with(
        sig,
        Breach {
            kind: IncidentType::CostExplosion,
            sev: cost_ladder(multiplier),
            value: today,
            baseline: avg,
            threshold,
            summary: format!(
                "daily cost {} projected, {} {days}-day avg",
                fmt(today),
                fmt_ratio(multiplier)
            ),
            evidence: vec![
                format!(
                    "today projected {} = {} baseline",
                    fmt(today),
                    fmt_ratio(multiplier)
                ),
                format!("previous {days} days avg {}/day", fmt(avg)),
                format!(
                    "threshold {}/day = {} daily avg",
                    fmt(threshold),
                    fmt_ratio(cfg.daily_cost_multiplier)
                ),
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn rate(recent: usize, now: f64) -> Signal {
        step_up(SignalKind::CostPerMin, 120, 0.10, recent, now)
    }

    fn fired(v: &Verdict) -> Option<(IncidentType, Sev)> {
        v.detection.as_ref().map(|d| (d.kind, d.sev))
    }

    #[test]
    fn cost_rate_fires_with_ladder_sev() {
        let v = cost_rate(&rate(3, 4.2), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::CostExplosion, Sev::Sev2)));
        let d = v.detection.as_ref().expect("detection");
        assert!(close(d.baseline, 0.10) && close(d.value, 4.2));
        assert!(close(d.threshold, 0.30));
        assert_eq!(d.summary.as_str(), "cost $4.20/min, 42x trailing 1h avg");
        assert!((2..=4).contains(&d.evidence.len()));
        assert!(close(v.threshold.and_then(|t| t.high).unwrap_or(0.0), 0.30));

        let sevs = [
            (0.5, Sev::Sev3),
            (0.99, Sev::Sev3),
            (1.0, Sev::Sev2),
            (10.01, Sev::Sev1),
        ];
        for (now, want) in sevs {
            let v = cost_rate(&rate(3, now), &cfg());
            assert_eq!(
                fired(&v),
                Some((IncidentType::CostExplosion, want)),
                "{now}"
            );
        }
    }

    #[test]
    fn cost_rate_just_under_threshold_is_quiet() {
        let v = cost_rate(&rate(3, 0.29), &cfg());
        assert_eq!(v.detection, None);
        assert!(v.threshold.is_some());
    }

    #[test]
    fn cost_spike_does_not_dampen_its_own_baseline() {
        // Five minutes of spike sit in the excluded stretch, not in the trailing average.
        let v = cost_rate(&rate(5, 4.2), &cfg());
        let d = v.detection.expect("fires");
        assert!(close(d.baseline, 0.10));
    }

    #[test]
    fn cost_rate_needs_half_the_trailing_window() {
        // 60-point window ending 5 points before now; 31 NaN leave 29 < 30 finite.
        let mut sig = rate(3, 4.2);
        for i in 55..86 {
            sig.points[i] = NAN;
        }
        assert_eq!(cost_rate(&sig, &cfg()), Verdict::default());
        sig.points[55] = 0.10; // 30 finite: enough
        assert_eq!(
            fired(&cost_rate(&sig, &cfg())),
            Some((IncidentType::CostExplosion, Sev::Sev2))
        );
    }

    #[test]
    fn cost_rate_short_empty_or_stale_series_do_not_fire() {
        let short = series(SignalKind::CostPerMin, 60, 10, |i| {
            if i >= 7 {
                4.2
            } else {
                0.1
            }
        });
        assert_eq!(cost_rate(&short, &cfg()), Verdict::default());
        assert_eq!(
            cost_rate(&series(SignalKind::CostPerMin, 60, 0, |_| 0.0), &cfg()),
            Verdict::default()
        );
        // The spike was 10 minutes ago and the last 5 points are missing: stale, no verdict.
        let mut sig = rate(10, 4.2);
        for p in sig.points.iter_mut().rev().take(5) {
            *p = NAN;
        }
        let v = cost_rate(&sig, &cfg());
        assert_eq!(v.detection, None);
        assert!(v.threshold.is_some());
    }

    #[test]
    fn cost_rate_zero_baseline_cannot_multiply() {
        let v = cost_rate(&step_up(SignalKind::CostPerMin, 120, 0.0, 3, 5.0), &cfg());
        assert_eq!(v.detection, None);
    }

    #[test]
    fn tokens_draw_a_line_but_never_fire() {
        let v = tokens_rate(
            &step_up(SignalKind::TokensPerMin, 120, 1000.0, 3, 1e9),
            &cfg(),
        );
        assert_eq!(v.detection, None);
        let t = v.threshold.expect("line");
        assert_eq!(
            (t.kind, t.high, t.low),
            (SignalKind::TokensPerMin, Some(3000.0), None)
        );
        assert_eq!(
            tokens_rate(&series(SignalKind::TokensPerMin, 60, 4, |_| 1.0), &cfg()),
            Verdict::default()
        );
    }

    fn days(today: f64) -> Signal {
        series(SignalKind::DailyCost, 86_400, 8, |i| {
            if i == 7 {
                today
            } else {
                100.0
            }
        })
    }

    #[test]
    fn daily_cost_fires_above_twice_the_week() {
        let v = daily_cost(&days(250.0), &cfg());
        assert_eq!(fired(&v), Some((IncidentType::CostExplosion, Sev::Sev3)));
        let d = v.detection.expect("fires");
        assert_eq!(
            d.summary.as_str(),
            "daily cost $250 projected, 2.5x 7-day avg"
        );
        assert!(close(d.threshold, 200.0));
        assert_eq!(
            fired(&daily_cost(&days(1500.0), &cfg())),
            Some((IncidentType::CostExplosion, Sev::Sev2))
        );
        assert_eq!(
            fired(&daily_cost(&days(10_500.0), &cfg())),
            Some((IncidentType::CostExplosion, Sev::Sev1))
        );
    }

    #[test]
    fn daily_cost_just_under_or_without_history_is_quiet() {
        let v = daily_cost(&days(199.0), &cfg());
        assert_eq!(v.detection, None);
        assert!(v.threshold.is_some());
        // Only seven previous days count: an expensive day 9 days ago is ignored.
        let mut sig = days(250.0);
        sig.points.insert(0, 10_000.0);
        assert!(close(
            daily_cost(&sig, &cfg()).detection.expect("fires").baseline,
            100.0
        ));
        // Two days of history are not a baseline.
        let short = series(SignalKind::DailyCost, 86_400, 3, |i| {
            if i == 2 {
                900.0
            } else {
                100.0
            }
        });
        assert_eq!(daily_cost(&short, &cfg()), Verdict::default());
        let gappy = series(SignalKind::DailyCost, 86_400, 8, |i| match i {
            7 => 900.0,
            0 | 3 => 100.0,
            _ => NAN,
        });
        assert_eq!(daily_cost(&gappy, &cfg()), Verdict::default());
        // No projection for today yet: the line, no verdict.
        let v = daily_cost(&days(NAN), &cfg());
        assert_eq!(v.detection, None);
        assert!(v.threshold.is_some());
        assert_eq!(
            daily_cost(&series(SignalKind::DailyCost, 86_400, 0, |_| 0.0), &cfg()),
            Verdict::default()
        );
    }
}
