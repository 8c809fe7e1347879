//! The names a keymap file uses: its mode tables and the actions keys can be bound to.
//! Defined here, below the `Action` type the app runs on, so reading a keymap needs nothing
//! from above the config layer; the input layer turns an `ActionName` into its `Action`.

use serde::{Deserialize, Serialize};

/// Which key table is active. Keys are looked up in the mode's table first, then in Global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Fallback for every mode; keep it to modifier keys so it never eats typed text.
    Global,
    /// The incident list and panes.
    Normal,
    /// Confirmation and list dialogs.
    Dialog,
    /// A text box has focus (filter, note, runbook answer).
    Text,
    /// The runbook walkthrough.
    Runbook,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Global,
        Mode::Normal,
        Mode::Dialog,
        Mode::Text,
        Mode::Runbook,
    ];

    /// The table name used in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Global => "global",
            Mode::Normal => "normal",
            Mode::Dialog => "dialog",
            Mode::Text => "text",
            Mode::Runbook => "runbook",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Mode> {
        let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name);
        Mode::deserialize(de).ok()
    }
}

/// Every action a key can be bound to, by the snake_case name keymap files use. The order is
/// the help screen's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
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
    /// The describe view: the selected incident in full, on the whole screen, scrollable.
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
    /// Write the selected incident's postmortem timeline to a Markdown file.
    Export,
    /// Re-send the most recent failed action.
    Retry,
    /// The samples view: what the incident's model said, now and before.
    Samples,
    /// Samples view: switch between the incident's window and the baseline's.
    SampleWindow,
    /// Samples view: next sort order.
    SampleSort,
    /// Samples view: write the selected sample whole, with its reproduce parameters.
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
    /// Expand or collapse the group under the cursor (incidents of one cause).
    ToggleGroup,
    /// Mark or unmark the row under the cursor; bulk actions act on the marks.
    Mark,
    /// The `:` command line (`:ack`, `:sort age`, `:feature support-bot`, …).
    CommandLine,
    /// Move to the next unacknowledged SEV1.
    NextUnacked,
    /// Next sort order of the list (SEV, age, feature, state).
    SortNext,
    /// Command line: complete the command or its argument.
    Complete,
    /// Command line: the previous command of this session.
    HistoryPrev,
    /// Command line: the next command of this session.
    HistoryNext,
}

impl ActionName {
    /// Every bindable action, in declaration (and help screen) order.
    pub const ALL: [ActionName; 49] = {
        use ActionName::*;
        [
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
            Levers,
            Revert,
            Runbook,
            Page,
            RequestResponders,
            StatusUpdate,
            Merge,
            Export,
            Retry,
            Samples,
            SampleWindow,
            SampleSort,
            WriteSample,
            Confirm,
            Cancel,
            Select,
            Submit,
            ConfirmAnswer,
            EditAnswer,
            ClearText,
            NewLine,
            ToggleGroup,
            Mark,
            CommandLine,
            NextUnacked,
            SortNext,
            Complete,
            HistoryPrev,
            HistoryNext,
        ]
    };

    /// The name in keymap files, e.g. `kill_switch`.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{self:?}"))
    }

    /// Looks a name up through serde, so the names cannot drift from the enum.
    pub fn from_name(name: &str) -> Option<ActionName> {
        let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name);
        ActionName::deserialize(de).ok()
    }

    /// One line for the help overlay, which is generated from the keymap.
    /// What the action does in `mode`, where that differs from what it does on the list:
    /// help lists each mode's keys with its own wording.
    pub fn description_in(self, mode: Mode) -> &'static str {
        match (mode, self) {
            (Mode::Runbook, ActionName::Back) => "close, answers kept",
            (Mode::Runbook, ActionName::Up) => "previous question",
            (Mode::Runbook, ActionName::Down) => "next question",
            _ => self.description(),
        }
    }

    pub fn description(self) -> &'static str {
        use ActionName::*;
        match self {
            Quit => "quit",
            Help => "help on / off",
            Up => "up",
            Down => "down",
            PageUp => "page up",
            PageDown => "page down",
            Top => "first",
            Bottom => "last",
            ToggleDetail => "detail on / off",
            Describe => "incident in full (scrolls)",
            Sources => "sources: status, errors",
            NextFeature => "pin next feature's signals",
            Back => "back / clear filter / unpin",
            Filter => "filter",
            Ack => "acknowledge",
            Escalate => "escalate",
            Resolve => "resolve (confirms)",
            Note => "add a note",
            Rollback => "prompt rollback (confirms)",
            KillSwitch => "kill switch (confirms)",
            Levers => "levers: set, who, revert",
            Revert => "revert lever (confirms)",
            Runbook => "runbook walkthrough",
            Page => "page on-call (confirms)",
            // At most 26 columns: two columns of help fit 80.
            RequestResponders => "ask the layer's owner in",
            StatusUpdate => "send a status update",
            Merge => "merge group (PagerDuty)",
            Export => "export postmortem",
            Retry => "retry failed action",
            Samples => "samples: model outputs",
            SampleWindow => "samples: incident/baseline",
            SampleSort => "samples: next sort",
            WriteSample => "samples: write one to file",
            Confirm => "yes, do it",
            Cancel => "cancel",
            Select => "choose",
            Submit => "done",
            ConfirmAnswer => "confirm answer",
            EditAnswer => "edit answer",
            ClearText => "clear the text",
            NewLine => "new line (notes)",
            ToggleGroup => "expand / collapse group",
            Mark => "mark row (bulk actions)",
            CommandLine => "command line (:ack, :sort)",
            NextUnacked => "next unacknowledged SEV1",
            SortNext => "next sort (SEV, age, …)",
            Complete => "complete command",
            HistoryPrev => "previous command",
            HistoryNext => "next command",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order_and_names_round_trip() {
        for (i, a) in ActionName::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(ActionName::from_name(&a.name()), Some(*a));
        }
        assert_eq!(ActionName::KillSwitch.name(), "kill_switch");
        assert_eq!(ActionName::from_name("tick"), None);
    }
}
