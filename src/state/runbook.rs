//! The runbook part: one walkthrough per incident, its answers confirmed or edited one by
//! one, each confirmation audited so the postmortem can show who established what.

use super::guard::{allowed, incident_for, Operation};
use super::{text_box, Effect, Overlay, State, TextPurpose};
use crate::action::Action;
use crate::audit::AuditRecord;
use crate::runbook;

/// Opens the walkthrough of the selected incident, started on first use.
pub(super) fn open(state: &mut State) {
    let Some(inc) = incident_for(state, Operation::Runbook) else {
        return;
    };
    if !state.runbooks.contains_key(&inc.id) {
        let info = state.feature_info(inc.feature.as_str()).cloned();
        let session = runbook::start(
            &inc,
            info.as_ref(),
            &state.signals.merged,
            state.changes.suggest(&inc, state.now).map(|s| s.change),
        );
        state.runbooks.insert(inc.id.clone(), session);
    } else if let Some(cause) = state.changes.suggest(&inc, state.now) {
        // A change read since the walkthrough started (PagerDuty's change events come a few
        // incidents a poll) still informs a layer answer nobody has confirmed or typed.
        let text = runbook::layer_from(cause.change, inc.triggered_at);
        if let Some(rb) = state.runbooks.get_mut(&inc.id) {
            rb.suggest("layer", text);
        }
    }
    state.overlay = Overlay::Runbook(inc.id);
}

/// Records a runbook answer as confirmed (optionally replacing its text) and audits it, so the
/// postmortem can show who established what and when.
pub(super) fn answer(
    state: &mut State,
    incident: &str,
    question: usize,
    text: Option<String>,
) -> Vec<Effect> {
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

pub(super) fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Runbook(id) = &state.overlay else {
        return vec![];
    };
    let id = id.clone();
    if !state.runbooks.contains_key(&id) {
        state.overlay = Overlay::None;
        return vec![];
    }
    // Confirming an answer is recorded in the audit log; a read-only cockpit records nothing.
    if matches!(action, Action::ConfirmAnswer | Action::EditAnswer)
        && allowed(state, Operation::RecordAnswer).is_none()
    {
        return vec![];
    }
    let Some(session) = state.runbooks.get_mut(&id) else {
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
            // The answer is selected: typing replaces it, an arrow key keeps it to edit.
            let mut ed = text_box::editor(&current, "your answer");
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
