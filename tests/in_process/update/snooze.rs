//! Snooze and reassign through the pure update: the chooser, its one confirmation and the
//! command it sends; `:snooze 1h` and `:reassign NAME`; the marks as one set; read-only mode
//! and sources that cannot do either, each saying why.

use super::*;
use oncall_cockpit::config::alerts::{Owner, Shift};
use oncall_cockpit::domain::command::SnoozeFor;
use oncall_cockpit::domain::oncall::{OnCall, OnCallLevel, OnCallUser};
use oncall_cockpit::domain::responders::ResponderTarget;
use oncall_cockpit::domain::source::Registration;

/// Moves the first `n` listed incidents to a PagerDuty source, acknowledged, and returns
/// their ids; the cursor stays on the first.
fn on_pagerduty(s: &mut State, n: usize) -> Vec<String> {
    update(s, Action::Top);
    let ids: Vec<String> = s
        .incidents
        .shown
        .iter()
        .take(n)
        .map(|&i| s.incidents.all[i].id.clone())
        .collect();
    for inc in s.incidents.all.iter_mut().filter(|i| ids.contains(&i.id)) {
        inc.source = "pagerduty".into();
        inc.status = Status::Acknowledged;
        inc.acked_by = Some(SafeText::new("Ana Lima"));
    }
    common::select_where(s, |i| i.id == ids[0]);
    ids
}

fn picker(s: &State) -> Vec<(String, String)> {
    match &s.overlay {
        Overlay::Picker(p) => p
            .items
            .iter()
            .map(|i| (i.label.clone(), i.detail.clone()))
            .collect(),
        other => panic!("expected a chooser, got {other:?} ({})", flash(s)),
    }
}

fn confirm(s: &State) -> oncall_cockpit::state::Confirm {
    match &s.overlay {
        Overlay::Confirm(c) => (**c).clone(),
        other => panic!("expected a confirmation, got {other:?} ({})", flash(s)),
    }
}

fn command(s: &mut State, line: &str) -> Vec<Effect> {
    update(s, Action::CommandLine);
    type_text(s, line);
    update(s, Action::Submit)
}

fn ops(effects: &[Effect]) -> Vec<(String, IncidentOp)> {
    sent(effects)
        .into_iter()
        .filter_map(|c| match c {
            Command::Incident { id, op, .. } => Some((id, op)),
            _ => None,
        })
        .collect()
}

fn snooze(text: &str) -> IncidentOp {
    IncidentOp::Snooze(SnoozeFor::parse(text).expect("duration"))
}

#[test]
fn the_snooze_chooser_confirms_then_sends_the_chosen_duration_and_a_failure_can_be_retried() {
    let mut s = state();
    let ids = on_pagerduty(&mut s, 1);
    let fx = update(&mut s, Action::Snooze);
    assert!(sent(&fx).is_empty());
    let items = picker(&s);
    let labels: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
    assert_eq!(labels, ["30m", "1h", "2h", "4h"]);
    let wakes = (s.now + chrono::Duration::hours(1))
        .format("%H:%M")
        .to_string();
    assert_eq!(items[1].1, format!("notifies again at {wakes} UTC"));
    update(&mut s, Action::Down);
    let fx = update(&mut s, Action::Select);
    assert!(sent(&fx).is_empty(), "chosen, not yet confirmed");
    let c = confirm(&s);
    assert_eq!(c.title, format!("Snooze {} for 1h?", ids[0]));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains(&format!("Quiet until {wakes} UTC; then TRIG again"))),
        "{:?}",
        c.warnings
    );
    assert!(!c.warnings.iter().any(|w| w.contains("ACKNOWLEDGES")));
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(ops(&fx), [(ids[0].clone(), snooze("1h"))]);
    assert_eq!(
        audited(&fx),
        [("snooze".to_string(), "requested".to_string())]
    );

    let action_id = s.actions.tracked.last().map(|a| a.id).expect("tracked");
    let fx = update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id,
            result: Err("HTTP 500: Internal Server Error".into()),
        }),
    );
    assert_eq!(audited(&fx), [("snooze".to_string(), "failed".to_string())]);
    assert!(flash(&s).contains("HTTP 500"), "{}", flash(&s));
    let fx = update(&mut s, Action::Retry);
    assert_eq!(ops(&fx), [(ids[0].clone(), snooze("1h"))]);
}

