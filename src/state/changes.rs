//! The changes part: what changed around each feature, for the timeline drawn relative to an
//! incident's onset and for the runbook's "which layer" suggestion. Two kinds of entries:
//!
//! - **reported**: a source's own history (Unleash's event log, PagerDuty's related change
//!   events), replaced whole by each report, with the source's last failure;
//! - **observed**: what the cockpit noticed itself, between polls of metrics sources and flag
//!   systems (the served prompt version, the model version, the kill switches moving: flagd's
//!   file, the simulated fleet's deploys) and the levers it pulled (the audit log's
//!   succeeded lever actions).
//!
//! One change seen by two of them (Unleash's event and the flip the cockpit noticed, both at
//! the event's time) is shown once: the first of reported, then observed, at the same second.

use crate::domain::change::{Change, ChangeLog, Layer};
use crate::domain::command::FlagOp;
use crate::domain::event::FeatureFlags;
use crate::domain::lever::{Lever, LeverSetting};
use crate::domain::text::{fit, sanitize};
use crate::domain::{FeatureInfo, Incident};
use crate::runbook::postmortem::AuditLine;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, VecDeque};

/// Changes the cockpit keeps of what it noticed itself, oldest dropped first.
pub const MAX_OBSERVED: usize = 500;
/// Features (per source) whose last versions are remembered to notice a move.
const MAX_SEEN: usize = 2_000;
/// How far before an onset the timeline reaches.
pub const LOOKBACK_MINS: i64 = 120;
/// Characters kept of a source's failure: one line of the describe view.
const ERROR_TEXT: usize = 200;

/// The versions and switches of one feature as one source last reported them in one role (a
/// source can report a feature twice: the simulated fleet is metrics and flag system).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    prompt: Option<String>,
    /// `None` from a flag system, which does not report models.
    model: Option<String>,
    killed: Vec<String>,
    /// Each settable lever's setting.
    levers: Vec<LeverSeen>,
}

/// A lever's setting as last seen: the lever, the feature's variant, per-segment variants.
type LeverSeen = (Lever, String, Vec<(String, String)>);

fn lever_settings(levers: &[LeverSetting]) -> Vec<LeverSeen> {
    levers
        .iter()
        .map(|l| (l.lever, l.current.clone(), l.segments.clone()))
        .collect()
}

#[derive(Debug, Default)]
pub struct Changes {
    reported: BTreeMap<String, ChangeLog>,
    observed: VecDeque<Change>,
    seen: BTreeMap<(String, &'static str, String), Seen>,
}

/// The changes around one incident, oldest first, and the sources that could not say.
#[derive(Debug, Default, PartialEq)]
pub struct Timeline<'a> {
    pub entries: Vec<&'a Change>,
    /// (source, why its history could not be read), for each source that failed.
    pub failures: Vec<(&'a str, &'a str)>,
}

/// The layer the timeline points at, and the change that says so.
#[derive(Debug, PartialEq)]
pub struct Suggestion<'a> {
    pub layer: Layer,
    pub change: &'a Change,
}

impl Changes {
    /// A source's history, replacing what it reported before. Its entries were sanitised
    /// where they were made; the bound and the error's length are kept here too, whatever
    /// the source did.
    pub(crate) fn reported(&mut self, source: String, mut log: ChangeLog) {
        log.entries = ChangeLog::bounded(log.entries);
        log.error = log
            .error
            .map(|e| fit(&sanitize(&e), ERROR_TEXT).to_string());
        self.reported.insert(source, log);
    }

    /// A metrics source's features: a served prompt or model version that moved.
    pub(crate) fn features(&mut self, source: &str, at: DateTime<Utc>, features: &[FeatureInfo]) {
        for f in features {
            let now = Seen {
                prompt: f.current_prompt.clone(),
                model: Some(f.model_version.clone()).filter(|v| !v.is_empty()),
                killed: f.killed.clone(),
                levers: lever_settings(&f.levers),
            };
            let dates = (f.prompt_changed_at, f.model_changed_at);
            self.notice((source, "metrics"), &f.name, now, at, dates, &f.model);
        }
    }

    /// A flag system's levers: a served prompt that moved, a kill switch engaged or released.
    pub(crate) fn flags(&mut self, source: &str, at: DateTime<Utc>, flags: &[FeatureFlags]) {
        for ff in flags {
            let now = Seen {
                prompt: ff.current_prompt.clone(),
                model: None,
                killed: ff.killed.clone(),
                levers: lever_settings(&ff.levers),
            };
            let dates = (ff.prompt_changed_at, None);
            self.notice((source, "flags"), &ff.feature, now, at, dates, "");
        }
    }

    /// A lever the cockpit pulled and its backend confirmed: the audit log's record of it.
    pub(crate) fn lever(&mut self, at: DateTime<Utc>, op: &FlagOp, author: &str) {
        let (layer, what) = lever_words(op);
        let what = format!("{what} by {author}");
        self.push(Change::new(at, layer, &what, "audit").on_feature(op.feature()));
    }

