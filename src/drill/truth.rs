//! Ground truth of a drill: which incidents each injected fault *should* raise, at which SEV,
//! and how fast, worked out from the fault's true magnitude and the fleet's traffic, not from
//! what the detectors happened to do.
//!
//! A fault clearly beyond a detector's line (with a margin for measurement noise) is
//! expected; one clearly inside is benign and must raise nothing; one near the line is
//! ambiguous and is scored neither way. The same goes for its SEV near a rung of the ladder.
//! Random drills draw magnitudes away from those margins, so every event they inject is
//! either expected or benign.

use crate::backend::sim::spec::{FaultKind, FaultSpec, FeatureSpec, FleetSpec};
use crate::detect::stats::{js_distance, poisson_at_least, poisson_at_most, total_variation};
use crate::detect::{sev, DetectConfig};
use crate::domain::{IncidentType, Sev};

/// What one injected fault should produce.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Expected {
    /// Index of the fault in the timetable.
    pub event: usize,
    pub feature: String,
    pub kind: IncidentType,
    /// `None`: the magnitude sits near a rung, either SEV is right.
    pub sev: Option<Sev>,
    /// Seconds after the cockpit started.
    pub onset: i64,
    /// When the fault became visible in the signals, if later than its onset (a rise in
    /// refusals hidden by an agent loop's flood until the loop stops); time to detect counts
    /// from here.
    pub visible_from: i64,
    /// When the cause ends by itself; `None` while it lasts.
    pub end: Option<i64>,
    /// Latest acceptable time to detect, seconds after onset.
    pub ttd_bound: i64,
    /// Scored: raised exactly once. Unscored (ambiguous): a raise is neither right nor wrong.
    pub scored: bool,
}

/// A share of traffic near 20% could land on either side of the quality rung.
const SHARE_MARGIN: f64 = 0.03;

fn quality_sev(share: f64) -> Option<Sev> {
    noisy_quality_sev(share, 0.0)
}

/// The quality rung when `share` is measured with sampling noise `noise` (one standard
/// error): within two of them of the rung, either SEV is right.
fn noisy_quality_sev(share: f64, noise: f64) -> Option<Sev> {
    ((share - 0.2).abs() > SHARE_MARGIN + 2.0 * noise).then(|| sev::quality_sev(share))
}

/// Answers a feature gives in five minutes, the window its quality signals are read over.
fn answers_in_window(f: &FeatureSpec, failing: f64) -> f64 {
    f.rps * 300.0 * (1.0 - failing.max(f.error_rate))
}

/// Sampling noise of a total variation between a category mix and `n` answers drawn from it.
fn tv_noise(weights: &[f64], n: f64) -> f64 {
    let sum: f64 = weights.iter().sum();
    if !(n > 0.0 && sum > 0.0) {
        return f64::INFINITY;
    }
    0.5 * weights
        .iter()
        .map(|w| {
            let p = w / sum;
            (p * (1.0 - p) / n).sqrt()
        })
        .sum::<f64>()
}

fn cost_sev(m: f64) -> Option<Sev> {
    let near = |rung: f64| (m / rung - 1.0).abs() < 0.2;
    if near(10.0) || near(100.0) {
        None
    } else {
        sev::cost_sev(m)
    }
}

/// Share of the feature's traffic in `segment` (all of it without one).
fn share(f: &FeatureSpec, segment: Option<&str>) -> f64 {
    match segment {
        None => 1.0,
        Some(s) => f
            .segments
            .iter()
            .filter(|x| x.name == s)
            .map(|x| x.share)
            .sum(),
    }
}

/// Refusals per second the stream attacked by `ev` produces in normal times, when `failing`
/// of its requests fail (failed requests are not answers, so they are never refused).
pub fn refusals_per_sec(f: &FeatureSpec, segment: Option<&str>, failing: f64) -> f64 {
    f.rps * share(f, segment) * f.refusal_rate * (1.0 - failing.max(f.error_rate))
}

/// The default drill's jailbreak evidence rate: refusals per second that go missing in the
/// attacked segment. Random drills at least this strong are held to the 2-minute bound.
const DRILL_MISSING_PER_SEC: f64 = 0.19;

