//! The responder's operations on incidents: acknowledge, escalate, resolve, note, page and
//! export. Each passes the guard, then either sends its command or opens the dialog that
//! confirms it, saying what it will undo or wake.

use super::guard::{incident_for, Operation};
use super::{
    actions, text_box, Confirm, Effect, FlashLevel, Overlay, SourceRole, State, TextPurpose,
};
use crate::domain::command::{Command, IncidentOp, PageOp, PageSeverity};
use crate::domain::{text, Incident, Sev, Status};
use crate::runbook;
use crate::runbook::postmortem;

pub(super) fn incident_command(inc: &Incident, op: IncidentOp) -> Command {
    Command::Incident {
        source: inc.source.clone(),
        id: inc.id.clone(),
        op,
    }
}

/// Opens the note box for the selected incident.
pub(super) fn note(state: &mut State) {
    if let Some(inc) = incident_for(state, Operation::Note) {
        state.overlay = Overlay::Text {
            purpose: TextPurpose::Note(inc.id),
            editor: text_box::editor("", "what you saw or did"),
        };
    }
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

pub(super) fn export(state: &mut State) -> Vec<Effect> {
    // Writing a local file changes no system, so read-only responders may export too.
    let Some(inc) = incident_for(state, Operation::Export) else {
        return vec![];
    };
    let related = state
        .actions
        .tracked
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
        None => (
            runbook::start(
                &inc,
                info.as_ref(),
                &state.signals.merged,
                state.changes.suggest(&inc, state.now).map(|s| s.change),
            ),
            false,
        ),
    };
    let draft = postmortem::Draft {
        info,
        signals: postmortem::signal_rows(&inc, &state.signals.merged),
        runbook: Some(runbook),
        runbook_used,
        related_targets: related,
        exported_by: state.author.clone(),
        exported_at: state.now,
        exported_at_real: None,
        speed: state.speed,
        samples: super::samples::worst(state, &inc),
        incident: inc.clone(),
    };
    state.say(
        FlashLevel::Info,
        format!("… writing postmortem for {}", inc.id),
    );
    vec![Effect::Export(Box::new(draft))]
}

pub(super) fn page(state: &mut State) {
    let Some(inc) = incident_for(state, Operation::Page) else {
        return;
    };
    let Some(source) = state.sources.pager_source.clone() else {
        state.say(
            FlashLevel::Warn,
            "page: no [[pagerduty_events]] integration configured".into(),
        );
        return;
    };
    // Only the cockpit's own detections lack an incident elsewhere; an Alertmanager or
    // PagerDuty incident already pages through its own routing.
    let detected_here = state.sources.plays(&inc.source, SourceRole::Metrics);
    if !detected_here {
        state.say(
            FlashLevel::Warn,
            format!(
                "page: {} is already a {} incident; it pages through its own routing",
                inc.id, inc.source
            ),
        );
        return;
    }
    if inc.status == Status::Resolved {
        state.say(FlashLevel::Warn, format!("page: {} is resolved", inc.id));
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
        shadow: None,
    }));
}

pub(super) fn incident_op(state: &mut State, op: IncidentOp) -> Vec<Effect> {
    let Some(inc) = incident_for(state, Operation::from(&op)) else {
        return vec![];
    };
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
        state.say(FlashLevel::Warn, why);
        return vec![];
    }
    actions::dispatch(state, incident_command(&inc, op))
}

pub(super) fn resolve(state: &mut State) {
    let Some(inc) = incident_for(state, Operation::Resolve) else {
        return;
    };
    if inc.status == Status::Resolved {
        state.say(FlashLevel::Warn, format!("{} is already resolved", inc.id));
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
        shadow: None,
    }));
}

/// Escalation pages the next level and undoes the acknowledgement (the local store and
/// PagerDuty both make the next level acknowledge afresh), so it asks first and says who is
/// next and what it undoes.
pub(super) fn escalate(state: &mut State) {
    let Some(inc) = incident_for(state, Operation::Escalate) else {
        return;
    };
    if inc.status == Status::Resolved {
        state.say(FlashLevel::Warn, format!("{} is resolved", inc.id));
        return;
    }
    let next = usize::from(inc.escalation_level) + 1;
    let level = u32::try_from(next + 1).unwrap_or(u32::MAX);
    let roster = state.sources.plays(&inc.source, SourceRole::Metrics);
    let who = match super::oncall::at_level(state, &inc, level) {
        super::oncall::Who::Named(name) => format!("Next: level {level} — {name}."),
        super::oncall::Who::Unknown(_) if roster => format!(
            "Next: level {level} (no one is named for it in [alerts] rota or escalation_levels)."
        ),
        super::oncall::Who::Unknown(why) => format!(
            "Next: level {level} of {}'s escalation policy (on call: {why}).",
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
        shadow: None,
    }));
}
