//! The postmortem export: a responder's session on the drill, driven through `update`, with
//! the audit records it produced written as the audit thread writes them, rendered to
//! Markdown. The snapshot is the file a team would get.

use chrono::Duration;
use cockpit_testkit::common;
use common::{drill_state, select_where};
use oncall_cockpit::action::Action;
use oncall_cockpit::audit::AuditRecord;
use oncall_cockpit::backend::CommandOutcome;
use oncall_cockpit::domain::IncidentType;
use oncall_cockpit::runbook::postmortem;
use oncall_cockpit::state::{update, Effect, State};

/// Runs an action, acknowledging every command it sends as the backend would, and keeps the
/// audit records in order.
fn act(s: &mut State, a: Action, log: &mut Vec<AuditRecord>) -> Vec<Effect> {
    let fx = update(s, a);
    let mut out = Vec::new();
    for e in fx {
        match e {
            Effect::Audit(r) => log.push(r),
            Effect::Send(req) => {
                let done = update(
                    s,
                    Action::CommandDone(CommandOutcome {
                        action_id: req.action_id,
                        result: Ok(format!("{} done", req.command.name())),
                    }),
                );
                for d in done {
                    if let Effect::Audit(r) = d {
                        log.push(r);
                    }
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn type_text(s: &mut State, text: &str) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for ch in text.chars() {
        update(
            s,
            Action::TextInput(KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE)),
        );
    }
}

fn jsonl(log: &[AuditRecord]) -> String {
    log.iter()
        .map(|r| serde_json::to_string(r).expect("record serialises") + "\n")
        .collect()
}

#[test]
fn export_tells_the_incident_from_detection_to_rollback() {
    let mut s = drill_state(30);
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CapabilityDrift));
    act(&mut s, Action::Ack, &mut log);
    s.now += Duration::minutes(2);
    act(&mut s, Action::Note, &mut log);
    type_text(&mut s, "refund answers cite the old policy | since v13");
    // A second line (ctrl-j): notes keep their lines, in the audit log and the postmortem.
    act(&mut s, Action::NewLine, &mut log);
    type_text(&mut s, "see ticket 42");
    act(&mut s, Action::Submit, &mut log);
    act(&mut s, Action::Runbook, &mut log);
    act(&mut s, Action::ConfirmAnswer, &mut log);
    act(&mut s, Action::Back, &mut log);
    s.now += Duration::minutes(1);
    act(&mut s, Action::Rollback, &mut log);
    act(&mut s, Action::Select, &mut log);
    act(&mut s, Action::Confirm, &mut log);
    // Someone else's lever on another feature is not this incident's story.
    log.push(AuditRecord::new(
        s.now,
        "bo",
        "kill_switch_engage",
        "triage-agent (whole feature)",
        "succeeded",
        "",
        Some(99),
    ));
    s.now += Duration::minutes(5);

    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("export asks the audit thread to write: {fx:?}");
    };
    let text = jsonl(&log) + "{\"at\":\"2026-11-23T02:3"; // a torn last line after a crash
    let (lines, unreadable) = postmortem::parse_audit(&text);
    let md = postmortem::render(draft, &lines, unreadable);

    assert!(
        md.contains("| ana | ack sim:"),
        "the ack is in the timeline: {md}"
    );
    assert!(
        md.contains("| ana | prompt_rollback support-bot prompt → v12: succeeded after <1s"),
        "request and outcome on one row: {md}"
    );
    // Each action once: its request and outcome are one row.
    assert_eq!(md.matches("| ana | ack sim:").count(), 1, "{md}");
    assert_eq!(md.matches("| ana | note sim:").count(), 1, "{md}");
    for section in [
        "## Summary",
        "## Impact",
        "## Root cause",
        "## Action items",
    ] {
        assert!(md.contains(section), "{section}: {md}");
    }
    assert!(
        md.contains("- Time to acknowledge: 23m20s (target 60 min)"),
        "{md}"
    );
    assert!(
        md.contains("- Time to contain: 26m20s, by support-bot prompt → v12 (ana)."),
        "{md}"
    );
    assert!(
        md.contains("- [ ] support-bot prompt → v12: fix what the rolled-back prompt broke"),
        "{md}"
    );
    assert!(md.contains("refund answers cite the old policy \\| since v13"));
    assert!(
        md.contains(": refund answers cite the old policy | since v13\n  see ticket 42\n"),
        "a multi-line note keeps its lines: {md}"
    );
    assert!(
        !md.contains("triage-agent"),
        "other features' levers stay out"
    );
    assert!(md.contains("1 audit log line(s) could not be read"));
    assert!(
        md.contains("_(confirmed)_"),
        "runbook answers with their status"
    );
    insta::assert_snapshot!("postmortem_capability_drift", md);
}

