//! Everything that can change the state. The snake_case names of the user-facing variants are
//! the names used in keymap files; the rest come from the clock, the terminal and backends and
//! cannot be bound to keys.

use crate::domain::command::CommandOutcome;
use crate::domain::event::BackendEvent;
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Show or hide the incident detail pane.
    ToggleDetail,
    /// The selected incident in full, on the whole screen, scrollable.
    Describe,
    /// Every source's health, with whole error messages.
    Sources,
    /// Cycle which feature's signals the signal pane shows.
    NextFeature,
    /// Close the topmost overlay, clear the filter.
    Back,
    Filter,
    Ack,
    Escalate,
    Resolve,
    Note,
    Rollback,
    KillSwitch,
    Runbook,
    /// Page the on-call rotation (PagerDuty Events API) for a detection with no incident yet.
    Page,
    /// Write the selected incident's postmortem timeline to a Markdown file.
    Export,
    /// Re-send the most recent failed action.
    Retry,
    /// Yes, in a confirmation dialog.
    Confirm,
    /// No / close, in a dialog or text box.
    Cancel,
    /// Pick the highlighted item in a list dialog.
    Select,
    /// Finish the text being typed (filter, note, runbook answer).
    Submit,
    /// Runbook: accept the pre-filled answer as correct.
    ConfirmAnswer,
    /// Runbook: type a different answer.
    EditAnswer,
    /// Text box: empty it.
    ClearText,
    /// Text box: start a new line (notes may span lines).
    NewLine,

    #[serde(skip)]
    Tick(DateTime<Utc>),
    /// A key typed into a text box; keymaps never see these.
    #[serde(skip)]
    TextInput(KeyEvent),
    #[serde(skip)]
    Resize(u16, u16),
    #[serde(skip)]
    Backend(BackendEvent),
    #[serde(skip)]
    CommandDone(CommandOutcome),
    /// The audit log could not be written: an action must never look recorded when it is not.
    #[serde(skip)]
    AuditFailed(String),
    /// A postmortem export finished: the file written, or why not.
    #[serde(skip)]
    Exported(Result<String, String>),
    /// SIGTERM, SIGHUP or a closed terminal.
    #[serde(skip)]
    Shutdown(String),
}

impl Action {
    /// One line for the help overlay, which is generated from the keymap.
    pub fn description(&self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help on / off",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first",
            Action::Bottom => "last",
            Action::ToggleDetail => "detail on / off",
            Action::Describe => "incident in full (scrolls)",
            Action::Sources => "every source's health",
            Action::NextFeature => "pin next feature's signals",
            Action::Back => "back / clear filter / unpin",
            Action::Filter => "filter",
            Action::Ack => "acknowledge",
            Action::Escalate => "escalate",
            Action::Resolve => "resolve (confirms)",
            Action::Note => "add a note",
            Action::Rollback => "prompt rollback (confirms)",
            Action::KillSwitch => "kill switch (confirms)",
            Action::Runbook => "runbook walkthrough",
            Action::Page => "page on-call (confirms)",
            Action::Export => "export postmortem",
            Action::Retry => "retry failed action",
            Action::Confirm => "yes, do it",
            Action::Cancel => "cancel",
            Action::Select => "choose",
            Action::Submit => "done",
            Action::ConfirmAnswer => "confirm answer",
            Action::EditAnswer => "edit answer",
            Action::ClearText => "clear the text",
            Action::NewLine => "new line (notes)",
            _ => "",
        }
    }

    /// Every action that a keymap may bind, for validation and the help screen.
    pub fn bindable() -> &'static [Action] {
        use Action::*;
        &[
            Quit,
            Help,
            Up,
            Down,
            PageUp,
            PageDown,
            Top,
            Bottom,
            ToggleDetail,
            Describe,
            Sources,
            NextFeature,
            Back,
            Filter,
            Ack,
            Escalate,
            Resolve,
            Note,
            Rollback,
            KillSwitch,
            Runbook,
            Page,
            Export,
            Retry,
            Confirm,
            Cancel,
            Select,
            Submit,
            ConfirmAnswer,
            EditAnswer,
            ClearText,
            NewLine,
        ]
    }
}
