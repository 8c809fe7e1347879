//! The text box: typing a filter (applied as you type), a note, or a runbook answer, and
//! what submitting or cancelling each does.

use super::{
    actions, bulk, command_line, operations, responders, runbook, Effect, FlashLevel, Overlay,
    State, TextPurpose,
};
use crate::action::Action;
use crate::domain::command::IncidentOp;
use crate::domain::{text, SafeText};
use ratatui_textarea::TextArea;

/// The command line's box holding `line`, without a hint (it only shows while empty).
fn editor_with(line: &str) -> Box<TextArea<'static>> {
    editor(line, "")
}

/// A text box holding `initial`, the cursor at its end; `hint` shows while it is empty.
pub(super) fn editor(initial: &str, hint: &str) -> Box<TextArea<'static>> {
    let mut ta = TextArea::new(vec![initial.to_string()]);
    ta.move_cursor(ratatui_textarea::CursorMove::End);
    ta.set_placeholder_text(hint.to_string());
    Box::new(ta)
}

/// A text box holding several lines (a status update drafted for the responder to edit),
/// the cursor at its end.
pub(super) fn composer(draft: &str, hint: &str) -> Box<TextArea<'static>> {
    let mut ta = TextArea::new(draft.lines().map(str::to_string).collect());
    ta.move_cursor(ratatui_textarea::CursorMove::Bottom);
    ta.move_cursor(ratatui_textarea::CursorMove::End);
    // Read whole before it is sent: long lines wrap rather than scroll out of sight.
    ta.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
    ta.set_placeholder_text(hint.to_string());
    Box::new(ta)
}

pub(super) fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Text { purpose, editor } = &mut state.overlay else {
        return vec![];
    };
    // Only a note and a status update keep their lines; a filter or an answer is one line.
    let multi_line = matches!(
        purpose,
        TextPurpose::Note(_) | TextPurpose::NoteMany(_) | TextPurpose::StatusUpdate(_)
    );
    let typed = editor.lines().join(if multi_line { "\n" } else { " " });
    let command = matches!(purpose, TextPurpose::Command);
    match action {
        // Completion and history are the command line's; elsewhere the keys do what they
        // did before they were bound: tab is typed, up and down move the cursor.
        Action::Complete | Action::HistoryPrev | Action::HistoryNext if command => {
            let line = match action {
                Action::Complete => command_line::complete(&typed, &command_line::features(state)),
                _ => command_line::recall(state, action == Action::HistoryPrev),
            };
            match line {
                Some(line) => {
                    if let Overlay::Text { editor, .. } = &mut state.overlay {
                        *editor = editor_with(&line);
                    }
                }
                None if action == Action::Complete => {
                    state.say(FlashLevel::Info, format!("nothing completes \"{typed}\""));
                }
                None => {}
            }
            vec![]
        }
        Action::Complete => {
            editor.insert_tab();
            vec![]
        }
        Action::HistoryPrev | Action::HistoryNext => {
            editor.move_cursor(match action {
                Action::HistoryPrev => ratatui_textarea::CursorMove::Up,
                _ => ratatui_textarea::CursorMove::Down,
            });
            vec![]
        }
        Action::TextInput(_) | Action::ClearText | Action::NewLine => {
            match action {
                Action::TextInput(key) => {
                    editor.input(key);
                }
                Action::ClearText => {
                    editor.select_all();
                    editor.cut();
                }
                _ if multi_line => editor.insert_newline(),
                _ => {}
            }
            if matches!(purpose, TextPurpose::Filter) {
                // Filter as you type.
                let filter = editor.lines().join(" ");
                state.incidents.set_filter(filter);
            }
            vec![]
        }
        Action::Submit => {
            let Overlay::Text { purpose, .. } = std::mem::take(&mut state.overlay) else {
                return vec![];
            };
            submit(state, purpose, typed)
        }
        Action::Cancel => {
            let Overlay::Text { purpose, .. } = std::mem::take(&mut state.overlay) else {
                return vec![];
            };
            match purpose {
                TextPurpose::Filter => state.incidents.set_filter(String::new()),
                TextPurpose::Answer { incident, .. } => {
                    state.overlay = Overlay::Runbook(incident);
                }
                TextPurpose::Note(_) | TextPurpose::NoteMany(_) => {
                    state.say(FlashLevel::Info, "note discarded".into());
                }
                TextPurpose::StatusUpdate(_) => {
                    state.say(
                        FlashLevel::Info,
                        "status update discarded: nothing sent".into(),
                    );
                }
                TextPurpose::Command => {}
                // The view comes back as it was, its filter unchanged.
                TextPurpose::SamplesFilter(view) => state.overlay = Overlay::Samples(view),
            }
            vec![]
        }
        _ => vec![],
    }
}

fn submit(state: &mut State, purpose: TextPurpose, typed: String) -> Vec<Effect> {
    let typed = match purpose {
        TextPurpose::Note(_) | TextPurpose::NoteMany(_) | TextPurpose::StatusUpdate(_) => {
            text::sanitize_lines(typed.trim())
        }
        _ => SafeText::new(typed.trim()).to_string(),
    };
    match purpose {
        TextPurpose::Filter => {
            state.incidents.set_filter(typed);
            vec![]
        }
        TextPurpose::Note(id) => {
            if typed.is_empty() {
                state.say(FlashLevel::Info, "empty note not sent".into());
                return vec![];
            }
            let Some(inc) = state.incidents.all.iter().find(|i| i.id == id).cloned() else {
                state.say(
                    FlashLevel::Error,
                    format!("{id} is gone; note not sent: {typed}"),
                );
                return vec![];
            };
            let command = operations::incident_command(&inc, IncidentOp::Note(typed));
            actions::dispatch(state, command)
        }
        TextPurpose::NoteMany(ids) => {
            if typed.is_empty() {
                state.say(FlashLevel::Info, "empty note not sent".into());
                return vec![];
            }
            bulk::note(state, ids, typed)
        }
        TextPurpose::StatusUpdate(id) => responders::send_update(state, id, typed),
        TextPurpose::Command => command_line::run(state, &typed),
        TextPurpose::Answer { incident, question } => {
            state.overlay = Overlay::Runbook(incident.clone());
            runbook::answer(state, &incident, question, Some(typed))
        }
        TextPurpose::SamplesFilter(mut view) => {
            view.filter = typed;
            view.selected = 0;
            view.open = None;
            state.overlay = Overlay::Samples(view);
            vec![]
        }
    }
}
