//! Everything that can change the state. The user-facing variants are the ones a key can be
//! bound to, by their `ActionName` in keymap files; the rest come from the clock, the terminal
//! and backends.

use crate::config::alerts::AlertSettings;
use crate::config::keymap::ActionName;
use crate::domain::command::CommandOutcome;
use crate::domain::event::BackendEvent;
use crate::domain::source::Registration;
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

#[derive(Clone, Debug, PartialEq)]
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
    /// The sources view: every source's status, with whole error messages.
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
    /// The levers panel of the feature: every lever's setting, who moved it, pull or revert.
    Levers,
    /// Levers panel: back to the lever's previous setting (confirmed).
    Revert,
    Runbook,
    /// Page the on-call rotation (PagerDuty Events API) for a detection with no incident yet.
    Page,
    /// Ask the owner of the failing layer in (PagerDuty responder request).
    RequestResponders,
    /// Compose a status update for the incident's stakeholders.
    StatusUpdate,
    /// Merge a group's PagerDuty incidents into its parent.
    Merge,
    /// Choose how long to snooze the incident (or the marks) for.
    Snooze,
    /// Choose whom to hand the incident (or the marks) to.
    Reassign,
    /// Write the selected incident's postmortem timeline to a Markdown file.
    Export,
    /// Re-send the most recent failed action.
    Retry,
    /// The samples view: what the incident's model said, now and before.
    Samples,
    SampleWindow,
    SampleSort,
    WriteSample,
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
    /// Expand or collapse the group under the cursor.
    ToggleGroup,
    /// Mark or unmark the row under the cursor for a bulk action.
    Mark,
    /// Open the `:` command line.
    CommandLine,
    /// Move to the next unacknowledged SEV1.
    NextUnacked,
    /// Next sort order of the incident list.
    SortNext,
    /// Command line: complete.
    Complete,
    /// Command line: previous command of the session.
    HistoryPrev,
    /// Command line: next command of the session.
    HistoryNext,

    Tick(DateTime<Utc>),
    /// A key typed into a text box; keymaps never see these.
    TextInput(KeyEvent),
    Resize(u16, u16),
    /// How far the open scrolled view (help, describe, sources, a long dialog) can scroll, as
    /// the app measured it on the frame just drawn: layout is the renderer's to know.
    ScrollLimit(Option<usize>),
    Backend(BackendEvent),
    CommandDone(CommandOutcome),
    /// The audit log could not be written: an action must never look recorded when it is not.
    AuditFailed(String),
    /// A postmortem export finished: the file written, or why not.
    Exported(Result<String, String>),
    /// Files the journal thread was asked to write (an evidence snapshot, a sample): the
    /// folder written, or why not.
    Saved {
        what: Saving,
        result: Result<String, String>,
    },
    /// SIGTERM, SIGHUP or a closed terminal.
    Shutdown(String),
    /// What the cockpit starts with: applied through `update` like everything else, before
    /// the first frame.
    Started(Box<Startup>),
}

/// What the journal thread was asked to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saving {
    /// The evidence snapshot the lever with this action id waits for.
    Evidence(u64),
    Sample,
}

/// The settings and sources a session starts with.
#[derive(Clone, Debug, PartialEq)]
pub struct Startup {
    pub read_only: bool,
    /// Simulated seconds per wall-clock second (`--speed`).
    pub speed: f64,
    pub alerts: AlertSettings,
    pub samples: crate::config::samples::SampleSettings,
    /// How the lever dialogs compare variants (`[shadow]`).
    pub shadow: crate::config::shadow::ShadowSettings,
    /// Deadlines and the playbook's order of levers, from `[containment]`.
    pub containment: crate::config::containment::ContainmentSettings,
    /// Daily budgets and the day's clock for the cost-burn clock, from `[cost]`.
    pub cost: crate::config::cost::CostSettings,
    /// Which incidents show as one (`[grouping]`).
    pub grouping: crate::config::grouping::GroupSettings,
    /// How long each SEV may wait for an acknowledgement (`[respond]`).
    pub respond: crate::config::respond::RespondPolicy,
    /// The audit log's records as the session starts (its tail): levers of earlier
    /// sessions go on the change timeline.
    pub audit: Vec<crate::runbook::postmortem::AuditLine>,
    /// Every part each configured source plays, in the order they were started.
    pub sources: Vec<Registration>,
    /// What is wrong but did not stop the start (a theme file with an error, a data
    /// directory others can read): the first is shown, all are logged.
    pub warnings: Vec<String>,
}

impl From<ActionName> for Action {
    /// What a bound key does: the one place a keymap name becomes something `update` runs.
    fn from(name: ActionName) -> Action {
        match name {
            ActionName::Quit => Action::Quit,
            ActionName::Help => Action::Help,
            ActionName::Up => Action::Up,
            ActionName::Down => Action::Down,
            ActionName::PageUp => Action::PageUp,
            ActionName::PageDown => Action::PageDown,
            ActionName::Top => Action::Top,
            ActionName::Bottom => Action::Bottom,
            ActionName::ToggleDetail => Action::ToggleDetail,
            ActionName::Describe => Action::Describe,
            ActionName::Sources => Action::Sources,
            ActionName::NextFeature => Action::NextFeature,
            ActionName::Back => Action::Back,
            ActionName::Filter => Action::Filter,
            ActionName::Ack => Action::Ack,
            ActionName::Escalate => Action::Escalate,
            ActionName::Resolve => Action::Resolve,
            ActionName::Note => Action::Note,
            ActionName::Rollback => Action::Rollback,
            ActionName::KillSwitch => Action::KillSwitch,
            ActionName::Levers => Action::Levers,
            ActionName::Revert => Action::Revert,
            ActionName::Runbook => Action::Runbook,
            ActionName::Page => Action::Page,
            ActionName::RequestResponders => Action::RequestResponders,
            ActionName::StatusUpdate => Action::StatusUpdate,
            ActionName::Merge => Action::Merge,
            ActionName::Snooze => Action::Snooze,
            ActionName::Reassign => Action::Reassign,
            ActionName::Export => Action::Export,
            ActionName::Retry => Action::Retry,
            ActionName::Samples => Action::Samples,
            ActionName::SampleWindow => Action::SampleWindow,
            ActionName::SampleSort => Action::SampleSort,
            ActionName::WriteSample => Action::WriteSample,
            ActionName::Confirm => Action::Confirm,
            ActionName::Cancel => Action::Cancel,
            ActionName::Select => Action::Select,
            ActionName::Submit => Action::Submit,
            ActionName::ConfirmAnswer => Action::ConfirmAnswer,
            ActionName::EditAnswer => Action::EditAnswer,
            ActionName::ClearText => Action::ClearText,
            ActionName::NewLine => Action::NewLine,
            ActionName::ToggleGroup => Action::ToggleGroup,
            ActionName::Mark => Action::Mark,
            ActionName::CommandLine => Action::CommandLine,
            ActionName::NextUnacked => Action::NextUnacked,
            ActionName::SortNext => Action::SortNext,
            ActionName::Complete => Action::Complete,
            ActionName::HistoryPrev => Action::HistoryPrev,
            ActionName::HistoryNext => Action::HistoryNext,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name binds the action of the same name: a key bound to `ack` never escalates.
    #[test]
    fn every_name_binds_the_action_it_names() {
        for name in ActionName::ALL {
            assert_eq!(format!("{:?}", Action::from(name)), format!("{name:?}"));
        }
    }
}