    /// Levers of earlier sessions, from the audit log's succeeded lever records (the newest
    /// `MAX_OBSERVED`), at the cockpit time they landed.
    pub(crate) fn past_levers(&mut self, lines: &[AuditLine]) {
        let levers = lines
            .iter()
            .filter(|a| a.outcome == "succeeded")
            .filter_map(|a| {
                let op = FlagOp::from_audit(&a.action, &a.target)?;
                let (layer, what) = lever_words(&op);
                let what = format!("{what} by {}", a.actor);
                let at = a.sim_at.unwrap_or(a.at);
                Some(Change::new(at, layer, &what, "audit").on_feature(op.feature()))
            });
        let levers: Vec<Change> = levers.collect();
        let skip = levers.len().saturating_sub(MAX_OBSERVED);
        for c in levers.into_iter().skip(skip) {
            self.push(c);
        }
    }

    /// The newest change on `feature` whose words start with `prefix` ("model switch
    /// support-bot"), whether the cockpit noticed it, pulled it or a source reported it: who
    /// moved a lever last, for the levers panel.
    pub fn last_of(&self, feature: &str, prefix: &str) -> Option<&Change> {
        self.reported
            .values()
            .flat_map(|l| l.entries.iter())
            .chain(self.observed.iter())
            .filter(|c| {
                c.feature.as_deref() == Some(feature) && c.what.as_str().starts_with(prefix)
            })
            .max_by_key(|c| c.at)
    }

