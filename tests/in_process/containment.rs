//! Containment verified on the drill: after a lever lands, the incident is watched against
//! its pre-incident band until the detector judges it back inside ("contained ✓"), or the
//! deadline passes and the playbook's next lever is named.

use cockpit_testkit::common::{self, Drill};
use oncall_cockpit::action::Action;
use oncall_cockpit::domain::command::{Command, CommandOutcome, FlagOp};
use oncall_cockpit::domain::IncidentType;
use oncall_cockpit::state::{update, Effect, Overlay, State, Verdict};

const FEATURE: &str = "triage-agent";

/// Pulls the kill switch on `segment` of the cost incident through the keys, carries it out
/// on the simulated fleet and tells the cockpit it landed, as the app would.
fn kill_segment(d: &mut Drill, s: &mut State, segment: &str) -> String {
    assert!(common::select_where(s, |i| {
        i.kind == IncidentType::CostExplosion && i.feature.as_str() == FEATURE
    }));
    let id = s.selected().map(|i| i.id.clone()).unwrap_or_default();
    update(s, Action::KillSwitch);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("kill switch opens a scope picker");
    };
    let label = format!("ENGAGE segment {segment}");
    let at = p
        .items
        .iter()
        .position(|i| i.label == label)
        .unwrap_or_else(|| panic!("no {label} in the picker"));
    for _ in 0..at {
        update(s, Action::Down);
    }
    update(s, Action::Select);
    let fx = common::evidence_written(s, Action::Confirm);
    let req = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the lever is sent");
    let Command::Flag {
        op:
            FlagOp::KillSwitch {
                feature,
                segment,
                engage,
            },
        ..
    } = &req.command
    else {
        panic!("{:?}", req.command);
    };
    let done = d
        .run
        .world
        .kill_switch(feature, segment.as_deref(), *engage)
        .expect("the fleet takes the lever");
    update(
        s,
        Action::CommandDone(CommandOutcome {
            action_id: req.action_id,
            result: Ok(done),
        }),
    );
    id
}

/// Steps the drill a minute at a time up to `until`, feeding the cockpit each poll, and stops
/// after the first minute with a verdict; returns the containment audit records (outcome,
/// detail) and the minute each came at.
fn follow(d: &mut Drill, s: &mut State, from: i64, until: i64) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for m in from..=until {
        if !out.is_empty() {
            break;
        }
        d.minutes(m);
        for a in d.events() {
            for e in update(s, a) {
                if let Effect::Audit(r) = e {
                    if r.action == "containment" {
                        out.push((m, r.outcome, r.detail));
                    }
                }
            }
        }
    }
    out
}

fn detail_text(s: &State) -> String {
    cockpit_testkit::screen::screen(s, 160, 60)
}

#[test]
fn the_right_segment_contains_the_cost_loop_and_says_how_fast() {
    let mut d = Drill::new(42);
    d.minutes(6);
    let mut s = d.state();
    let id = kill_segment(&mut d, &mut s, "enterprise");
    let w = s.containment.watch(&id).expect("watched");
    assert_eq!(w.verdict, Verdict::Containing);
    assert!(
        detail_text(&s).contains("containing…"),
        "{}",
        detail_text(&s)
    );

    let verdicts = follow(&mut d, &mut s, 7, 20);
    let (minute, outcome, line) = verdicts.first().cloned().expect("a verdict");
    assert_eq!(outcome, "contained", "{verdicts:?}");
    // Cost stops at once; the hold needs 80% of five minutes under the exit line.
    assert!((9..=12).contains(&minute), "contained at minute {minute}");
    assert!(
        line.starts_with("contained ✓ — cost $/min $")
            && line.contains("inside the pre-incident band"),
        "{line}"
    );
    assert!(line.contains("after segment kill switch"), "{line}");
    assert_eq!(verdicts.len(), 1, "said once: {verdicts:?}");

    // Contained stops being loud: below every firing incident, countdown quiet.
    assert!(s.incidents.contained.contains(&id));
    let pos = |id: &str| {
        s.incidents
            .shown
            .iter()
            .position(|&i| s.incidents.all[i].id == id)
            .expect("shown")
    };
    let inc = s.incidents.all.iter().find(|i| i.id == id).expect("held");
    assert!(inc.firing, "contained before it recovers");
    for other in s
        .incidents
        .all
        .iter()
        .filter(|i| i.firing && i.is_open() && !s.incidents.contained.contains(&i.id))
    {
        assert!(pos(&other.id) < pos(&id), "{} sorts above", other.id);
    }
    let screen = detail_text(&s);
    assert!(screen.contains("contained ✓"), "{screen}");
    assert!(!screen.contains("OVERDUE"), "{screen}");
}

#[test]
fn the_wrong_segment_is_not_contained_and_the_playbook_names_the_next_lever() {
    let mut d = Drill::new(42);
    d.minutes(6);
    let mut s = d.state();
    let id = kill_segment(&mut d, &mut s, "self-serve");
    let verdicts = follow(&mut d, &mut s, 7, 17);
    let (minute, outcome, line) = verdicts.first().cloned().expect("a verdict");
    assert_eq!(outcome, "not_contained", "{verdicts:?}");
    // The cost deadline is ten minutes after the lever landed (minute 6).
    assert_eq!(minute, 16, "{verdicts:?}");
    assert_eq!(
        line,
        "not contained after 10m — next: kill switch on the whole feature (K)"
    );
    let w = s.containment.watch(&id).expect("watched");
    assert!(matches!(w.verdict, Verdict::NotContained { .. }));
    assert!(!s.incidents.contained.contains(&id), "still loud");
    let screen = detail_text(&s);
    assert!(screen.contains("NOT CONTAINED"), "{screen}");
    assert!(
        screen.contains("not contained after 10m — next: kill switch on the"),
        "{screen}"
    );

    // The next lever does it, and time to contain counts from detection.
    let id2 = kill_segment(&mut d, &mut s, "enterprise");
    assert_eq!(id2, id);
    let later = follow(&mut d, &mut s, 18, 26);
    let (_, outcome, line) = later.first().cloned().expect("a verdict");
    assert_eq!(outcome, "contained", "{later:?}");
    assert!(line.contains("(time to contain"), "{line}");
}

#[test]
fn a_cost_incident_shows_its_burn_clock_against_the_budget() {
    use oncall_cockpit::config::cost::Budget;
    let mut d = Drill::new(42);
    d.minutes(6);
    let mut s = d.state();
    assert!(common::select_where(&mut s, |i| {
        i.kind == IncidentType::CostExplosion && i.feature.as_str() == FEATURE
    }));
    let screen = detail_text(&s);
    assert!(
        screen.contains("burn      spent $"),
        "the window reaches the onset: {screen}"
    );
    assert!(!screen.contains("budget"), "no budget configured: {screen}");
    for (budget, says) in [(5_000.0, "runs out "), (100.0, "ALREADY SPENT")] {
        s.containment
            .cost
            .daily_budget_usd
            .insert(FEATURE.into(), Budget::try_from(budget).expect("a budget"));
        let screen = detail_text(&s);
        assert!(screen.contains(says), "{budget}: {screen}");
    }
}
