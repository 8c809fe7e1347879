//! The detection engine: one per detecting source. It takes each poll's signals, keeps only
//! the points it has not seen (by timestamp, so re-fetched windows and uneven polls do not
//! matter), and walks them in time order through each signal's rule and a small state machine
//! per incident condition:
//!
//! - quiet → firing when the rule's entry condition holds against the current baseline; the
//!   baseline is frozen at that moment (the pre-incident band) and nothing new enters it;
//! - firing → quiet ("recovered") only when the rule says the signal has been back inside its
//!   narrower exit band for the recovery hold, judged against the frozen baseline.
//!
//! Conditions of one feature and incident type (cost rate and daily cost, TTFT and TPOT) make
//! one episode: it opens with the first, takes the worst SEV seen, and ends with the last.
//! Episodes are what the incident store turns into incidents.

mod track;

use self::track::{rule_for, Track, TrackKey};
use super::cost::{daily_cost, Burn};
use super::memory::Sample;
use super::rule::{Band, Finding};
use super::{DetectConfig, Evaluation, Threshold};
use crate::domain::{Bounds, Detection, IncidentType, SafeText, Sev, SignalKind, SignalSet};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// What happened to an episode, for reports and backtests (the live cockpit reads the open
/// episodes instead).
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    Opened(Sev),
    Raised { from: Sev, to: Sev },
    Recovered,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub feature: String,
    pub kind: IncidentType,
    pub what: ChangeKind,
}

struct Episode {
    onset: i64,
    sev: Sev,
}

struct Member<'a> {
    onset: i64,
    signal: SignalKind,
    finding: &'a Finding,
    /// The finding at `onset`.
    opened: &'a Finding,
    /// Since when the rule has judged the signal back inside its exit band (see
    /// `Detection::inside_since`); never for daily cost, which ends whole.
    inside_since: Option<i64>,
}

/// Stateful detection for one source; see the module documentation.
pub struct Engine {
    cfg: DetectConfig,
    tracks: BTreeMap<(String, SignalKind), Track>,
    /// Daily cost findings firing per feature: when they started, the finding then, and now.
    daily: BTreeMap<String, (i64, Finding, Finding)>,
    episodes: BTreeMap<(String, IncidentType), Episode>,
}

