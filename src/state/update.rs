//! The one place state changes. Pure: no I/O and no clock (time arrives as `Action::Tick`).
//! Everything that must reach the outside world is returned as an `Effect`.

use super::{
    ActionStatus, Confirm, Effect, Flash, FlashLevel, Overlay, PickItem, Picker, SourceRole, State,
    TextPurpose, TrackedAction,
};
use crate::action::Action;
use crate::audit::AuditRecord;
use crate::backend::{BackendEvent, Command, CommandOutcome, CommandRequest, FlagOp, IncidentOp};
use crate::domain::{Incident, SafeText, Status};
use crate::runbook;
use tui_textarea::TextArea;

/// Rows moved by page_up / page_down.
const PAGE: isize = 10;
/// How long an info message stays in the status bar; errors stay until replaced.
const FLASH_SECS: u64 = 8;
/// Finished actions kept for the status line and retry.
const ACTIONS_KEPT: usize = 50;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Tick(now) => {
            tick(state, now);
            vec![]
        }
        Action::Resize(w, h) => {
            state.size = (w, h);
            vec![]
        }
        Action::Backend(ev) => backend_event(state, ev),
        Action::CommandDone(outcome) => command_done(state, outcome),
        Action::AuditFailed(msg) => {
            flash(
                state,
                FlashLevel::Error,
                format!("AUDIT LOG NOT WRITTEN: {msg}"),
            );
            vec![]
        }
        // Quit works from every overlay: ctrl-c must never be swallowed by a dialog.
        Action::Shutdown(_) | Action::Quit => {
            state.quit = true;
            vec![Effect::Quit]
        }
        other => match &state.overlay {
            Overlay::None => normal(state, other),
            Overlay::Help => help(state, other),
            Overlay::Confirm(_) => confirm(state, other),
            Overlay::Picker(_) => picker(state, other),
            Overlay::Text { .. } => text(state, other),
            Overlay::Runbook(_) => runbook_mode(state, other),
        },
    }
}

fn tick(state: &mut State, now: chrono::DateTime<chrono::Utc>) {
    state.now = now;
    state.ticks += 1;
    let expired = state.flash.as_ref().is_some_and(|f| {
        f.level == FlashLevel::Info && state.ticks - f.tick > FLASH_SECS * super::TICKS_PER_SEC
    });
    if expired {
        state.flash = None;
    }
}

fn flash(state: &mut State, level: FlashLevel, text: String) {
    state.flash = Some(Flash {
        level,
        text,
        at: state.now,
        tick: state.ticks,
    });
}

fn health_mut<'a>(
    state: &'a mut State,
    source: &str,
    role: SourceRole,
) -> &'a mut super::SourceHealth {
    let pos = state
        .sources
        .iter()
        .position(|s| s.name == source && s.role == role);
    match pos {
        Some(i) => &mut state.sources[i],
        None => {
            state
                .sources
                .push(super::SourceHealth::new(source, role, None));
            let last = state.sources.len() - 1;
            &mut state.sources[last]
        }
    }
}

fn backend_event(state: &mut State, ev: BackendEvent) -> Vec<Effect> {
    match ev {
        BackendEvent::Signals {
            source,
            at,
            set,
            detections,
        } => {
            health_mut(state, &source, SourceRole::Metrics).last_ok = Some(at);
            state.signal_sets.insert(source, (set, detections));
            merge_signals(state);
            vec![]
        }
        BackendEvent::Incidents {
            source,
            at,
            incidents,
        } => {
            health_mut(state, &source, SourceRole::Incidents).last_ok = Some(at);
            let old = std::mem::replace(&mut state.incidents, incidents);
            // With one incident source (the usual case) everything old is replaced, and
            // nothing needs moving. Every source that ever sent incidents is in `sources`, so
            // this is known without reading 10,000 source names.
            let only_source = state
                .sources
                .iter()
                .all(|h| h.role != SourceRole::Incidents || h.name == source);
            let replaced = if only_source {
                old
            } else {
                let (replaced, others): (Vec<_>, Vec<_>) =
                    old.into_iter().partition(|i| i.source == source);
                state.incidents.extend(others);
                replaced
            };
            state.rebuild_view();
            if replaced.is_empty() {
                vec![]
            } else {
                vec![Effect::Discard(replaced)]
            }
        }
        BackendEvent::Failed { source, at, error } => {
            // A source may play several roles; mark each one it plays.
            let mut any = false;
            for h in state.sources.iter_mut().filter(|h| h.name == source) {
                h.last_error = Some((at, SafeText::new(&error).to_string()));
                any = true;
            }
            if !any {
                health_mut(state, &source, SourceRole::Metrics).last_error =
                    Some((at, SafeText::new(&error).to_string()));
            }
            vec![]
        }
    }
}

