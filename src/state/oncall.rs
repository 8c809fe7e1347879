//! Who is on call for an incident, by name: what its source's schedules say (PagerDuty's
//! `/oncalls`, carried on the incident), else the rota in `[[alerts.rota]]`, else the roles in
//! `[alerts] escalation_levels` for the cockpit's own detections, else that nobody knows.
//! Read by the detail pane and the escalate dialog; pure, from state and its clock.

use super::{SourceRole, State};
use crate::domain::Incident;

/// Who is on call at one level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// Names, already sanitised ("Jane Doe (ML)"), or the role the roster gives the level.
    Named(String),
    /// Why nobody can be named ("unknown (no schedule for am)").
    Unknown(String),
}

/// Who is on call at `level` (1-based) of `inc`'s escalation.
pub fn at_level(state: &State, inc: &Incident, level: u32) -> Who {
    if let Some(oc) = &inc.on_call {
        if oc.read_at.is_none() {
            return Who::Unknown(match &oc.error {
                Some(e) => format!("{} on-calls not read: {e}", inc.source),
                None => format!("not read yet from {}", inc.source),
            });
        }
        return match oc.level(level) {
            Some(l) => Who::Named(l.describe()),
            None => Who::Unknown(format!(
                "nobody on call at level {level} of {} now",
                oc.policy
            )),
        };
    }
    let names = state
        .alerts
        .rota_names(&inc.source, level, state.now)
        .join(", ");
    if !names.is_empty() {
        return Who::Named(crate::domain::SafeText::new(&names).to_string());
    }
    let own = state.sources.plays(&inc.source, SourceRole::Metrics);
    match state
        .alerts
        .level_name(level.saturating_sub(1) as usize)
        .filter(|_| own)
    {
        Some(role) => Who::Named(role.to_string()),
        None => Who::Unknown(format!("unknown (no schedule for {})", inc.source)),
    }
}

/// The detail pane's line: every level with someone on call, lowest first, and how old the
/// answer is (written by `age`) when it came from a source; or why nobody is known.
pub fn summary(state: &State, inc: &Incident, age: impl Fn(chrono::Duration) -> String) -> String {
    if let Some(oc) = &inc.on_call {
        let Some(read_at) = oc.read_at else {
            return match at_level(state, inc, 1) {
                Who::Unknown(why) | Who::Named(why) => format!("unknown ({why})"),
            };
        };
        let levels: Vec<String> = oc
            .levels
            .iter()
            .map(|l| format!("L{} {}", l.level, l.describe()))
            .collect();
        let age = age(state.now - read_at);
        let mut s = if levels.is_empty() {
            format!("nobody on call for {} now", oc.policy)
        } else {
            levels.join(" · ")
        };
        s.push_str(&format!(" — {}, read {age} ago", oc.policy));
        if let Some(e) = &oc.error {
            s.push_str(&format!(" (last read failed: {e})"));
        }
        return s;
    }
    let levels = state.alerts.rota_levels(&inc.source, state.now);
    if !levels.is_empty() {
        let named: Vec<String> = levels
            .iter()
            .map(|l| match at_level(state, inc, *l) {
                Who::Named(n) | Who::Unknown(n) => format!("L{l} {n}"),
            })
            .collect();
        return format!("{} — rota", named.join(" · "));
    }
    match at_level(state, inc, 1) {
        Who::Named(role) => format!("L1 {role} (a role; no rota names anyone)"),
        Who::Unknown(why) => why,
    }
}
