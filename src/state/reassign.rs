//! Reassigning: handing an incident to one person. The chooser offers who is on call for the
//! incident's escalation policy (with the ids the source gave), the configured rota and the
//! layer owners; `:reassign NAME` names anyone. One confirmation, then one command per
//! incident through `actions::dispatch` (tracked, audited, retried). Only sources that assign
//! incidents to people take it; the guard says why the others do not.

use super::guard::{incident_for, Operation, Refusal};
use super::operations::incident_command;
use super::{bulk, Confirm, Effect, FlashLevel, Overlay, PickItem, Picker, State};
use crate::domain::command::IncidentOp;
use crate::domain::responders::{Layer, ResponderTarget};
use crate::domain::{text, Incident, Status};

/// People offered at most: a chooser is read at a glance, and on-call lists of whole
/// organisations would push the ones that matter off the screen.
const MAX_CANDIDATES: usize = 20;

/// Someone the incident can be handed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// Their id in the source, when known; without one the source looks the name up.
    pub user: Option<String>,
    /// Why they are offered: "on call L2 · AI on-call", "rota L1", "owns the model layer".
    pub from: String,
}

/// Whom `incs` can be handed to: their source's on-call levels lowest first, then the rota,
/// then the layer owners; each person once (an id found later fills in a name known
/// without one), at most `MAX_CANDIDATES`.
pub fn candidates(state: &State, incs: &[Incident]) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = Vec::new();
    let mut add = |name: &str, user: Option<&str>, from: String| {
        let name = text::sanitize(name.trim());
        if name.is_empty() {
            return;
        }
        let same = found.iter().position(|c| match (&c.user, user) {
            (Some(a), Some(b)) => a == b,
            _ => c.name.eq_ignore_ascii_case(&name),
        });
        match same {
            Some(i) if found[i].user.is_none() => found[i].user = user.map(str::to_string),
            Some(_) => {}
            None if found.len() < MAX_CANDIDATES => found.push(Candidate {
                name,
                user: user.map(str::to_string),
                from,
            }),
            None => {}
        }
    };
    for inc in incs {
        let Some(oc) = &inc.on_call else { continue };
        for level in &oc.levels {
            for u in &level.users {
                add(
                    u.name.as_str(),
                    Some(&u.id),
                    format!("on call L{} · {}", level.level, oc.policy),
                );
            }
        }
    }
    for inc in incs {
        for level in state.alerts.rota_levels(&inc.source, state.now) {
            for name in state.alerts.rota_names(&inc.source, level, state.now) {
                add(name, None, format!("rota L{level}"));
            }
        }
    }
    for layer in Layer::ALL {
        let Some(owner) = state.alerts.layers.owner(layer) else {
            continue;
        };
        let from = format!("owns the {layer} layer");
        match &owner.pagerduty {
            Some(ResponderTarget::User(id)) => add(&owner.name, Some(id), from),
            // A policy is not a person: reassigning to one is a different request.
            Some(ResponderTarget::EscalationPolicy(_)) => {}
            None => add(&owner.name, None, from),
        }
    }
    found
}

/// The reassign key, or `:reassign [NAME]`: the marks (or a group's parent row) as one set,
/// else the selected incident. Without a name, a chooser of the candidates.
pub(super) fn open(state: &mut State, typed: Option<&str>) -> Vec<Effect> {
    if state.read_only {
        state.say(
            FlashLevel::Warn,
            Refusal::ReadOnly(Operation::Reassign).to_string(),
        );
        return vec![];
    }
    let set = bulk::set(state);
    let single = match &set {
        Some(_) => None,
        None => match incident_for(state, Operation::Reassign) {
            Some(inc) if inc.status == Status::Resolved => {
                state.say(FlashLevel::Warn, format!("{} is resolved", inc.id));
                return vec![];
            }
            Some(inc) => Some(inc),
            None => return vec![],
        },
    };
    let members: Vec<Incident> = match (&set, &single) {
        (Some(s), _) => s.members().to_vec(),
        (None, Some(inc)) => vec![inc.clone()],
        (None, None) => return vec![],
    };
    let people = candidates(state, &members);
    if let Some(name) = typed.map(str::trim).filter(|t| !t.is_empty()) {
        let known = people
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .and_then(|c| c.user.clone());
        let op = IncidentOp::Reassign {
            who: text::sanitize(name),
            user: known,
        };
        return match (set, single) {
            (Some(set), _) => bulk::start(state, op, set),
            (None, Some(inc)) => {
                state.overlay = Overlay::Confirm(Box::new(confirm(&inc, op)));
                vec![]
            }
            (None, None) => vec![],
        };
    }
    if people.is_empty() {
        state.say(
            FlashLevel::Warn,
            "reassign: nobody to offer: no one is on call for it now, and no [[alerts.rota]] \
             entry or [alerts.layers] owner names anyone; :reassign NAME hands it to anyone"
                .into(),
        );
        return vec![];
    }
    let op = |c: &Candidate| IncidentOp::Reassign {
        who: c.name.clone(),
        user: c.user.clone(),
    };
    match (set, single) {
        (Some(set), _) => {
            let items = people
                .iter()
                .map(|c| (c.name.clone(), c.from.clone(), op(c)))
                .collect();
            let title = format!("Reassign {} to whom?", set.label());
            bulk::choose(state, title, items, &set);
        }
        (None, Some(inc)) => {
            let items = people
                .iter()
                .map(|c| PickItem {
                    label: c.name.clone(),
                    detail: c.from.clone(),
                    confirm: Some(confirm(&inc, op(c))),
                })
                .collect();
            state.overlay = Overlay::Picker(Picker {
                title: format!("Reassign {} to whom?", inc.id),
                items,
                cursor: 0,
            });
        }
        (None, None) => {}
    }
    vec![]
}

fn confirm(inc: &Incident, op: IncidentOp) -> Confirm {
    let (who, user) = match &op {
        IncidentOp::Reassign { who, user } => (who.clone(), user.clone()),
        _ => (String::new(), None),
    };
    let now = match inc.assignees.as_slice() {
        [] => "assigned to nobody named".to_string(),
        names => format!(
            "assigned now: {}",
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Confirm {
        title: format!("Reassign {} to {who}?", inc.id),
        lines: vec![
            format!("{} {} · {}", inc.sev, inc.status.short(), inc.title),
            now,
        ],
        warnings: warnings(&who, user.as_deref()),
        danger: true,
        command: incident_command(inc, op),
        scroll: 0,
        shadow: None,
    }
}

/// What the responder must know before handing incidents to `who`.
pub(super) fn warnings(who: &str, user: Option<&str>) -> Vec<String> {
    let mut w = vec![format!(
        "PagerDuty notifies {who}, and only them: the escalation policy no longer moves it on \
         if they do not acknowledge."
    )];
    if user.is_none() {
        w.push(format!(
            "No PagerDuty id is known here for {who}: PagerDuty's users are searched for exactly \
             that name or email."
        ));
    }
    w
}