/// The share of the feature's requests failing during the first ten minutes after `ev`
/// starts, from error faults that overlap it: fewer answers, slower evidence.
fn failing_during(spec: &FleetSpec, ev: &FaultSpec) -> f64 {
    spec.scenario
        .iter()
        .filter(|o| o.feature == ev.feature && o.fault == FaultKind::Errors)
        .filter(|o| o.at_secs <= ev.at_secs + 600 && o.end_secs.is_none_or(|e| e > ev.at_secs))
        .map(|o| o.factor)
        .fold(0.0, f64::max)
}

/// Requests per normal request in `segment` from agent loops on the feature running at `at`:
/// their extra requests are never refused, so they dilute a rise in refusals.
fn flood(spec: &FleetSpec, ev: &FaultSpec, segment: &str, at: i64) -> f64 {
    spec.scenario
        .iter()
        .filter(|o| o.feature == ev.feature && o.fault == FaultKind::AgentLoop)
        .filter(|o| o.at_secs <= at && o.end_secs.is_none_or(|e| e > at))
        .filter(|o| o.segment.as_deref().is_none_or(|s| s == segment))
        .map(|o| o.request_factor.max(1.0))
        .product()
}

/// Seconds a count test at `p_max` typically needs to see a rate of `r0` events per second
/// become `factor x r0`, or `None` if its longest window (`max_secs`) is not enough. The
/// detector weighs its baseline's own uncertainty (an hour of counts); this uses Poisson
/// tails, a little faster, which the margins in `bound_from` cover.
fn count_ttd(r0: f64, factor: f64, p_max: f64, max_secs: u64) -> Option<i64> {
    (1..=max_secs / 10).find_map(|i| {
        let t = i as f64 * 10.0;
        let lambda = r0 * t;
        // An unlucky but ordinary window: counts one and a half standard deviations from
        // their mean, against the detector.
        let mean = factor * r0 * t;
        let k = if factor < 1.0 {
            mean + 1.5 * mean.sqrt() + 1.0
        } else {
            (mean - 1.5 * mean.sqrt()).max(0.0)
        };
        let p = if factor < 1.0 {
            poisson_at_most(k.floor(), lambda)
        } else {
            poisson_at_least(k.ceil(), lambda)
        };
        (p < p_max).then_some(t as i64)
    })
}

/// A bound from the time an unlucky window needs: detection also waits for the window to
/// fill with the fault and for the bucket to close.
fn bound_from(typical: i64) -> i64 {
    60 + typical * 5 / 4
}

fn weights_of(f: &FeatureSpec, version: &str) -> Vec<f64> {
    f.prompts
        .iter()
        .find(|p| p.id == version)
        .and_then(|p| p.category_weights.clone())
        .unwrap_or_else(|| f.category_weights.clone())
}

fn eval_of(f: &FeatureSpec, version: &str) -> f64 {
    f.eval_score
        + f.prompts
            .iter()
            .find(|p| p.id == version)
            .map_or(0.0, |p| p.eval_delta)
}

struct Verdict {
    kind: IncidentType,
    /// Seconds after start when it can first be seen; `None`: at onset.
    visible_from: Option<i64>,
    /// `Some(true)` expected, `Some(false)` benign, `None` ambiguous.
    expected: Option<bool>,
    sev: Option<Sev>,
    ttd_bound: i64,
}

/// The incidents one fault should raise, in order. Benign effects are left out (a raise on
/// them is a false positive); ambiguous ones are listed unscored (a raise on them is neither
/// right nor wrong).
pub fn expected(spec: &FleetSpec, cfg: &DetectConfig, index: usize) -> Vec<Expected> {
    let Some(ev) = spec.scenario.get(index) else {
        return Vec::new();
    };
    let Some(f) = spec.features.iter().find(|f| f.name == ev.feature) else {
        return Vec::new();
    };
    let duration = ev.end_secs.map(|e| e - ev.at_secs);
    let lasts = |secs: u64| duration.is_none_or(|d| d >= i64::try_from(secs).unwrap_or(0) + 180);
    verdicts(spec, f, ev, cfg, &lasts)
        .into_iter()
        .filter_map(|v| {
            let scored = match v.expected {
                Some(false) => return None,
                Some(true) => true,
                None => false,
            };
            Some(Expected {
                event: index,
                feature: f.name.clone(),
                kind: v.kind,
                sev: if scored { v.sev } else { None },
                onset: ev.at_secs,
                visible_from: v.visible_from.unwrap_or(ev.at_secs),
                end: ev.end_secs,
                ttd_bound: v.ttd_bound,
                scored,
            })
        })
        .collect()
}

