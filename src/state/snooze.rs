//! Snoozing: an acknowledged incident kept quiet for a chosen time, after which its source
//! notifies again. A chooser of durations (or `:snooze 1h`), one confirmation saying when it
//! wakes and whether it is acknowledged first, then one command per incident through
//! `actions::dispatch` (tracked, audited, retried). Only sources that snooze take it; the
//! guard says why the others do not.

use super::guard::{incident_for, Operation, Refusal};
use super::operations::incident_command;
use super::{bulk, Confirm, Effect, FlashLevel, Overlay, PickItem, Picker, State};
use crate::domain::command::{IncidentOp, SnoozeFor};
use crate::domain::{Incident, Status};

/// The snooze key, or `:snooze [duration]`: the marks (or a group's parent row) as one set,
/// else the selected incident. Without a duration, a chooser of them.
pub(super) fn open(state: &mut State, typed: Option<SnoozeFor>) -> Vec<Effect> {
    if state.read_only {
        state.say(
            FlashLevel::Warn,
            Refusal::ReadOnly(Operation::Snooze).to_string(),
        );
        return vec![];
    }
    if let Some(set) = bulk::set(state) {
        return match typed {
            Some(d) => bulk::start(state, IncidentOp::Snooze(d), set),
            None => {
                let items = SnoozeFor::CHOICES
                    .iter()
                    .map(|d| (d.to_string(), wakes(state, *d), IncidentOp::Snooze(*d)))
                    .collect();
                let title = format!("Snooze {} for how long?", set.label());
                bulk::choose(state, title, items, &set);
                vec![]
            }
        };
    }
    let Some(inc) = incident_for(state, Operation::Snooze) else {
        return vec![];
    };
    if inc.status == Status::Resolved {
        state.say(FlashLevel::Warn, format!("{} is resolved", inc.id));
        return vec![];
    }
    state.overlay = match typed {
        Some(d) => Overlay::Confirm(Box::new(confirm(state, &inc, d))),
        None => Overlay::Picker(Picker {
            title: format!("Snooze {} for how long?", inc.id),
            items: SnoozeFor::CHOICES
                .iter()
                .map(|d| PickItem {
                    label: d.to_string(),
                    detail: wakes(state, *d),
                    confirm: Some(confirm(state, &inc, *d)),
                })
                .collect(),
            cursor: 0,
        }),
    };
    vec![]
}

/// When a snooze of `d` confirmed now ends, on the cockpit's clock.
fn wakes(state: &State, d: SnoozeFor) -> String {
    format!(
        "notifies again at {} UTC",
        (state.now + d.duration()).format("%H:%M")
    )
}

fn confirm(state: &State, inc: &Incident, d: SnoozeFor) -> Confirm {
    Confirm {
        title: format!("Snooze {} for {d}?", inc.id),
        lines: vec![format!(
            "{} {} · {}",
            inc.sev,
            inc.status.short(),
            inc.title
        )],
        warnings: warnings(state, std::slice::from_ref(inc), d),
        danger: false,
        command: incident_command(inc, IncidentOp::Snooze(d)),
        scroll: 0,
        shadow: None,
    }
}

/// What the responder must know before snoozing `targets`: when they notify again, and that
/// triggered ones are acknowledged first (as the responder: PagerDuty snoozes acknowledged
/// incidents only, and an acknowledgement the dialog did not mention would be a surprise).
pub(super) fn warnings(state: &State, targets: &[Incident], d: SnoozeFor) -> Vec<String> {
    let mut w = vec![format!(
        "Quiet until {} UTC; then TRIG again, notifying, with a new countdown.",
        (state.now + d.duration()).format("%H:%M")
    )];
    let triggered = targets
        .iter()
        .filter(|i| i.status == Status::Triggered)
        .count();
    match (triggered, targets.len()) {
        (0, _) => {}
        (_, 1) => w.push(format!(
            "It is TRIG: y ACKNOWLEDGES it as {} first (only acknowledged incidents snooze).",
            state.author
        )),
        (n, _) => w.push(format!(
            "{n} of them TRIG: y ACKNOWLEDGES those as {} first (only acknowledged incidents \
             snooze).",
            state.author
        )),
    }
    w
}
