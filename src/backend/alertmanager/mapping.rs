//! Alerts as the cockpit's incidents: SEV and type from labels, evidence from annotations,
//! and the timeline, notes included, from the acknowledging silence.

use super::wire::{GettableAlert, GettableSilence};
use crate::domain::{IncidentType, SafeText, Sev, TimelineEntry};
use chrono::{DateTime, SecondsFormat, Utc};

pub(super) fn alertname(alert: &GettableAlert) -> &str {
    alert
        .labels
        .get("alertname")
        .map(String::as_str)
        .unwrap_or("unnamed alert")
}

/// "sev1".."sev4" / "SEV-2" / "3", and the severity names alerting rules commonly use.
pub(super) fn parse_sev(raw: &str) -> Option<Sev> {
    let v = raw.trim().to_ascii_lowercase();
    let number = v
        .strip_prefix("sev")
        .unwrap_or(&v)
        .trim_start_matches(['-', '_', ' ']);
    if let Ok(n) = number.parse::<u8>() {
        return Sev::from_number(n);
    }
    match v.as_str() {
        "critical" => Some(Sev::Sev1),
        "high" | "error" | "page" => Some(Sev::Sev2),
        "warning" | "warn" => Some(Sev::Sev3),
        "info" | "low" => Some(Sev::Sev4),
        _ => None,
    }
}

/// IncidentType's serde name, tolerating case and dashes ("Cost-Explosion").
pub(super) fn parse_type(raw: &str) -> IncidentType {
    let name = raw.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    serde_json::from_value(serde_json::Value::String(name)).unwrap_or(IncidentType::Other)
}

/// Annotations worth reading before acting: the description, any values, the runbook.
pub(super) fn evidence(alert: &GettableAlert) -> Vec<SafeText> {
    let mut out = Vec::new();
    if let Some(d) = alert.annotations.get("description") {
        out.push(SafeText::new(d));
    }
    for (k, v) in &alert.annotations {
        if k == "value" || k.ends_with("_value") || k.starts_with("value_") {
            out.push(SafeText::new(&format!("{k}: {v}")));
        }
    }
    if let Some(url) = alert.annotations.get("runbook_url") {
        out.push(SafeText::new(&format!("runbook: {url}")));
    }
    if !alert.status.inhibited_by.is_empty() {
        out.push(SafeText::new(&format!(
            "inhibited by {} other alert(s)",
            alert.status.inhibited_by.len()
        )));
    }
    out
}

/// One note as a line of the silence comment; the timestamp puts it back on the timeline.
pub(super) fn note_line(at: DateTime<Utc>, author: &str, text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    format!(
        "[{}] {author}: {flat}",
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

fn parse_note_line(line: &str) -> Option<TimelineEntry> {
    let (stamp, rest) = line.strip_prefix('[')?.split_once("] ")?;
    let at = DateTime::parse_from_rfc3339(stamp)
        .ok()?
        .with_timezone(&Utc);
    Some(TimelineEntry {
        at,
        text: SafeText::new(&format!("note by {rest}")),
    })
}

pub(super) fn timeline(
    alert: &GettableAlert,
    silence: Option<(&GettableSilence, DateTime<Utc>)>,
) -> Vec<TimelineEntry> {
    let mut out = vec![TimelineEntry {
        at: alert.starts_at,
        text: SafeText::new(&format!("fired: {}", alertname(alert))),
    }];
    if let Some((sil, acked_at)) = silence {
        let mut lines = sil.comment.lines();
        let first = lines.next().unwrap_or_default();
        out.push(TimelineEntry {
            at: acked_at,
            text: SafeText::new(&format!("silenced by {}: {first}", sil.created_by)),
        });
        out.extend(lines.filter_map(parse_note_line));
    }
    out.sort_by_key(|e| e.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_by_number_and_by_name() {
        for (raw, sev) in [
            ("sev1", Some(Sev::Sev1)),
            ("SEV2", Some(Sev::Sev2)),
            (" Sev-3 ", Some(Sev::Sev3)),
            ("4", Some(Sev::Sev4)),
            ("critical", Some(Sev::Sev1)),
            ("Page", Some(Sev::Sev2)),
            ("error", Some(Sev::Sev2)),
            ("warning", Some(Sev::Sev3)),
            ("info", Some(Sev::Sev4)),
            ("sev5", None),
            ("sev", None),
            ("moderate", None),
        ] {
            assert_eq!(parse_sev(raw), sev, "{raw}");
        }
    }

    #[test]
    fn types_by_serde_name_else_other() {
        assert_eq!(parse_type("cost_explosion"), IncidentType::CostExplosion);
        assert_eq!(
            parse_type("Guardrail-Bypass"),
            IncidentType::GuardrailBypass
        );
        assert_eq!(parse_type("disk_full"), IncidentType::Other);
        assert_eq!(parse_type(""), IncidentType::Other);
    }

    #[test]
    fn notes_round_trip_through_the_comment() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:10:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let line = note_line(at, "ana", "rolled back\nprompt v12");
        assert_eq!(line, "[2026-11-23T02:10:00Z] ana: rolled back prompt v12");
        let entry = parse_note_line(&line);
        assert_eq!(entry.as_ref().map(|e| e.at), Some(at));
        assert_eq!(
            entry.map(|e| e.text.as_str().to_string()),
            Some("note by ana: rolled back prompt v12".into())
        );
        assert!(parse_note_line("free text").is_none());
    }
}
