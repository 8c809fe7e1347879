//! The actions part: every command sent to a backend, tracked from request to outcome, so
//! nothing is silently dropped; each request and outcome goes to the audit log.

use super::guard::{allowed, Operation};
use super::{Effect, FlashLevel, Saving, SourceRole, State};
use crate::audit::AuditRecord;
use crate::domain::command::{Command, CommandOutcome, CommandRequest, FlagOp, PageOp};
use crate::domain::SafeText;
use chrono::{DateTime, Utc};

/// Finished actions kept for the status line and retry.
const ACTIONS_KEPT: usize = 50;

#[derive(Clone, Debug, PartialEq)]
pub enum ActionStatus {
    Pending,
    Succeeded(String),
    Failed(String),
}

/// An action sent to a backend, tracked until it visibly succeeds or fails.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedAction {
    pub id: u64,
    pub command: Command,
    pub status: ActionStatus,
    pub at: DateTime<Utc>,
}

impl TrackedAction {
    pub fn label(&self) -> String {
        format!("{} {}", self.command.name(), self.command.target())
    }
}

#[derive(Debug)]
pub struct Actions {
    /// Oldest first; pending ones are never dropped.
    pub tracked: Vec<TrackedAction>,
    next_id: u64,
    /// Levers waiting for their evidence snapshot, with the tick they were held at.
    pub held: Vec<(CommandRequest, u64)>,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            tracked: Vec::new(),
            next_id: 1,
            held: Vec::new(),
        }
    }
}

impl Actions {
    pub fn pending_count(&self) -> usize {
        self.tracked
            .iter()
            .filter(|a| a.status == ActionStatus::Pending)
            .count()
    }

    pub fn last_failed(&self) -> Option<&TrackedAction> {
        self.tracked
            .iter()
            .rev()
            .find(|a| matches!(a.status, ActionStatus::Failed(_)))
    }

    /// Starts tracking `command`; returns its id.
    fn track(&mut self, command: Command, now: DateTime<Utc>) -> &TrackedAction {
        let id = self.next_id;
        self.next_id += 1;
        self.tracked.push(TrackedAction {
            id,
            command,
            status: ActionStatus::Pending,
            at: now,
        });
        if self.tracked.len() > ACTIONS_KEPT {
            // Drop the oldest finished one; pending actions are never forgotten.
            if let Some(i) = self
                .tracked
                .iter()
                .position(|a| a.status != ActionStatus::Pending)
            {
                self.tracked.remove(i);
            }
        }
        let last = self.tracked.len() - 1;
        &self.tracked[last]
    }
}

/// Sends a command to its backend, tracks it, and records the request in the audit log
/// before anything can fail.
pub(super) fn dispatch(state: &mut State, command: Command) -> Vec<Effect> {
    let tracked = state.actions.track(command.clone(), state.now);
    let (id, label) = (tracked.id, tracked.label());
    state.say(FlashLevel::Info, format!("… {label} (pending)"));
    let detail = match &command {
        Command::Incident { op, .. } => op.detail(),
        _ => String::new(),
    };
    // A lever waits for the evidence of what it is about to change; the audit record names
    // the folder it goes to.
    let snapshot = super::evidence::snapshot(state, &command);
    let detail = match &snapshot {
        Some(s) => format!("evidence: {}", s.dir),
        None => detail,
    };
    let record = AuditRecord::new(
        state.now,
        &state.author,
        command.name(),
        &command.target(),
        "requested",
        &detail,
        Some(id),
    );
    let request = CommandRequest {
        action_id: id,
        author: state.author.clone(),
        command,
    };
    match snapshot {
        Some(snapshot) => {
            state.actions.held.push((request, state.ticks));
            vec![
                Effect::Audit(record),
                Effect::Save {
                    what: Saving::Evidence(id),
                    snapshot: Box::new(snapshot),
                },
            ]
        }
        None => vec![Effect::Audit(record), Effect::Send(request)],
    }
}

/// The journal thread wrote (or could not write) what it was asked to. A lever waiting on
/// its evidence goes now either way: a failed snapshot is said loudly and audited, never a
/// reason to leave a feature burning.
pub(super) fn saved(
    state: &mut State,
    what: Saving,
    result: Result<String, String>,
) -> Vec<Effect> {
    match what {
        Saving::Sample => {
            match result {
                Ok(path) => state.say(FlashLevel::Info, format!("✓ sample written: {path}")),
                Err(e) => state.say(FlashLevel::Error, format!("✗ sample NOT written: {e}")),
            }
            vec![]
        }
        Saving::Evidence(action_id) => {
            let mut effects = Vec::new();
            if let Err(e) = &result {
                state.say(
                    FlashLevel::Error,
                    format!("✗ evidence snapshot NOT written: {e} (the lever goes ahead)"),
                );
                let target = state
                    .actions
                    .tracked
                    .iter()
                    .find(|a| a.id == action_id)
                    .map(|a| a.command.target())
                    .unwrap_or_default();
                effects.push(Effect::Audit(AuditRecord::new(
                    state.now,
                    &state.author,
                    "evidence_snapshot",
                    &target,
                    "failed",
                    e,
                    Some(action_id),
                )));
            }
            effects.extend(release(state, |(req, _)| req.action_id == action_id));
            effects
        }
    }
}

