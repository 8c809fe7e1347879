//! The people side of a response: asking the failing layer's owner in, keeping stakeholders
//! updated on a cadence, recording who holds which role, and folding a group's PagerDuty
//! incidents into one. Each sends a command through `actions::dispatch` (tracked, audited,
//! retried); what the cockpit learns from them (roles, when the last update went) is kept
//! here, by incident, once the backend confirmed it.

use super::guard::{actionable, incident_for, Operation, Refusal};
use super::operations::incident_command;
use super::{actions, text_box, Confirm, Effect, FlashLevel, Overlay, State, TextPurpose};
use crate::domain::command::IncidentOp;
use crate::domain::responders::{Layer, Role};
use crate::domain::{text, Incident, IncidentId, SafeText, Status};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The most of an incident title a message to a person carries: the rest is on the incident.
const TITLE_CHARS: usize = 160;

#[derive(Debug, Default)]
pub struct Responders {
    /// Who holds each role, per incident, as recorded on its timeline.
    pub roles: BTreeMap<IncidentId, BTreeMap<Role, String>>,
    /// When the last status update sent from the cockpit landed, per incident.
    pub updates: BTreeMap<IncidentId, DateTime<Utc>>,
}

impl Responders {
    pub fn roles_of(&self, id: &str) -> Vec<(Role, &str)> {
        self.roles
            .get(id)
            .map(|r| {
                r.iter()
                    .map(|(role, name)| (*role, name.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The layer to ask in for `inc`, and where that came from: the runbook's confirmed "which
/// layer" answer when it names one, else the incident type's usual layer.
pub fn layer(state: &State, inc: &Incident) -> Option<(Layer, String)> {
    let answered = state.runbooks.get(&inc.id).and_then(|rb| {
        rb.questions
            .iter()
            .zip(&rb.answers)
            .find(|(q, a)| q.id == "layer" && a.confirmed)
            .and_then(|(_, a)| Layer::from_answer(&a.text).map(|l| (l, a.text.clone())))
    });
    match answered {
        Some((l, text)) => Some((l, format!("the runbook's answer \"{text}\""))),
        None => Layer::of_type(inc.kind).map(|l| {
            (
                l,
                format!(
                    "the incident type ({}); a confirmed runbook layer answer overrides it",
                    inc.kind.label()
                ),
            )
        }),
    }
}

fn short_title(inc: &Incident) -> String {
    let title = inc.title.as_str();
    match title.char_indices().nth(TITLE_CHARS) {
        Some((cut, _)) => format!("{}…", &title[..cut]),
        None => title.to_string(),
    }
}

/// What the person asked in reads: the incident, why them, and who asked.
fn request_message(state: &State, inc: &Incident, layer: Layer) -> String {
    text::sanitize(&format!(
        "{} {} on {} ({}): {} — needs the {layer} layer's owner. Asked by {} from oncall-cockpit.",
        inc.sev,
        inc.id,
        inc.feature,
        inc.kind.label(),
        short_title(inc),
        state.author
    ))
}

/// The request-responders key: confirms, naming the layer and who; a source that cannot page
/// (the cockpit's own detections, Alertmanager) or an owner without a PagerDuty id records
/// the request on the incident's timeline instead, and the dialog says nobody is paged.
pub(super) fn request(state: &mut State) {
    let (inc, cannot_page) = match actionable(state, Operation::RequestResponders) {
        Ok(target) => match target.into_incident() {
            Some(inc) => (inc, None),
            None => return,
        },
        Err(Refusal::Unsupported(_, why)) => match state.selected() {
            Some(inc) => (inc.clone(), Some(why)),
            None => return,
        },
        Err(refusal) => {
            state.say(FlashLevel::Warn, refusal.to_string());
            return;
        }
    };
    if inc.status == Status::Resolved {
        state.say(FlashLevel::Warn, format!("{} is resolved", inc.id));
        return;
    }
    let Some((layer, from)) = layer(state, &inc) else {
        state.say(
            FlashLevel::Warn,
            format!(
                "request responders: which layer failed? An incident of type {} names none: \
                 confirm the runbook's layer answer (r)",
                inc.kind.label()
            ),
        );
        return;
    };
    let Some(owner) = state.alerts.layers.owner(layer).cloned() else {
        state.say(
            FlashLevel::Warn,
            format!(
                "request responders: nobody owns the {layer} layer: add [alerts.layers.{layer}] \
                 with a name (and pagerduty_user or pagerduty_escalation_policy) to config.toml"
            ),
        );
        return;
    };
    let message = request_message(state, &inc, layer);
    let mut warnings = vec![format!("Layer from {from}.")];
    let (command, danger) = match (cannot_page, &owner.pagerduty) {
        (None, Some(target)) => {
            warnings.push(format!(
                "{} notifies {} ({}) now, with: {message}",
                inc.source,
                owner.name,
                target.describe()
            ));
            let op = IncidentOp::RequestResponders {
                layer,
                who: owner.name.clone(),
                target: target.clone(),
                message,
            };
            (incident_command(&inc, op), true)
        }
        (why, _) => {
            let why = why.unwrap_or_else(|| {
                format!(
                    "[alerts.layers.{layer}] names no pagerduty_user or \
                     pagerduty_escalation_policy"
                )
            });
            if let Some(no_note) = state
                .sources
                .unsupported_reason(&inc.source, Operation::Note)
            {
                state.say(
                    FlashLevel::Warn,
                    format!(
                        "request responders: {} cannot be paged from here ({why}) nor the request \
                         noted ({no_note}): ask {} ({layer} layer) directly",
                        owner.name, owner.name
                    ),
                );
                return;
            }
            warnings.push(format!(
                "NOT PAGED from here: {why}. Call or message {} yourself; y records the \
                 request on the incident's timeline.",
                owner.name
            ));
            let note = format!(
                "responder requested: {} ({layer} layer); not paged from oncall-cockpit ({why}), \
                 {} asks them directly",
                owner.name, state.author
            );
            (incident_command(&inc, IncidentOp::Note(note)), false)
        }
    };
    state.overlay = Overlay::Confirm(Box::new(Confirm {
        title: format!("Request responder: {} ({layer} layer)?", owner.name),
        lines: vec![format!("{} {} · {}", inc.sev, inc.id, inc.title)],
        warnings,
        danger,
        command,
        scroll: 0,
        shadow: None,
    }));
}

/// When the next status update is due for `inc`: its SEV's cadence after the last update
/// (`last_update`), or after the onset before the first. None for a resolved incident
/// or a SEV without a cadence.
pub fn next_update_due(state: &State, inc: &Incident) -> Option<DateTime<Utc>> {
    if !inc.is_open() {
        return None;
    }
    let every = state.alerts.status_update_mins.for_sev(inc.sev)?;
    Some(last_update(state, inc).unwrap_or(inc.triggered_at) + every)
}

/// The last status update: the later of what the cockpit sent and what the incident's own
/// system logged (an update sent from PagerDuty's web UI counts too).
pub fn last_update(state: &State, inc: &Incident) -> Option<DateTime<Utc>> {
    let sent_here = state.responders.updates.get(&inc.id).copied();
    sent_here.max(inc.last_status_update)
}

/// What a status update says, before the responder edits it: impact (feature, SEV, the
/// figures that fired), containment as it stands, the roles, and when the next update comes.
pub fn compose(state: &State, inc: &Incident) -> String {
    let mut out = vec![format!(
        "[{}] {} — {}, open {}m, {}",
        inc.sev,
        inc.feature,
        inc.kind.label(),
        (state.now - inc.triggered_at).num_minutes().max(0),
        match (inc.status, inc.firing) {
            (_, false) => "signal recovered",
            (Status::Acknowledged, true) => "acknowledged, still firing",
            _ => "not yet acknowledged, firing",
        }
    )];
    let figures: Vec<&str> = inc.evidence.iter().take(3).map(|e| e.as_str()).collect();
    out.push(format!(
        "Impact: {}{}",
        short_title(inc),
        if figures.is_empty() {
            String::new()
        } else {
            format!(" ({})", figures.join("; "))
        }
    ));
    let containment = match state.containment.watch(&inc.id) {
        Some(w) => w.line(state.now, state),
        // The key hint ("(K)") is the responder's, not the stakeholders'.
        None => format!(
            "no lever pulled yet; first lever: {}",
            without_key_hint(inc.kind.containment())
        ),
    };
    out.push(format!("Containment: {containment}"));
    let roles = state.responders.roles_of(&inc.id);
    if !roles.is_empty() {
        let roles: Vec<String> = roles.iter().map(|(r, n)| format!("{r} {n}")).collect();
        out.push(format!("Roles: {}", roles.join(", ")));
    }
    let next = state
        .alerts
        .status_update_mins
        .for_sev(inc.sev)
        .map(|every| {
            format!(
                "Next update: by {} UTC ({} min).",
                (state.now + every).format("%H:%M"),
                every.num_minutes()
            )
        })
        .unwrap_or_else(|| "Next update: when something changes.".into());
    out.push(next);
    out.join("\n")
}

/// `text` without its key hints, " (K)" or " (p)": they are the responder's keys.
fn without_key_hint(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(" (") {
        let after: Vec<char> = rest[at + 2..].chars().take(2).collect();
        let hint = matches!(after.as_slice(), [key, ')'] if key.is_ascii_alphabetic());
        out.push_str(&rest[..at]);
        if hint {
            rest = &rest[at + 4..];
        } else {
            out.push_str(" (");
            rest = &rest[at + 2..];
        }
    }
    out.push_str(rest);
    out
}

/// The status-update key: a composer pre-filled from the incident; enter sends it.
pub(super) fn status_update(state: &mut State) {
    let Some(inc) = incident_for(state, Operation::StatusUpdate) else {
        return;
    };
    if inc.status == Status::Resolved {
        state.say(FlashLevel::Warn, format!("{} is resolved", inc.id));
        return;
    }
    let draft = compose(state, &inc);
    state.overlay = Overlay::Text {
        purpose: TextPurpose::StatusUpdate(inc.id),
        editor: text_box::composer(&draft, "what stakeholders need to know"),
    };
}

/// The composer was sent: one command, like a note.
pub(super) fn send_update(state: &mut State, id: IncidentId, typed: String) -> Vec<Effect> {
    if typed.is_empty() {
        state.say(FlashLevel::Info, "empty status update not sent".into());
        return vec![];
    }
    let Some(inc) = state.incidents.all.iter().find(|i| i.id == id).cloned() else {
        state.say(
            FlashLevel::Error,
            format!("{id} is gone; status update not sent: {typed}"),
        );
        return vec![];
    };
    actions::dispatch(
        state,
        incident_command(&inc, IncidentOp::StatusUpdate(typed)),
    )
}

/// `:role commander Jane Doe`: records who holds a role on the selected incident.
pub(super) fn set_role(state: &mut State, role: &str, name: &str) -> Vec<Effect> {
    let Some(role) = Role::from_name(role) else {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        state.say(
            FlashLevel::Warn,
            format!(
                ":role takes one of {}, then a name (:role commander Jane Doe)",
                known.join(", ")
            ),
        );
        return vec![];
    };
    let name = SafeText::new(name.trim()).to_string();
    if name.is_empty() {
        state.say(
            FlashLevel::Warn,
            format!(":role {role} needs a name (:role {role} Jane Doe)"),
        );
        return vec![];
    }
    let Some(inc) = incident_for(state, Operation::SetRole) else {
        return vec![];
    };
    actions::dispatch(
        state,
        incident_command(&inc, IncidentOp::Role { role, name }),
    )
}

/// A backend confirmed `op` on `id`: what it means for the response is kept.
pub(super) fn landed(state: &mut State, id: &IncidentId, op: &IncidentOp) {
    match op {
        IncidentOp::StatusUpdate(_) => {
            state.responders.updates.insert(id.clone(), state.now);
        }
        IncidentOp::Role { role, name } => {
            state
                .responders
                .roles
                .entry(id.clone())
                .or_default()
                .insert(*role, name.clone());
        }
        _ => {}
    }
}

/// `(incident, why)` pairs said once per reason: "sim:INC-2, sim:INC-5: grouped, not merged".
fn by_reason(pairs: &[(IncidentId, String)]) -> String {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for (id, why) in pairs {
        match reasons.iter_mut().find(|(w, _)| w == why) {
            Some((_, ids)) => ids.push(id),
            None => reasons.push((why, vec![id])),
        }
    }
    reasons
        .iter()
        .map(|(why, ids)| format!("{}: {why}", ids.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The merge key, on a group's parent row: the group's incidents of the parent's PagerDuty
/// source are merged into it, confirmed; members from other sources are left as they are,
/// and the dialog says which and why.
pub(super) fn merge(state: &mut State) {
    if state.read_only {
        state.say(
            FlashLevel::Warn,
            Refusal::ReadOnly(Operation::Merge).to_string(),
        );
        return;
    }
    let Some(members) = state.incidents.selected_members() else {
        state.say(
            FlashLevel::Warn,
            "merge: put the cursor on a group's parent row (▸ ×N); merge folds its PagerDuty \
             incidents into one"
                .into(),
        );
        return;
    };
    let members: Vec<Incident> = members
        .iter()
        .filter_map(|&i| state.incidents.all.get(i).cloned())
        .collect();
    let why_not = |i: &Incident| -> Option<String> {
        if !i.is_open() {
            return Some("resolved".into());
        }
        state
            .sources
            .unsupported_reason(&i.source, Operation::Merge)
            .map(str::to_string)
    };
    // The parent: the group's lead when its source merges, else its most urgent member whose
    // source does.
    let target = state
        .selected()
        .filter(|i| why_not(i).is_none())
        .cloned()
        .or_else(|| {
            members
                .iter()
                .filter(|i| why_not(i).is_none())
                .min_by_key(|i| (i.urgency_rank(), i.id.clone()))
                .cloned()
        });
    let Some(target) = target else {
        let reasons: Vec<(String, String)> = members
            .iter()
            .filter_map(|m| why_not(m).map(|why| (m.id.clone(), why)))
            .collect();
        state.say(
            FlashLevel::Warn,
            format!(
                "merge: no incident of this group can be merged ({})",
                by_reason(&reasons)
            ),
        );
        return;
    };
    let mut merged = Vec::new();
    let mut left = Vec::new();
    for m in members.iter().filter(|m| m.id != target.id) {
        match why_not(m) {
            None if m.source == target.source => merged.push(m.clone()),
            None => left.push((
                m.id.clone(),
                format!("in {}, not {} (another account)", m.source, target.source),
            )),
            Some(why) => left.push((m.id.clone(), why)),
        }
    }
    let left = by_reason(&left);
    if merged.is_empty() {
        state.say(
            FlashLevel::Warn,
            format!("merge: nothing to merge into {} ({left})", target.id),
        );
        return;
    }
    let mut lines = vec![format!(
        "into {} {} {} · {}",
        target.sev,
        target.status.short(),
        target.id,
        target.title
    )];
    lines.extend(
        merged
            .iter()
            .map(|m| format!("  ← {} {} {} · {}", m.sev, m.status.short(), m.id, m.title)),
    );
    let mut warnings = vec![format!(
        "{} resolves the {} merged and moves their alerts into {}; this cannot be undone \
         from here.",
        target.source,
        merged.len(),
        target.id
    )];
    if !left.is_empty() {
        warnings.push(format!("Left as they are: {left}."));
    }
    let ids = merged.iter().map(|m| m.id.clone()).collect();
    state.overlay = Overlay::Confirm(Box::new(Confirm {
        title: format!("Merge {} incident(s) into {}?", merged.len(), target.id),
        lines,
        warnings,
        danger: true,
        command: incident_command(&target, IncidentOp::Merge(ids)),
        scroll: 0,
        shadow: None,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hints_are_left_out_of_what_stakeholders_read() {
        assert_eq!(
            without_key_hint("prompt rollback (p) or conservative config"),
            "prompt rollback or conservative config"
        );
        assert_eq!(
            without_key_hint("kill switch per feature or user segment (K)"),
            "kill switch per feature or user segment"
        );
        assert_eq!(
            without_key_hint("faster model (if any) or (K)"),
            "faster model (if any) or"
        );
        assert_eq!(without_key_hint("nothing to strip"), "nothing to strip");
    }
}
