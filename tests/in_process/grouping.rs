//! One incident, not five, on the default drill: the incidents that share a cause (the v13
//! prompt deploy's eval regression and output drift on support-bot) fold under one parent row
//! with the config's built-in rules; unrelated ones stay apart, even on the same feature
//! (support-bot's retrieval, summarizer's errors and model-update refusals, code-assistant's
//! jailbreak and latency); keys on the parent act on every member and report each outcome.
//! (The agent loop's refusal drop that the built-in rules link to its cost explosion does not
//! fire in the first half hour of this drill; the pure tests of `groups` cover that link.)

use chrono::Duration;
use cockpit_testkit::common::{drill_events, origin, SOURCE};
use oncall_cockpit::action::Action;
use oncall_cockpit::config::grouping::GroupSettings;
use oncall_cockpit::domain::command::{Command, CommandOutcome, IncidentOp};
use oncall_cockpit::domain::{Incident, IncidentType, Status};
use oncall_cockpit::state::{
    group, update, Effect, FlashLevel, Operation, Overlay, Row, SourceRole, SourceStatus, State,
};

const MINUTE: i64 = 30;

/// The drill at half an hour, seen by a cockpit started with the built-in `[grouping]`.
fn grouped_state() -> State {
    let now = origin() + Duration::minutes(MINUTE);
    let mut s = State::new(now, "ana", "sim seed 42 ×1");
    s.sources.flag_source = Some(SOURCE.into());
    s.sources.list = vec![
        SourceStatus::new(SOURCE, SourceRole::Metrics, Some(10.0)),
        SourceStatus::new(SOURCE, SourceRole::Incidents, Some(10.0)),
        SourceStatus::new(SOURCE, SourceRole::Flags, None),
    ];
    s.incidents.set_grouping(GroupSettings::default());
    for a in drill_events(MINUTE) {
        update(&mut s, a);
    }
    s
}

fn kinds(list: &[Incident], members: &[usize]) -> Vec<(String, IncidentType)> {
    let mut k: Vec<(String, IncidentType)> = members
        .iter()
        .map(|&i| (list[i].feature.to_string(), list[i].kind))
        .collect();
    k.sort_by_key(|(f, t)| (f.clone(), *t));
    k
}

fn sent(effects: &[Effect]) -> Vec<Command> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(r.command.clone()),
            _ => None,
        })
        .collect()
}

fn flash(s: &State) -> String {
    s.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default()
}

/// Puts the cursor on the parent row of the group holding `kind` on `feature`.
fn select_group(s: &mut State, feature: &str, kind: IncidentType) {
    let pos = s.incidents.rows.iter().position(|r| match r {
        Row::Group(g) => s.incidents.groups[*g].iter().any(|&i| {
            s.incidents.all[i].kind == kind && s.incidents.all[i].feature.as_str() == feature
        }),
        _ => false,
    });
    let pos =
        pos.unwrap_or_else(|| panic!("no group for {feature} {kind:?}: {:?}", s.incidents.rows));
    update(s, Action::Top);
    for _ in 0..pos {
        update(s, Action::Down);
    }
    assert!(s.incidents.selected_members().is_some());
}

#[test]
fn the_drill_groups_what_shares_a_cause_and_nothing_else() {
    let s = grouped_state();
    let list = &s.incidents.all;
    let summary: Vec<String> = list
        .iter()
        .map(|i| {
            format!(
                "{} {:?} {} {:?}",
                i.feature,
                i.kind,
                i.triggered_at - origin(),
                i.status
            )
        })
        .collect();
    let groups: Vec<Vec<(String, IncidentType)>> =
        s.incidents.groups.iter().map(|g| kinds(list, g)).collect();
    let drift_eval = vec![
        ("support-bot".to_string(), IncidentType::CapabilityDrift),
        ("support-bot".to_string(), IncidentType::EvalRegression),
    ];
    assert_eq!(
        groups,
        vec![drift_eval],
        "only the prompt change groups:\n{summary:#?}"
    );
    // The pure function says the same as the list does.
    assert_eq!(group(list, &GroupSettings::default()), s.incidents.groups);
    // Unrelated incidents keep rows of their own: the jailbreak and the latency on
    // code-assistant, the summarizer's errors, support-bot's retrieval.
    for (feature, kind) in [
        ("triage-agent", IncidentType::CostExplosion),
        ("summarizer", IncidentType::OverRefusal),
        ("code-assistant", IncidentType::GuardrailBypass),
        ("code-assistant", IncidentType::LatencyDegradation),
        ("summarizer", IncidentType::Errors),
        ("support-bot", IncidentType::RetrievalDegradation),
    ] {
        let single = s.incidents.rows.iter().any(|r| match r {
            Row::Single(i) => list[*i].kind == kind && list[*i].feature.as_str() == feature,
            _ => false,
        });
        assert!(
            single,
            "{feature} {kind:?} has no row of its own:\n{summary:#?}"
        );
    }
    // Collapsed: one row per group, none per member.
    assert_eq!(
        s.incidents.rows.len(),
        s.incidents.shown.len() - 1,
        "{:?}",
        s.incidents.rows
    );
}

