//! PagerDuty incidents as the cockpit's: SEV from priority or urgency, incident type from
//! words in the title and service, the timeline and escalation level from the log.

use super::wire::{IncidentPage, LogEntry, LogPage, PdIncident, Reference};
use crate::backend::http;
use crate::backend::BackendError;
use crate::domain::oncall::OnCall;
use crate::domain::{Incident, IncidentType, SafeText, Sev, Status, TimelineEntry};
use chrono::{DateTime, Utc};

/// Types matched against titles and service names, most specific first: "errors" appears in
/// many titles that are really about something else.
const KIND_ORDER: [IncidentType; 8] = [
    IncidentType::CostExplosion,
    IncidentType::GuardrailBypass,
    IncidentType::OverRefusal,
    IncidentType::CapabilityDrift,
    IncidentType::EvalRegression,
    IncidentType::RetrievalDegradation,
    IncidentType::LatencyDegradation,
    IncidentType::Errors,
];

/// Assignees named on an incident: PagerDuty assigns to a handful, and a reply listing
/// thousands must not grow the detail pane without end.
const MAX_ASSIGNEES: usize = 10;

/// A timeline built from log entries, valid while `last_status_change_at` stays the same.
pub(super) struct CachedLog {
    pub(super) changed_at: Option<String>,
    /// Set after our own write: PagerDuty logged something the cache has not seen.
    pub(super) stale: bool,
    /// The entries read, newest first: a later read stops where it reaches them.
    pub(super) entries: Vec<LogEntry>,
    /// `Some(bound)` when older entries exist than the `bound` read.
    pub(super) unread_past: Option<usize>,
    pub(super) timeline: Vec<TimelineEntry>,
    pub(super) level: Option<u32>,
    /// The newest status update the log holds, whoever sent it.
    pub(super) last_update: Option<DateTime<Utc>>,
}

/// The incidents `list` shows for one `/incidents` page and, for each of them, this
/// `/log_entries` body: the same decoding and mapping without the network, so fuzzing and the
/// regression tests drive the production path. Also returns the page's `more` flag.
pub fn decode_incidents(
    source: &str,
    page: &[u8],
    log: &[u8],
) -> Result<(Vec<Incident>, bool), BackendError> {
    let page: IncidentPage = http::decode_json(page)?;
    let log: LogPage = http::decode_json(log)?;
    let incidents = page
        .incidents
        .iter()
        .map(|inc| {
            let cached = cached_log(inc, &log.log_entries, None);
            let level = level(inc.escalation_level, None, cached.level);
            incident(
                source,
                inc,
                level,
                cached.timeline,
                None,
                cached.last_update,
            )
        })
        .collect();
    Ok((incidents, page.more))
}

pub(super) fn level(own: Option<u32>, escalated: Option<u32>, logged: Option<u32>) -> u32 {
    own.or(escalated).or(logged).unwrap_or(1)
}

pub(super) fn incident(
    source: &str,
    inc: &PdIncident,
    level: u32,
    timeline: Vec<TimelineEntry>,
    on_call: Option<OnCall>,
    last_status_update: Option<DateTime<Utc>>,
) -> Incident {
    let sev = inc.sev();
    let service = Reference::name(&inc.service).unwrap_or("unknown service");
    let ack = inc.acknowledgement();
    // Classified after sanitizing, so an escape sequence cannot hide or fake a type.
    let title = SafeText::new(&inc.title);
    let feature = SafeText::new(service);
    Incident {
        id: format!("{source}:{}", inc.id),
        source: source.to_string(),
        kind: kind_of(title.as_str(), feature.as_str()),
        feature,
        sev,
        title,
        status: inc.status,
        triggered_at: inc.created_at,
        // A start near the end of time must not overflow (chrono panics on that).
        respond_by: inc
            .triggered_since()
            .checked_add_signed(sev.response_time())
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        acked_by: ack.map(|a| SafeText::new(Reference::name(&a.acknowledger).unwrap_or("someone"))),
        acked_at: ack.map(|a| a.at),
        escalation_level: u8::try_from(level.saturating_sub(1)).unwrap_or(u8::MAX),
        firing: inc.status != Status::Resolved,
        evidence: evidence(inc),
        timeline,
        on_call,
        last_status_update,
        snoozed_until: inc.snoozed_until(),
        assignees: assignees(inc),
    }
}