/// Rebuilds the merged view the panes read from every source's latest set.
fn merge_signals(state: &mut State) {
    let mut merged = crate::domain::SignalSet::default();
    let mut detections = Vec::new();
    for (set, dets) in state.signal_sets.values() {
        merged.at = merged.at.max(set.at);
        merged.signals.extend(set.signals.iter().cloned());
        merged
            .distributions
            .extend(set.distributions.iter().cloned());
        merged.features.extend(set.features.iter().cloned());
        detections.extend(dets.iter().cloned());
    }
    state.signals = merged;
    state.detections = detections;
}

fn command_done(state: &mut State, outcome: CommandOutcome) -> Vec<Effect> {
    let Some(pos) = state.actions.iter().position(|a| a.id == outcome.action_id) else {
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
            let label = state.actions[pos].label();
            (
                ActionStatus::Failed(err.clone()),
                FlashLevel::Error,
                format!("✗ {label} FAILED: {err} (t: retry)"),
                "failed",
            )
        }
    };
    let tracked = &mut state.actions[pos];
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
    let source = tracked.command.source().to_string();
    if let ActionStatus::Failed(e) = &status {
        health_mut(state, &source, role_of(&state.actions[pos].command)).last_error =
            Some((state.now, e.clone()));
    }
    flash(state, level, text);
    vec![Effect::Audit(record)]
}

fn role_of(cmd: &Command) -> SourceRole {
    match cmd {
        Command::Incident { .. } => SourceRole::Incidents,
        Command::Flag { .. } => SourceRole::Flags,
    }
}

/// Sends a command to its backend, tracks it, and records the request in the audit log
/// before anything can fail.
fn dispatch(state: &mut State, command: Command) -> Vec<Effect> {
    let id = state.next_action_id;
    state.next_action_id += 1;
    let tracked = TrackedAction {
        id,
        command: command.clone(),
        status: ActionStatus::Pending,
        at: state.now,
    };
    flash(
        state,
        FlashLevel::Info,
        format!("… {} (pending)", tracked.label()),
    );
    let detail = match &command {
        Command::Incident {
            op: IncidentOp::Note(text),
            ..
        } => text.clone(),
        _ => String::new(),
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
    state.actions.push(tracked);
    if state.actions.len() > ACTIONS_KEPT {
        // Drop the oldest finished one; pending actions are never forgotten.
        if let Some(i) = state
            .actions
            .iter()
            .position(|a| a.status != ActionStatus::Pending)
        {
            state.actions.remove(i);
        }
    }
    vec![
        Effect::Audit(record),
        Effect::Send(CommandRequest {
            action_id: id,
            author: state.author.clone(),
            command,
        }),
    ]
}

/// False (and says why) when the selected incident's source cannot do `op` at all.
fn supported(state: &mut State, op: &str) -> bool {
    match state.unsupported_reason(op).map(str::to_string) {
        Some(why) => {
            flash(state, FlashLevel::Warn, format!("{op} unavailable: {why}"));
            false
        }
        None => true,
    }
}

/// Guards every action that changes something outside the cockpit.
fn writable(state: &mut State, what: &str) -> bool {
    if state.read_only {
        flash(
            state,
            FlashLevel::Warn,
            format!("read-only mode: {what} is disabled (started with --read-only)"),
        );
        return false;
    }
    true
}

fn selected_or_warn(state: &mut State, what: &str) -> Option<Incident> {
    let inc = state.selected().cloned();
    if inc.is_none() {
        flash(
            state,
            FlashLevel::Warn,
            format!("{what}: no incident selected"),
        );
    }
    inc
}

fn incident_command(inc: &Incident, op: IncidentOp) -> Command {
    Command::Incident {
        source: inc.source.clone(),
        id: inc.id.clone(),
        op,
    }
}

fn editor(initial: &str, title: &str) -> Box<TextArea<'static>> {
    let mut ta = TextArea::new(vec![initial.to_string()]);
    ta.move_cursor(tui_textarea::CursorMove::End);
    ta.set_placeholder_text(title.to_string());
    Box::new(ta)
}