#[test]
fn the_parent_row_carries_the_highest_sev_and_earliest_onset_and_expands() {
    let mut s = grouped_state();
    select_group(&mut s, "support-bot", IncidentType::EvalRegression);
    let members = s
        .incidents
        .selected_members()
        .map(<[usize]>::to_vec)
        .unwrap_or_default();
    let earliest = members
        .iter()
        .map(|&i| s.incidents.all[i].triggered_at)
        .min();
    let worst = members.iter().map(|&i| s.incidents.all[i].sev).min();
    let screen = cockpit_testkit::screen::screen(&s, 120, 30);
    let parent = screen
        .lines()
        .find(|l| l.contains("▸ ×2") && l.contains("support-bot"))
        .unwrap_or_else(|| panic!("no parent row:\n{screen}"));
    let sev = worst.map(|w| w.to_string()).unwrap_or_default();
    assert!(parent.contains(&sev), "{parent}");
    // The types in onset order: the eval run caught the prompt change first.
    assert!(parent.contains("eval + drift"), "{parent}");
    let age = oncall_cockpit::ui::format::age(s.now - earliest.unwrap_or(s.now));
    assert!(
        parent.contains(&age),
        "the age of the first onset, {age}: {parent}"
    );

    update(&mut s, Action::ToggleGroup);
    let rows = s.incidents.rows.clone();
    let at = s.incidents.cursor;
    assert!(matches!(rows[at], Row::Group(_)), "{rows:?}");
    assert!(matches!(rows[at + 1], Row::Member(_)) && matches!(rows[at + 2], Row::Member(_)));
    let screen = cockpit_testkit::screen::screen(&s, 120, 30);
    assert!(screen.contains("▾ ×2"), "{screen}");
    assert_eq!(screen.matches("└ ").count(), 2, "{screen}");
    // Down onto a member: keys act on that incident alone.
    update(&mut s, Action::Down);
    assert!(s.incidents.selected_members().is_none());
    // z on a member collapses its group and the cursor goes back to the parent.
    update(&mut s, Action::ToggleGroup);
    assert_eq!(s.incidents.cursor, at);
    assert!(s.incidents.selected_members().is_some());
}

#[test]
fn ack_on_the_parent_acks_every_member_and_says_which_one_failed() {
    let mut s = grouped_state();
    select_group(&mut s, "support-bot", IncidentType::EvalRegression);
    let members: Vec<String> = s
        .incidents
        .selected_members()
        .unwrap_or_default()
        .iter()
        .map(|&i| s.incidents.all[i].id.clone())
        .collect();
    assert_eq!(members.len(), 2);
    // A group is one incident to the responder: its ack goes at once, as one incident's.
    let fx = update(&mut s, Action::Ack);
    assert!(matches!(s.overlay, Overlay::None));
    let cmds = sent(&fx);
    let acked: Vec<String> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Incident {
                id,
                op: IncidentOp::Ack,
                ..
            } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let mut want = members.clone();
    want.sort();
    let mut got = acked.clone();
    got.sort();
    assert_eq!(got, want);
    // Every member's command is audited on its own.
    let requested = fx
        .iter()
        .filter(|e| matches!(e, Effect::Audit(r) if r.action == "ack" && r.outcome == "requested"))
        .count();
    assert_eq!(requested, 2);
    let ids: Vec<u64> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(r.action_id),
            _ => None,
        })
        .collect();
    assert!(flash(&s).contains("2 pending"), "{}", flash(&s));
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: ids[0],
            result: Ok("acknowledged".into()),
        }),
    );
    assert!(flash(&s).contains("1 ✓ · 1 pending"), "{}", flash(&s));
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: ids[1],
            result: Err("HTTP 500 from the store".into()),
        }),
    );
    let text = flash(&s);
    let level = s.flash.as_ref().map(|f| f.level);
    assert_eq!(level, Some(FlashLevel::Error), "{text}");
    assert!(text.contains("1 ✓"), "{text}");
    assert!(
        text.contains(&format!(
            "1 ✗ FAILED ({}: HTTP 500 from the store)",
            acked[1]
        )),
        "the failing member is named: {text}"
    );
    // The failure is retried like any other.
    let fx = update(&mut s, Action::Retry);
    assert_eq!(sent(&fx).len(), 1);
}

