//! The one place state changes. Pure: no I/O and no clock (time arrives as `Action::Tick`).
//! Everything that must reach the outside world is returned as an `Effect`.
//!
//! A router: each action goes to the part of the state that owns it (`feed` for what
//! sources report, `actions` for outcomes, `dialogs`, `text_box` and `runbook` for what is
//! open, `operations` and `levers` for the responder's keys on the list).

use super::{
    actions, bulk, containment, dialogs, feed, habits, lever_panel, levers, operations, reassign,
    responders, runbook, samples, snooze, text_box, Effect, FlashLevel, Overlay, State,
    TextPurpose, TICKS_PER_SEC,
};
use crate::action::{Action, Startup};
use crate::domain::command::IncidentOp;

/// Rows moved by page_up / page_down.
const PAGE: isize = 10;
/// How long an info message stays in the status bar; errors stay until replaced.
const FLASH_SECS: u64 = 8;
/// How long a new SEV1's row flashes, in ticks (wall clock, whatever the drill speed).
pub const NEW_SEV1_TICKS: u64 = 6 * TICKS_PER_SEC;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let open = std::mem::discriminant(&state.overlay);
    let effects = route(state, action);
    // A limit measured for one view says nothing about the next one opened.
    if std::mem::discriminant(&state.overlay) != open {
        state.scroll_limit = None;
    }
    // A set's chooser stands for its sets only while it is open.
    if !matches!(state.overlay, Overlay::Picker(_)) {
        state.bulk.choices.clear();
    }
    effects
}

fn route(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Tick(now) => {
            tick(state, now);
            let mut effects = actions::release_overdue(state);
            effects.extend(samples::refresh_due(state));
            effects.extend(containment::judge(state));
            effects
        }
        Action::Resize(w, h) => {
            state.size = (w, h);
            vec![]
        }
        Action::Started(startup) => {
            start(state, *startup);
            vec![]
        }
        Action::ScrollLimit(limit) => {
            dialogs::measured(state, limit);
            vec![]
        }
        Action::Backend(ev) => feed::update(state, ev),
        Action::CommandDone(outcome) => bulk::command_done(state, outcome),
        Action::Exported(result) => {
            match result {
                Ok(path) => state.say(FlashLevel::Info, format!("✓ postmortem written: {path}")),
                Err(e) => state.say(FlashLevel::Error, format!("✗ postmortem NOT written: {e}")),
            }
            vec![]
        }
        Action::Saved { what, result } => actions::saved(state, what, result),
        Action::AuditFailed(msg) => {
            state.say(FlashLevel::Error, format!("AUDIT LOG NOT WRITTEN: {msg}"));
            vec![]
        }
        // Quit works from every overlay: ctrl-c must never be swallowed by a dialog.
        Action::Shutdown(_) | Action::Quit => {
            state.quit = true;
            vec![Effect::Quit]
        }
        other if state.too_small() => dialogs::too_small(state, other),
        other => match &state.overlay {
            Overlay::None => normal(state, other),
            Overlay::Help => dialogs::help(state, other),
            Overlay::Confirm(_) if state.bulk.awaiting.is_some() => bulk::confirm(state, other),
            Overlay::Confirm(_) => dialogs::confirm(state, other),
            Overlay::Picker(_) if !state.bulk.choices.is_empty() => bulk::pick(state, other),
            Overlay::Picker(_) => dialogs::picker(state, other),
            Overlay::Text { .. } => text_box::update(state, other),
            Overlay::Runbook(_) => runbook::update(state, other),
            // Keys the describe view does not take act on the incident it shows.
            Overlay::Describe { .. } => match dialogs::describe(state, other.clone()) {
                Some(effects) => effects,
                None => normal(state, other),
            },
            Overlay::Sources { .. } => dialogs::sources(state, other),
            Overlay::Levers { .. } => lever_panel::update(state, other),
            // Keys the samples view does not take act on the incident it belongs to.
            Overlay::Samples(_) => match samples::update(state, other.clone()) {
                Some(effects) => effects,
                None => normal(state, other),
            },
        },
    }
}

