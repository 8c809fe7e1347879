//! The incident's story as a Markdown postmortem draft: a summary with time to acknowledge
//! and time to contain, the impact and probable cause as far as the instrumentation knows
//! them, what fired and on which numbers, what the responders did (from the audit log, which
//! outlives the session; each action once), their runbook answers and notes, and the
//! follow-ups the levers left behind. Facts only; the analysis is for people to write.
//!
//! The draft is built from the state (pure); `render` adds the audit log's records, read by
//! whoever writes the file, in order behind every record queued before the export.
//!
//! Everything in it went through the screen's sanitiser: a postmortem is read with `cat` too.
//! Times are cockpit time (the incident's own clock); during a drill that is simulated time,
//! and each action also shows the real time it happened.

use super::RunbookSession;
use crate::domain::command::FlagOp;
use crate::domain::text::{sanitize, sanitize_lines};
use crate::domain::{
    Bounds, FeatureInfo, Incident, IncidentId, IncidentType, Signal, SignalKind, SignalSet,
};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// One signal's value at the incident's detection, and now.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalRow {
    pub kind: SignalKind,
    pub at_detection: Option<f64>,
    pub now: Option<f64>,
    /// The band the detector judged the signal against.
    pub bounds: Option<Bounds>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub incident: Incident,
    pub info: Option<FeatureInfo>,
    pub signals: Vec<SignalRow>,
    /// The walkthrough as far as it went, or its pre-filled answers when it was never opened:
    /// what the instrumentation says about the cause belongs in the draft either way.
    pub runbook: Option<RunbookSession>,
    /// Whether `runbook` is the responder's (false: pre-filled only, never opened).
    pub runbook_used: bool,
    /// Ids of actions this session sent about the incident: pages carry a dedup key, not the id.
    pub related_targets: Vec<String>,
    pub exported_by: String,
    /// Cockpit time: simulated during a drill.
    pub exported_at: DateTime<Utc>,
    /// Real time, stamped by the app as the export leaves `update`.
    pub exported_at_real: Option<DateTime<Utc>>,
    /// Drill speed (1: real time).
    pub speed: f64,
    /// The worst samples of the incident's window and of the baseline, as fetched (none when
    /// nobody read them and no lever was pulled).
    pub samples: Vec<(crate::domain::sample::Window, crate::domain::sample::Sample)>,
}

/// The series point covering `at`, when the on-screen window still reaches back that far.
/// `poll` is where the series ends unless it says otherwise (an engine's grid may end
/// before the poll).
fn value_at(sig: &Signal, poll: DateTime<Utc>, at: DateTime<Utc>) -> Option<f64> {
    let step = i64::from(sig.step_secs.max(1));
    let back = (sig.end.unwrap_or(poll) - at).num_seconds();
    if back < 0 {
        return None;
    }
    let idx = sig.points.len().checked_sub(1 + (back / step) as usize)?;
    sig.points.get(idx).copied().filter(|v| v.is_finite())
}

/// Each signal of the incident's feature at detection (read back from the series, so nothing
/// is kept per incident) and now.
pub fn signal_rows(inc: &Incident, now: &SignalSet) -> Vec<SignalRow> {
    let end = now.at.unwrap_or(inc.triggered_at);
    SignalKind::ALL
        .iter()
        .filter_map(|kind| {
            let sig = now
                .signals
                .iter()
                .find(|s| s.feature == inc.feature.as_str() && s.kind == *kind)?;
            Some(SignalRow {
                kind: *kind,
                at_detection: value_at(sig, end, inc.triggered_at),
                now: sig.last(),
                bounds: sig.bounds,
            })
        })
        .collect()
}

/// An audit log line, as far as the postmortem needs it. Lines that do not parse are
/// counted and reported, never fatal: a torn last line after a crash must not block export.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AuditLine {
    /// Real time.
    pub at: DateTime<Utc>,
    /// Simulated time, during a drill.
    #[serde(default)]
    pub sim_at: Option<DateTime<Utc>>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub action_id: Option<u64>,
}

impl AuditLine {
    /// When it happened on the incident's clock.
    fn cockpit_at(&self) -> DateTime<Utc> {
        self.sim_at.unwrap_or(self.at)
    }
}