/// The eval regression of the drill: the draft names the probable cause (the v13 deploy just
/// before detection) and the last-known-good, though the walkthrough was never opened, and a
/// refusal drop is judged against the band's floor, not its ceiling.
#[test]
fn unopened_runbook_still_gives_the_cause_and_the_band_edge_is_the_one_crossed() {
    let mut s = drill_state(30);
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::EvalRegression));
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("export: {fx:?}");
    };
    let md = postmortem::render(draft, &[], 0);
    assert!(
        md.contains("- Failing layer: prompt: v13 deployed"),
        "the deploy before detection is the probable cause: {md}"
    );
    assert!(
        md.contains(
            "- Last-known-good prompt: v12 (running v13) _(from instrumentation, not confirmed)_"
        ),
        "{md}"
    );
    assert!(md.contains("The runbook walkthrough was not used."), "{md}");

    assert!(select_where(&mut s, |i| i.kind == IncidentType::GuardrailBypass));
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("export: {fx:?}");
    };
    let md = postmortem::render(draft, &[], 0);
    let refusals = md
        .lines()
        .find(|l| l.starts_with("| refusals |"))
        .unwrap_or_else(|| panic!("no refusals row: {md}"));
    assert!(
        refusals.contains("| ≥ ") && refusals.contains("band floor"),
        "refusals that fell are judged by the floor: {refusals}"
    );
}

/// During a drill the audit log's times are real and the incident's are simulated: the
/// draft says so and keeps both, ordered on the incident's clock.
#[test]
fn drill_times_are_marked_and_real_times_kept() {
    let mut s = drill_state(30);
    s.speed = 60.0;
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CapabilityDrift));
    act(&mut s, Action::Ack, &mut log);
    let real = chrono::DateTime::parse_from_rfc3339("2027-01-05T09:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    for (n, r) in log.iter_mut().enumerate() {
        // As the app stamps them: real time, simulated time beside it.
        let sim = r.at;
        r.stamp(real + Duration::milliseconds(300 * n as i64), Some(sim));
    }
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("export: {fx:?}");
    };
    let (lines, _) = postmortem::parse_audit(&jsonl(&log));
    let md = postmortem::render(draft, &lines, 0);
    assert!(md.contains("**Drill at ×60**"), "{md}");
    assert!(
        md.contains("| time (drill) | real time | who | what |"),
        "{md}"
    );
    assert!(
        md.contains("| 02:30:00 | 09:00:00 | ana | ack sim:"),
        "drill time first, real time beside it: {md}"
    );
}

#[test]
fn export_works_read_only_and_says_when_nothing_was_done() {
    let mut s = drill_state(30);
    s.read_only = true;
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::GuardrailBypass));
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("read-only may still export: {fx:?}");
    };
    let md = postmortem::render(draft, &[], 0);
    assert!(md.contains("The runbook walkthrough was not used."));
    assert!(md.contains("No notes were added from the cockpit."));
    assert!(md.contains("## Signals at detection"));
    assert!(
        md.contains("| refusals | "),
        "the bypass's own signal is in the table: {md}"
    );
}

/// Ids are shown verbatim on screen (they are keys), and audit lines are read back from a file
/// anyone could have appended to: neither may put a control sequence into the postmortem,
/// which is read with `cat` as often as in an editor.
#[test]
fn hostile_ids_and_audit_lines_render_inert() {
    let mut s = drill_state(30);
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CapabilityDrift));
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("export: {fx:?}");
    };
    let mut draft = draft.clone();
    draft.incident.id = "sim:INC-3\u{1b}]52;c;ZXZpbA==\u{7}".into();
    let id = serde_json::to_string(&draft.incident.id).expect("json");
    let line = format!(
        "{{\"at\":\"2026-11-23T02:31:00Z\",\"actor\":\"mallory\\u001b]0;pwned\\u0007\",\
         \"action\":\"note\",\"target\":{id},\"outcome\":\"requested\",\
         \"detail\":\"looks fine\\u001b[2J\\u009b31m\\u202e\"}}\n"
    );
    let (lines, bad) = postmortem::parse_audit(&line);
    assert_eq!((lines.len(), bad), (1, 0), "{line}");
    let md = postmortem::render(&draft, &lines, 0);
    assert!(
        !md.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
        "a control character reached the postmortem: {md:?}"
    );
    assert!(md.contains("mallory: looks fine"), "{md}");
}