fn start(state: &mut State, s: Startup) {
    state.read_only = s.read_only;
    state.speed = s.speed;
    state.alerts = s.alerts;
    state.respond = s.respond;
    state.changes.past_levers(&s.audit);
    state.containment.settings = s.containment;
    state.containment.cost = s.cost;
    state.samples.settings = s.samples;
    state.shadow.settings = s.shadow;
    state.incidents.set_grouping(s.grouping);
    let now = state.now;
    for r in s.sources {
        state.sources.register(r, now);
    }
    if let Some(first) = s.warnings.first() {
        let more = match s.warnings.len() {
            1 => String::new(),
            n => format!(" (+{} more in the log)", n - 1),
        };
        state.say(FlashLevel::Warn, format!("{first}{more}"));
    }
}

fn tick(state: &mut State, now: chrono::DateTime<chrono::Utc>) {
    state.now = now;
    state.ticks += 1;
    let expired = state.flash.as_ref().is_some_and(|f| {
        f.level == FlashLevel::Info && state.ticks - f.tick > FLASH_SECS * TICKS_PER_SEC
    });
    if expired {
        state.flash = None;
    }
    if state
        .incidents
        .new_sev1
        .as_ref()
        .is_some_and(|(_, at)| state.ticks - at > NEW_SEV1_TICKS)
    {
        state.incidents.new_sev1 = None;
    }
}

/// The list and its panes, with nothing open over them.
fn normal(state: &mut State, action: Action) -> Vec<Effect> {
    let rows = state.incidents.rows.len() as isize;
    if let Some(effects) = habits::update(state, &action) {
        return effects;
    }
    match action {
        Action::Help => dialogs::open_help(state),
        Action::Describe => dialogs::open_describe(state),
        Action::Sources => state.overlay = Overlay::Sources { scroll: 0 },
        Action::Up => state.incidents.move_cursor(-1),
        Action::Down => state.incidents.move_cursor(1),
        Action::PageUp => state.incidents.move_cursor(-PAGE),
        Action::PageDown => state.incidents.move_cursor(PAGE),
        Action::Top => state.incidents.move_cursor(-rows),
        Action::Bottom => state.incidents.move_cursor(rows),
        Action::ToggleDetail => state.show_detail = !state.show_detail,
        Action::NextFeature => {
            let current = state.shown_feature();
            state.signals.pin_next(current);
        }
        Action::Back => {
            // One layer at a time: the marks, the filter, the pinned feature, the detail.
            if !state.incidents.marks.is_empty() {
                state.incidents.marks.clear();
                state.say(FlashLevel::Info, "marks cleared".into());
            } else if !state.incidents.filter.is_empty() {
                state.incidents.set_filter(String::new());
            } else if state.signals.pinned.is_some() {
                state.signals.pinned = None;
            } else {
                state.show_detail = false;
            }
        }
        Action::Filter => {
            state.overlay = Overlay::Text {
                purpose: TextPurpose::Filter,
                editor: text_box::editor(&state.incidents.filter, "sev1 cost support-bot …"),
            }
        }
        Action::Ack => return operations::incident_op(state, IncidentOp::Ack),
        Action::Escalate => operations::escalate(state),
        Action::Resolve => operations::resolve(state),
        Action::Note => operations::note(state),
        Action::Rollback => {
            levers::rollback(state);
            return samples::prefetch_for_lever(state);
        }
        Action::KillSwitch => {
            levers::kill_switch(state);
            return samples::prefetch_for_lever(state);
        }
        Action::Levers => lever_panel::open(state),
        Action::Runbook => runbook::open(state),
        Action::Page => operations::page(state),
        Action::RequestResponders => responders::request(state),
        Action::StatusUpdate => responders::status_update(state),
        Action::Merge => responders::merge(state),
        Action::Snooze => return snooze::open(state, None),
        Action::Reassign => return reassign::open(state, None),
        Action::Export => return operations::export(state),
        Action::Retry => return actions::retry(state),
        Action::Samples => return samples::open(state),
        _ => {}
    }
    vec![]
}