/// Who held each role, from the audit log: a `role` request ("commander: Jane Doe") whose
/// outcome succeeded, the latest per role. Action ids restart each session, so a request is
/// paired with the outcome that follows it.
fn roles(mine: &[&AuditLine]) -> Vec<(String, String)> {
    let mut asked: std::collections::HashMap<u64, &str> = std::collections::HashMap::new();
    let mut held: Vec<(String, String)> = Vec::new();
    for a in mine.iter().filter(|a| a.action == "role") {
        let Some(id) = a.action_id else { continue };
        match a.outcome.as_str() {
            "requested" => {
                asked.insert(id, a.detail.as_str());
            }
            "succeeded" => {
                let Some((role, name)) = asked.remove(&id).and_then(|d| d.split_once(": ")) else {
                    continue;
                };
                held.retain(|(r, _)| r != role);
                held.push((role.to_string(), name.to_string()));
            }
            _ => {}
        }
    }
    held.sort();
    held
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
    let on_feature = match FlagOp::from_audit(&a.action, &a.target) {
        Some(op) => op.feature() == feature,
        None => a.action == "change_event" && a.target.split_whitespace().next() == Some(feature),
    };
    let window_start = inc.triggered_at - Duration::minutes(30);
    let at = a.cockpit_at();
    on_feature && at >= window_start && at <= d.exported_at
}

/// Levers that contain an incident once they succeed (not a release or a revert).
fn is_containment(a: &AuditLine) -> bool {
    a.outcome == "succeeded"
        && FlagOp::from_audit(&a.action, &a.target)
            .as_ref()
            .and_then(FlagOp::lever)
            .is_some()
}

/// Markdown cells cannot hold a pipe or a line break; nothing in them may drive a terminal.
fn cell(s: &str) -> String {
    sanitize(s).replace('|', "\\|")
}

/// "23m20s", "1h05m", "45s".
fn span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The threshold as the detector judged the signal: a ceiling, a floor, or for a band the edge
/// this incident crossed (refusals that fell are judged by the band's floor).
fn threshold_text(r: &SignalRow, incident: IncidentType) -> String {
    let f = |v: f64| r.kind.format(v);
    let b = r.bounds.unwrap_or_default();
    match (b.low, b.high) {
        (None, None) => "—".into(),
        (Some(l), Some(h)) => match incident {
            IncidentType::GuardrailBypass => format!("≥ {} (band floor; ceiling {})", f(l), f(h)),
            IncidentType::OverRefusal => format!("≤ {} (band ceiling; floor {})", f(h), f(l)),
            _ => format!("{}–{}", f(l), f(h)),
        },
        (None, Some(h)) => format!("≤ {}", f(h)),
        (Some(l), None) => format!("≥ {}", f(l)),
    }
}

fn fmt(kind: SignalKind, v: Option<f64>) -> String {
    v.map(|v| kind.format(v)).unwrap_or_else(|| "—".into())
}

pub fn file_name(id: &IncidentId, at: DateTime<Utc>) -> String {
    format!(
        "{}-{}.md",
        crate::private::file_component(id),
        at.format("%Y%m%dT%H%M%SZ")
    )
}

/// One action as the timeline tells it: its request and its outcome on one row.
struct ActionRow<'a> {
    requested: Option<&'a AuditLine>,
    outcome: Option<&'a AuditLine>,
}

impl ActionRow<'_> {
    fn first(&self) -> &AuditLine {
        self.requested.or(self.outcome).expect("a row has a record")
    }
}

/// Pairs each request with its outcome by action id; records without one stand alone.
fn action_rows<'a>(mine: &[&'a AuditLine]) -> Vec<ActionRow<'a>> {
    let mut rows: Vec<ActionRow<'a>> = Vec::new();
    for a in mine {
        let pair = a.action_id.and_then(|id| {
            rows.iter_mut()
                .find(|r| r.first().action_id == Some(id) && r.first().action == a.action)
        });
        match (pair, a.outcome.as_str()) {
            (Some(row), "requested") if row.requested.is_none() => row.requested = Some(a),
            (Some(row), _) if row.outcome.is_none() && a.outcome != "requested" => {
                row.outcome = Some(a)
            }
            (_, "requested") => rows.push(ActionRow {
                requested: Some(a),
                outcome: None,
            }),
            _ => rows.push(ActionRow {
                requested: None,
                outcome: Some(a),
            }),
        }
    }
    rows
}

