//! The postmortem export: a responder's session on the drill, driven through `update`, with
//! the audit records it produced written as the audit thread writes them, rendered to
//! Markdown. The snapshot is the file a team would get.

use chrono::Duration;
use cockpit_testkit::common;
use common::{drill_state, select_where};
use oncall_cockpit::action::Action;
use oncall_cockpit::audit::AuditRecord;
use oncall_cockpit::backend::CommandOutcome;
use oncall_cockpit::domain::{IncidentType, SignalKind};
use oncall_cockpit::runbook::postmortem;
use oncall_cockpit::state::{update, Effect, State};

/// Runs an action, acknowledging every command it sends as the backend would, and keeps the
/// audit records in order.
fn act(s: &mut State, a: Action, log: &mut Vec<AuditRecord>) -> Vec<Effect> {
    let fx = common::evidence_written(s, a);
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
    // A settable lever on this feature is part of its story, and something to set back.
    log.push(AuditRecord::new(
        s.now,
        "bo",
        "token_budget",
        "support-bot budget segment free-tier → 50k",
        "succeeded",
        "",
        Some(98),
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
    // The lever went through, but no verdict says the signal came back before export.
    assert!(
        md.contains(
            "- Time to contain: not verified; the first lever, prompt_rollback support-bot \
             prompt → v12 by ana, succeeded 26m20s after opening, and the signal was not seen \
             back inside its pre-incident band before export."
        ),
        "{md}"
    );
    assert!(
        md.contains("- [ ] support-bot prompt → v12: fix what the rolled-back prompt broke"),
        "{md}"
    );
    assert!(
        md.contains(
            "- [ ] support-bot budget segment free-tier → 50k (token budget): set it back once \
             the cause is fixed"
        ),
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
        md.contains(
            "- Failing layer: prompt, from the last change before onset: −2m prompt support-bot →v13"
        ),
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

/// The first number in `text` after `after`, and how many decimals it was printed with.
fn number_after(text: &str, after: &str) -> (f64, usize) {
    let at = text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in:\n{text}"))
        + after.len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let value = digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {after:?}: {:?}", &text[at..]));
    let decimals = digits.split_once('.').map_or(0, |(_, d)| d.len());
    (value, decimals)
}

/// `printed` (a number printed with `decimals`) is `truth` to within its print precision.
fn same_as_printed(what: &str, (printed, decimals): (f64, usize), truth: f64) {
    let half = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-12;
    assert!(
        (printed - truth).abs() <= half,
        "{what}: the postmortem says {printed:.*}, the series says {truth}",
        decimals
    );
}

/// The drift incident's postmortem says one value per moment, and each is what the series on
/// screen says: the title and the "at detection" line give the 5-minute mean the detector
/// fired on, the latest evidence the 5-minute mean at export, and the table each moment's
/// point; a mean just over the line never prints equal to it.
#[test]
fn drift_postmortem_numbers_are_the_series_numbers() {
    let mut s = drill_state(30);
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CapabilityDrift));
    let inc = s.selected().expect("the drift incident").clone();
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("export: {fx:?}");
    };
    let md = postmortem::render(draft, &[], 0);

    // The series the screen shows, with each point's time as the engine gives it.
    let set = &s.signals.merged;
    let sig = set
        .signals
        .iter()
        .find(|g| g.feature == inc.feature.as_str() && g.kind == SignalKind::Drift)
        .expect("the feature's drift series");
    let end = set.at.expect("the series' time");
    let step = i64::from(sig.step_secs);
    let n = sig.points.len();
    let timed: Vec<(chrono::DateTime<chrono::Utc>, f64)> = sig
        .points
        .iter()
        .enumerate()
        .map(|(i, v)| (end - Duration::seconds((n - 1 - i) as i64 * step), *v))
        .collect();
    let cfg = oncall_cockpit::detect::builtin();
    let window = Duration::seconds(cfg.drift_window_secs as i64);
    let mean_to = |t: chrono::DateTime<chrono::Utc>| {
        let vals: Vec<f64> = timed
            .iter()
            .filter(|(at, v)| *at > t - window && *at <= t && v.is_finite())
            .map(|(_, v)| *v)
            .collect();
        assert!(!vals.is_empty(), "no points in the window to {t}");
        vals.iter().sum::<f64>() / vals.len() as f64
    };
    let detected = inc.triggered_at;
    let point_at_detection = timed
        .iter()
        .find(|(t, _)| *t == detected)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no point at {detected} in the series on screen"));
    let (mean_at_detection, mean_at_export) = (mean_to(detected), mean_to(end));
    let point_at_export = sig.last().expect("a point at export");
    assert!(
        mean_at_detection > cfg.drift_js && mean_at_export > cfg.drift_js,
        "the drill's drift is not firing: {mean_at_detection} {mean_at_export}"
    );

    // Detection: the title, and the evidence line for that moment, give the detector's mean.
    let title = md.lines().next().expect("a title");
    let in_title = number_after(title, "output drift JS ");
    same_as_printed("title", in_title, mean_at_detection);
    assert!(
        in_title.0 > cfg.drift_js,
        "the title reads as if the mean were not over the line: {title}"
    );
    let when = detected.format("%H:%M:%S").to_string();
    let detection_line = format!("- at detection ({when}): JS distance ");
    let at_detection = number_after(&md, &detection_line);
    assert_eq!(at_detection, in_title, "title and evidence disagree:\n{md}");
    let line = md
        .lines()
        .find(|l| l.starts_with(&detection_line))
        .expect("the detection line");
    assert!(line.contains("(mean of the last 5m)"), "{line}");

    // Export: the latest evidence gives the mean at export.
    let why = md
        .split("## Why it fired")
        .nth(1)
        .expect("why it fired")
        .to_string();
    let latest = number_after(&why, "\n- JS distance ");
    same_as_printed("latest evidence", latest, mean_at_export);

    // The table: each moment's point, labelled as a point.
    let row = md
        .lines()
        .find(|l| l.starts_with("| drift JS |"))
        .unwrap_or_else(|| panic!("no drift row:\n{md}"));
    assert!(
        md.contains("| signal | point at detection | point at export | threshold |"),
        "{md}"
    );
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    same_as_printed(
        "point at detection",
        number_after(cells[2], ""),
        point_at_detection,
    );
    same_as_printed(
        "point at export",
        number_after(cells[3], ""),
        point_at_export,
    );
}

/// The detector's verdict after a lever is the time to contain, with what it saw; a lever
/// judged not to contain leaves the next one as an action item.
#[test]
fn time_to_contain_is_the_verified_verdict_not_the_lever() {
    let mut s = drill_state(30);
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CapabilityDrift));
    let id = s.selected().map(|i| i.id.clone()).unwrap_or_default();
    let opened = s.selected().map(|i| i.triggered_at).unwrap_or(s.now);
    act(&mut s, Action::Rollback, &mut log);
    act(&mut s, Action::Select, &mut log);
    act(&mut s, Action::Confirm, &mut log);
    let verdict = |outcome: &str, detail: &str, at| {
        AuditRecord::new(
            at,
            "oncall-cockpit",
            "containment",
            &id,
            outcome,
            detail,
            None,
        )
    };
    log.push(verdict(
        "not_contained",
        "not contained after 20m — next: a faster or more conservative model variant (L)",
        opened + Duration::minutes(48),
    ));
    s.now = opened + Duration::minutes(49);
    let draft = |s: &mut State, log: &mut Vec<AuditRecord>| {
        let fx = act(s, Action::Export, log);
        let [Effect::Export(draft)] = fx.as_slice() else {
            panic!("{fx:?}");
        };
        let (lines, bad) = postmortem::parse_audit(&jsonl(log));
        postmortem::render(draft, &lines, bad)
    };
    let md = draft(&mut s, &mut log);
    assert!(
        md.contains("and the detector judged: not contained after 20m — next: a faster"),
        "{md}"
    );
    assert!(
        md.contains("- [ ] Not contained yet: not contained after 20m — next: a faster"),
        "{md}"
    );
    log.push(verdict(
        "contained",
        "contained ✓ — drift JS 0.061, inside the pre-incident band 24m after prompt rollback \
         (time to contain 52m)",
        opened + Duration::minutes(52),
    ));
    s.now = opened + Duration::minutes(55);
    let md = draft(&mut s, &mut log);
    assert!(
        md.contains(
            "- Time to contain: 52m00s from opening, verified by the detector: contained ✓ — \
             drift JS 0.061, inside the pre-incident band 24m after prompt rollback (time to \
             contain 52m) (lever: prompt_rollback support-bot prompt → v12, by ana)."
        ),
        "{md}"
    );
    assert!(!md.contains("Not contained yet"), "{md}");
    assert!(
        md.contains("| oncall-cockpit | containment "),
        "the verdicts are on the timeline: {md}"
    );
}

