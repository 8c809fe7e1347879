//! The one place state changes. Pure: no I/O and no clock (time arrives as `Action::Tick`).
//! Everything that must reach the outside world is returned as an `Effect`.

use super::{
    ActionStatus, Confirm, Effect, Flash, FlashLevel, Overlay, PickItem, Picker, SourceRole, State,
    TextPurpose, TrackedAction,
};
use crate::action::Action;
use crate::audit::AuditRecord;
use crate::domain::command::{
    Command, CommandOutcome, CommandRequest, FlagOp, IncidentOp, PageOp, PageSeverity,
};
use crate::domain::event::{BackendEvent, FeatureFlags};
use crate::domain::{text, FeatureInfo, Incident, PromptVersion, SafeText, Sev, Status};
use crate::runbook;
use crate::runbook::postmortem;
use ratatui_textarea::TextArea;

/// Rows moved by page_up / page_down.
const PAGE: isize = 10;
/// How long an info message stays in the status bar; errors stay until replaced.
const FLASH_SECS: u64 = 8;
/// Finished actions kept for the status line and retry.
const ACTIONS_KEPT: usize = 50;
/// How long a new SEV1's row flashes, in ticks (wall clock, whatever the drill speed).
pub const NEW_SEV1_TICKS: u64 = 6 * super::TICKS_PER_SEC;

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
        Action::Exported(result) => {
            match result {
                Ok(path) => flash(
                    state,
                    FlashLevel::Info,
                    format!("✓ postmortem written: {path}"),
                ),
                Err(e) => flash(
                    state,
                    FlashLevel::Error,
                    format!("✗ postmortem NOT written: {e}"),
                ),
            }
            vec![]
        }
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
        other if state.too_small() => too_small(state, other),
        other => match &state.overlay {
            Overlay::None => normal(state, other),
            Overlay::Help => help(state, other),
            Overlay::Confirm(_) => confirm(state, other),
            Overlay::Picker(_) => picker(state, other),
            Overlay::Text { .. } => text(state, other),
            Overlay::Runbook(_) => runbook_mode(state, other),
            Overlay::Describe { .. } => describe(state, other),
            Overlay::Sources { .. } => sources(state, other),
        },
    }
}

