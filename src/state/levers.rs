//! The levers on a feature: prompt rollback, kill switch and the settable levers (model,
//! config, budget, retrieval, fallback). Each opens a chooser whose every choice but the
//! harmless one confirms before anything changes.

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

/// One change of a settable lever: `to` served to `segment` (the whole feature for `None`)
/// instead of `from`; `shown` is how the dialog names `to` ("mini (model frontier-mini)").
pub(super) struct LeverChange<'a> {
    pub feature: &'a str,
    pub lever: Lever,
    pub segment: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a str,
    pub shown: &'a str,
    /// A revert to an earlier setting, which contains nothing.
    pub undo: bool,
}

/// The confirmation of a settable lever's change, set or revert: the scope, the move and
/// what it means for the people in it.
pub(super) fn set_confirm(
    source: &str,
    c: LeverChange,
    warning: &str,
    shadow: Option<crate::domain::shadow::ShadowRequest>,
) -> Confirm {
    let scope = match c.segment {
        Some(s) => format!("segment {s}"),
        None => "whole feature".to_string(),
    };
    let name = c.lever.short();
    Confirm {
        title: format!("{} {name}?", if c.undo { "Revert" } else { "Set" }),
        lines: vec![format!(
            "{} · {scope} · {name}: {} → {}",
            c.feature, c.from, c.shown
        )],
        warnings: vec![warning.into()],
        danger: true,
        command: Command::Flag {
            source: source.to_string(),
            op: FlagOp::SetLever {
                feature: c.feature.to_string(),
                lever: c.lever,
                segment: c.segment.map(str::to_string),
                variant: c.to.to_string(),
                undo: c.undo,
            },
        },
        scroll: 0,
        shadow,
    }
}

/// What setting a lever means for the people in its scope, said before it is set.
fn consequence(lever: Lever) -> &'static str {
    match lever {
        Lever::ModelSwitch => "Answers come from another model: quality, latency and cost shift.",
        Lever::ConservativeConfig => "Answers get more cautious: expect more refusals.",
        Lever::TokenBudget => "Users over the budget are rate-limited (429) until the next minute.",
        Lever::RetrievalPath => "Answers use less or cached context: quality may drop.",
        Lever::Fallback => "Users get the fallback (human, static answer), not the model.",
        _ => "Traffic changes at once.",
    }
}

/// The model a model variant serves, as series name it: its value (`"frontier-mini"` or
/// `{"model": "frontier-mini"}`), else its name.
fn model_name(v: &crate::domain::lever::LeverVariant) -> String {
    v.value
        .as_str()
        .or_else(|| v.value.get("model").and_then(|m| m.as_str()))
        .unwrap_or(&v.name)
        .to_string()
}

/// The chooser of a settable lever (model, config, budget, retrieval, fallback): every
/// variant the flag system offers, per segment first and for the whole feature last, the
/// cursor on "keep as is". Each choice confirms.
pub(super) fn set_lever(state: &mut State, lever: Lever) {
    let Some((info, source)) = feature_for(state, Operation::SetLever) else {
        return;
    };
    let Some(setting) = info.levers.iter().find(|l| l.lever == lever) else {
        let flag = state
            .sources
            .flag_source
            .clone()
            .unwrap_or_else(|| source.clone());
        state.say(
            FlashLevel::Warn,
            format!(
                "{}: {flag} carries no {} lever for it (docs/levers.md: the flag to add)",
                info.name,
                lever.short()
            ),
        );
        return;
    };
    let mut items = vec![PickItem {
        label: "keep as is".into(),
        detail: format!("change nothing · now {}", setting.current),
        confirm: None,
    }];
    let scopes = info
        .segments
        .iter()
        .map(|s| Some(s.as_str()))
        .chain(std::iter::once(None));
    for segment in scopes {
        let now = setting.served_to(segment);
        let what = match segment {
            Some(s) => format!("segment {s}"),
            None => "whole feature".to_string(),
        };
        for v in setting.variants.iter().filter(|v| v.name != now) {
            // The value beside the name where it says more ("mini (model frontier-mini)").
            let value = Some(v.describe()).filter(|d| !d.is_empty() && *d != v.name);
            let shown = match &value {
                Some(d) => format!("{} ({d})", v.name),
                None => v.name.clone(),
            };
            // A model switch shows the target model's figures beside the current one's.
            let shadow = match (lever, setting.variants.iter().find(|x| x.name == now)) {
                (Lever::ModelSwitch, Some(cur)) => super::shadow::request_for(
                    state,
                    &info.name,
                    lever,
                    &model_name(cur),
                    &model_name(v),
                ),
                _ => None,
            };
            items.push(PickItem {
                label: format!("{what} → {}", v.name),
                detail: match &value {
                    Some(d) => format!("now {now} · {d}"),
                    None => format!("now {now}"),
                },
                confirm: Some(set_confirm(
                    &source,
                    LeverChange {
                        feature: &info.name,
                        lever,
                        segment,
                        from: now,
                        to: &v.name,
                        shown: &shown,
                        undo: false,
                    },
                    consequence(lever),
                    shadow,
                )),
            });
        }
    }
    if items.len() == 1 {
        state.say(
            FlashLevel::Warn,
            format!(
                "{}: the {} flag offers no other setting",
                info.name,
                lever.short()
            ),
        );
        return;
    }
    state.overlay = Overlay::Picker(Picker {
        title: format!("{} · {} runs {}", lever.short(), info.name, setting.current),
        items,
        cursor: 0,
    });
}