fn normal(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Help => state.overlay = Overlay::Help,
        Action::Up => state.move_cursor(-1),
        Action::Down => state.move_cursor(1),
        Action::PageUp => state.move_cursor(-PAGE),
        Action::PageDown => state.move_cursor(PAGE),
        Action::Top => state.move_cursor(-(state.view.len() as isize)),
        Action::Bottom => state.move_cursor(state.view.len() as isize),
        Action::ToggleDetail => state.show_detail = !state.show_detail,
        Action::NextFeature => next_feature(state),
        Action::Back => {
            if !state.filter.is_empty() {
                state.filter.clear();
                state.rebuild_view();
            } else if state.signal_feature.is_some() {
                state.signal_feature = None;
            } else {
                state.show_detail = false;
            }
        }
        Action::Filter => {
            state.overlay = Overlay::Text {
                purpose: TextPurpose::Filter,
                editor: editor(&state.filter, "sev1 cost support-bot …"),
            }
        }
        Action::Ack => return incident_op(state, IncidentOp::Ack),
        Action::Escalate => return incident_op(state, IncidentOp::Escalate),
        Action::Resolve => resolve(state),
        Action::Note => {
            let target = writable(state, "note")
                .then(|| selected_or_warn(state, "note"))
                .flatten()
                .filter(|_| supported(state, "note"));
            if let Some(inc) = target {
                state.overlay = Overlay::Text {
                    purpose: TextPurpose::Note(inc.id),
                    editor: editor("", "what you saw or did"),
                };
            }
        }
        Action::Rollback => rollback(state),
        Action::KillSwitch => kill_switch(state),
        Action::Runbook => open_runbook(state),
        Action::Retry => return retry(state),
        _ => {}
    }
    vec![]
}

fn next_feature(state: &mut State) {
    let names: Vec<String> = state
        .signals
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();
    if names.is_empty() {
        return;
    }
    let current = state.shown_feature();
    let pos = current
        .and_then(|c| names.iter().position(|n| *n == c))
        .map(|p| (p + 1) % names.len())
        .unwrap_or(0);
    state.signal_feature = Some(names[pos].clone());
}

fn incident_op(state: &mut State, op: IncidentOp) -> Vec<Effect> {
    if !writable(state, op.name()) {
        return vec![];
    }
    let Some(inc) = selected_or_warn(state, op.name()) else {
        return vec![];
    };
    if !supported(state, op.name()) {
        return vec![];
    }
    let refusal = match (&op, inc.status) {
        (_, Status::Resolved) => Some(format!("{} is resolved", inc.id)),
        (IncidentOp::Ack, Status::Acknowledged) => Some(format!(
            "{} already acknowledged by {}",
            inc.id,
            inc.acked_by
                .as_ref()
                .map(|s| s.as_str())
                .unwrap_or("someone")
        )),
        _ => None,
    };
    if let Some(why) = refusal {
        flash(state, FlashLevel::Warn, why);
        return vec![];
    }
    dispatch(state, incident_command(&inc, op))
}

fn resolve(state: &mut State) {
    if !writable(state, "resolve") {
        return;
    }
    let Some(inc) = selected_or_warn(state, "resolve") else {
        return;
    };
    if !supported(state, "resolve") {
        return;
    }
    if inc.status == Status::Resolved {
        flash(
            state,
            FlashLevel::Warn,
            format!("{} is already resolved", inc.id),
        );
        return;
    }
    let mut lines = vec![format!("{} {}", inc.sev, inc.title)];
    if inc.firing {
        lines.push("The signal is STILL FIRING.".to_string());
    }
    state.overlay = Overlay::Confirm(Confirm {
        title: format!("Resolve {}?", inc.id),
        lines,
        danger: true,
        command: incident_command(&inc, IncidentOp::Resolve),
    });
}

fn flag_source(state: &mut State, what: &str) -> Option<String> {
    let src = state.flag_source.clone();
    if src.is_none() {
        flash(
            state,
            FlashLevel::Warn,
            format!("{what}: no flag system configured"),
        );
    }
    src
}

/// Feature to act on: the selected incident's, else the one shown in the signal pane.
fn target_feature(state: &State) -> Option<String> {
    state
        .selected()
        .map(|i| i.feature.as_str().to_string())
        .filter(|f| state.feature_info(f).is_some())
        .or_else(|| state.shown_feature())
}

