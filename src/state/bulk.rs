//! Acting on many incidents at once: the members of a group (one cause, one row) or the rows
//! marked with `space`. A set is confirmed once, then every member gets its own command,
//! tracked and audited like any other; the footer keeps the set's tally, naming each member
//! that failed, so one failure among ten successes is never hidden.

use super::guard::{Operation, Refusal};
use super::{actions, text_box, Confirm, Effect, FlashLevel, Overlay, State, TextPurpose};
use crate::action::Action;
use crate::domain::command::{CommandOutcome, IncidentOp};
use crate::domain::{Incident, IncidentId, Status};

/// Sets kept for their tally after they finish.
const BATCHES_KEPT: usize = 10;

#[derive(Debug, Default)]
pub struct Bulk {
    /// The commands a confirmation dialog for a set stands for, sent on `y`.
    pub awaiting: Option<Awaiting>,
    /// Sets sent, newest last, each with every member's outcome.
    pub batches: Vec<Batch>,
    /// While a chooser for a set is open (how long to snooze, whom to hand to): the set
    /// each of its items stands for, in the chooser's order.
    pub choices: Vec<Awaiting>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Awaiting {
    pub label: String,
    pub op: IncidentOp,
    pub targets: Vec<Incident>,
    pub skipped: Vec<String>,
}

/// A member's outcome: None while its command is in flight.
pub type Outcome = Option<Result<(), String>>;

#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// What the set is ("ack group support-bot", "resolve 3 marked").
    pub label: String,
    /// Per member: the action id, the incident, and its outcome once known.
    pub members: Vec<(u64, IncidentId, Outcome)>,
    /// Members not sent, and why (already acknowledged, resolved, unsupported).
    pub skipped: Vec<String>,
}

impl Batch {
    /// The tally for the footer: how many succeeded, each failure by incident, what is still
    /// pending and what was skipped.
    pub fn tally(&self) -> (FlashLevel, String) {
        let ok = self
            .members
            .iter()
            .filter(|m| matches!(m.2, Some(Ok(()))))
            .count();
        let pending = self.members.iter().filter(|m| m.2.is_none()).count();
        let failed: Vec<String> = self
            .members
            .iter()
            .filter_map(|(_, id, r)| match r {
                Some(Err(e)) => Some(format!("{id}: {e}")),
                _ => None,
            })
            .collect();
        let mut text = format!("{}: {ok} ✓", self.label);
        if !failed.is_empty() {
            text.push_str(&format!(
                " · {} ✗ FAILED ({})",
                failed.len(),
                failed.join("; ")
            ));
        }
        if pending > 0 {
            text.push_str(&format!(" · {pending} pending"));
        }
        if !self.skipped.is_empty() {
            text.push_str(&format!(" · {} skipped", self.skipped.len()));
        }
        if failed.is_empty() {
            (FlashLevel::Info, text)
        } else {
            text.push_str(" (t: retry)");
            (FlashLevel::Error, text)
        }
    }
}

/// A set of incidents one key acts on.
#[derive(Clone)]
pub(super) struct Set {
    label: String,
    members: Vec<Incident>,
    /// Marked by hand (confirmed once for the set), rather than a group's parent row (whose
    /// acknowledgement goes at once, as one incident's does).
    marked: bool,
}

/// The set an incident key acts on, if not the single selected incident: the marked rows,
/// else the group whose parent row is under the cursor.
pub(super) fn set(state: &State) -> Option<Set> {
    let inc = &state.incidents;
    if !inc.marks.is_empty() {
        let marked: Vec<Incident> = inc
            .all
            .iter()
            .filter(|i| inc.marks.contains(&i.id))
            .cloned()
            .collect();
        return Some(Set {
            label: format!("{} marked", marked.len()),
            members: marked,
            marked: true,
        });
    }
    let members = inc.selected_members()?;
    let lead = inc.selected()?;
    let list: Vec<Incident> = members.iter().map(|&i| inc.all[i].clone()).collect();
    Some(Set {
        label: format!("group {} ({})", lead.feature, list.len()),
        members: list,
        marked: false,
    })
}

