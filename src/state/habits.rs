//! k9s habits on the incident list: marks for bulk actions, the `:` command line, groups
//! opened and closed, the next unacknowledged SEV1, and the list's order.

use super::{bulk, text_box, Effect, FlashLevel, Overlay, State, TextPurpose};
use crate::action::Action;
use crate::domain::command::IncidentOp;

/// The list's own keys; None for keys that are not these.
pub(super) fn update(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    match action {
        Action::ToggleGroup => {
            if !state.incidents.toggle_group() {
                state.say(FlashLevel::Info, "not a group: nothing to open".into());
            }
        }
        Action::Mark => {
            state.incidents.toggle_mark();
            // The next row, as in k9s, so space space space marks a run.
            state.incidents.move_cursor(1);
        }
        Action::NextUnacked => {
            if !state.incidents.next_unacked_sev1() {
                state.say(FlashLevel::Info, "no unacknowledged SEV1".into());
            }
        }
        Action::SortNext => {
            let next = state.incidents.sort.next();
            state.incidents.set_sort(next);
            state.say(FlashLevel::Info, format!("sorted by {}", next.name()));
        }
        Action::CommandLine => {
            state.command_line.pos = state.command_line.history.len();
            state.overlay = Overlay::Text {
                purpose: TextPurpose::Command,
                editor: text_box::editor(
                    "",
                    "ack resolve snooze reassign note escalate request update role sev1 feature sort all q",
                ),
            };
        }
        // An incident key on a set (marks, or a group's parent row) acts on all of it.
        Action::Ack | Action::Resolve | Action::Escalate | Action::Note => {
            let set = bulk::set(state)?;
            let op = match action {
                Action::Ack => IncidentOp::Ack,
                Action::Resolve => IncidentOp::Resolve,
                Action::Escalate => IncidentOp::Escalate,
                _ => IncidentOp::Note(String::new()),
            };
            return Some(bulk::start(state, op, set));
        }
        _ => return None,
    }
    Some(vec![])
}