#[test]
fn resolve_and_note_on_the_parent_reach_every_member() {
    let mut s = grouped_state();
    select_group(&mut s, "support-bot", IncidentType::CapabilityDrift);
    update(&mut s, Action::Resolve);
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("no confirmation");
    };
    assert!(
        c.warnings.iter().any(|w| w.contains("STILL FIRING")),
        "{:?}",
        c.warnings
    );
    update(&mut s, Action::Cancel);
    assert!(s.bulk.awaiting.is_none());
    assert!(matches!(s.overlay, Overlay::None));

    update(&mut s, Action::Note);
    assert!(matches!(s.overlay, Overlay::Text { .. }));
    for c in "same prompt change".chars() {
        update(
            &mut s,
            Action::TextInput(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(c),
            )),
        );
    }
    let fx = update(&mut s, Action::Submit);
    let notes: Vec<Command> = sent(&fx)
        .into_iter()
        .filter(|c| matches!(c, Command::Incident { op: IncidentOp::Note(t), .. } if t == "same prompt change"))
        .collect();
    assert_eq!(notes.len(), 2, "{fx:?}");
}

#[test]
fn an_acknowledged_member_is_skipped_and_said() {
    let mut s = grouped_state();
    select_group(&mut s, "support-bot", IncidentType::CapabilityDrift);
    let members = s
        .incidents
        .selected_members()
        .map(<[usize]>::to_vec)
        .unwrap_or_default();
    // One member acknowledged by someone else on the last poll.
    let mut list = s.incidents.all.clone();
    list[members[0]].status = Status::Acknowledged;
    let acked_id = list[members[0]].id.clone();
    let now = s.now;
    update(
        &mut s,
        Action::Backend(oncall_cockpit::domain::event::BackendEvent::Incidents {
            source: SOURCE.into(),
            at: now,
            incidents: list,
        }),
    );
    // Still a group, still selected.
    assert!(
        s.incidents.selected_members().is_some(),
        "{:?}",
        s.incidents.rows
    );
    let fx = update(&mut s, Action::Ack);
    assert_eq!(sent(&fx).len(), 1);
    assert!(flash(&s).contains("1 skipped"), "{}", flash(&s));
    // The describe view says which member was skipped and which was sent.
    let sent_id = s
        .incidents
        .selected_members()
        .unwrap_or_default()
        .iter()
        .map(|&i| s.incidents.all[i].id.clone())
        .find(|id| *id != acked_id)
        .unwrap_or_default();
    update(&mut s, Action::Describe);
    let screen = cockpit_testkit::screen::screen(&s, 120, 40);
    assert!(
        screen.contains("one of 2 incidents likely of one cause"),
        "{screen}"
    );
    assert!(
        screen.contains(sent_id.as_str()) && screen.contains("pending"),
        "{screen}"
    );
}

#[test]
fn read_only_refuses_a_set_like_one_incident() {
    let mut s = grouped_state();
    s.read_only = true;
    select_group(&mut s, "support-bot", IncidentType::CapabilityDrift);
    let fx = update(&mut s, Action::Ack);
    assert!(fx.is_empty());
    assert!(matches!(s.overlay, Overlay::None));
    assert!(flash(&s).contains("read-only"), "{}", flash(&s));
}

