//! The dialogs part: what is open over the panes (help, a confirmation, a chooser, a text
//! box, the runbook, the describe and sources views), and how the movement and close keys
//! act in each. Text boxes and the runbook have their own modules.

use super::guard::{incident_for, Operation};
use super::{Effect, FlashLevel, State};
use crate::action::Action;
use crate::config::keymap::Mode;
use crate::domain::command::Command;
use crate::domain::IncidentId;
use ratatui_textarea::TextArea;

#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    pub title: String,
    /// What the action is about (an incident title may be 100,000 characters): wrapped to a
    /// bounded height, the rest scrolled to with up / down.
    pub lines: Vec<String>,
    /// What the responder must know before saying yes ("STILL FIRING", "the ack is undone"):
    /// always on screen, never scrolled away, like the yes / cancel line.
    pub warnings: Vec<String>,
    /// Drawn in the danger style; kill switch, rollback and resolve.
    pub danger: bool,
    pub command: Command,
    /// First wrapped line of `lines` shown.
    pub scroll: usize,
    /// The variants the lever would swap, compared when the dialog opens (rollback, model
    /// switch); drawn from `State::shadow` each frame.
    pub shadow: Option<crate::domain::shadow::ShadowRequest>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PickItem {
    pub label: String,
    pub detail: String,
    /// None: the harmless choice ("keep serving"), which closes the picker and changes nothing.
    pub confirm: Option<Confirm>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Picker {
    pub title: String,
    pub items: Vec<PickItem>,
    pub cursor: usize,
}

#[derive(Debug)]
pub enum TextPurpose {
    Filter,
    /// The filter of the samples view, which opens again when the text is done.
    SamplesFilter(Box<super::samples::SamplesView>),
    Note(IncidentId),
    /// One note for every incident of a set (a group, the marks).
    NoteMany(Vec<IncidentId>),
    /// A status update for the incident's stakeholders.
    StatusUpdate(IncidentId),
    /// The `:` command line.
    Command,
    Answer {
        incident: IncidentId,
        question: usize,
    },
}

#[derive(Debug, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    Confirm(Box<Confirm>),
    Picker(Picker),
    Text {
        purpose: TextPurpose,
        editor: Box<TextArea<'static>>,
    },
    Runbook(IncidentId),
    /// The describe view: the selected incident in full, on the whole screen (k9s
    /// `describe`): title, evidence, levers, runbook, timeline and notes, scrolled with the
    /// movement keys.
    Describe {
        id: IncidentId,
        scroll: usize,
    },
    /// The sources view: every source's status with its whole error, for when the footer
    /// cannot hold them all.
    Sources {
        scroll: usize,
    },
    /// The samples view: what the incident's model said, now and before.
    Samples(Box<super::samples::SamplesView>),
    /// The levers panel of one feature, with the row the cursor is on.
    Levers {
        feature: String,
        cursor: usize,
    },
}

impl Overlay {
    /// The key table the open dialog reads.
    pub fn input_mode(&self) -> Mode {
        match self {
            Overlay::None
            | Overlay::Help
            | Overlay::Describe { .. }
            | Overlay::Sources { .. }
            | Overlay::Samples(_) => Mode::Normal,
            Overlay::Confirm(_) | Overlay::Picker(_) | Overlay::Levers { .. } => Mode::Dialog,
            Overlay::Text { .. } => Mode::Text,
            Overlay::Runbook(_) => Mode::Runbook,
        }
    }
}

/// While the terminal is too small to draw the cockpit, no key may act: the responder cannot
/// see what it would act on (an `a` or a `K enter y` typed blind at 40x10 acknowledged and
/// killed a feature). Help is drawn even then, so it opens, scrolls and closes; quit is
/// handled before this. A dialog or text box left open stays as it was for when the terminal
/// grows back.
pub(super) fn too_small(state: &mut State, action: Action) -> Vec<Effect> {
    match (&state.overlay, action) {
        (Overlay::None, Action::Help) => open_help(state),
        (Overlay::Help, a) => return help(state, a),
        _ => {}
    }
    vec![]
}

/// Where a scrolled view goes on a movement key, within `0..=max`; None for other keys.
pub(super) fn scrolled(pos: usize, action: &Action, max: usize, page: usize) -> Option<usize> {
    let pos = pos.min(max);
    Some(match action {
        Action::Up => pos.saturating_sub(1),
        Action::Down => (pos + 1).min(max),
        Action::PageUp => pos.saturating_sub(page),
        Action::PageDown => (pos + page).min(max),
        Action::Top => 0,
        Action::Bottom => max,
        _ => return None,
    })
}

/// Rows a page key moves in a full-screen view: the screen less its frame, header and footer.
fn screen_page(state: &State) -> usize {
    usize::from(state.size.1.saturating_sub(6)).max(1)
}

/// How far the open view may scroll: what the app measured on the last frame. Before the
/// first measure of a view nothing holds it back; the renderer shows it within its content
/// and the next measure brings it back there.
fn limit(state: &State) -> usize {
    state.scroll_limit.unwrap_or(usize::MAX)
}

