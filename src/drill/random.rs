//! Random drills: a different timetable per seed, so detectors are never tuned to one
//! timetable and a game day surprises the responder.
//!
//! Each seed draws the types, features, segments, onsets, magnitudes and durations of its
//! faults; faults overlap (on one feature too, when they touch different signals), some end by
//! themselves and some last. Magnitudes are drawn clearly on one side of every detector line
//! and SEV rung (see `truth`), so each fault is either an incident at a known SEV or a benign
//! near-miss that must raise nothing.

use crate::backend::sim::rng::Rng;
use crate::backend::sim::spec::{FaultKind, FaultSpec, FeatureSpec, FleetSpec, PromptSpec};
use crate::detect::stats::{js_distance, positive, total_variation};

/// Key of the timetable's random stream, apart from the traffic's.
const STREAM: u64 = 0x7111_E7AB;

/// Which signals a fault moves: two faults on one feature that move the same signal would
/// blur each other's truth, so they never overlap.
fn family(kind: FaultKind) -> u8 {
    match kind {
        FaultKind::AgentLoop => 0,
        FaultKind::Jailbreak | FaultKind::ModelUpdate => 1,
        FaultKind::PromptDeploy => 2,
        FaultKind::Errors => 3,
        FaultKind::Latency => 4,
        FaultKind::Retrieval => 5,
    }
}

/// Quiet time after a fault ends before another on the same signal: its incident has
/// recovered by then (windows drained, recovery hold met).
const GAP_SECS: i64 = 20 * 60;

struct Drawn {
    fault: FaultSpec,
    prompt: Option<PromptSpec>,
}

/// `base` with its scenario replaced by a random timetable over `horizon_secs`.
pub fn timetable(base: &FleetSpec, seed: u64, horizon_secs: i64) -> FleetSpec {
    let mut spec = base.clone();
    spec.scenario.clear();
    let mut rng = Rng::for_key(seed, STREAM, 0);
    let horizon = horizon_secs.max(30 * 60);
    // About one fault per quarter hour, at least four.
    let count = ((horizon / 900) as usize).max(4) + rng.below(3);
    let mut busy: Vec<(String, u8, i64, i64)> = Vec::new();
    let mut n_prompts = 0;
    for _ in 0..count * 4 {
        if spec.scenario.len() >= count {
            break;
        }
        let fi = rng.below(spec.features.len());
        let f = spec.features[fi].clone();
        let Some(kind) = pick_kind(&mut rng, &f) else {
            continue;
        };
        let at = rng
            .range(120.0, (horizon - 40 * 60).max(180) as f64)
            .round() as i64;
        // A third last to the end of the run; the rest end by themselves.
        let end =
            (!rng.chance(0.33)).then(|| at + rng.range(22.0 * 60.0, 80.0 * 60.0).round() as i64);
        let until = end.unwrap_or(i64::MAX / 4);
        let clash = busy.iter().any(|(name, fam, from, to)| {
            *name == f.name
                && *fam == family(kind)
                && at < to + GAP_SECS
                && *from < until + GAP_SECS
        });
        if clash {
            continue;
        }
        let drawn = match kind {
            FaultKind::AgentLoop => agent_loop(&mut rng, &f),
            FaultKind::Jailbreak => jailbreak(&mut rng, &f),
            FaultKind::ModelUpdate => model_update(&mut rng, &f),
            FaultKind::PromptDeploy => {
                n_prompts += 1;
                prompt_deploy(&mut rng, &f, n_prompts)
            }
            FaultKind::Errors => errors(&mut rng, &f),
            FaultKind::Latency => latency(&mut rng, &f),
            FaultKind::Retrieval => retrieval(&mut rng, &f),
        };
        let Some(mut d) = drawn else {
            continue;
        };
        d.fault.at_secs = at;
        d.fault.end_secs = end;
        if let Some(mut p) = d.prompt {
            p.deployed_secs = at;
            spec.features[fi].prompts.push(p);
        }
        busy.push((f.name.clone(), family(kind), at, until));
        spec.scenario.push(d.fault);
    }
    spec.scenario.sort_by_key(|f| f.at_secs);
    spec
}

fn pick_kind(rng: &mut Rng, f: &FeatureSpec) -> Option<FaultKind> {
    let kinds = [
        FaultKind::AgentLoop,
        FaultKind::Jailbreak,
        FaultKind::ModelUpdate,
        FaultKind::PromptDeploy,
        FaultKind::Errors,
        FaultKind::Latency,
        FaultKind::Retrieval,
    ];
    let k = kinds[rng.below(kinds.len())];
    (k != FaultKind::Retrieval || f.retrieval_hit > 0.0).then_some(k)
}

