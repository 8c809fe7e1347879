//! What changed before an incident, from PagerDuty's change correlation
//! (`GET /incidents/{id}/related_change_events`): the wire shape, what one event means on the
//! cockpit's timeline, and the cache that decides which incidents are read on a poll. The
//! endpoint takes only `limit` (no offset: one page), and answers deploys and config changes
//! sent to the incident's service and related ones, each with why PagerDuty correlated it.

use super::wire::PdIncident;
use crate::domain::change::{Change, ChangeLog, Layer};
use crate::domain::Status;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Change events asked for per incident: the two hours before an onset hold a handful.
pub(super) const CHANGES_PER_INCIDENT: u32 = 25;
/// Incidents whose change events are read per poll, most urgent first: one request each, so
/// a storm of new incidents cannot spend the account's rate limit on history.
pub(super) const CHANGE_FETCHES_PER_POLL: usize = 3;
/// Only the most urgent open incidents have their changes read at all.
const MAX_INCIDENTS: usize = 20;
/// Change events before an onset do not move much once the incident is open; a new deploy
/// during it shows within this.
pub(super) const CHANGE_REFRESH: Duration = Duration::from_secs(300);

#[derive(Debug, Default, Deserialize)]
pub(super) struct ChangeEventPage {
    #[serde(default)]
    pub change_events: Option<Vec<PdChangeEvent>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PdChangeEvent {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub correlation_reason: Option<CorrelationReason>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CorrelationReason {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why PagerDuty tied the change to the incident, in the responder's words.
fn reason(r: &str) -> String {
    match r {
        "recent_service_change" => "recent change on its service".into(),
        "related_service_change" | "related_service" => "change on a related service".into(),
        "intelligent" => "PagerDuty's correlation".into(),
        other => other.replace('_', " "),
    }
}

/// One change event on the incident's timeline; `None` without a time to place it at.
pub(super) fn change_of(ev: &PdChangeEvent, source: &str, incident_id: &str) -> Option<Change> {
    let at = DateTime::parse_from_rfc3339(ev.timestamp.as_deref()?.trim())
        .ok()?
        .with_timezone(&Utc);
    let summary = ev
        .summary
        .as_deref()
        .unwrap_or("change event without a summary");
    let mut what = format!("deploy: {summary}");
    if let Some(from) = ev.source.as_deref().filter(|s| !s.trim().is_empty()) {
        what.push_str(&format!(" ({from})"));
    }
    if let Some(r) = ev
        .correlation_reason
        .as_ref()
        .and_then(|c| c.reason.as_deref())
    {
        what.push_str(&format!(" · {}", reason(r)));
    }
    Some(Change::new(at, Layer::guess(summary), &what, source).on_incident(incident_id))
}

struct Read {
    entries: Vec<Change>,
    fresh_since: Instant,
}

/// The change events read per incident, and the last read's failure.
#[derive(Default)]
pub(super) struct ChangeCache {
    by_incident: HashMap<String, Read>,
    read_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl ChangeCache {
    /// The PagerDuty ids to read on this poll: open incidents, most urgent first, never read
    /// or read longer than `CHANGE_REFRESH` ago; at most `CHANGE_FETCHES_PER_POLL`.
    pub(super) fn due(&self, incidents: &[PdIncident]) -> Vec<String> {
        let mut open: Vec<&PdIncident> = incidents
            .iter()
            .filter(|i| i.status != Status::Resolved)
            // Ids go into the path: anything but letters and digits is never asked about.
            .filter(|i| !i.id.is_empty() && i.id.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        open.sort_by_key(|i| (i.sev(), i.status != Status::Triggered, i.created_at));
        open.into_iter()
            .take(MAX_INCIDENTS)
            .filter(|i| {
                self.by_incident
                    .get(&i.id)
                    .is_none_or(|r| r.fresh_since.elapsed() >= CHANGE_REFRESH)
            })
            .take(CHANGE_FETCHES_PER_POLL)
            .map(|i| i.id.clone())
            .collect()
    }

    pub(super) fn store(&mut self, pd_id: &str, entries: Vec<Change>, at: DateTime<Utc>) {
        self.by_incident.insert(
            pd_id.to_string(),
            Read {
                entries,
                fresh_since: Instant::now(),
            },
        );
        self.read_at = Some(at);
        self.error = None;
    }

    /// A failed read keeps what was read before, and says why until a read succeeds.
    pub(super) fn fail(&mut self, pd_id: &str, error: String) {
        self.error = Some(format!("related change events of {pd_id}: {error}"));
    }

    /// Forgets incidents no longer listed.
    pub(super) fn retain(&mut self, listed: impl Fn(&str) -> bool) {
        self.by_incident.retain(|id, _| listed(id));
    }

    pub(super) fn log(&self) -> ChangeLog {
        ChangeLog {
            entries: ChangeLog::bounded(
                self.by_incident
                    .values()
                    .flat_map(|r| r.entries.iter().cloned())
                    .collect(),
            ),
            read_at: self.read_at,
            error: self.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> PdChangeEvent {
        serde_json::from_str(json).expect("valid event")
    }

    #[test]
    fn a_change_event_reads_as_a_deploy_with_its_reason() {
        let ev = event(
            r#"{"summary":"Deploy prompt pack 8","timestamp":"2026-12-01T09:46:00Z",
               "source":"ci","correlation_reason":{"reason":"recent_service_change"}}"#,
        );
        let c = change_of(&ev, "pd", "pd:P1").expect("placed");
        assert_eq!(c.layer, Layer::Prompt);
        assert_eq!(
            c.what.as_str(),
            "deploy: Deploy prompt pack 8 (ci) · recent change on its service"
        );
        assert_eq!(c.incident.as_deref(), Some("pd:P1"));
        assert_eq!(c.origin, "pd");
    }

    #[test]
    fn an_event_without_a_time_is_left_out() {
        assert!(change_of(&event(r#"{"summary":"x"}"#), "pd", "pd:P1").is_none());
        assert!(change_of(&event(r#"{"timestamp":"yesterday"}"#), "pd", "pd:P1").is_none());
        let page: ChangeEventPage =
            serde_json::from_str(r#"{"change_events":null}"#).expect("null list");
        assert!(page.change_events.is_none());
    }
}
