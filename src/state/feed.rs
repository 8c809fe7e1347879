//! What sources report, folded into the parts it concerns: freshness into `sources`,
//! readings and levers into `signals`, incidents into `incidents` (announcing a new SEV1).

use super::{Effect, FlashLevel, SourceRole, State};
use crate::domain::event::BackendEvent;
use crate::domain::text;

pub(super) fn update(state: &mut State, ev: BackendEvent) -> Vec<Effect> {
    match ev {
        // A detecting source's poll: its signals, then the incidents they raised, folded in
        // one turn so no frame shows one without the other.
        BackendEvent::Turn(events) => events
            .into_iter()
            .flat_map(|ev| update(state, ev))
            .collect(),
        BackendEvent::Signals {
            source,
            at,
            set,
            detections,
        } => {
            state.sources.fresh(&source, SourceRole::Metrics, at);
            let status = state.sources.status_mut(&source, SourceRole::Metrics);
            // From outside (build info): sanitised like any text bound for the screen.
            status.engine = set
                .engine
                .as_deref()
                .map(|e| text::SafeText::new(e).to_string());
            status.notes = set
                .notes
                .iter()
                .map(|n| text::SafeText::new(n).to_string())
                .collect();
            state.changes.features(&source, at, &set.features);
            state.signals.readings(source, set, detections);
            vec![]
        }
        BackendEvent::Flags { source, at, flags } => {
            state.sources.fresh(&source, SourceRole::Flags, at);
            state.changes.flags(&source, at, &flags);
            state.signals.levers(source, &flags);
            vec![]
        }
        BackendEvent::Incidents {
            source,
            at,
            mut incidents,
        } => {
            // Sources start each countdown by the SEV ladder; its length is the team's policy
            // (`[respond]`: business hours and outside).
            for inc in &mut incidents {
                inc.respond_by = state.respond.deadline(inc.sev, inc.respond_by);
            }
            let first_poll = state.sources.fresh(&source, SourceRole::Incidents, at);
            let only_source = state.sources.only_incident_source(&source);
            let (replaced, new_sev1) =
                state
                    .incidents
                    .replace(&source, incidents, only_source, first_poll);
            let mut effects = Vec::new();
            if let Some((id, title)) = new_sev1 {
                effects.extend(announce_sev1(state, id, &title));
            }
            if !replaced.is_empty() {
                effects.push(Effect::Discard(replaced));
            }
            effects
        }
        BackendEvent::NotShown { source, not_shown } => {
            state
                .sources
                .status_mut(&source, SourceRole::Incidents)
                .not_shown = not_shown;
            vec![]
        }
        BackendEvent::Changes { source, log } => {
            state.changes.reported(source, log);
            vec![]
        }
        BackendEvent::Paced {
            source,
            interval_secs,
        } => {
            state.sources.paced(&source, interval_secs);
            vec![]
        }
        BackendEvent::Samples {
            source,
            at,
            feature,
            window,
            samples,
            note,
        } => {
            if samples.is_ok() {
                state.sources.fresh(&source, SourceRole::Samples, at);
            }
            state
                .samples
                .answered(source, at, feature, window, samples, note);
            vec![]
        }
        BackendEvent::Shadow {
            source,
            at,
            request,
            answer,
        } => {
            state
                .shadow
                .answered(source, at, *request, answer.map(|a| *a));
            vec![]
        }
        BackendEvent::Failed { source, at, error } => {
            state.sources.failed(&source, at, &error);
            vec![]
        }
    }
}

/// A new SEV1 flashes its row and, unless configured off, rings the terminal bell. The footer
/// says which one, unless it holds an error a responder still has to read.
fn announce_sev1(state: &mut State, id: String, title: &str) -> Vec<Effect> {
    state.incidents.new_sev1 = Some((id.clone(), state.ticks));
    if state
        .flash
        .as_ref()
        .is_none_or(|f| f.level != FlashLevel::Error)
    {
        state.say(
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