/// The support-bot group with two PagerDuty copies of its drift: four members, two of which
/// PagerDuty can merge.
fn group_with_pagerduty_copies() -> State {
    use oncall_cockpit::domain::event::BackendEvent;
    let mut s = grouped_state();
    s.sources.unsupported.insert(
        (SOURCE.into(), Operation::Merge),
        "the cockpit's own incidents are grouped (z), not merged".into(),
    );
    s.sources.list.push(SourceStatus::new(
        "pagerduty",
        SourceRole::Incidents,
        Some(15.0),
    ));
    // Two PagerDuty copies of the drift: each links to the eval, so all four are one group
    // (two evals would not: a type does not link to itself).
    let drift = s
        .incidents
        .all
        .iter()
        .find(|i| i.feature.as_str() == "support-bot" && i.kind == IncidentType::CapabilityDrift)
        .cloned()
        .expect("the drift");
    let copies: Vec<Incident> = (1..=2)
        .map(|n| {
            let mut c = drift.clone();
            c.source = "pagerduty".into();
            c.id = format!("pagerduty:PDRIFT{n}");
            c
        })
        .collect();
    assert_eq!(copies.len(), 2);
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "pagerduty".into(),
            at,
            incidents: copies,
        }),
    );
    s
}

#[test]
fn merge_folds_the_groups_pagerduty_incidents_into_one_and_leaves_the_rest() {
    let mut s = group_with_pagerduty_copies();
    select_group(&mut s, "support-bot", IncidentType::EvalRegression);
    let members = s.incidents.selected_members().map(<[usize]>::len);
    assert_eq!(members, Some(4), "{:?}", s.incidents.rows);
    update(&mut s, Action::Merge);
    let c = match &s.overlay {
        Overlay::Confirm(c) => (**c).clone(),
        other => panic!("merge must confirm: {other:?}"),
    };
    assert!(c.danger);
    // The lead is the cockpit's own: the parent is the most urgent PagerDuty member.
    let Command::Incident {
        id: target,
        op: IncidentOp::Merge(merged),
        source,
    } = &c.command
    else {
        panic!("{:?}", c.command)
    };
    assert_eq!(source, "pagerduty");
    assert!(target.starts_with("pagerduty:P"), "{target}");
    assert_eq!(merged.len(), 1);
    assert!(merged[0].starts_with("pagerduty:P") && merged[0] != *target);
    assert_eq!(c.title, format!("Merge 1 incident(s) into {target}?"));
    assert!(
        c.warnings[0].starts_with(&format!(
            "pagerduty resolves the 1 merged and moves their alerts into {target}"
        )),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].starts_with("Left as they are: sim:INC-")
            && c.warnings[1].matches("sim:INC-").count() == 2
            && c.warnings[1]
                .ends_with(": the cockpit's own incidents are grouped (z), not merged."),
        "both of the cockpit's own members are named as left, with why: {:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(sent(&fx), std::slice::from_ref(&c.command));
    assert!(fx.iter().any(
        |e| matches!(e, Effect::Audit(r) if r.action == "merge" && r.outcome == "requested"
            && r.detail.contains(&merged[0]))
    ));
}

#[test]
fn merge_off_a_group_or_with_nothing_mergeable_says_why() {
    let mut s = grouped_state();
    update(&mut s, Action::Top);
    while s.incidents.selected_members().is_some() {
        update(&mut s, Action::Down);
    }
    assert!(update(&mut s, Action::Merge).is_empty());
    assert!(flash(&s).starts_with("merge: put the cursor on a group's parent row"));
    s.sources.unsupported.insert(
        (SOURCE.into(), Operation::Merge),
        "the cockpit's own incidents are grouped (z), not merged".into(),
    );
    select_group(&mut s, "support-bot", IncidentType::EvalRegression);
    assert!(update(&mut s, Action::Merge).is_empty());
    assert!(matches!(s.overlay, Overlay::None));
    assert!(
        flash(&s).starts_with("merge: no incident of this group can be merged (sim:INC-")
            && flash(&s).ends_with(": the cockpit's own incidents are grouped (z), not merged)"),
        "{}",
        flash(&s)
    );
}
