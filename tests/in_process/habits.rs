//! k9s habits on the list, through `update`: marks and bulk actions on them, the `:` command
//! line with completion and history, sort orders and the jump to the next unacknowledged SEV1.

use cockpit_testkit::common::drill_state;
use crossterm::event::{KeyCode, KeyEvent};
use oncall_cockpit::action::Action;
use oncall_cockpit::domain::command::{Command, IncidentOp};
use oncall_cockpit::domain::{Sev, Status};
use oncall_cockpit::state::{update, Effect, Overlay, SortKey, State};

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

fn command(s: &mut State, line: &str) -> Vec<Effect> {
    update(s, Action::CommandLine);
    for c in line.chars() {
        update(s, Action::TextInput(KeyEvent::from(KeyCode::Char(c))));
    }
    update(s, Action::Submit)
}

fn typed(s: &State) -> String {
    match &s.overlay {
        Overlay::Text { editor, .. } => editor.lines().join(" "),
        _ => String::new(),
    }
}

#[test]
fn space_marks_rows_and_ack_confirms_once_for_the_set() {
    let mut s = drill_state(30);
    update(&mut s, Action::Top);
    let first = s.selected().map(|i| i.id.clone()).unwrap_or_default();
    update(&mut s, Action::Mark);
    let second = s.selected().map(|i| i.id.clone()).unwrap_or_default();
    update(&mut s, Action::Mark);
    assert_eq!(s.incidents.marks.len(), 2);
    assert!(s.incidents.marks.contains(&first) && s.incidents.marks.contains(&second));
    let screen = cockpit_testkit::screen::screen(&s, 80, 24);
    assert!(screen.contains("2 marked"), "{screen}");
    assert_eq!(screen.matches("✓ ").count(), 2, "{screen}");

    let fx = update(&mut s, Action::Ack);
    assert!(sent(&fx).is_empty());
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("no confirmation: {}", flash(&s));
    };
    assert!(
        c.title.contains("Acknowledge 2 incidents (2 marked)"),
        "{}",
        c.title
    );
    let fx = update(&mut s, Action::Confirm);
    let mut acked: Vec<String> = sent(&fx)
        .into_iter()
        .filter_map(|c| match c {
            Command::Incident {
                id,
                op: IncidentOp::Ack,
                ..
            } => Some(id),
            _ => None,
        })
        .collect();
    acked.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(acked, want);
    assert!(
        s.incidents.marks.is_empty(),
        "marks are spent by the action"
    );
    assert!(flash(&s).contains("2 pending"), "{}", flash(&s));
}

#[test]
fn marking_a_marked_row_unmarks_it_and_esc_clears_all_marks() {
    let mut s = drill_state(30);
    update(&mut s, Action::Top);
    update(&mut s, Action::Mark);
    update(&mut s, Action::Mark);
    update(&mut s, Action::Top);
    update(&mut s, Action::Mark);
    assert_eq!(s.incidents.marks.len(), 1);
    update(&mut s, Action::Back);
    assert!(s.incidents.marks.is_empty());
    assert!(flash(&s).contains("marks cleared"));
}

#[test]
fn the_command_line_sorts_filters_and_says_what_it_does_not_know() {
    let mut s = drill_state(30);
    command(&mut s, ":sort age");
    assert_eq!(s.incidents.sort, SortKey::Age);
    let onsets: Vec<_> = s
        .incidents
        .shown
        .iter()
        .map(|&i| s.incidents.all[i].triggered_at)
        .collect();
    assert!(onsets.windows(2).all(|w| w[0] <= w[1]), "{onsets:?}");
    command(&mut s, "feature support-bot");
    assert!(s
        .incidents
        .shown
        .iter()
        .all(|&i| s.incidents.all[i].feature.as_str() == "support-bot"));
    assert!(!s.incidents.shown.is_empty());
    command(&mut s, "all");
    assert_eq!(s.incidents.shown.len(), s.incidents.all.len());
    command(&mut s, "sev1");
    assert!(s
        .incidents
        .shown
        .iter()
        .all(|&i| s.incidents.all[i].sev == Sev::Sev1));
    command(&mut s, "frobnicate");
    assert!(
        flash(&s).contains("unknown command :frobnicate"),
        "{}",
        flash(&s)
    );
    command(&mut s, "sort sideways");
    assert!(flash(&s).contains(":sort takes one of sev, age, feature, state"));
    let fx = command(&mut s, "q");
    assert!(fx.contains(&Effect::Quit));
}

#[test]
fn ack_from_the_command_line_acts_like_the_key() {
    let mut s = drill_state(30);
    update(&mut s, Action::Top);
    let top = s.selected().cloned();
    let fx = command(&mut s, "ack");
    let acked = sent(&fx);
    assert_eq!(acked.len(), 1, "{}", flash(&s));
    assert!(
        matches!(&acked[0], Command::Incident { id, op: IncidentOp::Ack, .. } if Some(id) == top.as_ref().map(|t| &t.id))
    );
}

#[test]
fn tab_completes_and_up_down_walk_the_history() {
    let mut s = drill_state(30);
    command(&mut s, "sort feature");
    command(&mut s, "sev2");
    update(&mut s, Action::CommandLine);
    for c in "feature sup".chars() {
        update(&mut s, Action::TextInput(KeyEvent::from(KeyCode::Char(c))));
    }
    update(&mut s, Action::Complete);
    assert_eq!(typed(&s), "feature support-bot");
    update(&mut s, Action::HistoryPrev);
    assert_eq!(typed(&s), "sev2");
    update(&mut s, Action::HistoryPrev);
    assert_eq!(typed(&s), "sort feature");
    update(&mut s, Action::HistoryPrev);
    assert_eq!(typed(&s), "sort feature", "the oldest stays");
    update(&mut s, Action::HistoryNext);
    assert_eq!(typed(&s), "sev2");
    update(&mut s, Action::HistoryNext);
    assert_eq!(typed(&s), "", "past the newest: an empty line");
    update(&mut s, Action::Cancel);
    assert!(matches!(s.overlay, Overlay::None));
}

#[test]
fn u_jumps_to_the_next_unacknowledged_sev1_and_o_cycles_the_sort() {
    let mut s = drill_state(30);
    update(&mut s, Action::Bottom);
    update(&mut s, Action::NextUnacked);
    let sel = s.selected().cloned();
    assert!(
        sel.as_ref()
            .is_some_and(|i| i.sev == Sev::Sev1 && i.status == Status::Triggered),
        "{sel:?} {}",
        flash(&s)
    );
    for want in [SortKey::Age, SortKey::Feature, SortKey::State, SortKey::Sev] {
        update(&mut s, Action::SortNext);
        assert_eq!(s.incidents.sort, want);
        // The selection follows the incident, not the row.
        assert_eq!(s.selected().map(|i| &i.id), sel.as_ref().map(|i| &i.id));
    }
}