#[test]
fn a_triggered_incident_is_said_to_be_acknowledged_first_and_the_command_line_takes_a_duration() {
    let mut s = state();
    let ids = on_pagerduty(&mut s, 1);
    if let Some(inc) = s.incidents.all.iter_mut().find(|i| i.id == ids[0]) {
        inc.status = Status::Triggered;
        inc.acked_by = None;
    }
    command(&mut s, ":snooze 1h30m");
    let c = confirm(&s);
    assert_eq!(c.title, format!("Snooze {} for 1h30m?", ids[0]));
    assert!(!c.danger, "a snooze undoes nothing: not drawn as dangerous");
    assert!(
        c.warnings.iter().any(|w| w
            == "It is TRIG: y ACKNOWLEDGES it as ana first (only acknowledged incidents snooze)."),
        "{:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(ops(&fx), [(ids[0].clone(), snooze("1h30m"))]);

    for bad in [":snooze 3d", ":snooze 25h"] {
        let fx = command(&mut s, bad);
        assert!(sent(&fx).is_empty());
        assert!(matches!(s.overlay, Overlay::None));
        assert!(flash(&s).contains("snooze"), "{bad}: {}", flash(&s));
    }
}

#[test]
fn reassign_offers_who_is_on_call_the_rota_and_the_layer_owners() {
    let mut s = state();
    let ids = on_pagerduty(&mut s, 1);
    let now = s.now;
    if let Some(inc) = s.incidents.all.iter_mut().find(|i| i.id == ids[0]) {
        inc.assignees = vec![SafeText::new("Ana Lima")];
        inc.on_call = Some(OnCall {
            policy: SafeText::new("AI on-call"),
            levels: vec![OnCallLevel {
                level: 2,
                names: vec![SafeText::new("Jane Doe (ML)")],
                more: 0,
                users: vec![OnCallUser {
                    name: SafeText::new("Jane Doe"),
                    id: "PJANE01".into(),
                }],
            }],
            read_at: Some(now),
            error: None,
        });
    }
    s.alerts.rota.push(Shift {
        level: 1,
        name: "Bo Jensen".into(),
        from: None,
        until: None,
        sources: vec!["pagerduty".into()],
    });
    s.alerts.layers.data = Some(Owner {
        name: "Priya".into(),
        pagerduty: Some(ResponderTarget::User("PPRIYA1".into())),
    });
    // Jane owns a layer too: offered once, with the id the on-call list gave.
    s.alerts.layers.model = Some(Owner {
        name: "jane doe".into(),
        pagerduty: None,
    });
    update(&mut s, Action::Reassign);
    assert_eq!(
        picker(&s),
        [
            (
                "Jane Doe".to_string(),
                "on call L2 · AI on-call".to_string()
            ),
            ("Bo Jensen".to_string(), "rota L1".to_string()),
            ("Priya".to_string(), "owns the data layer".to_string()),
        ]
    );
    update(&mut s, Action::Select);
    let c = confirm(&s);
    assert_eq!(c.title, format!("Reassign {} to Jane Doe?", ids[0]));
    assert!(c.danger);
    assert!(
        c.lines.iter().any(|l| l == "assigned now: Ana Lima"),
        "{:?}",
        c.lines
    );
    assert!(
        c.warnings[0].starts_with("PagerDuty notifies Jane Doe, and only them"),
        "{:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(
        ops(&fx),
        [(
            ids[0].clone(),
            IncidentOp::Reassign {
                who: "Jane Doe".into(),
                user: Some("PJANE01".into())
            }
        )]
    );
    assert_eq!(
        audited(&fx),
        [("reassign".to_string(), "requested".to_string())]
    );

    // Anyone by name; without a known id the dialog says PagerDuty's users are searched.
    command(&mut s, ":reassign Sam Okafor");
    let c = confirm(&s);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("No PagerDuty id is known here for Sam Okafor")),
        "{:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(
        ops(&fx),
        [(
            ids[0].clone(),
            IncidentOp::Reassign {
                who: "Sam Okafor".into(),
                user: None
            }
        )]
    );
    // A name the chooser knows keeps its id when typed.
    command(&mut s, ":reassign priya");
    let fx = update(&mut s, Action::Confirm);
    assert!(
        matches!(&ops(&fx)[..], [(_, IncidentOp::Reassign { user: Some(u), .. })] if u == "PPRIYA1"),
        "{:?}",
        ops(&fx)
    );
}