/// Roles and status updates come from the audit log, which outlives the session: the roles
/// whose recording succeeded (a handover replaces the earlier holder), and how many updates
/// went out.
#[test]
fn roles_and_status_updates_are_in_the_summary() {
    let mut s = drill_state(30);
    let mut log = Vec::new();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::GuardrailBypass));
    for line in [
        "role commander Jane Doe",
        "role scribe Bo",
        "role commander Ana Lima",
    ] {
        act(&mut s, Action::CommandLine, &mut log);
        type_text(&mut s, line);
        act(&mut s, Action::Submit, &mut log);
    }
    // A role whose recording failed was never held.
    act(&mut s, Action::CommandLine, &mut log);
    type_text(&mut s, "role comms Nobody");
    let fx = update(&mut s, Action::Submit);
    for e in fx {
        if let Effect::Audit(r) = e {
            log.push(r);
        }
    }
    act(&mut s, Action::StatusUpdate, &mut log);
    act(&mut s, Action::Submit, &mut log);
    let fx = act(&mut s, Action::Export, &mut log);
    let [Effect::Export(draft)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    let (audit, bad) = postmortem::parse_audit(&jsonl(&log));
    assert_eq!(bad, 0);
    let md = postmortem::render(draft, &audit, 0);
    assert!(
        md.contains("- Roles: commander Ana Lima, scribe Bo.\n"),
        "{md}\n{}",
        jsonl(&log)
    );
    assert!(
        md.contains("- Status updates sent from the cockpit: 1 (last at "),
        "{md}"
    );
}