    /// Compares what `source` (in one role) reports of `feature` with what it reported last,
    /// and keeps each move; `dates` are when the source says the prompt and the model last
    /// changed, else a move is dated by the poll that saw it.
    fn notice(
        &mut self,
        (source, role): (&str, &'static str),
        feature: &str,
        now: Seen,
        at: DateTime<Utc>,
        (prompt_at, model_at): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        model: &str,
    ) {
        let key = (source.to_string(), role, feature.to_string());
        let before = self.seen.get(&key).cloned();
        let mut found = Vec::new();
        match &before {
            // First sight: only a move the source dates is a change; the rest is how things
            // stood when the cockpit started.
            None => {
                if let (Some(p), Some(t)) = (&now.prompt, prompt_at) {
                    found.push(Change::new(
                        t,
                        Layer::Prompt,
                        &format!("prompt {feature} →{p}"),
                        source,
                    ));
                }
                if let (Some(v), Some(t)) = (&now.model, model_at) {
                    found.push(Change::new(
                        t,
                        Layer::Model,
                        &format!("model {feature} {model} →{v}"),
                        source,
                    ));
                }
            }
            Some(b) => {
                if b.prompt != now.prompt {
                    if let Some(p) = &now.prompt {
                        let from = b.prompt.as_deref().unwrap_or("?");
                        let t = prompt_at.filter(|t| *t <= at).unwrap_or(at);
                        found.push(Change::new(
                            t,
                            Layer::Prompt,
                            &format!("prompt {feature} {from}→{p}"),
                            source,
                        ));
                    }
                }
                if let Some(v) = now.model.as_ref().filter(|v| b.model.as_ref() != Some(v)) {
                    let t = model_at.filter(|t| *t <= at).unwrap_or(at);
                    let from = b.model.as_deref().unwrap_or("?");
                    found.push(Change::new(
                        t,
                        Layer::Model,
                        &format!("model {feature} {model} {from}→{v}"),
                        source,
                    ));
                }
                if b.killed != now.killed {
                    let scope = |k: &[String]| {
                        if k.is_empty() {
                            "released".to_string()
                        } else {
                            format!("engaged ({})", k.join(", "))
                        }
                    };
                    found.push(Change::new(
                        at,
                        Layer::Infrastructure,
                        &format!("kill switch {feature}: {}", scope(&now.killed)),
                        source,
                    ));
                }
                for (lever, words) in lever_moves(feature, &b.levers, &now.levers) {
                    found.push(Change::new(at, lever.layer(), &words, source));
                }
            }
        }
        if before.is_none() && self.seen.len() >= MAX_SEEN {
            return;
        }
        self.seen.insert(key, now);
        for c in found {
            self.push(c.on_feature(feature));
        }
    }

    fn push(&mut self, c: Change) {
        let same = |o: &Change| o.at == c.at && o.feature == c.feature && o.what == c.what;
        if self.observed.iter().any(same) {
            return;
        }
        if self.observed.len() >= MAX_OBSERVED {
            self.observed.pop_front();
        }
        self.observed.push_back(c);
    }

    /// The changes on `inc`'s feature (or reported for `inc` itself) from `LOOKBACK_MINS`
    /// before its onset up to `now`, oldest first, each once; and every source whose history
    /// could not be read, since its silence is then no evidence of no change.
    pub fn around<'a>(&'a self, inc: &Incident, now: DateTime<Utc>) -> Timeline<'a> {
        let from = inc.triggered_at - Duration::minutes(LOOKBACK_MINS);
        let feature = inc.feature.as_str();
        let mine = |c: &Change| {
            c.at >= from
                && c.at <= now.max(inc.triggered_at)
                && (c.feature.as_deref() == Some(feature)
                    || c.incident.as_deref() == Some(inc.id.as_str()))
        };
        // Each entry with the log it came from (`None`: noticed by the cockpit).
        let mut all: Vec<(Option<&str>, &Change)> = self
            .reported
            .iter()
            .flat_map(|(s, l)| l.entries.iter().map(move |c| (Some(s.as_str()), c)))
            .chain(self.observed.iter().map(|c| (None, c)))
            .filter(|(_, c)| mine(c))
            .collect();
        // Oldest first; within one instant a log's words before what the cockpit noticed.
        all.sort_by_key(|(log, c)| (c.at, log.is_none()));
        let mut kept: Vec<(Option<&str>, &Change)> = Vec::with_capacity(all.len());
        for (log, c) in all {
            // Seen twice (a source's log and the flip the cockpit noticed, or the fleet as
            // metrics and as flag system): once, in the words of the log. Two entries of
            // one log are two changes, however close. Sorted, only the last second of what
            // is kept can hold the same change.
            let twice = kept
                .iter()
                .rev()
                .take_while(|(_, e)| (c.at - e.at).num_seconds() <= 1)
                .any(|(l, e)| {
                    (log.is_none() || *l != log) && e.feature == c.feature && e.layer == c.layer
                });
            if !twice {
                kept.push((log, c));
            }
        }
        let entries: Vec<&Change> = kept.into_iter().map(|(_, c)| c).collect();
        let failures = self
            .reported
            .iter()
            .filter_map(|(s, l)| l.error.as_deref().map(|e| (s.as_str(), e)))
            .collect();
        Timeline { entries, failures }
    }

    /// The layer to suggest for "which layer": the last change before the onset, within the
    /// lookback, that is not one of the cockpit's own levers (those respond to incidents,
    /// they do not start them).
    pub fn suggest<'a>(&'a self, inc: &Incident, now: DateTime<Utc>) -> Option<Suggestion<'a>> {
        self.around(inc, now)
            .entries
            .into_iter()
            .filter(|c| c.at <= inc.triggered_at && c.origin != "audit")
            .max_by_key(|c| c.at)
            .map(|change| Suggestion {
                layer: change.layer,
                change,
            })
    }

    /// How many entries are kept, reported and observed: bounded whatever the sources send.
    pub fn len(&self) -> usize {
        self.observed.len()
            + self
                .reported
                .values()
                .map(|l| l.entries.len())
                .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// "−14m", "−1h05m", "+3m": a change's time relative to an onset.
pub fn relative(at: DateTime<Utc>, onset: DateTime<Utc>) -> String {
    let secs = (at - onset).num_seconds();
    let sign = if secs < 0 { "−" } else { "+" };
    let mins = secs.abs() / 60;
    if mins >= 60 {
        format!("{sign}{}h{:02}m", mins / 60, mins % 60)
    } else {
        format!("{sign}{mins}m")
    }
}

/// Each settable lever that moved between two sightings, in the timeline's words, its
/// feature's setting and every segment's own rule in one line (one read, one change: the
/// timeline keeps one change per feature and layer a second): "model switch support-bot
/// full→mini, (free) mini→feature's". A segment without a rule is served the feature's.
fn lever_moves(feature: &str, before: &[LeverSeen], now: &[LeverSeen]) -> Vec<(Lever, String)> {
    let mut moves = Vec::new();
    for (lever, current, segments) in now {
        let Some((_, was, was_segments)) = before.iter().find(|(l, ..)| l == lever) else {
            continue;
        };
        let mut parts = Vec::new();
        if was != current {
            parts.push(format!("{was}→{current}"));
        }
        let of = |list: &[(String, String)], s: &str| {
            list.iter()
                .find(|(x, _)| x == s)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "feature's".into())
        };
        let mut names: Vec<&String> = segments
            .iter()
            .chain(was_segments)
            .map(|(s, _)| s)
            .collect();
        names.sort();
        names.dedup();
        for seg in names {
            let (from, to) = (of(was_segments, seg), of(segments, seg));
            if from != to {
                parts.push(format!("({seg}) {from}→{to}"));
            }
        }
        if !parts.is_empty() {
            let words = format!("{} {feature} {}", lever.short(), parts.join(", "));
            moves.push((*lever, words));
        }
    }
    moves
}

/// The layer a lever moved and the timeline's words for it, without who pulled it.
fn lever_words(op: &FlagOp) -> (Layer, String) {
    let scope = |segment: &Option<String>| {
        segment
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    };
    match op {
        FlagOp::Rollback {
            feature,
            to_version,
        } => (
            Layer::Prompt,
            format!("prompt {feature} rolled back to {to_version}"),
        ),
        FlagOp::KillSwitch {
            feature,
            segment,
            engage,
        } => (
            Layer::Infrastructure,
            format!(
                "kill switch {feature}{} {}",
                scope(segment),
                if *engage { "engaged" } else { "released" }
            ),
        ),
        FlagOp::SetLever {
            feature,
            lever,
            segment,
            variant,
            undo,
        } => (
            lever.layer(),
            format!(
                "{} {feature}{} {} {variant}",
                lever.short(),
                scope(segment),
                if *undo { "reverted to" } else { "set to" }
            ),
        ),
    }
}