/// While the terminal is too small to draw the cockpit, no key may act: the responder cannot
/// see what it would act on (an `a` or a `K enter y` typed blind at 40x10 acknowledged and
/// killed a feature). Help is drawn even then, so it opens, scrolls and closes; quit is
/// handled before this. A dialog or text box left open stays as it was for when the terminal
/// grows back.
fn too_small(state: &mut State, action: Action) -> Vec<Effect> {
    match (&state.overlay, action) {
        (Overlay::None, Action::Help) => open_help(state),
        (Overlay::Help, a) => return help(state, a),
        _ => {}
    }
    vec![]
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
    if state
        .new_sev1
        .as_ref()
        .is_some_and(|(_, at)| state.ticks - at > NEW_SEV1_TICKS)
    {
        state.new_sev1 = None;
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
        BackendEvent::Flags { source, at, flags } => {
            health_mut(state, &source, SourceRole::Flags).last_ok = Some(at);
            state
                .flag_sets
                .insert(source, flags.iter().map(sanitize_flags).collect());
            merge_signals(state);
            vec![]
        }
        BackendEvent::Incidents {
            source,
            at,
            incidents,
        } => {
            let health = health_mut(state, &source, SourceRole::Incidents);
            // What is open when the cockpit starts is not news; what arrives after is.
            let first_poll = health.last_ok.is_none();
            health.last_ok = Some(at);
            let was_sev1: std::collections::HashSet<&str> = state
                .incidents
                .iter()
                // The inline fields first: comparing tens of thousands of source names is the
                // slow part of this scan.
                .filter(|i| is_loud_sev1(i) && i.source == source)
                .map(|i| i.id.as_str())
                .collect();
            let new_sev1 = incidents
                .iter()
                .find(|i| is_loud_sev1(i) && !was_sev1.contains(i.id.as_str()))
                .filter(|_| !first_poll)
                .map(|i| (i.id.clone(), i.title.to_string()));
            // With one incident source (the usual case) everything old is replaced, and
            // nothing needs moving. Every source that ever sent incidents is in `sources`, so
            // this is known without reading 10,000 source names.
            let only_source = state
                .sources
                .iter()
                .all(|h| h.role != SourceRole::Incidents || h.name == source);
            let replaced = if only_source {
                std::mem::replace(&mut state.incidents, incidents)
            } else {
                replace_from(&mut state.incidents, &source, incidents)
            };
            state.rebuild_view();
            let mut effects = Vec::new();
            if let Some((id, title)) = new_sev1 {
                effects.extend(announce_sev1(state, id, &title));
            }
            if !replaced.is_empty() {
                effects.push(Effect::Discard(replaced));
            }
            effects
        }
        BackendEvent::Turn(events) => events
            .into_iter()
            .flat_map(|ev| backend_event(state, ev))
            .collect(),
        BackendEvent::NotShown { source, not_shown } => {
            health_mut(state, &source, SourceRole::Incidents).not_shown = not_shown;
            vec![]
        }
        BackendEvent::Paced {
            source,
            interval_secs,
        } => {
            // Every role the source plays is polled by the same task.
            for h in state.sources.iter_mut().filter(|h| h.name == source) {
                h.paced_secs = interval_secs;
            }
            vec![]
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

/// Puts `fresh` in the slots of `source`'s incidents, so the other sources' incidents stay
/// where they are (tens of thousands of moves of hundreds of bytes each took longer than a
/// frame); returns the replaced ones. `incidents` has no order of its own: `view` sorts.
fn replace_from(
    incidents: &mut Vec<Incident>,
    source: &str,
    fresh: Vec<Incident>,
) -> Vec<Incident> {
    let mut fresh = fresh.into_iter();
    let mut replaced = Vec::new();
    let mut i = 0;
    while i < incidents.len() {
        if incidents[i].source != source {
            i += 1;
            continue;
        }
        match fresh.next() {
            Some(new) => {
                replaced.push(std::mem::replace(&mut incidents[i], new));
                i += 1;
            }
            // Fewer than before: the last incident fills the hole, checked next.
            None => replaced.push(incidents.swap_remove(i)),
        }
    }
    incidents.extend(fresh);
    replaced
}

/// An open, firing SEV1: what must reach a responder who is looking elsewhere.
fn is_loud_sev1(i: &Incident) -> bool {
    i.sev == Sev::Sev1 && i.is_open() && i.firing
}

/// A new SEV1 flashes its row and, unless configured off, rings the terminal bell. The footer
/// says which one, unless it holds an error a responder still has to read.
fn announce_sev1(state: &mut State, id: String, title: &str) -> Vec<Effect> {
    state.new_sev1 = Some((id.clone(), state.ticks));
    if state
        .flash
        .as_ref()
        .is_none_or(|f| f.level != FlashLevel::Error)
    {
        flash(
            state,
            FlashLevel::Warn,
            format!("NEW SEV1 {id}: {}", text::fit(title, 200)),
        );
    }
    if state.alerts.bell_on_sev1 {
        vec![Effect::Bell]
    } else {
        vec![]
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
    for (source, flags) in &state.flag_sets {
        for ff in flags {
            overlay_flags(&mut merged.features, source, ff);
        }
    }
    state.signals = merged;
    state.detections = detections;
}

/// Flag names, versions and segments come from outside like any other text.
fn sanitize_flags(ff: &FeatureFlags) -> FeatureFlags {
    let clean = |s: &String| SafeText::new(s).to_string();
    FeatureFlags {
        feature: clean(&ff.feature),
        prompt_versions: ff.prompt_versions.iter().map(clean).collect(),
        current_prompt: ff.current_prompt.as_ref().map(clean),
        last_known_good: ff.last_known_good.as_ref().map(clean),
        prompt_changed_at: ff.prompt_changed_at,
        killed: ff.killed.iter().map(clean).collect(),
        segments: ff.segments.iter().map(clean).collect(),
    }
}

/// The flag system is the authority on levers; metrics only know what they last saw served.
/// When two flag systems report one feature the first (by name) holds its levers.
fn overlay_flags(features: &mut Vec<FeatureInfo>, source: &str, ff: &FeatureFlags) {
    let pos = match features.iter().position(|f| f.name == ff.feature) {
        Some(p) => p,
        None => {
            features.push(FeatureInfo::traffic_only(&ff.feature, ""));
            features.len() - 1
        }
    };
    let info = &mut features[pos];
    if info.flag_source.is_some() {
        return;
    }
    info.flag_source = Some(source.to_string());
    for id in &ff.prompt_versions {
        if !info.prompt_versions.iter().any(|v| &v.id == id) {
            info.prompt_versions.push(PromptVersion {
                id: id.clone(),
                deployed_at: None,
                note: SafeText::new(""),
            });
        }
    }
    if ff.current_prompt.is_some() {
        info.current_prompt = ff.current_prompt.clone();
        info.prompt_changed_at = ff.prompt_changed_at.or(info.prompt_changed_at);
    }
    if ff.last_known_good.is_some() {
        info.last_known_good_prompt = ff.last_known_good.clone();
    }
    info.killed = ff.killed.clone();
    for s in ff.segments.iter().chain(&ff.killed) {
        if s != "*" && !info.segments.contains(s) {
            info.segments.push(s.clone());
        }
    }
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
    let mut effects = vec![Effect::Audit(record)];
    if let (ActionStatus::Succeeded(msg), Command::Flag { op, .. }) =
        (&status, &state.actions[pos].command)
    {
        if let Some(change) = change_event(state, op, msg) {
            effects.extend(dispatch(state, change));
        }
    }
    effects
}

/// A lever that moved is news for whoever reads the pager's timeline later.
fn change_event(state: &State, op: &FlagOp, done: &str) -> Option<Command> {
    let source = state.pager_source.clone().filter(|_| state.change_events)?;
    let feature = match op {
        FlagOp::Rollback { feature, .. } | FlagOp::KillSwitch { feature, .. } => feature,
    };
    Some(Command::Page {
        source,
        op: PageOp::Change {
            summary: format!("{done} (by {} from oncall-cockpit)", state.author),
            source: feature.clone(),
            details: vec![
                ("lever".into(), op.name().into()),
                ("actor".into(), state.author.clone()),
            ],
        },
    })
}

/// The dedup key of a page for an incident: the same incident always updates the same page.
pub fn page_key(inc: &Incident) -> String {
    // Ids are kept verbatim on screen; what leaves for a pager goes through the sanitiser.
    format!("oncall-cockpit/{}", text::sanitize(&inc.id))
}

fn page_severity(sev: Sev) -> PageSeverity {
    match sev {
        Sev::Sev1 => PageSeverity::Critical,
        Sev::Sev2 => PageSeverity::Error,
        Sev::Sev3 => PageSeverity::Warning,
        Sev::Sev4 => PageSeverity::Info,
    }
}

fn export(state: &mut State) -> Vec<Effect> {
    // Writing a local file changes no system, so read-only responders may export too.
    let Some(inc) = selected_or_warn(state, "export") else {
        return vec![];
    };
    let related = state
        .actions
        .iter()
        .filter(|a| match &a.command {
            Command::Page {
                op: PageOp::Trigger { dedup_key, .. },
                ..
            } => *dedup_key == page_key(&inc),
            _ => false,
        })
        .map(|a| a.command.target())
        .collect();
    let info = state.feature_info(inc.feature.as_str()).cloned();
    // Never opened, the walkthrough still has what the instrumentation knows about the cause.
    let (runbook, runbook_used) = match state.runbooks.get(&inc.id) {
        Some(rb) => (rb.clone(), true),
        None => (runbook::start(&inc, info.as_ref(), &state.signals), false),
    };
    let draft = postmortem::Draft {
        info,
        signals: postmortem::signal_rows(&inc, &state.signals),
        runbook: Some(runbook),
        runbook_used,
        related_targets: related,
        exported_by: state.author.clone(),
        exported_at: state.now,
        exported_at_real: None,
        speed: state.speed,
        incident: inc.clone(),
    };
    flash(
        state,
        FlashLevel::Info,
        format!("… writing postmortem for {}", inc.id),
    );
    vec![Effect::Export(Box::new(draft))]
}

fn page(state: &mut State) {
    if !writable(state, "page") {
        return;
    }
    let Some(inc) = selected_or_warn(state, "page") else {
        return;
    };
    let Some(source) = state.pager_source.clone() else {
        flash(
            state,
            FlashLevel::Warn,
            "page: no [[pagerduty_events]] integration configured".into(),
        );
        return;
    };
    // Only the cockpit's own detections lack an incident elsewhere; an Alertmanager or
    // PagerDuty incident already pages through its own routing.
    let detected_here = state
        .sources
        .iter()
        .any(|h| h.name == inc.source && h.role == SourceRole::Metrics);
    if !detected_here {
        flash(
            state,
            FlashLevel::Warn,
            format!(
                "page: {} is already a {} incident; it pages through its own routing",
                inc.id, inc.source
            ),
        );
        return;
    }
    if inc.status == Status::Resolved {
        flash(
            state,
            FlashLevel::Warn,
            format!("page: {} is resolved", inc.id),
        );
        return;
    }
    let info = state.feature_info(inc.feature.as_str());
    let mut details = vec![
        ("type".to_string(), inc.kind.label().to_string()),
        ("feature".to_string(), inc.feature.to_string()),
        ("sev".to_string(), inc.sev.to_string()),
        (
            "opened".to_string(),
            inc.triggered_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
        ("paged_by".to_string(), state.author.clone()),
    ];
    for (i, e) in inc.evidence.iter().enumerate() {
        details.push((format!("evidence_{}", i + 1), e.to_string()));
    }
    if let Some(p) = info.and_then(|i| i.current_prompt.clone()) {
        details.push(("prompt_version".into(), p));
    }
    let severity = page_severity(inc.sev);
    // The page is evidence exported to another system (and read in its UI and e-mails): every
    // string in it goes through the same sanitiser as the screen.
    let details = details
        .into_iter()
        .map(|(k, v)| (k, text::sanitize(&v)))
        .collect();
    let command = Command::Page {
        source: source.clone(),
        op: PageOp::Trigger {
            dedup_key: page_key(&inc),
            summary: text::sanitize(&format!("[{}] {}", inc.sev, inc.title)),
            severity,
            source: inc.feature.to_string(),
            component: text::sanitize(&info.map(|i| i.model.clone()).unwrap_or_default()),
            class: inc.kind.label().to_string(),
            details,
        },
    };
    state.overlay = Overlay::Confirm(Box::new(Confirm {
        title: format!("Page on-call for {}?", inc.sev),
        lines: vec![format!("{} · {}", inc.feature, inc.title)],
        warnings: vec![format!(
            "{source} wakes the rotation ({} severity); paging again updates the same page.",
            severity.as_str()
        )],
        danger: true,
        command,
        scroll: 0,
    }));
}

fn role_of(cmd: &Command) -> SourceRole {
    match cmd {
        Command::Incident { .. } => SourceRole::Incidents,
        Command::Flag { .. } => SourceRole::Flags,
        Command::Page { .. } => SourceRole::Pager,
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
    ta.move_cursor(ratatui_textarea::CursorMove::End);
    ta.set_placeholder_text(title.to_string());
    Box::new(ta)
}

fn normal(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Help => open_help(state),
        Action::Describe => open_describe(state),
        Action::Sources => state.overlay = Overlay::Sources { scroll: 0 },
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
                state.refilter_view();
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
        Action::Escalate => escalate(state),
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
        Action::Page => page(state),
        Action::Export => return export(state),
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
    let mut warnings = Vec::new();
    if inc.firing {
        warnings.push("The signal is STILL FIRING.".to_string());
    }
    state.overlay = Overlay::Confirm(Box::new(Confirm {
        title: format!("Resolve {}?", inc.id),
        lines: vec![format!("{} {}", inc.sev, inc.title)],
        warnings,
        danger: true,
        command: incident_command(&inc, IncidentOp::Resolve),
        scroll: 0,
    }));
}

/// Escalation pages the next level and undoes the acknowledgement (the local store and
/// PagerDuty both make the next level acknowledge afresh), so it asks first and says who is
/// next and what it undoes.
fn escalate(state: &mut State) {
    if !writable(state, "escalate") {
        return;
    }
    let Some(inc) = selected_or_warn(state, "escalate") else {
        return;
    };
    if !supported(state, "escalate") {
        return;
    }
    if inc.status == Status::Resolved {
        flash(state, FlashLevel::Warn, format!("{} is resolved", inc.id));
        return;
    }
    let next = usize::from(inc.escalation_level) + 1;
    let roster = state
        .sources
        .iter()
        .any(|h| h.name == inc.source && h.role == SourceRole::Metrics);
    let who = match state.alerts.level_name(next).filter(|_| roster) {
        Some(name) => format!("Next: level {} — {name}.", next + 1),
        None if roster => format!(
            "Next: level {} (no one is named for it in [alerts] escalation_levels).",
            next + 1
        ),
        None => format!(
            "Next: level {} of {}'s escalation policy.",
            next + 1,
            inc.source
        ),
    };
    let minutes = inc.sev.response_time().num_minutes();
    // Who is next and what is undone stay on screen however long the title is.
    let mut warnings = vec![who];
    match (&inc.status, &inc.acked_by) {
        (Status::Acknowledged, by) => warnings.push(format!(
            "The acknowledgement{} is UNDONE: the incident goes back to TRIG until level {} \
             acknowledges, with a new {minutes} min countdown.",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default(),
            next + 1
        )),
        _ => warnings.push(format!(
            "Level {} is paged; the countdown restarts at {minutes} min.",
            next + 1
        )),
    }
    state.overlay = Overlay::Confirm(Box::new(Confirm {
        title: format!("Escalate {} to level {}?", inc.id, next + 1),
        lines: vec![format!("{} {}", inc.sev, inc.title)],
        warnings,
        danger: true,
        command: incident_command(&inc, IncidentOp::Escalate),
        scroll: 0,
    }));
}

/// The flag system holding the feature's levers, else the default one.
fn flag_source(state: &mut State, info: &FeatureInfo, what: &str) -> Option<String> {
    let src = info
        .flag_source
        .clone()
        .or_else(|| state.flag_source.clone());
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
    let Some(info) = target_feature(state).and_then(|f| state.feature_info(&f).cloned()) else {
        flash(
            state,
            FlashLevel::Warn,
            "prompt rollback: no feature data yet".into(),
        );
        return;
    };
    let Some(source) = flag_source(state, &info, "prompt rollback") else {
        return;
    };
    let current = info.current_prompt.clone().unwrap_or_default();
    let lkg = info.last_known_good_prompt.clone();
    let mut items = Vec::new();
    for v in info.prompt_versions.iter().rev() {
        if v.id == current {
            continue;
        }
        let mut parts = Vec::new();
        if Some(&v.id) == lkg.as_ref() {
            parts.push("last-known-good".to_string());
        }
        if let Some(t) = v.deployed_at {
            parts.push(format!("deployed {}", t.format("%Y-%m-%d %H:%M")));
        }
        if !v.note.as_str().is_empty() {
            parts.push(v.note.to_string());
        }
        let detail = parts.join(" · ");
        items.push(PickItem {
            label: v.id.clone(),
            detail,
            confirm: Some(Confirm {
                title: format!("Roll back {} prompt?", info.name),
                lines: vec![format!("{}: {current} → {}", info.name, v.id)],
                warnings: vec!["All traffic of the feature switches prompt at once.".into()],
                danger: true,
                command: Command::Flag {
                    source: source.clone(),
                    op: FlagOp::Rollback {
                        feature: info.name.clone(),
                        to_version: v.id.clone(),
                    },
                },
                scroll: 0,
            }),
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
    let Some(info) = target_feature(state).and_then(|f| state.feature_info(&f).cloned()) else {
        flash(
            state,
            FlashLevel::Warn,
            "kill switch: no feature data yet".into(),
        );
        return;
    };
    let Some(source) = flag_source(state, &info, "kill switch") else {
        return;
    };
    // Smallest blast radius first and the whole feature last; the cursor starts on "keep
    // serving", so no key pressed out of habit (`K y y`, `K enter`) cuts anyone off.
    let scopes = info
        .segments
        .iter()
        .cloned()
        .map(Some)
        .chain(std::iter::once(None));
    let mut items = vec![PickItem {
        label: "keep serving".into(),
        detail: "change nothing".into(),
        confirm: None,
    }];
    items.extend(scopes.map(|segment| {
        let key = segment.clone().unwrap_or_else(|| "*".into());
        let engaged = info.killed.contains(&key);
        let what = match &segment {
            Some(s) => format!("segment {s}"),
            None => "whole feature".to_string(),
        };
        let (verb, consequence) = if engaged {
            ("RELEASE", "Traffic from this scope is served again.")
        } else if segment.is_none() {
            (
                "ENGAGE",
                "EVERY user of the feature gets the fallback, not the model.",
            )
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
            confirm: Some(Confirm {
                title: format!("{verb} kill switch?"),
                lines: vec![format!("{} · {what}", info.name)],
                warnings: vec![consequence.into()],
                danger: true,
                command: Command::Flag {
                    source: source.clone(),
                    op: FlagOp::KillSwitch {
                        feature: info.name.clone(),
                        segment,
                        engage: !engaged,
                    },
                },
                scroll: 0,
            }),
        }
    }));
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

/// Where a scrolled view goes on a movement key, within `0..=max`; None for other keys.
fn scrolled(pos: usize, action: &Action, max: usize, page: usize) -> Option<usize> {
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

fn open_help(state: &mut State) {
    state.help_scroll = 0;
    state.overlay = Overlay::Help;
}

fn help(state: &mut State, action: Action) -> Vec<Effect> {
    let max = crate::ui::help_max_scroll(state);
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
        // A long title scrolls inside the dialog; the warnings and the yes / cancel line stay.
        Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
            let size = state.size;
            if let Overlay::Confirm(c) = &mut state.overlay {
                let max = crate::ui::confirm_max_scroll(c, size);
                if let Some(pos) = scrolled(c.scroll, &action, max, 3) {
                    c.scroll = pos;
                }
            }
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
            match p.items.get(p.cursor).map(|i| i.confirm.clone()) {
                Some(Some(c)) => state.overlay = Overlay::Confirm(Box::new(c)),
                Some(None) => {
                    state.overlay = Overlay::None;
                    flash(
                        state,
                        FlashLevel::Info,
                        "cancelled: nothing was changed".into(),
                    );
                }
                None => {}
            }
        }
        Action::Cancel | Action::Back => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}

fn open_describe(state: &mut State) {
    if let Some(inc) = selected_or_warn(state, "describe") {
        state.overlay = Overlay::Describe {
            id: inc.id,
            scroll: 0,
        };
    }
}

/// The full view scrolls with the movement keys and closes with back (or its own key, or
/// enter); every other key acts as in the list, on the incident being described.
fn describe(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Describe { id, scroll } = &state.overlay else {
        return vec![];
    };
    let (id, pos) = (id.clone(), *scroll);
    let max = crate::ui::describe_max_scroll(state, &id);
    if let Some(pos) = scrolled(pos, &action, max, screen_page(state)) {
        state.overlay = Overlay::Describe { id, scroll: pos };
        return vec![];
    }
    match action {
        Action::Back | Action::Describe | Action::ToggleDetail | Action::Cancel => {
            state.overlay = Overlay::None;
            vec![]
        }
        other => normal(state, other),
    }
}

fn sources(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Sources { scroll } = &state.overlay else {
        return vec![];
    };
    let max = crate::ui::sources_max_scroll(state);
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

fn text(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Text { purpose, editor } = &mut state.overlay else {
        return vec![];
    };
    // Only a note keeps its lines; a filter or an answer is one line.
    let multi_line = matches!(purpose, TextPurpose::Note(_));
    let typed = editor.lines().join(if multi_line { "\n" } else { " " });
    match action {
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
                state.filter = editor.lines().join(" ");
                state.refilter_view();
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
                    state.refilter_view();
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
    let typed = match purpose {
        TextPurpose::Note(_) => text::sanitize_lines(typed.trim()),
        _ => SafeText::new(typed.trim()).to_string(),
    };
    match purpose {
        TextPurpose::Filter => {
            state.filter = typed;
            state.refilter_view();
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
        // Confirming an answer is recorded in the audit log; a read-only cockpit records nothing.
        Action::ConfirmAnswer | Action::EditAnswer if state.read_only => {
            writable(state, "recording runbook answers");
        }
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
            // The answer is selected: typing replaces it, an arrow key keeps it to edit.
            let mut ed = editor(&current, "your answer");
            ed.select_all();
            state.overlay = Overlay::Text {
                purpose: TextPurpose::Answer {
                    incident: id,
                    question: q,
                },
                editor: ed,
            };
        }
        Action::Back | Action::Cancel => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}
