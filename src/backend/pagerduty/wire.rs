//! PagerDuty REST API v2 wire types: incidents, their pages and log entries, as
//! PagerDuty sends them.

use super::mapping::sev_of;
use crate::domain::{Sev, Status};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(super) struct Reference {
    /// PagerDuty's id of what is referred to (an escalation policy's, to ask who is on call).
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) summary: Option<String>,
}

impl Reference {
    pub(super) fn name(r: &Option<Reference>) -> Option<&str> {
        r.as_ref().and_then(|r| r.summary.as_deref())
    }

    pub(super) fn id(r: &Option<Reference>) -> Option<&str> {
        r.as_ref().and_then(|r| r.id.as_deref())
    }
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct Acknowledgement {
    pub(super) at: DateTime<Utc>,
    #[serde(default)]
    pub(super) acknowledger: Option<Reference>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct Assignment {
    #[serde(default)]
    pub(super) assignee: Option<Reference>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct PdIncident {
    pub(super) id: String,
    #[serde(default)]
    pub(super) incident_number: Option<u64>,
    #[serde(default)]
    pub(super) title: String,
    pub(super) status: Status,
    #[serde(default)]
    pub(super) urgency: Option<String>,
    pub(super) created_at: DateTime<Utc>,
    #[serde(default)]
    pub(super) last_status_change_at: Option<String>,
    #[serde(default)]
    pub(super) service: Option<Reference>,
    #[serde(default)]
    pub(super) priority: Option<Reference>,
    #[serde(default)]
    pub(super) acknowledgements: Vec<Acknowledgement>,
    #[serde(default)]
    pub(super) assignments: Vec<Assignment>,
    #[serde(default)]
    pub(super) escalation_policy: Option<Reference>,
    #[serde(default)]
    pub(super) incident_key: Option<String>,
    #[serde(default)]
    pub(super) html_url: Option<String>,
    /// Present in some responses only; otherwise the level is tracked (see `level`).
    #[serde(default)]
    pub(super) escalation_level: Option<u32>,
    /// What PagerDuty will do to the incident by itself, and when: a snooze (or the
    /// acknowledgement timeout) shows as an `unacknowledge` at the time it ends.
    #[serde(default)]
    pub(super) pending_actions: Vec<PendingAction>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct PendingAction {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) at: Option<DateTime<Utc>>,
}

impl PdIncident {
    pub(super) fn sev(&self) -> Sev {
        sev_of(Reference::name(&self.priority), self.urgency.as_deref())
    }

    /// When an acknowledged incident goes back to triggered by itself: the pending
    /// `unacknowledge` a snooze (or the acknowledgement timeout) set.
    pub(super) fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        if self.status != Status::Acknowledged {
            return None;
        }
        self.pending_actions
            .iter()
            .filter(|a| a.kind == "unacknowledge")
            .filter_map(|a| a.at)
            .min()
    }

    /// When the incident last became triggered: its last status change while it is
    /// triggered (a snooze or acknowledgement that ran out, an escalation), never before it
    /// was created. The acknowledge countdown starts there, as PagerDuty notifies afresh.
    pub(super) fn triggered_since(&self) -> DateTime<Utc> {
        let changed = self
            .last_status_change_at
            .as_deref()
            .filter(|_| self.status == Status::Triggered)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        changed.map_or(self.created_at, |c| c.max(self.created_at))
    }

    /// Who acknowledged it, while it is acknowledged (an escalation clears acknowledgements).
    pub(super) fn acknowledgement(&self) -> Option<&Acknowledgement> {
        match self.status {
            Status::Acknowledged => self.acknowledgements.last(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct IncidentPage {
    pub(super) incidents: Vec<PdIncident>,
    #[serde(default)]
    pub(super) more: bool,
    /// Only with `total=true`, which the first page of each poll asks for.
    #[serde(default)]
    pub(super) total: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct IncidentEnvelope {
    pub(super) incident: PdIncident,
}

/// One page of `GET /incidents/{id}/log_entries`, newest first; classic paging like every
/// PagerDuty list (`limit`, `offset`, `more`).
#[derive(Deserialize)]
pub(super) struct LogPage {
    pub(super) log_entries: Vec<LogEntry>,
    #[serde(default)]
    pub(super) more: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct LogEntry {
    /// PagerDuty's id: how a later read knows it has reached what the cockpit holds.
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) created_at: DateTime<Utc>,
    #[serde(default)]
    pub(super) summary: Option<String>,
    #[serde(default)]
    pub(super) agent: Option<Reference>,
    /// For notes, the channel's summary carries the note's text.
    #[serde(default)]
    pub(super) channel: Option<Reference>,
}

/// One page of `GET /oncalls`: who is on call for which escalation policy at which level;
/// classic paging (`limit`, `offset`, `more`).
#[derive(Deserialize)]
pub(super) struct OnCallPage {
    pub(super) oncalls: Vec<OnCallEntry>,
    #[serde(default)]
    pub(super) more: bool,
}

/// An on-call: a user, on call at `escalation_level` of `escalation_policy`, through
/// `schedule` (absent when the policy names the user directly). Every field is optional so
/// one odd entry is skipped rather than failing the page.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct OnCallEntry {
    #[serde(default)]
    pub(super) escalation_policy: Option<Reference>,
    #[serde(default)]
    pub(super) escalation_level: Option<u32>,
    #[serde(default)]
    pub(super) user: Option<Reference>,
    #[serde(default)]
    pub(super) schedule: Option<Reference>,
}

/// One page of `GET /users?query=…`: PagerDuty matches the query against names and emails,
/// so the one whose email is the `From` address is picked out of it.
#[derive(Deserialize)]
pub(super) struct UserPage {
    pub(super) users: Vec<User>,
}

#[derive(Deserialize)]
pub(super) struct User {
    pub(super) id: String,
    #[serde(default)]
    pub(super) email: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
}

/// What `PUT /incidents` answers: the incidents it changed.
#[derive(Deserialize)]
pub(super) struct IncidentList {
    #[serde(default)]
    pub(super) incidents: Vec<PdIncident>,
}
