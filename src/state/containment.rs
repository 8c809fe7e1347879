//! The containment part: after a lever lands, whether it worked. Each open, firing incident on
//! the lever's feature is watched ("containing…") until the detector judges its signal back
//! inside the pre-incident band (`Detection::inside_since`: the exit band against the frozen
//! baseline, over the recovery hold — the detectors' own notion, not a second one), or the
//! incident recovers: "contained ✓". Past the incident type's deadline (`[containment]`) it is
//! "not contained", naming the playbook's next lever. Each verdict goes to the incident's
//! timeline here and to the audit log, which the postmortem reads time-to-contain from.
//!
//! A contained incident stops being loud: it sorts with the recovered ones and its countdown
//! is no longer what matters. One that leaves the band again before it recovers is watched
//! afresh, loudly.

use super::{Effect, State};
use crate::audit::AuditRecord;
use crate::config::containment::ContainmentSettings;
use crate::domain::command::FlagOp;
use crate::domain::{
    Detection, Incident, IncidentId, IncidentType, Lever, SafeText, SignalKind, TimelineEntry,
};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;

/// Watches held at most; the oldest finished ones go first past it.
const WATCHES_KEPT: usize = 500;

/// Who the audit log names for a verdict: the cockpit judged it, nobody acted.
pub const VERDICT_ACTOR: &str = "oncall-cockpit";

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Containing,
    /// Back inside the pre-incident band at `at`; the signal's value when it was judged so.
    Contained {
        at: DateTime<Utc>,
        value: Option<f64>,
    },
    /// Still outside at the deadline; `next` is the playbook's next lever.
    NotContained {
        next: Lever,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub incident: IncidentId,
    pub source: String,
    pub feature: String,
    pub kind: IncidentType,
    /// The signal that fired, when a detector of the cockpit's own raised the incident.
    pub signal: Option<SignalKind>,
    /// The lever being judged: the latest one pulled.
    pub lever: Lever,
    /// When it landed (its backend confirmed it).
    pub at: DateTime<Utc>,
    /// Every lever pulled on the incident so far, in order: the playbook's next one follows.
    pub pulled: Vec<Lever>,
    pub triggered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub verdict: Verdict,
    /// What happened to the watch, for the incident's timeline (the incident itself is
    /// replaced by its source on every poll).
    pub events: Vec<TimelineEntry>,
}

#[derive(Debug, Default)]
pub struct Containment {
    pub settings: ContainmentSettings,
    /// How fast a cost incident has to be contained: budgets and the day for its burn clock.
    pub cost: crate::config::cost::CostSettings,
    pub watches: Vec<Watch>,
}

impl Containment {
    pub fn watch(&self, id: &str) -> Option<&Watch> {
        self.watches.iter().find(|w| w.incident == id)
    }

    /// Incidents a lever has contained: they sort and draw as quiet.
    fn contained(&self) -> HashSet<IncidentId> {
        self.watches
            .iter()
            .filter(|w| matches!(w.verdict, Verdict::Contained { .. }))
            .map(|w| w.incident.clone())
            .collect()
    }
}

/// "4m", "4m10s", "45s", "1h05m".
pub fn span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 if s % 60 == 0 => format!("{}m", s / 60),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl Watch {
    /// The one line the detail pane, the timeline and the audit log say about it.
    pub fn line(&self, now: DateTime<Utc>, state: &State) -> String {
        let lever = self.lever.short();
        match &self.verdict {
            Verdict::Containing => {
                let watching = match self.signal {
                    Some(kind) => {
                        let (value, band) = reading(state, &self.feature, kind);
                        let value = value.map(|v| kind.format(v)).unwrap_or("—".into());
                        let band = band.map(|b| format!(" against {b}")).unwrap_or_default();
                        format!("watching {} {value}{band}", kind.label())
                    }
                    None => "watching the source's alert".to_string(),
                };
                format!(
                    "containing… {lever} {} ago · {watching} · verdict by {}",
                    span(now - self.at),
                    self.deadline.format("%H:%M:%S")
                )
            }
            Verdict::Contained { at, value } => {
                let what = match (self.signal, value) {
                    (Some(kind), Some(v)) => format!("{} {}, ", kind.label(), kind.format(*v)),
                    (Some(kind), None) => format!("{}, ", kind.label()),
                    (None, _) => String::new(),
                };
                format!(
                    "contained ✓ — {what}inside the pre-incident band {} after {lever} \
                     (time to contain {})",
                    span(*at - self.at),
                    span(*at - self.triggered_at)
                )
            }
            Verdict::NotContained { next } => format!(
                "not contained after {} — next: {}",
                span(self.deadline - self.at),
                next.label()
            ),
        }
    }
}

/// The signal's newest value and its band label, as the signal pane shows them.
fn reading(state: &State, feature: &str, kind: SignalKind) -> (Option<f64>, Option<String>) {
    let sig = state
        .signals
        .merged
        .signals
        .iter()
        .find(|s| s.feature == feature && s.kind == kind);
    let value = sig.and_then(|s| s.last());
    let band = sig
        .and_then(|s| s.bounds)
        .map(|b| b.label(kind))
        .filter(|b| !b.is_empty());
    (value, band)
}