fn fault(f: &FeatureSpec, kind: FaultKind) -> FaultSpec {
    FaultSpec {
        at_secs: 0,
        feature: f.name.clone(),
        fault: kind,
        segment: None,
        factor: 1.0,
        request_factor: 1.0,
        version: None,
        end_secs: None,
    }
}

fn plain(fault: FaultSpec) -> Option<Drawn> {
    Some(Drawn {
        fault,
        prompt: None,
    })
}

/// A segment drawn by traffic share, or the whole feature one time in five.
fn segment(rng: &mut Rng, f: &FeatureSpec) -> (Option<String>, f64) {
    if rng.chance(0.2) || f.segments.is_empty() {
        return (None, 1.0);
    }
    let weights: Vec<f64> = f.segments.iter().map(|s| s.share).collect();
    let s = &f.segments[rng.weighted(&weights)];
    (Some(s.name.clone()), s.share)
}

/// Cost multiple of the feature: SEV3 (2.6-8x), SEV2 (13-70x), SEV1 (150-400x), or a benign
/// 1.2-1.55x bump.
fn agent_loop(rng: &mut Rng, f: &FeatureSpec) -> Option<Drawn> {
    let (seg, share) = segment(rng, f);
    let m = match rng.below(5) {
        0 => rng.range(1.2, 1.55),
        1 => rng.range(2.6, 8.0),
        2 | 3 => rng.log_range(13.0, 70.0),
        _ => rng.log_range(150.0, 400.0),
    };
    let per_segment = (m - (1.0 - share)) / share;
    let request_factor = rng.range(1.0, per_segment.clamp(1.0, 6.0));
    let mut x = fault(f, FaultKind::AgentLoop);
    x.segment = seg;
    x.request_factor = request_factor;
    x.factor = per_segment / request_factor;
    plain(x)
}

/// A refusal drop in a segment with enough refusals to measure: 80-98% of them missing.
fn jailbreak(rng: &mut Rng, f: &FeatureSpec) -> Option<Drawn> {
    let (seg, share) = segment(rng, f);
    let per_min = f.rps * share * f.refusal_rate * 60.0;
    if per_min < 4.0 || f.refusal_rate < 0.012 {
        return None;
    }
    let mut x = fault(f, FaultKind::Jailbreak);
    x.segment = seg;
    x.factor = rng.range(0.02, 0.2);
    plain(x)
}

/// A provider model update that over-refuses: extra refused share of the feature's traffic
/// in the SEV3 band (well above the line, under 17%) or the SEV2 band (26-50%).
fn model_update(rng: &mut Rng, f: &FeatureSpec) -> Option<Drawn> {
    let base = f.refusal_rate;
    let line = (base * 2.0).max(base + 0.02) - base;
    let extra = if rng.chance(0.5) {
        let lo = (line * 1.6).max(0.05);
        if lo >= 0.16 {
            return None;
        }
        rng.range(lo, 0.16)
    } else {
        rng.range(0.26, 0.5)
    };
    let mut x = fault(f, FaultKind::ModelUpdate);
    x.factor = 1.0 + extra / base;
    x.version = Some(format!("2026-12-{:02}", 1 + rng.below(28)));
    plain(x)
}