/// The app measured the open view on the frame it drew: keep its position within it (the
/// content may have shrunk, or the terminal grown).
pub(super) fn measured(state: &mut State, limit: Option<usize>) {
    state.scroll_limit = limit;
    let Some(max) = limit else {
        return;
    };
    match &mut state.overlay {
        Overlay::Help => state.help_scroll = state.help_scroll.min(max),
        Overlay::Confirm(c) => c.scroll = c.scroll.min(max),
        Overlay::Describe { scroll, .. } | Overlay::Sources { scroll } => {
            *scroll = (*scroll).min(max)
        }
        Overlay::Samples(view) => {
            if let Some(scroll) = &mut view.open {
                *scroll = (*scroll).min(max)
            }
        }
        _ => {}
    }
}

pub(super) fn open_help(state: &mut State) {
    state.help_scroll = 0;
    state.overlay = Overlay::Help;
}

pub(super) fn help(state: &mut State, action: Action) -> Vec<Effect> {
    let max = limit(state);
    let page = screen_page(state);
    if let Some(pos) = scrolled(state.help_scroll, &action, max, page) {
        state.help_scroll = pos;
        return vec![];
    }
    match action {
        Action::Help | Action::Back | Action::Cancel => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}

/// Opens a confirmation, asking for its shadow comparison if it names one.
pub(super) fn open_confirm(state: &mut State, c: Confirm) -> Vec<Effect> {
    let effects = match &c.shadow {
        Some(request) => super::shadow::ask(state, request),
        None => vec![],
    };
    state.overlay = Overlay::Confirm(Box::new(c));
    effects
}

pub(super) fn confirm(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        // A comparison that failed or is slow is asked again; the dialog stays open.
        Action::Retry => {
            let request = match &state.overlay {
                Overlay::Confirm(c) => c.shadow.clone(),
                _ => None,
            };
            if let Some(request) = request {
                return super::shadow::ask(state, &request);
            }
        }
        Action::Confirm => {
            if let Overlay::Confirm(c) = std::mem::take(&mut state.overlay) {
                return super::actions::dispatch(state, c.command);
            }
        }
        Action::Cancel | Action::Back => {
            state.overlay = Overlay::None;
            state.say(FlashLevel::Info, "cancelled: nothing was changed".into());
        }
        // A long title scrolls inside the dialog; the warnings and the yes / cancel line stay.
        Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
            let max = limit(state);
            if let Overlay::Confirm(c) = &mut state.overlay {
                if let Some(pos) = scrolled(c.scroll, &action, max, 3) {
                    c.scroll = pos;
                }
            }
        }
        _ => {}
    }
    vec![]
}

pub(super) fn picker(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Picker(p) = &mut state.overlay else {
        return vec![];
    };
    let last = p.items.len().saturating_sub(1);
    match action {
        Action::Up => p.cursor = p.cursor.saturating_sub(1),
        Action::Down => p.cursor = (p.cursor + 1).min(last),
        Action::Select | Action::Confirm => {
            match p.items.get(p.cursor).map(|i| i.confirm.clone()) {
                Some(Some(c)) => return open_confirm(state, c),
                Some(None) => {
                    state.overlay = Overlay::None;
                    state.say(FlashLevel::Info, "cancelled: nothing was changed".into());
                }
                None => {}
            }
        }
        Action::Cancel | Action::Back => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}

pub(super) fn open_describe(state: &mut State) {
    if let Some(inc) = incident_for(state, Operation::Describe) {
        state.overlay = Overlay::Describe {
            id: inc.id,
            scroll: 0,
        };
    }
}

/// The describe view scrolls with the movement keys and closes with back (or its own key, or
/// enter). Every other key is not its own (None): it acts as in the list, on the incident
/// being described.
pub(super) fn describe(state: &mut State, action: Action) -> Option<Vec<Effect>> {
    let Overlay::Describe { id, scroll } = &state.overlay else {
        return Some(vec![]);
    };
    let (id, pos) = (id.clone(), *scroll);
    let max = limit(state);
    if let Some(pos) = scrolled(pos, &action, max, screen_page(state)) {
        state.overlay = Overlay::Describe { id, scroll: pos };
        return Some(vec![]);
    }
    match action {
        Action::Back | Action::Describe | Action::ToggleDetail | Action::Cancel => {
            state.overlay = Overlay::None;
            Some(vec![])
        }
        _ => None,
    }
}

pub(super) fn sources(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Sources { scroll } = &state.overlay else {
        return vec![];
    };
    let max = limit(state);
    if let Some(pos) = scrolled(*scroll, &action, max, screen_page(state)) {
        state.overlay = Overlay::Sources { scroll: pos };
        return vec![];
    }
    match action {
        Action::Back | Action::Sources | Action::Cancel => state.overlay = Overlay::None,
        Action::Help => open_help(state),
        _ => {}
    }
    vec![]
}
