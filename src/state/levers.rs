//! The levers on a feature: prompt rollback and kill switch. Both open a chooser whose
//! every choice but the harmless one confirms before anything changes.

use super::guard::{feature_for, Operation};
use super::{Confirm, FlashLevel, Overlay, PickItem, Picker, State};
use crate::domain::command::{Command, FlagOp};
use crate::domain::lever::Lever;

pub(super) fn rollback(state: &mut State) {
    let Some((info, source)) = feature_for(state, Operation::Rollback) else {
        return;
    };
    let current = info.current_prompt.clone().unwrap_or_default();
    let lkg = info.last_known_good_prompt.clone();
    let mut items = Vec::new();
    for v in info.prompt_versions.iter().rev() {
        if v.id == current {
            continue;
        }
        let shadow =
            super::shadow::request_for(state, &info.name, Lever::PromptRollback, &current, &v.id);
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
                shadow,
            }),
        });
    }
    if items.is_empty() {
        state.say(
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

pub(super) fn kill_switch(state: &mut State) {
    let Some((info, source)) = feature_for(state, Operation::KillSwitch) else {
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
    let split = scope_split(state, &info.name);
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
        let status = if engaged { "engaged now" } else { "serving" };
        // What the scope carries, so choosing it is not a guess.
        let known = segment
            .as_deref()
            .and_then(|s| crate::domain::split::row(&split, s))
            .map(|r| r.summary())
            .filter(|s| !s.is_empty());
        PickItem {
            label: format!("{verb} {what}"),
            detail: match known {
                Some(k) => format!("{status} · {k}"),
                None => status.to_string(),
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
                shadow: None,
            }),
        }
    }));
    state.overlay = Overlay::Picker(Picker {
        title: format!("Kill switch · {}", info.name),
        items,
        cursor: 0,
    });
}

/// How long before now the kill switch's split looks when no incident of the feature is
/// selected.
const RECENT_SECS: i64 = 10 * 60;

/// The feature's split over the selected incident's window when it is the feature's, else
/// over the last ten minutes.
fn scope_split(state: &State, feature: &str) -> crate::domain::split::Split {
    let incident = state
        .selected()
        .filter(|inc| inc.feature.as_str() == feature)
        .map(|inc| super::samples::windows(&state.samples.settings, inc.triggered_at, state.now).0);
    let span = incident.unwrap_or((
        state.now - chrono::Duration::seconds(RECENT_SECS),
        state.now + chrono::Duration::seconds(1),
    ));
    crate::domain::split::split(
        &state.signals.merged,
        state
            .samples
            .of(feature, crate::domain::sample::Window::Incident),
        |s| state.samples.refused(s),
        feature,
        span,
    )
}