/// Why `op` does nothing to `inc`, if it does nothing.
fn skip_reason(state: &State, inc: &Incident, op: &IncidentOp) -> Option<String> {
    if let Some(why) = state
        .sources
        .unsupported_reason(&inc.source, Operation::from(op))
    {
        return Some(format!("{}: {why}", inc.id));
    }
    match (op, inc.status) {
        (_, Status::Resolved) => Some(format!("{} is resolved", inc.id)),
        (IncidentOp::Ack, Status::Acknowledged) => Some(format!("{} already acknowledged", inc.id)),
        _ => None,
    }
}

impl Set {
    pub(super) fn members(&self) -> &[Incident] {
        &self.members
    }

    /// What the set is: "3 marked", "group support-bot (4)".
    pub(super) fn label(&self) -> &str {
        &self.label
    }
}

/// Opens the one confirmation for `op` on the set, listing every member and what will be
/// skipped; a note opens the note box for all of them instead.
pub(super) fn start(state: &mut State, op: IncidentOp, set: Set) -> Vec<Effect> {
    let operation = Operation::from(&op);
    if state.read_only {
        state.say(FlashLevel::Warn, Refusal::ReadOnly(operation).to_string());
        return vec![];
    }
    if let IncidentOp::Note(_) = op {
        return note_box(state, &op, set);
    }
    let marked = set.marked;
    let Some((confirm, awaiting)) = prepare(state, op.clone(), set) else {
        return vec![];
    };
    // A group is one incident to the responder: its acknowledgement goes at once, like one
    // incident's. Marks are chosen row by row, so they are confirmed as a set.
    if matches!(op, IncidentOp::Ack) && !marked {
        return send(state, awaiting);
    }
    state.overlay = Overlay::Confirm(Box::new(confirm));
    state.bulk.awaiting = Some(awaiting);
    vec![]
}

/// Opens a chooser for a set: each item's confirmation is the set's (`prepare`), and the set
/// it stands for waits in `choices` until one is picked.
pub(super) fn choose(
    state: &mut State,
    title: String,
    items: Vec<(String, String, IncidentOp)>,
    set: &Set,
) {
    if state.read_only {
        if let Some((_, _, op)) = items.first() {
            state.say(
                FlashLevel::Warn,
                Refusal::ReadOnly(Operation::from(op)).to_string(),
            );
        }
        return;
    }
    let mut picks = Vec::new();
    let mut choices = Vec::new();
    for (label, detail, op) in items {
        let Some((confirm, awaiting)) = prepare(state, op, set.clone()) else {
            // `prepare` said why nothing in the set takes it; the same holds for every item.
            return;
        };
        picks.push(super::PickItem {
            label,
            detail,
            confirm: Some(confirm),
        });
        choices.push(awaiting);
    }
    if picks.is_empty() {
        return;
    }
    state.overlay = Overlay::Picker(super::Picker {
        title,
        items: picks,
        cursor: 0,
    });
    state.bulk.choices = choices;
}

/// Keys in a set's chooser: choosing makes the chosen set the one the confirmation sends;
/// closing drops them all. The chooser itself moves and opens the confirmation.
pub(super) fn pick(state: &mut State, action: Action) -> Vec<Effect> {
    let cursor = match &state.overlay {
        Overlay::Picker(p) => p.cursor,
        _ => 0,
    };
    match action {
        Action::Select | Action::Confirm => {
            let mut choices = std::mem::take(&mut state.bulk.choices);
            if cursor < choices.len() {
                state.bulk.awaiting = Some(choices.swap_remove(cursor));
            }
        }
        Action::Cancel | Action::Back => state.bulk.choices.clear(),
        _ => {}
    }
    super::dialogs::picker(state, action)
}

