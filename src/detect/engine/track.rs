//! One signal's track: its rule, its memory, and the state machine each of its incident
//! conditions runs (quiet → firing → quiet) as points arrive in time order.

use super::Engine;
use crate::detect::caps::Caps;
use crate::detect::cost::{CostRate, TokensRate};
use crate::detect::latency_errors::{Errors, Latency};
use crate::detect::memory::{Baseline, Memory, Sample};
use crate::detect::quality::{Drift, Eval, Refusals, Retrieval};
use crate::detect::rule::{Ctx, Dir, Finding, Rule};
use crate::detect::DetectConfig;
use crate::domain::{IncidentType, SignalKind, SignalSet};
use std::collections::BTreeSet;

/// A track is one signal of one feature.
pub(super) type TrackKey = (String, SignalKind);

/// A baseline needs at least half its window of accepted history.
const MIN_BASELINE_SHARE: f64 = 0.5;

pub(super) fn rule_for(kind: SignalKind) -> Option<Box<dyn Rule>> {
    Some(match kind {
        SignalKind::CostPerMin => Box::new(CostRate),
        SignalKind::TokensPerMin => Box::new(TokensRate),
        SignalKind::TtftP99 | SignalKind::TpotP99 => Box::new(Latency(kind)),
        SignalKind::ErrorRatio => Box::new(Errors),
        SignalKind::RefusalRate => Box::new(Refusals),
        SignalKind::Drift => Box::new(Drift),
        SignalKind::EvalScore => Box::new(Eval),
        SignalKind::RetrievalHit => Box::new(Retrieval),
        // One point per day: judged whole on every poll, see `daily_cost`.
        SignalKind::DailyCost => return None,
    })
}

/// The incident types whose open incident freezes this signal's baseline. Refusals and
/// retrieval are counted per answered request, so while an errors incident is open their
/// volumes are not normal either.
fn types_of(kind: SignalKind) -> &'static [IncidentType] {
    match kind {
        SignalKind::CostPerMin | SignalKind::TokensPerMin | SignalKind::DailyCost => {
            &[IncidentType::CostExplosion]
        }
        SignalKind::TtftP99 | SignalKind::TpotP99 => &[IncidentType::LatencyDegradation],
        SignalKind::ErrorRatio => &[IncidentType::Errors],
        SignalKind::RefusalRate => &[
            IncidentType::GuardrailBypass,
            IncidentType::OverRefusal,
            IncidentType::Errors,
        ],
        SignalKind::Drift => &[IncidentType::CapabilityDrift],
        SignalKind::EvalScore => &[IncidentType::EvalRegression],
        SignalKind::RetrievalHit => &[IncidentType::RetrievalDegradation, IncidentType::Errors],
    }
}

#[derive(Clone, Debug)]
pub(super) struct Firing {
    pub(super) onset: i64,
    frozen: Baseline,
    /// The segment that raised it: it must show the recovery itself.
    first_segment: Option<String>,
    /// The latest evidence: the rule is asked again at every point while it fires.
    pub(super) finding: Finding,
    /// The evidence it opened on, kept: the moment of detection must read the same in the
    /// title, the detail and the postmortem however far the signal moves afterwards.
    pub(super) opened: Finding,
    /// Since when the rule has said "back inside" without a break: the signal is inside its
    /// exit band over the recovery hold (containment verified), and the incident recovers
    /// half a hold later if it stays there.
    pub(super) back_since: Option<i64>,
}

pub(super) struct Cond {
    dir: Dir,
    pub(super) kind: IncidentType,
    pub(super) firing: Option<Firing>,
}

pub(super) struct Track {
    pub(super) rule: Box<dyn Rule>,
    pub(super) mem: Memory,
    pub(super) conds: Vec<Cond>,
    blocked: bool,
    /// The feature's caps as of the latest poll (its models' prices can change).
    pub(super) caps: Caps,
}

impl Track {
    pub(super) fn new(rule: Box<dyn Rule>, step: u32, cfg: &DetectConfig, caps: Caps) -> Self {
        let mem = Memory::new(
            step,
            rule.keep_secs(cfg),
            rule.baseline_secs(cfg),
            cfg.baseline_quarantine_secs,
        );
        let conds = rule
            .conditions()
            .iter()
            .map(|&(dir, kind)| Cond {
                dir,
                kind,
                firing: None,
            })
            .collect();
        Track {
            rule,
            mem,
            conds,
            blocked: false,
            caps,
        }
    }

    fn live_baseline(&mut self, cfg: &DetectConfig) -> Option<Baseline> {
        let secs = self.rule.baseline_secs(cfg);
        self.mem.baseline(secs, MIN_BASELINE_SHARE)
    }

