//! The sources part: where data and commands come from, how fresh each source's data is,
//! and what each cannot do.

use super::guard::Operation;
use crate::domain::event::NotShown;
use crate::domain::SafeText;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::domain::source::Registration;
pub use crate::domain::SourceRole;

/// How fresh one source's data is in one role, and its last error.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    pub role: SourceRole,
    /// Expected time between successful polls, in cockpit-clock seconds (None: not polled).
    pub interval_secs: Option<f64>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// Seconds between polls once pacing stretched them past `interval_secs` because the
    /// backend answers slowly; stale marks follow it.
    pub paced_secs: Option<f64>,
    /// Incidents the source holds that are not shown (past its cap or its pages per poll).
    pub not_shown: NotShown,
    /// The engine that computes a metrics source's numbers, and what it does differently.
    pub engine: Option<String>,
    pub notes: Vec<String>,
}

impl SourceStatus {
    pub fn new(name: &str, role: SourceRole, interval_secs: Option<f64>) -> Self {
        SourceStatus {
            name: name.to_string(),
            role,
            interval_secs,
            last_ok: None,
            last_error: None,
            paced_secs: None,
            not_shown: NotShown::default(),
            engine: None,
            notes: Vec::new(),
        }
    }

    /// Seconds since the last good data, if any ever arrived.
    pub fn age_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_ok.map(|t| (now - t).num_seconds().max(0))
    }

    /// Stale after three missed polls, or failing since its last success.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let Some(interval) = self.interval_secs else {
            return false;
        };
        let interval = interval.max(self.paced_secs.unwrap_or(0.0));
        match self.age_secs(now) {
            Some(age) => age as f64 > 3.0 * interval.max(1.0),
            None => true,
        }
    }

    pub fn failing(&self) -> bool {
        match (&self.last_error, self.last_ok) {
            (Some((err_at, _)), Some(ok_at)) => *err_at >= ok_at,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Sources {
    /// One entry per source and role it plays, in the order they were configured.
    pub list: Vec<SourceStatus>,
    /// (source, operation) → why that source cannot do it; shown instead of acting.
    pub unsupported: BTreeMap<(String, Operation), String>,
    /// The flag system for features no flag system reported.
    pub flag_source: Option<String>,
    /// Where pages go (PagerDuty Events API), and whether levers pulled become change events.
    pub pager_source: Option<String>,
    /// Where samples queries go: the first samples source configured.
    pub samples_source: Option<String>,
    pub change_events: bool,
}

impl Sources {
    /// One part a started source plays. The first flag system is where levers go for
    /// features no flag system has reported yet; the first pager is where pages go. A source
    /// that could not start shows as failing with its reason.
    pub fn register(&mut self, r: Registration, now: DateTime<Utc>) {
        let mut status = SourceStatus::new(&r.name, r.role, r.interval_secs);
        let started = r.error.is_none();
        if let Some(error) = r.error {
            // The footer already names the source.
            let error = error
                .strip_prefix(&format!("{}: ", r.name))
                .map(str::to_string)
                .unwrap_or(error);
            status.last_error = Some((now, error));
        }
        self.list.push(status);
        for (op, why) in r.unsupported {
            self.unsupported
                .insert((r.name.clone(), Operation::from(&op)), why);
        }
        if r.prompts_only {
            for (op, what) in [
                (Operation::KillSwitch, "kill switch"),
                (Operation::SetLever, "other lever"),
            ] {
                self.unsupported.insert(
                    (r.name.clone(), op),
                    format!(
                        "{} is a prompt registry: it moves prompt tags and has no {what} (configure a flag system: flagd, Unleash or an HTTP hook)",
                        r.name
                    ),
                );
            }
        }
        match r.role {
            _ if !started => {}
            // A prompt registry is where prompts go, never the kill switch of a feature no
            // flag system reported.
            SourceRole::Flags if r.prompts_only => {}
            SourceRole::Flags if self.flag_source.is_none() => self.flag_source = Some(r.name),
            SourceRole::Samples if self.samples_source.is_none() => {
                self.samples_source = Some(r.name)
            }
            SourceRole::Pager if self.pager_source.is_none() => {
                self.pager_source = Some(r.name);
                self.change_events = r.change_events;
            }
            _ => {}
        }
    }

    /// The entry for `source` in `role`, added when a source reports in a role it was not
    /// configured with.
    pub(crate) fn status_mut(&mut self, source: &str, role: SourceRole) -> &mut SourceStatus {
        let pos = self
            .list
            .iter()
            .position(|s| s.name == source && s.role == role);
        match pos {
            Some(i) => &mut self.list[i],
            None => {
                self.list.push(SourceStatus::new(source, role, None));
                let last = self.list.len() - 1;
                &mut self.list[last]
            }
        }
    }

    /// Good data arrived; returns whether it was the first in that role.
    pub(crate) fn fresh(&mut self, source: &str, role: SourceRole, at: DateTime<Utc>) -> bool {
        let status = self.status_mut(source, role);
        let first = status.last_ok.is_none();
        status.last_ok = Some(at);
        first
    }

    /// A poll failed: every role the source plays is marked (the same task polls them all).
    pub(crate) fn failed(&mut self, source: &str, at: DateTime<Utc>, error: &str) {
        let error = SafeText::new(error).to_string();
        let mut any = false;
        for s in self.list.iter_mut().filter(|s| s.name == source) {
            s.last_error = Some((at, error.clone()));
            any = true;
        }
        if !any {
            self.status_mut(source, SourceRole::Metrics).last_error = Some((at, error));
        }
    }

    pub(crate) fn paced(&mut self, source: &str, interval_secs: Option<f64>) {
        for s in self.list.iter_mut().filter(|s| s.name == source) {
            s.paced_secs = interval_secs;
        }
    }

    /// Whether `source` plays `role`.
    pub fn plays(&self, source: &str, role: SourceRole) -> bool {
        self.list.iter().any(|s| s.name == source && s.role == role)
    }

    /// Whether no source but `source` has ever sent incidents: every source that did is in
    /// `list`, so this is known without reading 10,000 incidents' source names.
    pub(crate) fn only_incident_source(&self, source: &str) -> bool {
        self.list
            .iter()
            .all(|s| s.role != SourceRole::Incidents || s.name == source)
    }

    pub fn unsupported_reason(&self, source: &str, op: Operation) -> Option<&str> {
        self.unsupported
            .get(&(source.to_string(), op))
            .map(String::as_str)
    }

    /// Whether a source is stale or failing in any role.
    pub fn in_doubt(&self, source: &str, now: DateTime<Utc>) -> bool {
        self.list
            .iter()
            .any(|s| s.name == source && (s.failing() || s.is_stale(now)))
    }

    /// Incidents held by sources but not shown, over every source: the list's "+N not
    /// shown".
    pub fn not_shown(&self) -> NotShown {
        self.list
            .iter()
            .filter(|s| s.role == SourceRole::Incidents)
            .fold(NotShown::default(), |acc, s| NotShown {
                count: acc.count.saturating_add(s.not_shown.count),
                more: acc.more || s.not_shown.more,
            })
    }
}
