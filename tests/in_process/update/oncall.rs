//! Who is on call, by name: in the escalate confirmation and the detail pane, from
//! PagerDuty's schedules (carried on the incident), the rota, or the roster's roles.

use super::*;
use oncall_cockpit::config::alerts::Shift;
use oncall_cockpit::domain::oncall::{OnCall, OnCallLevel};
use oncall_cockpit::state::oncall::{at_level, summary, Who};

fn confirm_warnings(s: &State) -> Vec<String> {
    match &s.overlay {
        Overlay::Confirm(c) => c.warnings.clone(),
        other => panic!("escalate must confirm: {other:?}"),
    }
}

fn shift(
    level: u32,
    name: &str,
    hours: (i64, i64),
    sources: &[&str],
    now: chrono::DateTime<chrono::Utc>,
) -> Shift {
    Shift {
        level,
        name: name.into(),
        from: Some(now + chrono::Duration::hours(hours.0)),
        until: Some(now + chrono::Duration::hours(hours.1)),
        sources: sources.iter().map(|s| s.to_string()).collect(),
    }
}

fn age(d: chrono::Duration) -> String {
    format!("{}m", d.num_minutes())
}

#[test]
fn escalate_names_who_pagerduty_has_on_call_at_the_next_level() {
    let mut s = state();
    let i = s.incidents.shown[0];
    let now = s.now;
    let inc = &mut s.incidents.all[i];
    inc.source = "pagerduty".into();
    inc.on_call = Some(OnCall {
        policy: SafeText::new("AI on-call"),
        levels: vec![
            OnCallLevel {
                level: 1,
                names: vec![SafeText::new("Ana Lima (AI primary)")],
                more: 0,
                users: vec![],
            },
            OnCallLevel {
                level: 2,
                names: vec![SafeText::new("Jane Doe (ML)")],
                more: 0,
                users: vec![],
            },
        ],
        read_at: Some(now - chrono::Duration::minutes(3)),
        error: None,
    });
    let inc = inc.clone();
    update(&mut s, Action::Escalate);
    let warnings = confirm_warnings(&s);
    assert!(
        warnings
            .iter()
            .any(|w| w == "Next: level 2 — Jane Doe (ML)."),
        "{warnings:?}"
    );
    assert_eq!(
        summary(&s, &inc, age),
        "L1 Ana Lima (AI primary) · L2 Jane Doe (ML) — AI on-call, read 3m ago"
    );
    assert_eq!(
        at_level(&s, &inc, 3),
        Who::Unknown("nobody on call at level 3 of AI on-call now".into())
    );
}

#[test]
fn pagerduty_on_call_not_read_says_why() {
    let mut s = state();
    let i = s.incidents.shown[0];
    let inc = &mut s.incidents.all[i];
    inc.source = "pagerduty".into();
    inc.on_call = Some(OnCall {
        policy: SafeText::new("AI on-call"),
        levels: vec![],
        read_at: None,
        error: Some(SafeText::new("HTTP 500: Internal Server Error")),
    });
    let inc = inc.clone();
    update(&mut s, Action::Escalate);
    let warnings = confirm_warnings(&s);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("level 2 of pagerduty's escalation policy")
                && w.contains("HTTP 500")),
        "{warnings:?}"
    );
    assert!(summary(&s, &inc, age).contains("on-calls not read: HTTP 500"));
}

/// The rota names people for the cockpit's own detections, by level and time; a shift that
/// ended or has not begun names nobody, and the roster's role is what is left.
#[test]
fn the_rota_names_who_is_on_call_now_for_sources_without_schedules() {
    let mut s = state();
    let now = s.now;
    let source = s.selected().map(|i| i.source.clone()).expect("selected");
    s.alerts.rota = vec![
        shift(1, "Ana Lima", (-1, 7), &[], now),
        shift(2, "Jane Doe (ML)", (-1, 7), &[source.as_str()], now),
        shift(2, "Yesterday's Person", (-30, -6), &[], now),
        shift(2, "Another Source's", (-1, 7), &["am"], now),
    ];
    update(&mut s, Action::Escalate);
    let warnings = confirm_warnings(&s);
    assert!(
        warnings
            .iter()
            .any(|w| w == "Next: level 2 — Jane Doe (ML)."),
        "{warnings:?}"
    );
    update(&mut s, Action::Cancel);
    let inc = s.selected().cloned().expect("selected");
    assert_eq!(
        summary(&s, &inc, age),
        "L1 Ana Lima · L2 Jane Doe (ML) — rota"
    );
    // Level 3 has no shift: the roster's role for it.
    assert_eq!(
        at_level(&s, &inc, 3),
        Who::Named("engineering manager".into())
    );
}

#[test]
fn a_source_without_schedule_or_rota_says_on_call_is_unknown() {
    let mut s = state();
    let i = s.incidents.shown[0];
    s.incidents.all[i].source = "am".into();
    let inc = s.incidents.all[i].clone();
    assert_eq!(summary(&s, &inc, age), "unknown (no schedule for am)");
    s.alerts.rota = vec![shift(1, "Bo Jensen", (-1, 1), &["am"], s.now)];
    assert_eq!(summary(&s, &inc, age), "L1 Bo Jensen — rota");
}
