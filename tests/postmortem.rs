//! The postmortem export: a responder's session on the drill, driven through `update`, with
//! the audit records it produced written as the audit thread writes them, rendered to
//! Markdown. The snapshot is the file a team would get.

mod common;

use chrono::Duration;
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
    assert!(md.contains("prompt_rollback support-bot prompt → v12 succeeded"));
    assert!(md.contains("refund answers cite the old policy \\| since v13"));
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