/// Who the incident is assigned to, each once, at most `MAX_ASSIGNEES` named.
fn assignees(inc: &PdIncident) -> Vec<SafeText> {
    let mut names: Vec<SafeText> = Vec::new();
    for name in inc
        .assignments
        .iter()
        .filter_map(|a| Reference::name(&a.assignee))
    {
        let name = SafeText::new(name);
        if names.len() < MAX_ASSIGNEES && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The timeline of `entries` (PagerDuty's order, newest first). `unread_past` is the bound
/// when older entries were left unread: the timeline then starts by saying so, since a
/// timeline that silently begins mid-incident reads as the whole story.
pub(super) fn cached_log(
    inc: &PdIncident,
    entries: &[LogEntry],
    unread_past: Option<usize>,
) -> CachedLog {
    // PagerDuty lists newest first, with timestamps to the second: reverse before the
    // stable sort so entries within one second keep their real order.
    let mut sorted = entries.to_vec();
    if sorted.first().map(|e| e.created_at) >= sorted.last().map(|e| e.created_at) {
        sorted.reverse();
    }
    sorted.sort_by_key(|e| e.created_at);
    let mut timeline: Vec<TimelineEntry> = sorted.iter().map(timeline_entry).collect();
    if let Some(bound) = unread_past {
        let at = timeline.first().map_or(inc.created_at, |t| t.at);
        let text = format!(
            "older PagerDuty log entries not read: the newest {bound} are shown (max_log_entries)"
        );
        timeline.insert(
            0,
            TimelineEntry {
                at,
                text: SafeText::new(&text),
            },
        );
    }
    sorted.reverse();
    let last_update = sorted
        .iter()
        .filter(|e| e.kind == "status_update_log_entry")
        .map(|e| e.created_at)
        .max();
    CachedLog {
        last_update,
        changed_at: inc.last_status_change_at.clone(),
        stale: false,
        level: log_level_newest_first(&sorted),
        entries: sorted,
        unread_past,
        timeline,
    }
}

pub(super) fn sev_of(priority: Option<&str>, urgency: Option<&str>) -> Sev {
    priority.and_then(priority_sev).unwrap_or(match urgency {
        Some(u) if u.eq_ignore_ascii_case("low") => Sev::Sev4,
        _ => Sev::Sev2,
    })
}

/// "P1", "SEV1", "SEV-1", "Sev 2 - Major" → the number's SEV; names without one → None.
fn priority_sev(name: &str) -> Option<Sev> {
    let lower = name.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("sev")
        .or_else(|| lower.strip_prefix('p'))?;
    let digits: String = rest
        .trim_start_matches(['-', ' ', '_'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u32 = digits.parse().ok()?;
    Some(match n {
        0 | 1 => Sev::Sev1,
        2 => Sev::Sev2,
        3 => Sev::Sev3,
        _ => Sev::Sev4,
    })
}

/// Lowercase words separated by single spaces and padded, so names match whole words only.
pub(super) fn words(s: &str) -> String {
    let spaced: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        " {} ",
        spaced.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

fn kind_of(title: &str, service: &str) -> IncidentType {
    let hay = words(&format!("{title} {service}"));
    KIND_ORDER
        .into_iter()
        .find(|k| {
            let snake = serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            [k.label(), snake.as_str()]
                .iter()
                .any(|n| !n.is_empty() && hay.contains(&words(n)))
        })
        .unwrap_or(IncidentType::Other)
}

fn timeline_entry(e: &LogEntry) -> TimelineEntry {
    let mut text = e
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| e.kind.trim_end_matches("_log_entry").replace('_', " "));
    let note = Reference::name(&e.channel).filter(|_| e.kind == "annotate_log_entry");
    if let Some(note) = note.filter(|n| !text.contains(n)) {
        text = format!("{text}: {note}");
    }
    if let Some(agent) = Reference::name(&e.agent).filter(|a| !text.contains(a)) {
        text = format!("{text} ({agent})");
    }
    TimelineEntry {
        at: e.created_at,
        text: SafeText::new(&text),
    }
}

fn log_level_newest_first(entries: &[LogEntry]) -> Option<u32> {
    log_level(entries.iter().rev())
}

/// The level after the log's escalations, oldest first: "level N" in a summary sets it,
/// an escalation that names no level counts as one step. None when nothing escalated.
fn log_level<'a>(entries: impl Iterator<Item = &'a LogEntry>) -> Option<u32> {
    let mut level = None;
    for e in entries.filter(|e| e.kind == "escalate_log_entry") {
        let summary = e.summary.as_deref().unwrap_or("").to_lowercase();
        let named = summary.split("level").nth(1).and_then(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u32>().ok()
        });
        level = Some(named.unwrap_or(level.unwrap_or(1_u32).saturating_add(1)));
    }
    level
}

fn evidence(inc: &PdIncident) -> Vec<SafeText> {
    let mut out = Vec::new();
    let number = inc
        .incident_number
        .map(|n| format!("PagerDuty #{n}"))
        .unwrap_or_else(|| format!("PagerDuty {}", inc.id));
    let urgency = inc.urgency.as_deref().unwrap_or("unknown");
    let priority = Reference::name(&inc.priority).unwrap_or("none");
    out.push(format!(
        "{number} · urgency {urgency} · priority {priority}"
    ));
    if let Some(ep) = Reference::name(&inc.escalation_policy) {
        out.push(format!("escalation policy: {ep}"));
    }
    out.extend(inc.html_url.clone());
    out.extend(
        inc.incident_key
            .as_ref()
            .map(|k| format!("incident_key: {k}")),
    );
    out.iter().map(|s| SafeText::new(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_and_urgency_map_to_sev() {
        assert_eq!(sev_of(Some("P1"), Some("low")), Sev::Sev1);
        assert_eq!(sev_of(Some("SEV-1"), None), Sev::Sev1);
        assert_eq!(sev_of(Some("Sev 3 - Minor"), None), Sev::Sev3);
        assert_eq!(sev_of(Some("P0"), None), Sev::Sev1);
        assert_eq!(sev_of(Some("P5"), Some("high")), Sev::Sev4);
        assert_eq!(sev_of(Some("Priority"), Some("high")), Sev::Sev2);
        assert_eq!(sev_of(None, Some("high")), Sev::Sev2);
        assert_eq!(sev_of(None, Some("low")), Sev::Sev4);
    }

    #[test]
    fn kinds_match_whole_words_most_specific_first() {
        assert_eq!(
            kind_of("Guardrail bypass causing errors", "chat"),
            IncidentType::GuardrailBypass
        );
        assert_eq!(
            kind_of("alert", "cost_explosion-detector"),
            IncidentType::CostExplosion
        );
        assert_eq!(kind_of("5xx errors", "api"), IncidentType::Errors);
        assert_eq!(kind_of("terrors", "api"), IncidentType::Other);
        assert_eq!(
            kind_of("Over-refusal spike", "bot"),
            IncidentType::OverRefusal
        );
    }

    #[test]
    fn escalation_level_from_log_summaries() {
        let at = Utc::now();
        let entry = |summary: &str| LogEntry {
            id: None,
            kind: "escalate_log_entry".into(),
            created_at: at,
            summary: Some(summary.into()),
            agent: None,
            channel: None,
        };
        assert_eq!(log_level([].iter()), None);
        assert_eq!(
            log_level([entry("Escalated to Level 3 by Ana")].iter()),
            Some(3)
        );
        assert_eq!(
            log_level([entry("Escalated"), entry("Escalated")].iter()),
            Some(3)
        );
    }
}