/// Levers whose evidence has not been written after `EVIDENCE_WAIT_TICKS` go without it.
pub(super) fn release_overdue(state: &mut State) -> Vec<Effect> {
    let now = state.ticks;
    let overdue = |(_, held_at): &(CommandRequest, u64)| {
        now.saturating_sub(*held_at) >= super::evidence::EVIDENCE_WAIT_TICKS
    };
    if !state.actions.held.iter().any(overdue) {
        return vec![];
    }
    state.say(
        FlashLevel::Warn,
        "evidence snapshot still being written after 2 s: the lever went ahead".into(),
    );
    release(state, overdue)
}

fn release(state: &mut State, which: impl Fn(&(CommandRequest, u64)) -> bool) -> Vec<Effect> {
    let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut state.actions.held)
        .into_iter()
        .partition(|h| which(h));
    state.actions.held = keep;
    go.into_iter().map(|(req, _)| Effect::Send(req)).collect()
}

/// A backend answered: the action shows its outcome, the audit log records it, a failure
/// marks the source, and a lever that moved is told to the pager.
pub(super) fn command_done(state: &mut State, outcome: CommandOutcome) -> Vec<Effect> {
    let Some(pos) = state
        .actions
        .tracked
        .iter()
        .position(|a| a.id == outcome.action_id)
    else {
        return vec![];
    };
    let (status, level, text, result) = match outcome.result {
        Ok(msg) => {
            let msg = SafeText::new(&msg).to_string();
            (
                ActionStatus::Succeeded(msg.clone()),
                FlashLevel::Info,
                format!("✓ {msg}"),
                "succeeded",
            )
        }
        Err(err) => {
            let err = SafeText::new(&err).to_string();
            let label = state.actions.tracked[pos].label();
            (
                ActionStatus::Failed(err.clone()),
                FlashLevel::Error,
                format!("✗ {label} FAILED: {err} (t: retry)"),
                "failed",
            )
        }
    };
    let tracked = &mut state.actions.tracked[pos];
    tracked.status = status.clone();
    let detail = match &status {
        ActionStatus::Succeeded(m) | ActionStatus::Failed(m) => m.clone(),
        ActionStatus::Pending => String::new(),
    };
    let record = AuditRecord::new(
        state.now,
        &state.author,
        tracked.command.name(),
        &tracked.command.target(),
        result,
        &detail,
        Some(tracked.id),
    );
    let command = tracked.command.clone();
    if let ActionStatus::Failed(e) = &status {
        state
            .sources
            .status_mut(command.source(), SourceRole::of(&command))
            .last_error = Some((state.now, e.clone()));
    }
    state.say(level, text);
    let mut effects = vec![Effect::Audit(record)];
    if let (ActionStatus::Succeeded(_), Command::Incident { id, op, .. }) = (&status, &command) {
        super::responders::landed(state, id, op);
    }
    if let (ActionStatus::Succeeded(msg), Command::Flag { op, .. }) = (&status, &command) {
        super::containment::landed(state, op);
        let author = state.author.clone();
        state.changes.lever(state.now, op, &author);
        if let Some(change) = change_event(state, op, msg) {
            effects.extend(dispatch(state, change));
        }
    }
    effects
}

/// A lever that moved is news for whoever reads the pager's timeline later.
fn change_event(state: &State, op: &FlagOp, done: &str) -> Option<Command> {
    let sources = &state.sources;
    let source = sources
        .pager_source
        .clone()
        .filter(|_| sources.change_events)?;
    let feature = op.feature();
    Some(Command::Page {
        source,
        op: PageOp::Change {
            summary: format!("{done} (by {} from oncall-cockpit)", state.author),
            source: feature.to_string(),
            details: vec![
                ("lever".into(), op.name().into()),
                ("actor".into(), state.author.clone()),
            ],
        },
    })
}

/// Re-sends the most recent failed action, in place of it, so it is not retried twice.
pub(super) fn retry(state: &mut State) -> Vec<Effect> {
    let Some(failed) = state.actions.last_failed().cloned() else {
        state.say(FlashLevel::Info, "nothing to retry".into());
        return vec![];
    };
    if allowed(state, Operation::Retry).is_none() {
        return vec![];
    }
    state.actions.tracked.retain(|a| a.id != failed.id);
    dispatch(state, failed.command)
}
