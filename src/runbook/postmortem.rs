//! The incident's story as a Markdown postmortem draft: what fired and on which numbers, what
//! the responders did (from the audit log, which outlives the session), their runbook answers
//! and notes. Facts only; the analysis is for people to write.
//!
//! `draft` takes what the state knows (pure); `render` adds the audit log's records, read by
//! whoever writes the file, in order behind every record queued before the export.

use super::RunbookSession;
use crate::domain::{FeatureInfo, Incident, IncidentId, SignalKind, SignalSet};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// One signal's value when the cockpit first saw the incident, and now.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalRow {
    pub kind: SignalKind,
    pub at_detection: Option<f64>,
    pub now: Option<f64>,
    pub threshold: Option<f64>,
}

/// Signal values captured when an incident first appeared.
#[derive(Clone, Debug, PartialEq)]
pub struct FirstSeen {
    pub at: DateTime<Utc>,
    pub values: Vec<(SignalKind, f64, Option<f64>)>,
}

impl FirstSeen {
    pub fn capture(feature: &str, set: &SignalSet, at: DateTime<Utc>) -> FirstSeen {
        FirstSeen {
            at,
            values: set
                .signals
                .iter()
                .filter(|s| s.feature == feature)
                .filter_map(|s| s.last().map(|v| (s.kind, v, s.threshold)))
                .collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub incident: Incident,
    pub info: Option<FeatureInfo>,
    pub first_seen: Option<DateTime<Utc>>,
    pub signals: Vec<SignalRow>,
    pub runbook: Option<RunbookSession>,
    /// Ids of actions this session sent about the incident: pages carry a dedup key, not the id.
    pub related_targets: Vec<String>,
    pub exported_by: String,
    pub exported_at: DateTime<Utc>,
}

/// Each signal of the feature: when the cockpit first showed the incident, and now.
pub fn signal_rows(
    feature: &str,
    first_seen: Option<&FirstSeen>,
    now: &SignalSet,
) -> Vec<SignalRow> {
    let mut rows = Vec::new();
    for kind in SignalKind::ALL {
        let then = first_seen.and_then(|f| f.values.iter().find(|(k, _, _)| *k == kind));
        let current = now
            .signals
            .iter()
            .find(|s| s.feature == feature && s.kind == kind);
        if then.is_none() && current.is_none() {
            continue;
        }
        rows.push(SignalRow {
            kind,
            at_detection: then.map(|(_, v, _)| *v),
            now: current.and_then(|s| s.last()),
            threshold: then
                .and_then(|(_, _, t)| *t)
                .or(current.and_then(|s| s.threshold)),
        });
    }
    rows
}

/// An audit log line, as far as the postmortem needs it. Lines that do not parse are
/// counted and reported, never fatal: a torn last line after a crash must not block export.
#[derive(Clone, Debug, Deserialize)]
pub struct AuditLine {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    #[serde(default)]
    pub detail: String,
}

pub fn parse_audit(text: &str) -> (Vec<AuditLine>, usize) {
    let mut bad = 0;
    let lines = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<AuditLine>(l) {
            Ok(a) => Some(a),
            Err(_) => {
                bad += 1;
                None
            }
        })
        .collect();
    (lines, bad)
}

/// Whether an audit record belongs in this incident's postmortem: actions on the incident
/// itself, and levers pulled on its feature while it was open.
fn relevant(d: &Draft, a: &AuditLine) -> bool {
    let inc = &d.incident;
    if a.target == inc.id || d.related_targets.contains(&a.target) {
        return true;
    }
    let feature = inc.feature.as_str();
    let lever = matches!(
        a.action.as_str(),
        "prompt_rollback" | "kill_switch_engage" | "kill_switch_release" | "change_event"
    );
    let window_start = inc.triggered_at - Duration::minutes(30);
    lever
        && a.at >= window_start
        && a.at <= d.exported_at
        && a.target.split_whitespace().next() == Some(feature)
}

/// Markdown cells cannot hold a pipe or a line break.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn fmt(kind: SignalKind, v: Option<f64>) -> String {
    v.map(|v| kind.format(v)).unwrap_or_else(|| "—".into())
}

pub fn file_name(id: &IncidentId, at: DateTime<Utc>) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-{}.md", at.format("%Y%m%dT%H%M%SZ"))
}