/// Expected (true), benign (false) or ambiguous (None), from `lo`/`hi` margins around a line:
/// beyond `hi` expected, inside `lo` benign.
fn judge(x: f64, lo: f64, hi: f64) -> Option<bool> {
    if x >= hi {
        Some(true)
    } else if x <= lo {
        Some(false)
    } else {
        None
    }
}

fn verdicts(
    spec: &FleetSpec,
    f: &FeatureSpec,
    ev: &FaultSpec,
    cfg: &DetectConfig,
    lasts: &dyn Fn(u64) -> bool,
) -> Vec<Verdict> {
    let seg = ev.segment.as_deref();
    match ev.fault {
        FaultKind::AgentLoop => {
            let s = share(f, seg);
            let m = 1.0 + s * (ev.factor * ev.request_factor - 1.0);
            // Two lines catch cost: the rate at 3x its trailing median within a minute, and
            // a day at the last hour's burn at 2x a normal day, once enough of the hour burned.
            let line = cfg.cost_rate_multiplier.min(cfg.daily_cost_multiplier);
            let fast = m >= cfg.cost_rate_multiplier * 1.2;
            let daily = cfg.daily_cost_multiplier;
            let ttd_bound = if fast {
                // The one-minute rate crosses the line once (line - 1) / (m - 1) of its window
                // holds the loop, then the confirmation runs; 2 minutes from 10x up.
                let cross = 60.0 * (cfg.cost_rate_multiplier - 1.0) / (m - 1.0);
                (cross + cfg.cost_confirm_secs as f64 + 40.0)
                    .ceil()
                    .max(120.0) as i64
            } else {
                // The hour's mean passes `daily` after 60 (daily - 1) / (m - 1) minutes.
                (3600.0 * (daily - 1.0) / (m - 1.0).max(1e-3)).ceil() as i64 + 180
            };
            vec![Verdict {
                kind: IncidentType::CostExplosion,
                visible_from: None,
                expected: if lasts(u64::try_from(ttd_bound).unwrap_or(u64::MAX)) {
                    judge(m, line * 0.8, line * 1.2)
                } else {
                    judge(m, line * 0.8, line * 1.2).filter(|e| !e)
                },
                sev: cost_sev(m),
                ttd_bound,
            }]
        }
        FaultKind::Jailbreak | FaultKind::ModelUpdate if ev.factor < 1.0 => {
            let per_sec = refusals_per_sec(f, seg, failing_during(spec, ev));
            let missing = per_sec * (1.0 - ev.factor);
            let typical = count_ttd(per_sec, ev.factor, cfg.count_p_value, cfg.count_window_secs);
            // A drop well past the band's lower line, over enough refusals to tell.
            let deep = judge(
                1.0 - ev.factor,
                1.0 - cfg.refusal_low_factor * 1.3,
                1.0 - cfg.refusal_low_factor * 0.6,
            );
            let expected = match (f.refusal_rate >= 0.012, typical, deep) {
                (_, _, Some(false)) => Some(false),
                (true, Some(_), Some(true)) => Some(true),
                _ => None,
            };
            // At the drill's strength the SEV1 is due within 2 minutes; the count test needs
            // ~20 missing refusals, so an unlucky minute (more refusals slip through than
            // usual) can cost one more: 3 minutes is the bound, 2 the median (docs/detection.md).
            let ttd = if missing >= DRILL_MISSING_PER_SEC {
                180
            } else {
                bound_from(typical.unwrap_or(0))
            };
            vec![Verdict {
                kind: IncidentType::GuardrailBypass,
                visible_from: None,
                expected: if lasts(u64::try_from(ttd).unwrap_or(0)) {
                    expected
                } else {
                    None
                },
                sev: Some(sev::guardrail_sev()),
                ttd_bound: ttd,
            }]
        }
        FaultKind::Jailbreak | FaultKind::ModelUpdate => {
            // Whole feature (model update) or one segment (a jailbreak with factor > 1 is
            // just more refusals): the feature-wide share of extra refusals sizes it.
            let base = f.refusal_rate;
            let s = share(f, seg);
            let extra = base * (ev.factor - 1.0) * s;
            let line = (base * cfg.refusal_high_factor).max(base + cfg.refusal_min_increase) - base;
            // The fastest stream to show it: each segment sees the rise diluted by its own
            // loops' extra requests (which also add answers to judge by).
            let failing = failing_during(spec, ev);
            let typical = f
                .segments
                .iter()
                .filter(|x| seg.is_none_or(|s| s == x.name))
                .filter_map(|x| {
                    let fl = flood(spec, ev, &x.name, ev.at_secs);
                    let r0 = refusals_per_sec(f, Some(&x.name), failing) * fl;
                    count_ttd(r0, ev.factor / fl, cfg.count_p_value, cfg.count_window_secs)
                })
                .chain(count_ttd(
                    refusals_per_sec(f, seg, failing),
                    ev.factor,
                    cfg.count_p_value,
                    cfg.count_window_secs,
                ))
                .min();
            let rise_at = |at: i64| {
                let seen = f
                    .segments
                    .iter()
                    .filter(|x| seg.is_none_or(|s| s == x.name))
                    .map(|x| ev.factor / flood(spec, ev, &x.name, at))
                    .fold(f64::NAN, f64::max);
                let seen = if seen.is_finite() { seen } else { ev.factor };
                judge(base * (seen - 1.0), line * 0.7, line * 1.4)
            };
            let mut moments: Vec<i64> = spec
                .scenario
                .iter()
                .filter(|o| o.feature == ev.feature && o.fault == FaultKind::AgentLoop)
                .filter_map(|o| o.end_secs)
                .filter(|e| *e > ev.at_secs && ev.end_secs.is_none_or(|end| *e + 300 < end))
                .collect();
            moments.insert(0, ev.at_secs);
            moments.sort_unstable();
            let verdicts: Vec<(i64, Option<bool>)> =
                moments.iter().map(|m| (*m, rise_at(*m))).collect();
            let visible = verdicts
                .iter()
                .find(|(_, v)| *v == Some(true))
                .map(|(m, _)| *m);
            let rise = if visible.is_some() {
                Some(true)
            } else if verdicts.iter().all(|(_, v)| *v == Some(false)) {
                Some(false)
            } else {
                None
            };
            let expected = match (typical, rise) {
                (_, Some(false)) => Some(false),
                (Some(_), Some(true)) => Some(true),
                _ => None,
            };
            vec![Verdict {
                kind: IncidentType::OverRefusal,
                visible_from: visible.filter(|v| *v > ev.at_secs),
                expected,
                sev: {
                    let n = answers_in_window(f, failing);
                    let rate = base * ev.factor;
                    noisy_quality_sev(extra, (rate * (1.0 - rate) / n).sqrt())
                },
                ttd_bound: bound_from(typical.unwrap_or(0)).max(90),
            }]
        }
        FaultKind::PromptDeploy => {
            let Some(version) = ev.version.as_deref() else {
                return Vec::new();
            };
            let before = weights_of(f, &f.current_prompt);
            let after = weights_of(f, version);
            let js = js_distance(&before, &after);
            let tv = total_variation(&before, &after);
            let eval_before = eval_of(f, &f.current_prompt);
            let eval_after = eval_of(f, version);
            let drop = ((eval_before - eval_after) / eval_before).max(0.0);
            vec![
                Verdict {
                    kind: IncidentType::CapabilityDrift,
                    visible_from: None,
                    expected: judge(js, cfg.drift_js * 0.6, cfg.drift_js * 1.4),
                    sev: noisy_quality_sev(
                        tv,
                        tv_noise(&after, answers_in_window(f, failing_during(spec, ev))),
                    ),
                    ttd_bound: 600,
                },
                Verdict {
                    kind: IncidentType::EvalRegression,
                    visible_from: None,
                    // Scheduled evals carry ~0.01 of noise; the detector enters two of those
                    // below the minimum.
                    expected: judge(
                        -eval_after,
                        -(cfg.eval_min + 0.015),
                        -(cfg.eval_min - 0.035),
                    ),
                    sev: quality_sev(drop),
                    // The next eval, or the one after when the first alone is within noise.
                    ttd_bound: 2 * i64::from(spec.eval_every_secs) + 30,
                },
            ]
        }
        FaultKind::Errors => {
            let hold = cfg.error_hold_secs;
            let expected = judge(ev.factor, cfg.error_ratio * 0.7, cfg.error_ratio * 1.5);
            vec![Verdict {
                kind: IncidentType::Errors,
                visible_from: None,
                expected: if lasts(hold) {
                    expected
                } else {
                    expected.filter(|e| !e)
                },
                sev: ((ev.factor - 0.5).abs() > 0.08).then(|| sev::errors_sev(ev.factor)),
                ttd_bound: i64::try_from(hold).unwrap_or(600) + 120,
            }]
        }
        FaultKind::Latency => {
            let hold = cfg.latency_hold_secs;
            let expected = judge(
                ev.factor,
                cfg.latency_multiplier * 0.8,
                cfg.latency_multiplier * 1.25,
            );
            vec![Verdict {
                kind: IncidentType::LatencyDegradation,
                visible_from: None,
                expected: if lasts(hold) {
                    expected
                } else {
                    expected.filter(|e| !e)
                },
                sev: (ev.factor > cfg.latency_multiplier * 1.25).then_some(Sev::Sev3),
                ttd_bound: i64::try_from(hold).unwrap_or(900) + 120,
            }]
        }
        FaultKind::Retrieval => {
            if f.retrieval_hit <= 0.0 {
                return Vec::new();
            }
            let r = ev.factor / f.retrieval_hit;
            vec![Verdict {
                kind: IncidentType::RetrievalDegradation,
                visible_from: None,
                expected: judge(
                    -r,
                    -(cfg.retrieval_factor + 0.1),
                    -(cfg.retrieval_factor - 0.1),
                ),
                sev: ((r - 0.5).abs() > 0.03).then(|| sev::retrieval_sev(r, 1.0)),
                ttd_bound: 120,
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill() -> (FleetSpec, DetectConfig) {
        (
            FleetSpec::builtin().expect("fleet"),
            crate::detect::builtin(),
        )
    }

    #[test]
    fn the_default_drill_expects_one_incident_of_each_type_at_its_designed_sev() {
        let (spec, cfg) = drill();
        let all: Vec<Expected> = (0..spec.scenario.len())
            .flat_map(|i| expected(&spec, &cfg, i))
            .collect();
        let got: Vec<(&str, IncidentType, Option<Sev>, bool)> = all
            .iter()
            .map(|e| (e.feature.as_str(), e.kind, e.sev, e.scored))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "triage-agent",
                    IncidentType::CostExplosion,
                    Some(Sev::Sev2),
                    true
                ),
                (
                    "support-bot",
                    IncidentType::CapabilityDrift,
                    Some(Sev::Sev2),
                    true
                ),
                (
                    "support-bot",
                    IncidentType::EvalRegression,
                    Some(Sev::Sev2),
                    true
                ),
                (
                    "code-assistant",
                    IncidentType::GuardrailBypass,
                    Some(Sev::Sev1),
                    true
                ),
                ("summarizer", IncidentType::Errors, Some(Sev::Sev3), true),
                (
                    "code-assistant",
                    IncidentType::LatencyDegradation,
                    Some(Sev::Sev3),
                    true
                ),
                (
                    "support-bot",
                    IncidentType::RetrievalDegradation,
                    Some(Sev::Sev2),
                    true
                ),
                (
                    "summarizer",
                    IncidentType::OverRefusal,
                    Some(Sev::Sev3),
                    true
                ),
            ]
        );
        // The jailbreak is the drill's magnitude: held to the drill's bound.
        let jb = all
            .iter()
            .find(|e| e.kind == IncidentType::GuardrailBypass)
            .map(|e| e.ttd_bound);
        assert_eq!(jb, Some(180));
    }

    #[test]
    fn near_the_line_is_ambiguous_and_inside_is_benign() {
        let (mut spec, cfg) = drill();
        spec.scenario = vec![spec.scenario[0].clone()];
        // 1.5x cost: benign, nothing expected.
        spec.scenario[0].factor = 1.0;
        spec.scenario[0].request_factor = 1.0 + 0.5 / 0.3;
        assert!(expected(&spec, &cfg, 0).is_empty());
        // 2x exactly, the daily line: ambiguous, listed unscored.
        spec.scenario[0].request_factor = 1.0 + 1.0 / 0.3;
        let e = expected(&spec, &cfg, 0);
        assert_eq!(e.len(), 1);
        assert!(!e[0].scored);
    }
}