fn detection<'a>(state: &'a State, inc: &Incident) -> Option<&'a Detection> {
    state
        .signals
        .detections
        .iter()
        .find(|d| d.kind == inc.kind && d.feature == inc.feature.as_str())
}

fn entry(at: DateTime<Utc>, text: String) -> TimelineEntry {
    TimelineEntry {
        at,
        text: SafeText::new(&text),
    }
}

/// A lever's backend confirmed it: every open incident on its feature that still fires is
/// watched from now, against the deadline of its type.
pub(super) fn landed(state: &mut State, op: &FlagOp) {
    let Some(lever) = op.lever() else {
        return;
    };
    let feature = op.feature();
    let now = state.now;
    let settings = &state.containment.settings;
    let candidates: Vec<Watch> = state
        .incidents
        .all
        .iter()
        .filter(|i| i.is_open() && i.firing && i.feature.as_str() == feature)
        .map(|i| {
            let deadline = now + Duration::seconds(settings.deadline_secs.get(i.kind).get());
            let text = format!(
                "containing… {} landed; watching the signal until {}",
                lever.short(),
                deadline.format("%H:%M:%S")
            );
            Watch {
                incident: i.id.clone(),
                source: i.source.clone(),
                feature: feature.to_string(),
                kind: i.kind,
                signal: detection(state, i).map(|d| d.signal),
                lever,
                at: now,
                pulled: vec![lever],
                triggered_at: i.triggered_at,
                deadline,
                verdict: Verdict::Containing,
                events: vec![entry(now, text)],
            }
        })
        .collect();
    let mut fresh = Vec::new();
    for c in candidates {
        match state
            .containment
            .watches
            .iter_mut()
            .find(|w| w.incident == c.incident)
        {
            // Already contained: a further lever is a follow-up, not a new attempt.
            Some(w) if matches!(w.verdict, Verdict::Contained { .. }) => {}
            Some(w) => {
                w.lever = lever;
                w.at = now;
                w.pulled.push(lever);
                w.deadline = c.deadline;
                w.verdict = Verdict::Containing;
                w.signal = c.signal.or(w.signal);
                w.events.extend(c.events);
            }
            None => fresh.push(c),
        }
    }
    state.containment.watches.extend(fresh);
    if state.containment.watches.len() > WATCHES_KEPT {
        let excess = state.containment.watches.len() - WATCHES_KEPT;
        let mut dropped = 0;
        state.containment.watches.retain(|w| {
            let drop = dropped < excess && w.verdict != Verdict::Containing;
            dropped += usize::from(drop);
            !drop
        });
    }
}

/// Judges every watch against the incidents and detections as they stand now; returns the
/// audit records of the verdicts reached.
pub(super) fn judge(state: &mut State) -> Vec<Effect> {
    if state.containment.watches.is_empty() {
        return vec![];
    }
    let now = state.now;
    let before = state.containment.contained();
    // Watches of incidents resolved or no longer held have nothing left to say.
    let open: HashSet<&str> = state
        .incidents
        .all
        .iter()
        .filter(|i| i.is_open())
        .map(|i| i.id.as_str())
        .collect();
    let mut watches = std::mem::take(&mut state.containment.watches);
    watches.retain(|w| open.contains(w.incident.as_str()));
    let mut effects = Vec::new();
    for w in &mut watches {
        let Some(inc) = state.incidents.all.iter().find(|i| i.id == w.incident) else {
            continue;
        };
        let inside = if inc.firing {
            detection(state, inc).and_then(|d| d.inside_since)
        } else {
            // Recovered: back inside for a whole hold, whatever the source.
            Some(now)
        };
        let verdict = match (&w.verdict, inside) {
            (Verdict::Contained { .. }, Some(_)) => None,
            (Verdict::Contained { .. }, None) => {
                // Out of the band again before it recovered: loud again, from now.
                let deadline =
                    Duration::seconds(state.containment.settings.deadline_secs.get(w.kind).get());
                w.deadline = now + deadline;
                Some((
                    Verdict::Containing,
                    "out of the pre-incident band again: containing…",
                    "lost",
                ))
            }
            (_, Some(t)) => {
                let value = w.signal.and_then(|k| reading(state, &w.feature, k).0);
                Some((
                    Verdict::Contained {
                        at: t.max(w.at),
                        value,
                    },
                    "",
                    "contained",
                ))
            }
            (Verdict::Containing, None) if now >= w.deadline => {
                let next = state.containment.settings.next_lever(w.kind, &w.pulled);
                Some((Verdict::NotContained { next }, "", "not_contained"))
            }
            _ => None,
        };
        let Some((verdict, said, outcome)) = verdict else {
            continue;
        };
        w.verdict = verdict;
        let line = if said.is_empty() {
            w.line(now, state)
        } else {
            said.to_string()
        };
        let at = match &w.verdict {
            Verdict::Contained { at, .. } => *at,
            Verdict::NotContained { .. } => w.deadline,
            Verdict::Containing => now,
        };
        w.events.push(entry(at, line.clone()));
        effects.push(Effect::Audit(AuditRecord::new(
            now,
            VERDICT_ACTOR,
            "containment",
            &w.incident,
            outcome,
            &line,
            None,
        )));
    }
    state.containment.watches = watches;
    let after = state.containment.contained();
    if after != before {
        state.incidents.contained = after;
        state.incidents.rebuild();
    }
    effects
}