pub fn render(d: &Draft, audit: &[AuditLine], unreadable: usize) -> String {
    let inc = &d.incident;
    let ts = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut out = String::new();
    out.push_str(&format!("# Postmortem draft: {}\n\n", inc.title));
    out.push_str(&format!(
        "Exported by {} from oncall-cockpit at {}. Times are UTC.\n\n",
        d.exported_by,
        ts(d.exported_at)
    ));
    out.push_str("| | |\n|---|---|\n");
    let mut row = |k: &str, v: String| out.push_str(&format!("| {k} | {} |\n", cell(&v)));
    row("Incident", inc.id.clone());
    row("Type", inc.kind.label().to_string());
    row("Feature", inc.feature.to_string());
    row(
        "Severity",
        format!(
            "{} (respond within {} min)",
            inc.sev,
            inc.sev.response_time().num_minutes()
        ),
    );
    row("Source", inc.source.clone());
    row("Opened", ts(inc.triggered_at));
    if let (Some(by), Some(at)) = (&inc.acked_by, inc.acked_at) {
        row(
            "Acknowledged",
            format!(
                "{} by {by} ({} min after opening)",
                ts(at),
                (at - inc.triggered_at).num_minutes()
            ),
        );
    }
    row("Status at export", inc.status.short().to_string());
    if let Some(info) = &d.info {
        row(
            "Model",
            format!("{} {}", info.model, info.model_version)
                .trim()
                .to_string(),
        );
        if let Some(p) = &info.current_prompt {
            let mut v = p.clone();
            if let Some(t) = info.prompt_changed_at {
                v.push_str(&format!(" since {}", ts(t)));
            }
            if let Some(lkg) = info.last_known_good_prompt.as_ref().filter(|l| *l != p) {
                v.push_str(&format!("; last known good {lkg}"));
            }
            row("Prompt version", v);
        }
        if !info.killed.is_empty() {
            row("Kill switches engaged", info.killed.join(", "));
        }
    }

    out.push_str("\n## Why it fired\n\n");
    for e in &inc.evidence {
        out.push_str(&format!("- {e}\n"));
    }
    if inc.evidence.is_empty() {
        out.push_str("- The source gave no evidence beyond the title.\n");
    }

    out.push_str("\n## Signals at detection\n\n");
    if d.signals.is_empty() {
        out.push_str("No metrics for this feature were on screen.\n");
    } else {
        match d.first_seen {
            Some(t) => out.push_str(&format!(
                "\"At detection\" is the value when the cockpit first showed the incident ({}).\n\n",
                ts(t)
            )),
            None => out.push_str("The cockpit did not see the signals when the incident opened.\n\n"),
        }
        out.push_str("| signal | at detection | at export | threshold |\n|---|---|---|---|\n");
        for s in &d.signals {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                s.kind.label(),
                fmt(s.kind, s.at_detection),
                fmt(s.kind, s.now),
                fmt(s.kind, s.threshold)
            ));
        }
    }

    out.push_str("\n## Timeline\n\n| time | who | what |\n|---|---|---|\n");
    let mut events: Vec<(DateTime<Utc>, String, String)> = vec![(
        inc.triggered_at,
        inc.source.clone(),
        format!("opened: {}", inc.title),
    )];
    for t in &inc.timeline {
        events.push((t.at, inc.source.clone(), t.text.to_string()));
    }
    let mine: Vec<&AuditLine> = audit.iter().filter(|a| relevant(d, a)).collect();
    for a in &mine {
        // "requested" and its outcome are both kept: the gap between them is how long the
        // backend took, and a failure followed by a retry is part of the story.
        let mut what = format!("{} {} {}", a.action, a.target, a.outcome);
        if !a.detail.is_empty() {
            what.push_str(&format!(": {}", a.detail));
        }
        events.push((a.at, a.actor.clone(), what));
    }
    events.sort_by_key(|e| e.0);
    for (at, who, what) in &events {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            at.format("%H:%M:%S"),
            cell(who),
            cell(what)
        ));
    }
    if unreadable > 0 {
        out.push_str(&format!(
            "\n{unreadable} audit log line(s) could not be read and are not in this timeline.\n"
        ));
    }

    out.push_str("\n## Runbook answers\n\n");
    let mut answered = false;
    if let Some(rb) = &d.runbook {
        for (q, a) in rb.questions.iter().zip(&rb.answers) {
            if a.text.trim().is_empty() {
                continue;
            }
            answered = true;
            let how = if a.confirmed {
                "confirmed"
            } else if a.prefilled {
                "pre-filled from instrumentation, not confirmed"
            } else {
                "not confirmed"
            };
            out.push_str(&format!("- **{}** {} _({how})_\n", q.text, a.text));
        }
    }
    if !answered {
        // Answers confirmed in an earlier session live only in the audit log.
        for a in mine.iter().filter(|a| a.action == "runbook_answer") {
            answered = true;
            out.push_str(&format!("- {} _(confirmed by {})_\n", a.detail, a.actor));
        }
    }
    if !answered {
        out.push_str("The runbook walkthrough was not used.\n");
    }

    out.push_str("\n## Notes\n\n");
    let notes: Vec<&&AuditLine> = mine
        .iter()
        .filter(|a| a.action == "note" && a.outcome == "requested")
        .collect();
    for n in &notes {
        out.push_str(&format!(
            "- {} {}: {}\n",
            n.at.format("%H:%M:%S"),
            n.actor,
            n.detail
        ));
    }
    if notes.is_empty() {
        out.push_str("No notes were added from the cockpit.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_audit_lines_are_counted_not_fatal() {
        let text = "{\"at\":\"2026-11-23T02:00:00Z\",\"actor\":\"ana\",\"action\":\"ack\",\"target\":\"x\",\"outcome\":\"requested\"}\n{\"at\":\"2026-11";
        let (lines, bad) = parse_audit(text);
        assert_eq!(lines.len(), 1);
        assert_eq!(bad, 1);
    }

    #[test]
    fn file_names_are_safe_whatever_the_id() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            file_name(&"../../etc/passwd\u{1b}".to_string(), at),
            "______etc_passwd_-20261123T020000Z.md"
        );
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