/// The note box for every member of the set that takes a note.
fn note_box(state: &mut State, op: &IncidentOp, set: Set) -> Vec<Effect> {
    let Set { label, members, .. } = set;
    let ids: Vec<IncidentId> = members
        .iter()
        .filter(|i| skip_reason(state, i, op).is_none())
        .map(|i| i.id.clone())
        .collect();
    if ids.is_empty() {
        state.say(
            FlashLevel::Warn,
            format!("note: nothing in {label} takes a note"),
        );
        return vec![];
    }
    state.overlay = Overlay::Text {
        purpose: TextPurpose::NoteMany(ids),
        editor: text_box::editor("", "what you saw or did, for every one of them"),
    };
    vec![]
}

/// The set's one confirmation for `op` and what `y` sends: every member `op` applies to,
/// and why the rest are skipped. None, after saying why, when no member takes it.
fn prepare(state: &mut State, op: IncidentOp, set: Set) -> Option<(Confirm, Awaiting)> {
    let Set { label, members, .. } = set;
    let (targets, skipped): (Vec<Incident>, Vec<Incident>) = members
        .into_iter()
        .partition(|i| skip_reason(state, i, &op).is_none());
    let skipped: Vec<String> = skipped
        .iter()
        .filter_map(|i| skip_reason(state, i, &op))
        .collect();
    if targets.is_empty() {
        let why = skipped.first().cloned().unwrap_or_default();
        state.say(
            FlashLevel::Warn,
            format!("{}: nothing to do in {label} ({why})", op.name()),
        );
        return None;
    }
    let awaiting = Awaiting {
        label: format!("{} {label}", op.name()),
        op: op.clone(),
        targets: targets.clone(),
        skipped: skipped.clone(),
    };
    let verb = match op {
        IncidentOp::Ack => "Acknowledge",
        IncidentOp::Escalate => "Escalate",
        IncidentOp::Resolve => "Resolve",
        IncidentOp::Note(_) => "Note",
        IncidentOp::Snooze(_) => "Snooze",
        IncidentOp::Reassign { .. } => "Reassign",
        // Keys for these act on the selected incident, never on a set.
        _ => "Act on",
    };
    let lines = targets
        .iter()
        .map(|i| {
            let level = match op {
                IncidentOp::Escalate => format!(" → level {}", usize::from(i.escalation_level) + 2),
                _ => String::new(),
            };
            format!(
                "{} {} {}{level} · {}",
                i.sev,
                i.status.short(),
                i.id,
                i.title
            )
        })
        .collect();
    let mut warnings = vec![format!(
        "Each of the {} gets its own {}; each outcome is reported.",
        targets.len(),
        op.name()
    )];
    let firing = targets.iter().filter(|i| i.firing).count();
    if matches!(op, IncidentOp::Resolve) && firing > 0 {
        warnings.push(format!("{firing} of them STILL FIRING."));
    }
    if matches!(op, IncidentOp::Escalate)
        && targets.iter().any(|i| i.status == Status::Acknowledged)
    {
        warnings.push(
            "Acknowledgements among them are UNDONE: the next level acknowledges afresh.".into(),
        );
    }
    match &op {
        IncidentOp::Snooze(d) => warnings.extend(super::snooze::warnings(state, &targets, *d)),
        IncidentOp::Reassign { who, user } => {
            warnings.extend(super::reassign::warnings(who, user.as_deref()))
        }
        _ => {}
    }
    if !skipped.is_empty() {
        warnings.push(format!("Skipped: {}", skipped.join("; ")));
    }
    let title = match &op {
        IncidentOp::Snooze(d) => format!("Snooze {} incidents ({label}) for {d}?", targets.len()),
        IncidentOp::Reassign { who, .. } => {
            format!("Reassign {} incidents ({label}) to {who}?", targets.len())
        }
        _ => format!("{verb} {} incidents ({label})?", targets.len()),
    };
    let first = targets[0].clone();
    let confirm = Confirm {
        title,
        lines,
        warnings,
        danger: !matches!(op, IncidentOp::Ack | IncidentOp::Snooze(_)),
        command: super::operations::incident_command(&first, op.clone()),
        scroll: 0,
        shadow: None,
    };
    Some((confirm, awaiting))
}