/// What the model said, worst first, in the incident's window and before it.
fn samples_section(
    samples: &[(crate::domain::sample::Window, crate::domain::sample::Sample)],
) -> String {
    use crate::domain::sample::Window;
    let mut out = String::from("\n## What the model said\n\n");
    if samples.is_empty() {
        out.push_str("No samples were read for this incident (samples view `o`).\n");
        return out;
    }
    for (window, title) in [
        (Window::Incident, "During the incident"),
        (Window::Baseline, "Before it (baseline)"),
    ] {
        out.push_str(&format!("{title}, worst eval first:\n\n"));
        let mut any = false;
        for (_, s) in samples.iter().filter(|(w, _)| *w == window) {
            out.push_str(&s.quote());
            any = true;
        }
        if !any {
            out.push_str("- none fetched\n");
        }
        out.push('\n');
    }
    out
}

pub fn render(d: &Draft, audit: &[AuditLine], unreadable: usize) -> String {
    let inc = &d.incident;
    let id = sanitize(&inc.id);
    let ts = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let hms = |t: DateTime<Utc>| t.format("%H:%M:%S").to_string();
    let mine: Vec<&AuditLine> = audit.iter().filter(|a| relevant(d, a)).collect();
    let drill = d.speed != 1.0 || mine.iter().any(|a| a.sim_at.is_some());
    let mut out = String::new();
    out.push_str(&format!("# Postmortem draft: {}\n\n", inc.title));
    let real = d.exported_at_real.unwrap_or(d.exported_at);
    out.push_str(&format!(
        "Exported by {} from oncall-cockpit at {}. Times are UTC.\n\n",
        cell(&d.exported_by),
        ts(real)
    ));
    if drill {
        out.push_str(&format!(
            "**Drill at ×{}**: the incident's times are simulated time (the drill's clock, {} \
             at export); each action also gives the real time it happened.\n\n",
            d.speed,
            ts(d.exported_at)
        ));
    }

    // The facts the summary and the follow-ups are made of.
    let ack = inc.acked_at.or_else(|| {
        mine.iter()
            .find(|a| a.action == "ack" && a.outcome == "succeeded")
            .map(|a| a.cockpit_at())
    });
    let contained = mine.iter().find(|a| is_containment(a));
    // The detector's verdict after a lever (state/containment.rs): the signal back inside
    // its pre-incident band, or still out at the deadline.
    let verified = mine
        .iter()
        .find(|a| a.action == "containment" && a.outcome == "contained");
    let refuted = mine
        .iter()
        .rev()
        .find(|a| a.action == "containment" && a.outcome == "not_contained");
    let resolved = mine
        .iter()
        .find(|a| a.action == "resolve" && a.outcome == "succeeded")
        .map(|a| a.cockpit_at());
    let end = verified
        .or(contained)
        .map(|a| a.cockpit_at())
        .or(resolved)
        .unwrap_or(d.exported_at);
    let answers: Vec<(&super::Question, &super::Answer)> = d
        .runbook
        .iter()
        .flat_map(|rb| rb.questions.iter().zip(&rb.answers))
        .filter(|(_, a)| !a.text.trim().is_empty())
        .collect();
    let answer = |id: &str| answers.iter().find(|(q, _)| q.id == id).map(|(_, a)| *a);

    out.push_str("## Summary\n\n");
    out.push_str(&format!(
        "- {} {} on {}, opened {} (source {}).\n",
        inc.sev,
        inc.kind.label(),
        cell(inc.feature.as_str()),
        hms(inc.triggered_at),
        cell(&inc.source)
    ));
    let target = inc.sev.response_time().num_minutes();
    match ack {
        Some(at) => out.push_str(&format!(
            "- Time to acknowledge: {} (target {target} min){}.\n",
            span(at - inc.triggered_at),
            inc.acked_by
                .as_ref()
                .map(|b| format!(", by {}", cell(b.as_str())))
                .unwrap_or_default()
        )),
        None => out.push_str(&format!(
            "- Time to acknowledge: not acknowledged at export (target {target} min).\n"
        )),
    }
    match (verified, contained) {
        (Some(v), lever) => out.push_str(&format!(
            "- Time to contain: {} from opening, verified by the detector: {}{}.\n",
            span(v.cockpit_at() - inc.triggered_at),
            cell(&v.detail),
            lever
                .map(|a| format!(
                    " (lever: {} {}, by {})",
                    a.action,
                    cell(&a.target),
                    cell(&a.actor)
                ))
                .unwrap_or_default()
        )),
        (None, Some(a)) => {
            out.push_str(&format!(
            "- Time to contain: not verified; the first lever, {} {} by {}, succeeded {} after \
             opening{}.\n",
            a.action,
            cell(&a.target),
            cell(&a.actor),
            span(a.cockpit_at() - inc.triggered_at),
            refuted
                .map(|r| format!(", and the detector judged: {}", cell(&r.detail)))
                .unwrap_or_else(|| ", and the signal was not seen back inside its pre-incident \
                                    band before export"
                    .into())
        ))
        }
        (None, None) => out.push_str(
            "- Time to contain: no containment lever (prompt rollback, kill switch) succeeded \
             from the cockpit.\n",
        ),
    }
    out.push_str(&format!(
        "- At export: {}, {}.\n",
        inc.status.short(),
        if inc.firing {
            "still firing"
        } else {
            "signal recovered"
        }
    ));

    let roles = roles(&mine);
    if !roles.is_empty() {
        let roles: Vec<String> = roles
            .iter()
            .map(|(role, name)| format!("{role} {}", cell(name)))
            .collect();
        out.push_str(&format!("- Roles: {}.\n", roles.join(", ")));
    }
    let updates: Vec<&&AuditLine> = mine
        .iter()
        .filter(|a| a.action == "status_update" && a.outcome == "succeeded")
        .collect();
    if let Some(last) = updates.last() {
        out.push_str(&format!(
            "- Status updates sent from the cockpit: {} (last at {}).\n",
            updates.len(),
            hms(last.cockpit_at())
        ));
    }

    out.push_str("\n## Impact\n\n");
    out.push_str(&format!(
        "- {} for {} (opened {} to {}).\n",
        cell(inc.feature.as_str()),
        span(end - inc.triggered_at),
        hms(inc.triggered_at),
        if contained.is_some() {
            "containment"
        } else if resolved.is_some() {
            "resolution"
        } else {
            "export"
        }
    ));
    if let Some(info) = d.info.as_ref().filter(|i| !i.killed.is_empty()) {
        out.push_str(&format!(
            "- Served the fallback instead of the model: {} (kill switch).\n",
            cell(&info.killed.join(", "))
        ));
    }
    out.push_str(
        "- Not known to the cockpit: how many users or requests were affected, and what they \
         saw. Add it before the review.\n",
    );

    out.push_str("\n| | |\n|---|---|\n");
    let mut row = |k: &str, v: String| out.push_str(&format!("| {k} | {} |\n", cell(&v)));
    row("Incident", id.clone());
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
                "{} by {by} ({} after opening)",
                ts(at),
                span(at - inc.triggered_at)
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
    if !inc.evidence.is_empty() {
        // The evidence follows the signal while the incident fires: it is the export's
        // moment, and the detection's own reading is the line that says "at detection".
        out.push_str(&format!(
            "As last reported before export ({}); the reading the incident opened on, the \
             number in its title, is the line \"at detection\" when it has moved since.\n\n",
            hms(d.exported_at)
        ));
    }
    for e in &inc.evidence {
        out.push_str(&format!("- {}\n", cell(e.as_str())));
    }
    if inc.evidence.is_empty() {
        out.push_str("- The source gave no evidence beyond the title.\n");
    }

    out.push_str("\n## Signals at detection\n\n");
    if d.signals.is_empty() {
        out.push_str("No metrics for this feature were on screen.\n");
    } else {
        out.push_str(
            "Each signal's point (one poll's value) when the incident opened and at export, \
             read back from the series on screen; \"—\" when the window no longer reaches the \
             detection. A detector that judges a window (a mean, a hold) gives its own reading \
             under Why it fired.\n\n",
        );
        out.push_str(
            "| signal | point at detection | point at export | threshold |\n|---|---|---|---|\n",
        );
        for s in &d.signals {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                s.kind.label(),
                fmt(s.kind, s.at_detection),
                fmt(s.kind, s.now),
                threshold_text(s, inc.kind)
            ));
        }
    }

    out.push_str("\n## Root cause\n\n");
    let mut cause = false;
    for (qid, what) in [
        ("layer", "Failing layer"),
        ("last_known_good", "Last-known-good prompt"),
        ("model_version", "Model"),
        ("drift_categories", "Output categories that moved"),
        ("cost_driver", "Cost driver"),
    ] {
        if let Some(a) = answer(qid) {
            cause = true;
            let how = if a.confirmed {
                "confirmed by the responder"
            } else {
                "from instrumentation, not confirmed"
            };
            out.push_str(&format!("- {what}: {} _({how})_\n", cell(&a.text)));
        }
    }
    if !cause {
        out.push_str("- The instrumentation names no probable cause.\n");
    }
    out.push_str(
        "- Why it happened and why it was not caught before production: for the team to write.\n",
    );

    let rows = action_rows(&mine);
    // The source's own record of an action the cockpit took says what the outcome row says.
    let told: Vec<String> = rows
        .iter()
        .filter_map(|r| r.outcome.map(|o| sanitize(&o.detail).to_lowercase()))
        .filter(|t| !t.is_empty())
        .collect();
    out.push_str(&samples_section(&d.samples));
    out.push_str("\n## Timeline\n\n");
    if drill {
        out.push_str("| time (drill) | real time | who | what |\n|---|---|---|---|\n");
    } else {
        out.push_str("| time | who | what |\n|---|---|---|\n");
    }
    // (cockpit time, real time for actions, who, what)
    type Event = (DateTime<Utc>, Option<DateTime<Utc>>, String, String);
    let mut events: Vec<Event> = vec![(
        inc.triggered_at,
        None,
        inc.source.clone(),
        format!("opened: {}", inc.title),
    )];
    for t in &inc.timeline {
        if told.contains(&t.text.as_str().to_lowercase()) {
            continue;
        }
        events.push((t.at, None, inc.source.clone(), t.text.to_string()));
    }
    for r in &rows {
        let first = r.first();
        // The request and its outcome on one row: the gap is how long the backend took, and
        // a failure followed by a retry is its own row.
        let mut what = format!("{} {}", first.action, first.target);
        match (r.requested, r.outcome) {
            (Some(q), Some(o)) => {
                let took = o.at - q.at;
                let took = if took < Duration::seconds(1) {
                    "<1s".to_string()
                } else {
                    span(took)
                };
                what.push_str(&format!(": {} after {took}", o.outcome));
                if !q.detail.is_empty() {
                    what.push_str(&format!(" — {}", q.detail));
                }
                if !o.detail.is_empty() {
                    what.push_str(&format!(" — {}", o.detail));
                }
            }
            (Some(q), None) => {
                what.push_str(": requested, no outcome recorded");
                if !q.detail.is_empty() {
                    what.push_str(&format!(" — {}", q.detail));
                }
            }
            (None, Some(o)) => {
                what.push_str(&format!(" {}", o.outcome));
                if !o.detail.is_empty() {
                    what.push_str(&format!(": {}", o.detail));
                }
            }
            (None, None) => {}
        }
        events.push((
            first.cockpit_at(),
            Some(first.at),
            first.actor.clone(),
            what,
        ));
    }
    events.sort_by_key(|e| e.0);
    for (at, real, who, what) in &events {
        if drill {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                hms(*at),
                real.map(hms).unwrap_or_default(),
                cell(who),
                cell(what)
            ));
        } else {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                hms(*at),
                cell(who),
                cell(what)
            ));
        }
    }
    if unreadable > 0 {
        out.push_str(&format!(
            "\n{unreadable} audit log line(s) could not be read and are not in this timeline.\n"
        ));
    }

    out.push_str("\n## Runbook answers\n\n");
    let mut answered = false;
    if d.runbook_used {
        for (q, a) in &answers {
            answered = true;
            let how = if a.confirmed {
                "confirmed"
            } else if a.prefilled {
                "pre-filled from instrumentation, not confirmed"
            } else {
                "not confirmed"
            };
            out.push_str(&format!("- **{}** {} _({how})_\n", q.text, cell(&a.text)));
        }
    }
    if !answered {
        // Answers confirmed in an earlier session live only in the audit log.
        for a in mine.iter().filter(|a| a.action == "runbook_answer") {
            answered = true;
            out.push_str(&format!(
                "- {} _(confirmed by {})_\n",
                cell(&a.detail),
                cell(&a.actor)
            ));
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
        // A note keeps its lines, indented under its bullet.
        let text = sanitize_lines(&n.detail);
        let mut lines = text.lines();
        out.push_str(&format!(
            "- {} {}: {}\n",
            hms(n.cockpit_at()),
            cell(&n.actor),
            lines.next().unwrap_or("")
        ));
        for l in lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    if notes.is_empty() {
        out.push_str("No notes were added from the cockpit.\n");
    }

    out.push_str("\n## Action items\n\n");
    for item in follow_ups(d, &mine, ack.is_some()) {
        out.push_str(&format!("- [ ] {}\n", cell(&item)));
    }
    out.push_str("- [ ] Prevent a recurrence: for the team to decide.\n");
    out
}

/// What the levers and the walkthrough left to do.
fn follow_ups(d: &Draft, mine: &[&AuditLine], acked: bool) -> Vec<String> {
    let inc = &d.incident;
    let mut items = Vec::new();
    for a in mine.iter().filter(|a| is_containment(a)) {
        items.push(match a.action.as_str() {
            "prompt_rollback" => format!(
                "{}: fix what the rolled-back prompt broke before deploying it again.",
                a.target
            ),
            "kill_switch_engage" => format!(
                "Kill switch {}: release it once the cause is fixed (users get the fallback \
                 until then).",
                a.target
            ),
            _ => format!(
                "{} ({}): set it back once the cause is fixed (u in the levers panel, L).",
                a.target,
                a.action.replace('_', " ")
            ),
        });
    }
    let verified = mine
        .iter()
        .any(|a| a.action == "containment" && a.outcome == "contained");
    if let Some(r) = mine
        .iter()
        .rev()
        .find(|a| a.action == "containment" && a.outcome == "not_contained")
        .filter(|_| !verified)
    {
        items.push(format!("Not contained yet: {}", r.detail));
    }
    if let Some(rb) = d.runbook.as_ref().filter(|_| d.runbook_used) {
        let open = rb.answers.iter().filter(|a| !a.confirmed).count();
        if open > 0 {
            items.push(format!(
                "Confirm or correct the {open} runbook answer(s) left unconfirmed."
            ));
        }
    }
    if !acked {
        items.push("Find out why the incident was not acknowledged.".into());
    }
    if inc.is_open() {
        items.push(format!(
            "Resolve {} once the signal stays within its threshold.",
            inc.id
        ));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_at_detection_is_read_on_the_signals_own_grid() {
        use crate::domain::SignalKind;
        use chrono::TimeZone;
        let poll = Utc.timestamp_opt(1_800_000_083, 0).single().expect("valid");
        let end = Utc.timestamp_opt(1_800_000_000, 0).single().expect("valid");
        // Slots at end-120, end-60, end; the engine's grid ends 83 s before the poll.
        let sig = Signal::new("f", SignalKind::CostPerMin, 60, vec![1.0, 2.0, 3.0]).ending_at(end);
        assert_eq!(value_at(&sig, poll, end - Duration::seconds(60)), Some(2.0));
        assert_eq!(value_at(&sig, poll, end), Some(3.0));
        // Without an end of its own the series ends at the poll.
        let sig = Signal::new("f", SignalKind::CostPerMin, 60, vec![1.0, 2.0, 3.0]);
        assert_eq!(
            value_at(&sig, poll, poll - Duration::seconds(60)),
            Some(2.0)
        );
    }

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