#[test]
fn marks_are_snoozed_and_reassigned_as_one_set_each_member_reported() {
    let mut s = state();
    let ids = on_pagerduty(&mut s, 3);
    // The third stays with the cockpit's own detections, which cannot snooze.
    if let Some(inc) = s.incidents.all.iter_mut().find(|i| i.id == ids[2]) {
        inc.source = "sim".into();
    }
    let mut reg = Registration::new("sim", SourceRole::Incidents, Some(10.0));
    reg.unsupported = [
        snooze("30m"),
        IncidentOp::Reassign {
            who: String::new(),
            user: None,
        },
    ]
    .into_iter()
    .filter_map(|op| {
        oncall_cockpit::backend::incident_store::unsupported(&op).map(|why| (op, why.to_string()))
    })
    .collect();
    let now = s.now;
    s.sources.register(reg, now);
    for id in &ids {
        common::select_where(&mut s, |i| &i.id == id);
        update(&mut s, Action::Mark);
    }
    update(&mut s, Action::Snooze);
    assert_eq!(picker(&s).len(), 4);
    let fx = update(&mut s, Action::Select);
    assert!(sent(&fx).is_empty());
    let c = confirm(&s);
    assert_eq!(c.title, "Snooze 2 incidents (3 marked) for 30m?");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("Skipped:") && w.contains("have no snooze")),
        "{:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    let mut snoozed: Vec<String> = ops(&fx).into_iter().map(|(id, _)| id).collect();
    snoozed.sort();
    let mut want = ids[..2].to_vec();
    want.sort();
    assert_eq!(snoozed, want);
    assert!(
        s.incidents.marks.is_empty(),
        "marks are spent by the action"
    );
    let members: Vec<u64> = s
        .actions
        .tracked
        .iter()
        .rev()
        .take(2)
        .map(|a| a.id)
        .collect();
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: members[0],
            result: Err("Incident Already Resolved".into()),
        }),
    );
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: members[1],
            result: Ok("snoozed for 30m".into()),
        }),
    );
    let tally = flash(&s);
    assert!(
        tally.contains("snooze 3 marked: 1 ✓ · 1 ✗ FAILED") && tally.contains("Already Resolved"),
        "{tally}"
    );

    // Reassign by name on marks: one confirmation, a command for each that can take it.
    for id in &ids[..2] {
        common::select_where(&mut s, |i| &i.id == id);
        update(&mut s, Action::Mark);
    }
    command(&mut s, ":reassign Bo Jensen");
    assert_eq!(
        confirm(&s).title,
        "Reassign 2 incidents (2 marked) to Bo Jensen?"
    );
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(ops(&fx).len(), 2);
    assert!(ops(&fx)
        .iter()
        .all(|(_, op)| matches!(op, IncidentOp::Reassign { who, .. } if who == "Bo Jensen")));
    // Cancelling a set's chooser leaves nothing waiting to be sent.
    for id in &ids[..2] {
        common::select_where(&mut s, |i| &i.id == id);
        update(&mut s, Action::Mark);
    }
    update(&mut s, Action::Snooze);
    update(&mut s, Action::Cancel);
    assert!(s.bulk.choices.is_empty() && s.bulk.awaiting.is_none());
}

#[test]
fn read_only_and_sources_that_cannot_say_why_and_send_nothing() {
    let mut s = state();
    let mut reg = Registration::new("sim", SourceRole::Incidents, Some(10.0));
    reg.unsupported = [
        snooze("30m"),
        IncidentOp::Reassign {
            who: String::new(),
            user: None,
        },
    ]
    .into_iter()
    .filter_map(|op| {
        oncall_cockpit::backend::incident_store::unsupported(&op).map(|why| (op, why.to_string()))
    })
    .collect();
    let now = s.now;
    s.sources.register(reg, now);
    update(&mut s, Action::Top);
    let fx = update(&mut s, Action::Snooze);
    assert!(sent(&fx).is_empty());
    assert!(matches!(s.overlay, Overlay::None));
    assert!(
        flash(&s).starts_with("snooze unavailable: cockpit detections have no snooze"),
        "{}",
        flash(&s)
    );
    update(&mut s, Action::Reassign);
    assert!(
        flash(&s).starts_with("reassign unavailable: cockpit detections have no assignee"),
        "{}",
        flash(&s)
    );

    let ids = on_pagerduty(&mut s, 2);
    s.read_only = true;
    for (action, op) in [(Action::Snooze, "snooze"), (Action::Reassign, "reassign")] {
        let fx = update(&mut s, action);
        assert!(sent(&fx).is_empty());
        assert!(matches!(s.overlay, Overlay::None));
        assert_eq!(
            flash(&s),
            format!("read-only mode: {op} is disabled (started with --read-only)")
        );
    }
    for id in &ids {
        common::select_where(&mut s, |i| &i.id == id);
        update(&mut s, Action::Mark);
    }
    for line in [":snooze", ":snooze 1h", ":reassign", ":reassign Bo Jensen"] {
        let fx = command(&mut s, line);
        assert!(sent(&fx).is_empty(), "{line}");
        assert!(matches!(s.overlay, Overlay::None), "{line}");
        assert!(
            flash(&s).starts_with("read-only mode"),
            "{line}: {}",
            flash(&s)
        );
    }
}