    /// The baseline the band is drawn from: the frozen pre-incident one while a condition
    /// fires, else the live one (or none yet; rules with absolute lines need none).
    pub(super) fn band_baseline(&mut self, cfg: &DetectConfig) -> Option<Baseline> {
        if let Some(f) = self.conds.iter().find_map(|c| c.firing.as_ref()) {
            return Some(f.frozen.clone());
        }
        self.live_baseline(cfg)
            .or_else(|| (!self.rule.needs_baseline()).then(Baseline::unknown))
    }
}

impl Engine {
    /// A feature's caps, with the lowest price per token its source reported.
    pub(super) fn caps_for(cfg: &DetectConfig, feature: &str, set: &SignalSet) -> Caps {
        let price = set
            .features
            .iter()
            .find(|f| f.name == feature)
            .and_then(|f| f.price_per_mtok);
        cfg.caps.resolve(feature, price)
    }

    pub(super) fn step(
        &mut self,
        key: &(String, SignalKind),
        sample: Sample,
        set: &SignalSet,
        open: &BTreeSet<(String, IncidentType)>,
    ) {
        let errors: Vec<(i64, f64, f64)> = if key.1 == SignalKind::RefusalRate {
            self.tracks
                .get(&(key.0.clone(), SignalKind::ErrorRatio))
                .map(|t| {
                    t.mem
                        .recent
                        .iter()
                        .map(|s| (s.t, s.events, s.trials))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let cfg = &self.cfg;
        let episodes = &self.episodes;
        let Some(track) = self.tracks.get_mut(key) else {
            return;
        };
        let caps = track.caps;
        let feature = key.0.as_str();
        let blocked = types_of(key.1).iter().any(|k| {
            let k = (feature.to_string(), *k);
            open.contains(&k) || episodes.contains_key(&k)
        });
        if blocked && !track.blocked {
            track.mem.disturb();
        }
        track.blocked = blocked;
        let t = sample.t;
        track.mem.push(sample, blocked);
        let live = track.live_baseline(cfg);
        let dist = set.distributions.iter().find(|d| d.feature == feature);
        let recorded_eval = set
            .features
            .iter()
            .find(|f| f.name == feature)
            .and_then(|f| f.eval_baseline);
        let unknown = Baseline::unknown();
        let mut firing = false;
        for i in 0..track.conds.len() {
            let dir = track.conds[i].dir;
            match track.conds[i].firing.take() {
                None => {
                    let base = match &live {
                        Some(b) => b,
                        None if !track.rule.needs_baseline() => &unknown,
                        None => continue,
                    };
                    let cx = Ctx {
                        mem: &track.mem,
                        base,
                        cfg,
                        now: t,
                        dist,
                        recorded_eval,
                        errors: &errors,
                        trigger: None,
                        feature,
                        caps: &caps,
                    };
                    if let Some(finding) = track.rule.enter(dir, &cx) {
                        track.conds[i].firing = Some(Firing {
                            onset: t,
                            frozen: base.clone(),
                            first_segment: finding.segment.clone(),
                            opened: finding.clone(),
                            finding,
                            back_since: None,
                        });
                        firing = true;
                    }
                }
                Some(mut f) => {
                    let cx = Ctx {
                        mem: &track.mem,
                        base: &f.frozen,
                        cfg,
                        now: t,
                        dist,
                        recorded_eval,
                        errors: &errors,
                        trigger: f.first_segment.as_deref(),
                        feature,
                        caps: &caps,
                    };
                    if let Some(finding) = track.rule.enter(dir, &cx) {
                        f.finding = finding;
                        f.back_since = None;
                    } else if track.rule.recovered(dir, &cx) {
                        // The rule judges the whole hold window, which at first still holds
                        // the incident's last minutes; it must keep saying so for half a hold
                        // more, so "recovered" always means back inside for a full hold.
                        let since = *f.back_since.get_or_insert(t);
                        let half = i64::try_from(cfg.recover_hold_secs / 2).unwrap_or(150);
                        if t - since >= half {
                            continue;
                        }
                    } else {
                        f.back_since = None;
                    }
                    track.conds[i].firing = Some(f);
                    firing = true;
                }
            }
        }
        if firing {
            track.mem.disturb();
        } else if let Some(base) = live.as_ref() {
            let cx = Ctx {
                mem: &track.mem,
                base,
                cfg,
                now: t,
                dist,
                recorded_eval,
                errors: &errors,
                trigger: None,
                feature,
                caps: &caps,
            };
            if track.rule.outside(&cx) {
                track.mem.outside(t);
            }
        }
    }
}