/// Keys in the confirmation of a set: `y` sends every member's command, cancel drops the set;
/// anything else is the dialog's own (scrolling the member list).
pub(super) fn confirm(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Confirm => {
            state.overlay = Overlay::None;
            match state.bulk.awaiting.take() {
                Some(a) => send(state, a),
                None => vec![],
            }
        }
        Action::Cancel | Action::Back => {
            state.bulk.awaiting = None;
            super::dialogs::confirm(state, action)
        }
        other => super::dialogs::confirm(state, other),
    }
}

/// Sends every member's command and starts the set's tally.
pub(super) fn send(state: &mut State, a: Awaiting) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut members = Vec::new();
    for inc in &a.targets {
        let command = super::operations::incident_command(inc, a.op.clone());
        effects.extend(actions::dispatch(state, command));
        if let Some(t) = state.actions.tracked.last() {
            members.push((t.id, inc.id.clone(), None));
        }
    }
    let batch = Batch {
        label: a.label,
        members,
        skipped: a.skipped,
    };
    let (level, text) = batch.tally();
    state.say(level, text);
    if state.bulk.batches.len() >= BATCHES_KEPT {
        state.bulk.batches.remove(0);
    }
    state.bulk.batches.push(batch);
    state.incidents.marks.clear();
    effects
}

/// A note typed once for every incident of a set.
pub(super) fn note(state: &mut State, ids: Vec<IncidentId>, text: String) -> Vec<Effect> {
    let mut gone = Vec::new();
    let targets: Vec<Incident> = ids
        .iter()
        .filter_map(|id| {
            let found = state.incidents.all.iter().find(|i| &i.id == id).cloned();
            if found.is_none() {
                gone.push(format!("{id} is gone"));
            }
            found
        })
        .collect();
    send(
        state,
        Awaiting {
            label: format!("note {} incidents", ids.len()),
            op: IncidentOp::Note(text),
            targets,
            skipped: gone,
        },
    )
}

/// A backend answered: the action's own outcome is recorded as always; if it belongs to a
/// set, the footer shows the set's tally instead of the last member alone.
pub(super) fn command_done(state: &mut State, outcome: CommandOutcome) -> Vec<Effect> {
    let id = outcome.action_id;
    let result = outcome.result.clone().map(|_| ());
    let effects = actions::command_done(state, outcome);
    let batch = state
        .bulk
        .batches
        .iter_mut()
        .find(|b| b.members.iter().any(|m| m.0 == id));
    if let Some(b) = batch {
        for m in b.members.iter_mut().filter(|m| m.0 == id) {
            m.2 = Some(
                result
                    .clone()
                    .map_err(|e| crate::domain::SafeText::new(&e).to_string()),
            );
        }
        let (level, text) = b.tally();
        state.say(level, text);
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(results: Vec<Outcome>) -> Batch {
        Batch {
            label: "ack group support-bot (3)".into(),
            members: results
                .into_iter()
                .enumerate()
                .map(|(n, r)| (n as u64, format!("sim:INC-{n}"), r))
                .collect(),
            skipped: vec![],
        }
    }

    #[test]
    fn one_failure_among_successes_is_named_and_loud() {
        let (level, text) = batch(vec![
            Some(Ok(())),
            Some(Err("HTTP 500".into())),
            Some(Ok(())),
        ])
        .tally();
        assert_eq!(level, FlashLevel::Error);
        assert!(text.contains("2 ✓"), "{text}");
        assert!(text.contains("1 ✗ FAILED (sim:INC-1: HTTP 500)"), "{text}");
        assert!(text.ends_with("(t: retry)"), "{text}");
    }

    #[test]
    fn pending_members_are_counted_until_they_answer() {
        let (level, text) = batch(vec![Some(Ok(())), None, None]).tally();
        assert_eq!(level, FlashLevel::Info);
        assert!(text.contains("1 ✓ · 2 pending"), "{text}");
    }
}
