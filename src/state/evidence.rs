//! The evidence snapshot taken before a lever moves: the feature's samples (now and before),
//! its signals and its lever state, as JSON for tools and a Markdown summary for people.
//! Once a rollback or kill switch lands, the failing behaviour is gone; what was not kept is
//! lost to the postmortem (and to a regulator asking for evidence preserved before the system
//! was changed).
//!
//! Built here from the state, written by the app's journal thread. The lever waits for the
//! write, but never longer than `EVIDENCE_WAIT_TICKS`: containment must not hang on a slow
//! disk.

use super::samples::{rows, template_counts, SamplesView};
use super::{State, TICKS_PER_SEC};
use crate::domain::command::Command;
use crate::domain::sample::{Sample, Window};
use crate::domain::IncidentId;
use crate::private::file_component;
use serde_json::json;

/// How long a lever waits for its evidence to be written: two seconds of wall clock.
pub const EVIDENCE_WAIT_TICKS: u64 = 2 * TICKS_PER_SEC;

/// Samples quoted in the Markdown summary per window (the JSON keeps all).
const QUOTED: usize = 5;

/// Files to write under `<data dir>/<dir>/`.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub dir: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// The incident the evidence belongs to: the selected one when it is on the lever's feature,
/// else the worst open one there.
fn incident_for<'a>(state: &'a State, feature: &str) -> Option<&'a crate::domain::Incident> {
    state
        .selected()
        .filter(|i| i.feature.as_str() == feature)
        .or_else(|| {
            state
                .incidents
                .all
                .iter()
                .filter(|i| i.is_open() && i.feature.as_str() == feature)
                .min_by_key(|i| i.sev)
        })
}

/// The snapshot for `command`, if it is a lever.
pub fn snapshot(state: &State, command: &Command) -> Option<Snapshot> {
    let Command::Flag { source, op } = command else {
        return None;
    };
    let feature = op.feature();
    let incident = incident_for(state, feature);
    let owner: IncidentId = incident.map_or_else(|| format!("feature-{feature}"), |i| i.id.clone());
    let dir = format!(
        "evidence/{}/{}",
        file_component(&owner),
        state.now.format("%Y%m%dT%H%M%SZ")
    );
    let view = incident.map(|inc| SamplesView::new(state, inc));
    let worst = |w: Window| -> Vec<&Sample> {
        match &view {
            Some(v) => rows(&state.samples, v, w),
            None => state.samples.of(feature, w).iter().collect(),
        }
    };
    let fetched = |w: Window| {
        state.samples.get(feature, w).map(|f| {
            json!({
                "source": f.source,
                "fetched_at": f.at,
                "error": f.result.as_ref().err(),
                "note": f.note,
            })
        })
    };
    let signals: Vec<_> = state
        .signals
        .merged
        .signals
        .iter()
        .filter(|s| s.feature == feature)
        .map(|s| {
            json!({
                "signal": s.kind.label(),
                "last": s.last(),
                "step_secs": s.step_secs,
                "points": s.points,
                "bounds": s.bounds.as_ref().map(|b| json!({"low": b.low, "high": b.high})),
            })
        })
        .collect();
    let info = state.feature_info(feature);
    let levers = info.map(|f| {
        json!({
            "model": f.model,
            "model_version": f.model_version,
            "current_prompt": f.current_prompt,
            "last_known_good_prompt": f.last_known_good_prompt,
            "killed": f.killed,
            "flag_source": f.flag_source,
        })
    });
    let templates = &state.samples.settings.refusal_templates;
    let counts = |w: Window| -> Vec<_> {
        templates
            .iter()
            .zip(template_counts(&state.samples, feature, w))
            .map(|(t, n)| json!({"template": t, "count": n}))
            .collect()
    };
    let doc = json!({
        "taken_at": state.now,
        "taken_by": state.author,
        "lever": {
            "source": source,
            "action": command.name(),
            "target": command.target(),
            "feature": feature,
        },
        "incident": incident.map(|i| json!({
            "id": i.id,
            "source": i.source,
            "title": i.title,
            "type": i.kind.label(),
            "sev": i.sev.to_string(),
            "triggered_at": i.triggered_at,
            "evidence": i.evidence,
        })),
        "lever_state_before": levers,
        "signals": signals,
        "samples": {
            "incident": worst(Window::Incident),
            "baseline": worst(Window::Baseline),
            "incident_fetch": fetched(Window::Incident),
            "baseline_fetch": fetched(Window::Baseline),
        },
        "refusal_templates": {
            "incident": counts(Window::Incident),
            "baseline": counts(Window::Baseline),
        },
    });
    let json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    let summary = summary(
        state,
        command,
        feature,
        incident,
        &worst(Window::Incident),
        &worst(Window::Baseline),
    );
    Some(Snapshot {
        dir,
        files: vec![
            ("evidence.json".into(), json),
            ("summary.md".into(), summary.into_bytes()),
        ],
    })
}

fn summary(
    state: &State,
    command: &Command,
    feature: &str,
    incident: Option<&crate::domain::Incident>,
    now: &[&Sample],
    before: &[&Sample],
) -> String {
    let mut md = format!(
        "# Evidence before {} ({})\n\nTaken {} by {}.\n\n",
        command.name(),
        command.target(),
        state.now.format("%Y-%m-%d %H:%M:%S UTC"),
        state.author
    );
    if let Some(i) = incident {
        md.push_str(&format!(
            "Incident {} — {} {} — {}\n\n",
            i.id,
            i.sev,
            i.kind.label(),
            i.title
        ));
    }
    for (name, window, list) in [
        ("Incident window", Window::Incident, now),
        ("Baseline window", Window::Baseline, before),
    ] {
        md.push_str(&format!(
            "## {name}: {} samples, worst eval first\n\n",
            list.len()
        ));
        // Said where it applies: these may not be the window's worst.
        if let Some(note) = state
            .samples
            .get(feature, window)
            .and_then(|f| f.note.as_deref())
        {
            md.push_str(&format!("Note: {note}\n\n"));
        }
        if list.is_empty() {
            md.push_str("No samples were fetched for this window before the lever.\n\n");
        }
        for s in list.iter().take(QUOTED) {
            md.push_str(&s.quote());
        }
    }
    md
}