/// A prompt version that shifts the output mix (SEV2: > 23% of traffic, SEV3: 11-17%), drops
/// the eval (below the minimum by a clear margin, SEV2 or SEV3 by the relative drop), or
/// both; or a benign one that does neither.
fn prompt_deploy(rng: &mut Rng, f: &FeatureSpec, n: usize) -> Option<Drawn> {
    let current = f
        .prompts
        .iter()
        .find(|p| p.id == f.current_prompt)
        .and_then(|p| p.category_weights.clone())
        .unwrap_or_else(|| f.category_weights.clone());
    let (drift, eval) = match rng.below(4) {
        0 => (true, true),
        1 => (true, false),
        2 => (false, true),
        _ => (false, false),
    };
    let weights = if drift {
        let target = if rng.chance(0.5) {
            rng.range(0.26, 0.42)
        } else {
            rng.range(0.13, 0.16)
        };
        shifted(rng, &current, target, 0.14)?
    } else {
        let tv = rng.range(0.0, 0.03);
        shifted(rng, &current, tv, 0.0)?
    };
    let base = f.eval_score;
    let eval_delta = if eval {
        // SEV2: relative drop 26-38%; SEV3: drop under 17% yet well under the minimum.
        let sev3_top = 0.76;
        let sev3_bottom = base * 0.83;
        let after = if rng.chance(0.5) || sev3_bottom + 0.01 >= sev3_top {
            base * (1.0 - rng.range(0.26, 0.38))
        } else {
            rng.range(sev3_bottom + 0.005, sev3_top)
        };
        after - base
    } else if base < 0.83 {
        0.0
    } else {
        // Benign: a little worse, still clearly above the minimum.
        -rng.range(0.0, (base - 0.83).min(0.04))
    };
    let id = format!("{}-r{n}", f.current_prompt);
    let mut x = fault(f, FaultKind::PromptDeploy);
    x.version = Some(id.clone());
    Some(Drawn {
        fault: x,
        prompt: Some(PromptSpec {
            id,
            deployed_secs: 0,
            note: "random drill prompt".into(),
            eval_delta,
            category_weights: Some(weights),
        }),
    })
}

/// Weights moved towards a random mix until their total variation from `from` is `tv`, with a
/// JS distance of at least `min_js` (the mixing weight is found by bisection).
fn shifted(rng: &mut Rng, from: &[f64], tv: f64, min_js: f64) -> Option<Vec<f64>> {
    let target: Vec<f64> = (0..from.len())
        .map(|_| rng.range(0.0, 1.0).powi(3))
        .collect();
    let sum: f64 = target.iter().sum();
    if !positive(sum) {
        return None;
    }
    let target: Vec<f64> = target.iter().map(|v| v / sum).collect();
    let mix = |a: f64| -> Vec<f64> {
        from.iter()
            .zip(&target)
            .map(|(x, y)| (1.0 - a) * x + a * y)
            .collect()
    };
    if total_variation(from, &target) < tv {
        return None;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if total_variation(from, &mix(mid)) < tv {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let w = mix(hi);
    (js_distance(from, &w) >= min_js).then_some(w)
}

/// Errors at SEV3 (8-35%), SEV2 (60-90%) or a benign 1-3%.
fn errors(rng: &mut Rng, f: &FeatureSpec) -> Option<Drawn> {
    let mut x = fault(f, FaultKind::Errors);
    x.factor = match rng.below(4) {
        0 => rng.range(0.01, 0.03),
        1 => rng.range(0.6, 0.9),
        _ => rng.range(0.08, 0.35),
    };
    plain(x)
}

/// TTFT and TPOT x2.6-5 (SEV3), or a benign x1.2-1.5.
fn latency(rng: &mut Rng, f: &FeatureSpec) -> Option<Drawn> {
    let mut x = fault(f, FaultKind::Latency);
    x.factor = if rng.chance(0.25) {
        rng.range(1.2, 1.5)
    } else {
        rng.range(2.6, 5.0)
    };
    plain(x)
}

/// Retrieval hit rate down to 20-42% (SEV2) or 58-68% (SEV3) of normal, or a benign 92%.
fn retrieval(rng: &mut Rng, f: &FeatureSpec) -> Option<Drawn> {
    let mut x = fault(f, FaultKind::Retrieval);
    let r = match rng.below(4) {
        0 => rng.range(0.92, 0.97),
        1 => rng.range(0.58, 0.68),
        _ => rng.range(0.2, 0.42),
    };
    x.factor = f.retrieval_hit * r;
    plain(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timetables_differ_by_seed_repeat_by_seed_and_validate() {
        let base = FleetSpec::builtin().expect("fleet");
        let a = timetable(&base, 1, 3 * 3600);
        let b = timetable(&base, 1, 3 * 3600);
        let c = timetable(&base, 2, 3 * 3600);
        let key = |s: &FleetSpec| {
            s.scenario
                .iter()
                .map(|f| (f.at_secs, f.feature.clone(), f.fault))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        assert!(a.scenario.len() >= 8, "{}", a.scenario.len());
        for s in [&a, &c] {
            assert!(s.validate().is_ok(), "{:?}", s.validate());
        }
    }

    #[test]
    fn shifted_hits_its_total_variation() {
        let mut rng = Rng::new(3);
        let from = [0.4, 0.3, 0.2, 0.1];
        let w = shifted(&mut rng, &from, 0.3, 0.1).expect("reachable");
        assert!((total_variation(&from, &w) - 0.3).abs() < 1e-6);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}