fn rollback(state: &mut State) {
    if !writable(state, "prompt rollback") {
        return;
    }
    let Some(source) = flag_source(state, "prompt rollback") else {
        return;
    };
    let Some(info) = target_feature(state).and_then(|f| state.feature_info(&f).cloned()) else {
        flash(
            state,
            FlashLevel::Warn,
            "prompt rollback: no feature data yet".into(),
        );
        return;
    };
    let current = info.current_prompt.clone().unwrap_or_default();
    let lkg = info.last_known_good_prompt.clone();
    let mut items = Vec::new();
    for v in info.prompt_versions.iter().rev() {
        if v.id == current {
            continue;
        }
        let mut detail = format!(
            "deployed {} · {}",
            v.deployed_at.format("%Y-%m-%d %H:%M"),
            v.note
        );
        if Some(&v.id) == lkg.as_ref() {
            detail = format!("last-known-good · {detail}");
        }
        items.push(PickItem {
            label: v.id.clone(),
            detail,
            confirm: Confirm {
                title: format!("Roll back {} prompt?", info.name),
                lines: vec![
                    format!("{}: {current} → {}", info.name, v.id),
                    "All traffic of the feature switches prompt at once.".into(),
                ],
                danger: true,
                command: Command::Flag {
                    source: source.clone(),
                    op: FlagOp::Rollback {
                        feature: info.name.clone(),
                        to_version: v.id.clone(),
                    },
                },
            },
        });
    }
    if items.is_empty() {
        flash(
            state,
            FlashLevel::Warn,
            format!("{}: no other prompt version to roll back to", info.name),
        );
        return;
    }
    let cursor = items
        .iter()
        .position(|i| Some(&i.label) == lkg.as_ref())
        .unwrap_or(0);
    state.overlay = Overlay::Picker(Picker {
        title: format!("Prompt rollback · {} runs {current}", info.name),
        items,
        cursor,
    });
}

fn kill_switch(state: &mut State) {
    if !writable(state, "kill switch") {
        return;
    }
    let Some(source) = flag_source(state, "kill switch") else {
        return;
    };
    let Some(info) = target_feature(state).and_then(|f| state.feature_info(&f).cloned()) else {
        flash(
            state,
            FlashLevel::Warn,
            "kill switch: no feature data yet".into(),
        );
        return;
    };
    let scopes = std::iter::once(None).chain(info.segments.iter().cloned().map(Some));
    let items = scopes
        .map(|segment| {
            let key = segment.clone().unwrap_or_else(|| "*".into());
            let engaged = info.killed.contains(&key);
            let what = match &segment {
                Some(s) => format!("segment {s}"),
                None => "whole feature".to_string(),
            };
            let (verb, consequence) = if engaged {
                ("RELEASE", "Traffic from this scope is served again.")
            } else {
                (
                    "ENGAGE",
                    "Requests from this scope get the fallback, not the model.",
                )
            };
            PickItem {
                label: format!("{verb} {what}"),
                detail: if engaged {
                    "engaged now".into()
                } else {
                    "serving".into()
                },
                confirm: Confirm {
                    title: format!("{verb} kill switch?"),
                    lines: vec![format!("{} · {what}", info.name), consequence.into()],
                    danger: true,
                    command: Command::Flag {
                        source: source.clone(),
                        op: FlagOp::KillSwitch {
                            feature: info.name.clone(),
                            segment,
                            engage: !engaged,
                        },
                    },
                },
            }
        })
        .collect();
    state.overlay = Overlay::Picker(Picker {
        title: format!("Kill switch · {}", info.name),
        items,
        cursor: 0,
    });
}

fn open_runbook(state: &mut State) {
    let Some(inc) = selected_or_warn(state, "runbook") else {
        return;
    };
    if !state.runbooks.contains_key(&inc.id) {
        let info = state.feature_info(inc.feature.as_str()).cloned();
        let session = runbook::start(&inc, info.as_ref(), &state.signals);
        state.runbooks.insert(inc.id.clone(), session);
    }
    state.overlay = Overlay::Runbook(inc.id);
}

fn retry(state: &mut State) -> Vec<Effect> {
    let Some(failed) = state.last_failed().cloned() else {
        flash(state, FlashLevel::Info, "nothing to retry".into());
        return vec![];
    };
    if !writable(state, "retry") {
        return vec![];
    }
    // The failed entry is replaced by the new attempt so it is not retried twice.
    state.actions.retain(|a| a.id != failed.id);
    dispatch(state, failed.command)
}

fn help(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Help | Action::Back | Action::Cancel => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}

fn confirm(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Confirm => {
            if let Overlay::Confirm(c) = std::mem::take(&mut state.overlay) {
                return dispatch(state, c.command);
            }
        }
        Action::Cancel | Action::Back => {
            state.overlay = Overlay::None;
            flash(
                state,
                FlashLevel::Info,
                "cancelled: nothing was changed".into(),
            );
        }
        _ => {}
    }
    vec![]
}