fn to_time(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

impl Engine {
    pub fn new(cfg: DetectConfig) -> Self {
        Engine {
            cfg,
            tracks: BTreeMap::new(),
            daily: BTreeMap::new(),
            episodes: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// Takes one poll's signals. `open`: (feature, type) of incidents still open in the
    /// incident store, recovered or not: their signals' baselines stay frozen until a
    /// responder resolves them.
    pub fn ingest(
        &mut self,
        set: &SignalSet,
        open: &BTreeSet<(String, IncidentType)>,
    ) -> Evaluation {
        let Some(poll) = set.at else {
            return self.evaluation(set, Vec::new());
        };
        let at = poll.timestamp();
        let mut timeline: BTreeMap<i64, Vec<(TrackKey, Sample)>> = BTreeMap::new();
        for sig in &set.signals {
            let Some(rule) = rule_for(sig.kind) else {
                continue;
            };
            let key = (sig.feature.clone(), sig.kind);
            let caps = Engine::caps_for(&self.cfg, &sig.feature, set);
            let track = self
                .tracks
                .entry(key.clone())
                .or_insert_with(|| Track::new(rule, sig.step_secs, &self.cfg, caps));
            if track.mem.step != i64::from(sig.step_secs.max(1)) {
                // The source changed its resolution: old memory is on another grid.
                if let Some(rule) = rule_for(sig.kind) {
                    *track = Track::new(rule, sig.step_secs, &self.cfg, caps);
                }
            }
            // Once per poll: a model's price may have changed.
            track.caps = caps;
            let seg_index: Vec<usize> = sig
                .segments
                .iter()
                .map(|s| track.mem.segment_index(&s.segment))
                .collect();
            let last = track.mem.last_t;
            // Each point at its own time, from where the series ends (an engine's grid may
            // end before the poll). Empty slots after the newest value are not taken: the
            // engine may still fill them, and a slot once taken is never looked at again.
            let filled = sig
                .points
                .iter()
                .rposition(|v| v.is_finite())
                .map_or(0, |i| i + 1);
            for (i, &value) in sig.points.iter().enumerate().take(filled) {
                let t = sig.slot_time(i, poll).timestamp();
                if last.is_some_and(|l| t <= l) {
                    continue;
                }
                let pick = |c: Option<&crate::domain::Counts>| {
                    c.map_or((f64::NAN, f64::NAN), |c| {
                        (
                            c.events.get(i).copied().unwrap_or(f64::NAN),
                            c.trials.get(i).copied().unwrap_or(f64::NAN),
                        )
                    })
                };
                let (events, trials) = pick(sig.counts.as_ref());
                let mut segs = vec![(f64::NAN, f64::NAN); track.mem.segments.len()];
                for (s, &ix) in sig.segments.iter().zip(&seg_index) {
                    segs[ix] = pick(Some(&s.counts));
                }
                timeline.entry(t).or_default().push((
                    key.clone(),
                    Sample {
                        t,
                        value,
                        events,
                        trials,
                        segs,
                    },
                ));
            }
        }
        let mut changes = Vec::new();
        for (t, items) in timeline {
            for (key, sample) in items {
                self.step(&key, sample, set, open);
            }
            self.reconcile(t, &mut changes);
        }
        self.judge_daily(set, at);
        self.reconcile(at, &mut changes);
        self.evaluation(set, changes)
    }

    /// The feature's $/min over the last hour, from its rate signal.
    fn burn(&self, feature: &str, at: i64) -> Option<Burn> {
        let track = self
            .tracks
            .get(&(feature.to_string(), SignalKind::CostPerMin))?;
        let vals: Vec<f64> = track
            .mem
            .window(at, 3600)
            .map(|s| s.value)
            .filter(|v| v.is_finite())
            .collect();
        let step_min = track.mem.step as f64 / 60.0;
        let recent: Vec<f64> = track
            .mem
            .window(at, self.cfg.recover_hold_secs)
            .map(|s| s.value)
            .filter(|v| v.is_finite())
            .collect();
        Some(Burn {
            hour_mean: super::stats::mean(&vals)?,
            minutes: vals.len() as f64 * step_min,
            recent_mean: super::stats::mean(&recent).unwrap_or(f64::NAN),
        })
    }

    fn judge_daily(&mut self, set: &SignalSet, at: i64) {
        for sig in set
            .signals
            .iter()
            .filter(|s| s.kind == SignalKind::DailyCost)
        {
            let burn = self.burn(&sig.feature, at);
            let firing = self.daily.contains_key(&sig.feature);
            match daily_cost(sig, &self.cfg, burn, firing).1 {
                Some(finding) => {
                    let (onset, opened) = self
                        .daily
                        .remove(&sig.feature)
                        .map_or((at, finding.clone()), |(o, first, _)| (o, first));
                    self.daily
                        .insert(sig.feature.clone(), (onset, opened, finding));
                }
                None => {
                    self.daily.remove(&sig.feature);
                }
            }
        }
    }

    fn members(&self) -> BTreeMap<(String, IncidentType), Vec<Member<'_>>> {
        let mut out: BTreeMap<(String, IncidentType), Vec<Member<'_>>> = BTreeMap::new();
        for ((feature, signal), track) in &self.tracks {
            for c in &track.conds {
                if let Some(f) = &c.firing {
                    out.entry((feature.clone(), c.kind))
                        .or_default()
                        .push(Member {
                            onset: f.onset,
                            signal: *signal,
                            finding: &f.finding,
                            opened: &f.opened,
                            inside_since: f.back_since,
                        });
                }
            }
        }
        for (feature, (onset, opened, finding)) in &self.daily {
            out.entry((feature.clone(), IncidentType::CostExplosion))
                .or_default()
                .push(Member {
                    onset: *onset,
                    signal: SignalKind::DailyCost,
                    finding,
                    opened,
                    inside_since: None,
                });
        }
        out
    }

    fn reconcile(&mut self, t: i64, changes: &mut Vec<Change>) {
        let members: BTreeMap<(String, IncidentType), (i64, Sev)> = self
            .members()
            .into_iter()
            .map(|(k, ms)| {
                let onset = ms.iter().map(|m| m.onset).min().unwrap_or(t);
                let sev = ms.iter().map(|m| m.finding.sev).min().unwrap_or(Sev::Sev4);
                (k, (onset, sev))
            })
            .collect();
        let change = |key: &(String, IncidentType), what| Change {
            at: to_time(t),
            feature: key.0.clone(),
            kind: key.1,
            what,
        };
        let ended: Vec<(String, IncidentType)> = self
            .episodes
            .keys()
            .filter(|k| !members.contains_key(*k))
            .cloned()
            .collect();
        for key in ended {
            self.episodes.remove(&key);
            changes.push(change(&key, ChangeKind::Recovered));
        }
        for (key, (onset, sev)) in members {
            match self.episodes.get_mut(&key) {
                None => {
                    changes.push(change(&key, ChangeKind::Opened(sev)));
                    self.episodes.insert(key, Episode { onset, sev });
                }
                Some(ep) if sev < ep.sev => {
                    changes.push(change(
                        &key,
                        ChangeKind::Raised {
                            from: ep.sev,
                            to: sev,
                        },
                    ));
                    ep.sev = sev;
                }
                Some(_) => {}
            }
        }
    }

    fn evaluation(&mut self, set: &SignalSet, changes: Vec<Change>) -> Evaluation {
        let mut detections = Vec::new();
        let members = self.members();
        for (key, ms) in &members {
            let Some(ep) = self.episodes.get(key) else {
                continue;
            };
            let Some(lead) = ms.iter().min_by_key(|m| m.finding.sev) else {
                continue;
            };
            let mut evidence: Vec<SafeText> = lead
                .finding
                .evidence
                .iter()
                .map(|l| SafeText::new(l))
                .collect();
            evidence.push(SafeText::new(&format!(
                "firing since {} (pre-incident baseline frozen until recovery)",
                to_time(ep.onset).format("%H:%M:%S")
            )));
            // The headline line above is the latest reading; the one the incident opened on
            // (its title's number) is kept beside it once they differ.
            if let Some(first) = lead
                .opened
                .evidence
                .first()
                .filter(|l| lead.finding.evidence.first() != Some(*l))
            {
                evidence.push(SafeText::new(&format!(
                    "at detection ({}): {first}",
                    to_time(lead.onset).format("%H:%M:%S")
                )));
            }
            for other in ms.iter().filter(|m| !std::ptr::eq(*m, lead)) {
                evidence.push(SafeText::new(&format!("also: {}", other.finding.summary)));
                evidence.extend(other.finding.evidence.iter().map(|l| SafeText::new(l)));
            }
            // An episode is back inside only when every signal in it is (TTFT and TPOT
            // alike), since the last of them got there.
            let inside_since = ms
                .iter()
                .map(|m| m.inside_since)
                .collect::<Option<Vec<i64>>>()
                .and_then(|v| v.into_iter().max())
                .map(to_time);
            detections.push(Detection {
                inside_since,
                feature: key.0.clone(),
                kind: key.1,
                sev: ep.sev,
                signal: lead.signal,
                value: lead.finding.value,
                baseline: lead.finding.baseline,
                threshold: lead.finding.threshold,
                summary: SafeText::new(&lead.finding.summary),
                evidence,
            });
        }
        detections.sort_by(|a, b| (a.sev, &a.feature, a.kind).cmp(&(b.sev, &b.feature, b.kind)));
        let mut thresholds = Vec::new();
        for ((feature, kind), track) in self.tracks.iter_mut() {
            if let Some(base) = track.band_baseline(&self.cfg) {
                let Band { low, high } = track.rule.band(&base, &self.cfg, &track.caps);
                thresholds.push(Threshold {
                    feature: feature.clone(),
                    kind: *kind,
                    bounds: Bounds {
                        low: low.filter(|v| v.is_finite()),
                        high: high.filter(|v| v.is_finite()),
                    },
                });
            }
        }
        for sig in set
            .signals
            .iter()
            .filter(|s| s.kind == SignalKind::DailyCost)
        {
            if let (Some(line), _) = daily_cost(sig, &self.cfg, None, false) {
                thresholds.push(Threshold {
                    feature: sig.feature.clone(),
                    kind: SignalKind::DailyCost,
                    bounds: Bounds {
                        low: None,
                        high: Some(line),
                    },
                });
            }
        }
        Evaluation {
            detections,
            thresholds,
            changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::cfg;
    use super::*;
    use crate::domain::{Counts, SegmentCounts, Signal};
    use chrono::Duration;

    /// Feeds one signal point by point (60 s steps) and returns each poll's evaluation.
    struct Feed {
        engine: Engine,
        at: DateTime<Utc>,
        open: BTreeSet<(String, IncidentType)>,
    }

    impl Feed {
        fn new() -> Self {
            Feed {
                engine: Engine::new(cfg()),
                at: to_time(1_800_000_000),
                open: BTreeSet::new(),
            }
        }

        fn poll(&mut self, sig: Signal) -> Evaluation {
            self.at += Duration::seconds(i64::from(sig.step_secs));
            let set = SignalSet {
                at: Some(self.at),
                signals: vec![sig],
                ..SignalSet::default()
            };
            self.engine.ingest(&set, &self.open)
        }

        /// One ratio point without counts.
        fn ratio(&mut self, kind: SignalKind, v: f64) -> Evaluation {
            self.poll(Signal::new("chat", kind, 60, vec![v]))
        }

        /// One minute of refusals: `events` of `trials`, optionally split into segments.
        fn counted(&mut self, events: f64, trials: f64, segs: &[(&str, f64, f64)]) -> Evaluation {
            let mut sig = Signal::new("chat", SignalKind::RefusalRate, 60, vec![events / trials]);
            sig.counts = Some(Counts {
                events: vec![events],
                trials: vec![trials],
            });
            sig.segments = segs
                .iter()
                .map(|(name, e, n)| SegmentCounts {
                    segment: name.to_string(),
                    counts: Counts {
                        events: vec![*e],
                        trials: vec![*n],
                    },
                })
                .collect();
            self.poll(sig)
        }
    }

    fn kinds(e: &Evaluation) -> Vec<IncidentType> {
        e.detections.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn points_are_taken_at_their_own_times_and_empty_newest_slots_are_left_for_later() {
        let mut engine = Engine::new(cfg());
        let poll = to_time(1_800_000_023);
        let key = ("chat".to_string(), SignalKind::ErrorRatio);
        let times = |engine: &Engine| -> Vec<(i64, f64)> {
            engine.tracks[&key]
                .mem
                .recent
                .iter()
                .map(|s| (s.t, s.value))
                .collect()
        };
        // An engine whose grid ends 83 s before the poll, its newest slot not filled yet.
        let lagging = Signal::new(
            "chat",
            SignalKind::ErrorRatio,
            60,
            vec![0.01, 0.02, f64::NAN],
        )
        .ending_at(to_time(1_799_999_940));
        let set = |sig: Signal, at| SignalSet {
            at: Some(at),
            signals: vec![sig],
            ..SignalSet::default()
        };
        engine.ingest(&set(lagging, poll), &BTreeSet::new());
        // Each point at its slot's time, not counted back from the poll; the empty newest
        // slot is not taken.
        assert_eq!(
            times(&engine),
            vec![(1_799_999_820, 0.01), (1_799_999_880, 0.02)]
        );
        // The next poll brings that slot filled, and one more.
        let filled = Signal::new("chat", SignalKind::ErrorRatio, 60, vec![0.02, 0.03, 0.04])
            .ending_at(to_time(1_800_000_000));
        engine.ingest(&set(filled, poll + Duration::seconds(60)), &BTreeSet::new());
        assert_eq!(
            times(&engine),
            vec![
                (1_799_999_820, 0.01),
                (1_799_999_880, 0.02),
                (1_799_999_940, 0.03),
                (1_800_000_000, 0.04)
            ]
        );
    }

    fn band(e: &Evaluation, kind: SignalKind) -> (Option<f64>, Option<f64>) {
        e.thresholds
            .iter()
            .find(|t| t.kind == kind)
            .map_or((None, None), |t| (t.bounds.low, t.bounds.high))
    }

    /// Deterministic "noise": a refusal count that wobbles around its mean.
    fn wobble(i: usize, mean: f64) -> f64 {
        (mean + [0.0, 2.0, -1.0, 1.0, -2.0][i % 5]).max(0.0)
    }

    #[test]
    fn the_return_to_normal_after_an_over_refusal_is_not_a_guardrail_bypass() {
        // The real-data case: refusals 8% -> 30% for 8 minutes -> back to 8%, ratios only.
        let mut f = Feed::new();
        for _ in 0..90 {
            f.ratio(SignalKind::RefusalRate, 0.08);
        }
        let mut raised = Vec::new();
        for _ in 0..8 {
            raised.extend(kinds(&f.ratio(SignalKind::RefusalRate, 0.30)));
        }
        assert!(raised.contains(&IncidentType::OverRefusal), "{raised:?}");
        f.open.insert(("chat".into(), IncidentType::OverRefusal));
        for _ in 0..60 {
            let e = f.ratio(SignalKind::RefusalRate, 0.08);
            assert!(!kinds(&e).contains(&IncidentType::GuardrailBypass), "{e:?}");
        }
    }

    #[test]
    fn the_band_is_the_pre_incident_one_and_recovery_needs_it_back() {
        // A jailbreak with counts: 6% of 300 answers a minute, then 0.5% for 40 minutes.
        let mut f = Feed::new();
        for i in 0..90 {
            f.counted(wobble(i, 18.0), 300.0, &[]);
        }
        let before = band(&f.counted(18.0, 300.0, &[]), SignalKind::RefusalRate);
        let mut firing_at = None;
        for i in 0..40 {
            let e = f.counted(if i % 3 == 0 { 2.0 } else { 1.0 }, 300.0, &[]);
            if kinds(&e).contains(&IncidentType::GuardrailBypass) {
                firing_at.get_or_insert(i);
                // The band on screen is the one the detector judged against.
                assert_eq!(band(&e, SignalKind::RefusalRate), before, "minute {i}");
            } else {
                assert!(
                    firing_at.is_none(),
                    "recovered at minute {i} while still breaching"
                );
            }
        }
        // 18 refusals expected a minute, 1-2 seen: significant at 1e-7 within two.
        assert!(firing_at.is_some_and(|m| m <= 1), "{firing_at:?}");
        // Back to normal: recovered only after the hold, and raised once.
        let mut recovered = None;
        for i in 0..12 {
            let e = f.counted(wobble(i, 18.0), 300.0, &[]);
            if !kinds(&e).contains(&IncidentType::GuardrailBypass) {
                recovered.get_or_insert(i);
            }
        }
        let r = recovered.expect("recovers");
        assert!(
            (5..=8).contains(&r),
            "recovered after {r} minutes, hold is 5"
        );
        assert!(f.engine.episodes.is_empty());
    }

    #[test]
    fn a_flood_of_requests_nobody_refuses_is_not_a_guardrail_bypass() {
        // 2% of 90 answers a minute, then an agent loop brings 4x the answers, none refused.
        let mut f = Feed::new();
        for i in 0..120 {
            f.counted(wobble(i, 1.8).round(), 90.0, &[]);
        }
        for i in 0..30 {
            let e = f.counted(wobble(i, 1.8).round(), 360.0, &[]);
            assert!(kinds(&e).is_empty(), "minute {i}: {e:?}");
        }
    }

    #[test]
    fn small_samples_stay_quiet_and_a_segment_shows_what_the_feature_hides() {
        // 2% of 20 answers a minute: five minutes without a refusal is not evidence.
        let mut f = Feed::new();
        for i in 0..120 {
            f.counted(if i % 3 == 0 { 1.0 } else { 0.0 }, 20.0, &[]);
        }
        for _ in 0..5 {
            assert!(kinds(&f.counted(0.0, 20.0, &[])).is_empty());
        }
        // One segment of three loses its refusals: found in the segment, named in evidence.
        let mut f = Feed::new();
        for i in 0..120 {
            let a = wobble(i, 12.0);
            f.counted(a + 6.0, 300.0, &[("free", a, 200.0), ("pro", 6.0, 100.0)]);
        }
        let mut hit = None;
        for i in 0..5 {
            let e = f.counted(6.0, 300.0, &[("free", 0.0, 200.0), ("pro", 6.0, 100.0)]);
            if let Some(d) = e.detections.first() {
                hit = Some((i, d.summary.as_str().to_string()));
                break;
            }
        }
        let (i, summary) = hit.expect("detected");
        assert!(i <= 1, "after {i} minutes");
        assert!(summary.contains("in free"), "{summary}");
    }

    #[test]
    fn a_value_on_the_line_does_not_flap_and_the_cost_line_never_rises_with_the_runaway() {
        let mut f = Feed::new();
        for _ in 0..120 {
            f.ratio(SignalKind::CostPerMin, 1.0);
        }
        let line = band(
            &f.ratio(SignalKind::CostPerMin, 1.0),
            SignalKind::CostPerMin,
        )
        .1;
        assert_eq!(line, Some(3.0));
        // A runaway at 5x for an hour, then hovering around the 3x line: one episode.
        let mut opened = 0;
        for i in 0..60 {
            let e = f.ratio(SignalKind::CostPerMin, 5.0);
            opened += e
                .changes
                .iter()
                .filter(|c| matches!(c.what, ChangeKind::Opened(_)))
                .count();
            assert_eq!(band(&e, SignalKind::CostPerMin).1, Some(3.0), "minute {i}");
        }
        for i in 0..30 {
            let v = if i % 2 == 0 { 2.9 } else { 3.1 };
            let e = f.ratio(SignalKind::CostPerMin, v);
            opened += e
                .changes
                .iter()
                .filter(|c| matches!(c.what, ChangeKind::Opened(_)))
                .count();
            assert_eq!(kinds(&e), vec![IncidentType::CostExplosion], "minute {i}");
        }
        assert_eq!(opened, 1);
        // Under the exit line (2x) for the hold: recovered.
        let mut ended = false;
        for _ in 0..9 {
            let e = f.ratio(SignalKind::CostPerMin, 1.0);
            ended |= e.changes.iter().any(|c| c.what == ChangeKind::Recovered);
        }
        assert!(ended);
    }

    #[test]
    fn an_open_incident_keeps_the_baseline_frozen_until_resolved() {
        let mut f = Feed::new();
        for _ in 0..120 {
            f.ratio(SignalKind::TtftP99, 0.5);
        }
        f.open
            .insert(("chat".into(), IncidentType::LatencyDegradation));
        // An hour at 0.9 s (under the 1 s line) while the incident is open: not learned.
        for _ in 0..90 {
            f.ratio(SignalKind::TtftP99, 0.9);
        }
        let line = band(&f.ratio(SignalKind::TtftP99, 0.9), SignalKind::TtftP99).1;
        assert_eq!(line, Some(1.0));
        // Resolved: the new level is learned after the quarantine.
        f.open.clear();
        for _ in 0..90 {
            f.ratio(SignalKind::TtftP99, 0.9);
        }
        let line = band(&f.ratio(SignalKind::TtftP99, 0.9), SignalKind::TtftP99).1;
        assert!(line.is_some_and(|l| (l - 1.8).abs() < 1e-9), "{line:?}");
    }
}