fn picker(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Picker(p) = &mut state.overlay else {
        return vec![];
    };
    let last = p.items.len().saturating_sub(1);
    match action {
        Action::Up => p.cursor = p.cursor.saturating_sub(1),
        Action::Down => p.cursor = (p.cursor + 1).min(last),
        Action::Select | Action::Confirm => {
            if let Some(item) = p.items.get(p.cursor) {
                state.overlay = Overlay::Confirm(item.confirm.clone());
            }
        }
        Action::Cancel | Action::Back => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}

fn text(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Text { purpose, editor } = &mut state.overlay else {
        return vec![];
    };
    let typed = editor.lines().join(" ");
    match action {
        Action::TextInput(key) => {
            editor.input(key);
            if matches!(purpose, TextPurpose::Filter) {
                // Filter as you type.
                state.filter = editor.lines().join(" ");
                state.rebuild_view();
            }
            vec![]
        }
        Action::Submit => {
            let Overlay::Text { purpose, .. } = std::mem::take(&mut state.overlay) else {
                return vec![];
            };
            submit_text(state, purpose, typed)
        }
        Action::Cancel => {
            let Overlay::Text { purpose, .. } = std::mem::take(&mut state.overlay) else {
                return vec![];
            };
            match purpose {
                TextPurpose::Filter => {
                    state.filter.clear();
                    state.rebuild_view();
                }
                TextPurpose::Answer { incident, .. } => {
                    state.overlay = Overlay::Runbook(incident);
                }
                TextPurpose::Note(_) => {
                    flash(state, FlashLevel::Info, "note discarded".into());
                }
            }
            vec![]
        }
        _ => vec![],
    }
}

fn submit_text(state: &mut State, purpose: TextPurpose, typed: String) -> Vec<Effect> {
    let typed = SafeText::new(typed.trim()).to_string();
    match purpose {
        TextPurpose::Filter => {
            state.filter = typed;
            state.rebuild_view();
            vec![]
        }
        TextPurpose::Note(id) => {
            if typed.is_empty() {
                flash(state, FlashLevel::Info, "empty note not sent".into());
                return vec![];
            }
            let Some(inc) = state.incidents.iter().find(|i| i.id == id).cloned() else {
                flash(
                    state,
                    FlashLevel::Error,
                    format!("{id} is gone; note not sent: {typed}"),
                );
                return vec![];
            };
            dispatch(state, incident_command(&inc, IncidentOp::Note(typed)))
        }
        TextPurpose::Answer { incident, question } => {
            state.overlay = Overlay::Runbook(incident.clone());
            answer(state, &incident, question, Some(typed))
        }
    }
}

/// Records a runbook answer as confirmed (optionally replacing its text) and audits it, so the
/// postmortem can show who established what and when.
fn answer(state: &mut State, incident: &str, question: usize, text: Option<String>) -> Vec<Effect> {
    let Some(session) = state.runbooks.get_mut(incident) else {
        return vec![];
    };
    let Some(q) = session.questions.get(question).cloned() else {
        return vec![];
    };
    let Some(a) = session.answers.get_mut(question) else {
        return vec![];
    };
    if let Some(t) = text {
        a.text = t;
        a.edited = true;
    }
    a.confirmed = true;
    let detail = format!("{} → {}", q.text, a.text);
    if session.cursor + 1 < session.answers.len() {
        session.cursor += 1;
    }
    vec![Effect::Audit(AuditRecord::new(
        state.now,
        &state.author,
        "runbook_answer",
        incident,
        "confirmed",
        &detail,
        None,
    ))]
}

fn runbook_mode(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Runbook(id) = &state.overlay else {
        return vec![];
    };
    let id = id.clone();
    let Some(session) = state.runbooks.get_mut(&id) else {
        state.overlay = Overlay::None;
        return vec![];
    };
    let last = session.answers.len().saturating_sub(1);
    match action {
        Action::Up => session.cursor = session.cursor.saturating_sub(1),
        Action::Down => session.cursor = (session.cursor + 1).min(last),
        // Nothing to confirm in a blank answer: ask for one instead.
        Action::ConfirmAnswer
            if session
                .answers
                .get(session.cursor)
                .is_some_and(|a| !a.text.is_empty()) =>
        {
            let q = session.cursor;
            return answer(state, &id, q, None);
        }
        Action::ConfirmAnswer | Action::EditAnswer => {
            let q = session.cursor;
            let current = session
                .answers
                .get(q)
                .map(|a| a.text.clone())
                .unwrap_or_default();
            state.overlay = Overlay::Text {
                purpose: TextPurpose::Answer {
                    incident: id,
                    question: q,
                },
                editor: editor(&current, "your answer"),
            };
        }
        Action::Back | Action::Cancel => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}
