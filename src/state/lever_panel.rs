//! The levers panel of one feature (`L`): every lever's current setting, who moved it and
//! when, one key to pull it (`enter`: the lever's chooser) and one to put it back as it was
//! (`u`: a confirmed revert to the previous setting). Reading it needs no rights; pulling and
//! reverting go through the guard like every lever.

use super::guard::{allowed, Operation, Target};
use super::levers::{self, LeverChange};
use super::{Confirm, FlashLevel, Overlay, PickItem, Picker, State};
use crate::action::Action;
use crate::domain::command::{Command, FlagOp};
use crate::domain::lever::Lever;
use crate::domain::FeatureInfo;

/// One row of the panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelRow {
    Prompt,
    KillSwitch,
    /// A settable lever, carried by the feature's flag system or not (then said so).
    Setting(Lever),
}

/// The panel's rows: the prompt and the kill switch, then every settable lever in
/// `Lever::SETTABLE` order, those the flag system does not carry included, so a missing lever
/// is seen missing rather than not thought of.
pub fn rows() -> Vec<PanelRow> {
    let mut rows = vec![PanelRow::Prompt, PanelRow::KillSwitch];
    rows.extend(Lever::SETTABLE.into_iter().map(PanelRow::Setting));
    rows
}

/// What the panel says of one lever, for the renderer to style.
#[derive(Clone, Debug, PartialEq)]
pub struct RowText {
    pub name: &'static str,
    /// The setting now, with the segments served otherwise: "frontier-xl · free-tier:
    /// frontier-mini"; for a lever the flag system does not carry, why.
    pub now: String,
    /// Whether the flag system carries it (else the row is drawn muted).
    pub carried: bool,
    /// Who moved it last and when, from the flag system's own record, else from what the
    /// cockpit pulled or noticed (audit log, timeline); "" when nothing is known.
    pub last: String,
    /// What `u` goes back to, if anything.
    pub revert_to: Option<String>,
}

/// The text of one row of `info`'s panel.
pub fn row_text(state: &State, info: &FeatureInfo, row: PanelRow) -> RowText {
    let feature = info.name.as_str();
    let last_change = |prefix: &str| {
        state
            .changes
            .last_of(feature, &format!("{prefix} {feature}"))
            .map(|c| format!("{} at {}", c.what.as_str(), c.at.format("%H:%M:%S")))
            .unwrap_or_default()
    };
    let flags = info
        .flag_source
        .clone()
        .or_else(|| state.sources.flag_source.clone())
        .unwrap_or_else(|| "no flag system".into());
    match row {
        PanelRow::Prompt => {
            let current = info.current_prompt.clone();
            let lkg = info.last_known_good_prompt.clone();
            let source = info.prompt_source.clone().unwrap_or_else(|| flags.clone());
            let now = match (&current, &lkg) {
                (Some(c), Some(l)) if c != l => format!("{c} · last-known-good {l} · {source}"),
                (Some(c), _) => format!("{c} · {source}"),
                (None, _) => "unknown (no source reports the served prompt)".into(),
            };
            RowText {
                name: "prompt",
                now,
                carried: current.is_some(),
                last: last_change("prompt"),
                revert_to: lkg.filter(|l| current.as_ref() != Some(l)),
            }
        }
        PanelRow::KillSwitch => {
            let now = match info.killed.as_slice() {
                [] => "serving".to_string(),
                k => format!(
                    "ENGAGED: {}",
                    k.iter()
                        .map(|s| if s == "*" {
                            "whole feature"
                        } else {
                            s.as_str()
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            RowText {
                name: "kill switch",
                now,
                carried: info.flag_source.is_some(),
                last: last_change("kill switch"),
                revert_to: match info.killed.as_slice() {
                    [_] => Some("serving".into()),
                    _ => None,
                },
            }
        }
        PanelRow::Setting(lever) => {
            let Some(setting) = info.levers.iter().find(|l| l.lever == lever) else {
                return RowText {
                    name: lever.short(),
                    now: format!("not carried by {flags} (docs/levers.md: the flag to add)"),
                    carried: false,
                    last: String::new(),
                    revert_to: None,
                };
            };
            let value = setting
                .variant(&setting.current)
                .map(|v| v.describe())
                .filter(|d| !d.is_empty() && *d != setting.current)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let mut now = format!("{}{value}", setting.current);
            for (segment, variant) in &setting.segments {
                now.push_str(&format!(" · {segment}: {variant}"));
            }
            let last = match (&setting.changed_by, setting.changed_at) {
                (Some(by), Some(at)) => format!("set by {by} at {}", at.format("%H:%M:%S")),
                (None, Some(at)) => format!("set at {}", at.format("%H:%M:%S")),
                _ => last_change(lever.short()),
            };
            RowText {
                name: lever.short(),
                now,
                carried: true,
                last,
                revert_to: setting.previous.clone().filter(|p| *p != setting.current),
            }
        }
    }
}

pub(super) fn open(state: &mut State) {
    let Some(Target::Feature { info, .. }) = allowed(state, Operation::Levers) else {
        return;
    };
    state.overlay = Overlay::Levers {
        feature: info.name.clone(),
        cursor: 0,
    };
}

pub(super) fn update(state: &mut State, action: Action) -> Vec<super::Effect> {
    let Overlay::Levers { cursor, .. } = &mut state.overlay else {
        return vec![];
    };
    let all = rows();
    let last = all.len().saturating_sub(1);
    match action {
        Action::Up => *cursor = cursor.saturating_sub(1),
        Action::Down => *cursor = (*cursor + 1).min(last),
        Action::Top => *cursor = 0,
        Action::Bottom => *cursor = last,
        Action::Select => {
            let row = all[(*cursor).min(last)];
            pull(state, row);
        }
        Action::Revert => {
            let row = all[(*cursor).min(last)];
            revert(state, row);
        }
        Action::Cancel | Action::Back | Action::Levers => state.overlay = Overlay::None,
        _ => {}
    }
    vec![]
}

/// `enter` on a row: the lever's own chooser, as its key on the list opens it.
fn pull(state: &mut State, row: PanelRow) {
    match row {
        PanelRow::Prompt => levers::rollback(state),
        PanelRow::KillSwitch => levers::kill_switch(state),
        PanelRow::Setting(lever) => levers::set_lever(state, lever),
    }
}

/// `u` on a row: back to the setting before the last change, confirmed. The kill switch's
/// "previous setting" is serving: releasing its one engaged scope; with several engaged the
/// kill switch chooser says which is which. A settable lever: `revert_setting`.
fn revert(state: &mut State, row: PanelRow) {
    let guard = match row {
        PanelRow::Prompt => Operation::Rollback,
        PanelRow::KillSwitch => Operation::KillSwitch,
        PanelRow::Setting(_) => Operation::SetLever,
    };
    let Some((info, source)) = super::guard::feature_for(state, guard) else {
        return;
    };
    if row == PanelRow::KillSwitch && info.killed.len() > 1 {
        return levers::kill_switch(state);
    }
    let text = row_text(state, &info, row);
    if let PanelRow::Setting(lever) = row {
        return revert_setting(state, &info, &source, lever, text);
    }
    let Some(to) = text.revert_to else {
        return state.say(
            FlashLevel::Info,
            format!(
                "{}: the {} has no earlier setting recorded to go back to",
                info.name, text.name
            ),
        );
    };
    let feature = info.name.clone();
    let (op, warning) = if row == PanelRow::Prompt {
        let op = FlagOp::Rollback {
            feature,
            to_version: to.clone(),
        };
        (op, "All traffic of the feature switches prompt at once.")
    } else {
        // The kill switch's one engaged scope, released.
        let op = FlagOp::KillSwitch {
            feature,
            segment: info.killed.first().filter(|s| *s != "*").cloned(),
            engage: false,
        };
        (op, "Traffic from this scope is served again.")
    };
    state.overlay = Overlay::Confirm(Box::new(Confirm {
        title: format!("Revert {}?", text.name),
        lines: vec![format!(
            "{} · {}: {} → {to}",
            info.name, text.name, text.now
        )],
        warnings: vec![warning.into()],
        danger: true,
        command: Command::Flag { source, op },
        scroll: 0,
        shadow: None,
    }));
}

/// `u` on a settable lever: each segment served otherwise back on the feature's setting (its
/// rule dropped), then the whole feature back on its recorded previous setting. One revert
/// confirms straight away; several are chosen from, "keep as is" first.
fn revert_setting(
    state: &mut State,
    info: &FeatureInfo,
    source: &str,
    lever: Lever,
    text: RowText,
) {
    let setting = info.levers.iter().find(|l| l.lever == lever);
    let current = setting.map_or("", |l| l.current.as_str());
    // A flag serving nothing to the feature (disabled) has no setting to put segments back on.
    let segments = setting
        .filter(|_| !current.is_empty())
        .map_or(&[][..], |l| l.segments.as_slice());
    let revert = |segment: Option<&str>, from: &str, to: &str| {
        let (scope, warning) = match segment {
            Some(s) => (
                format!("segment {s}"),
                "The segment is served the feature's setting again.",
            ),
            None => (
                "whole feature".to_string(),
                "The whole feature changes at once; segments with their own setting keep it.",
            ),
        };
        let change = LeverChange {
            feature: &info.name,
            lever,
            segment,
            from,
            to,
            shown: to,
            undo: true,
        };
        PickItem {
            label: format!("{scope} → {to}"),
            detail: format!("now {from}"),
            confirm: Some(levers::set_confirm(source, change, warning, None)),
        }
    };
    let mut items: Vec<PickItem> = segments
        .iter()
        .map(|(segment, variant)| revert(Some(segment), variant, current))
        .collect();
    if let Some(to) = &text.revert_to {
        items.push(revert(None, current, to));
    }
    match (items.len(), segments.is_empty()) {
        (0, _) => state.say(
            FlashLevel::Info,
            format!(
                "{}: the {} has no earlier setting recorded to go back to",
                info.name, text.name
            ),
        ),
        (1, true) => {
            if let Some(confirm) = items.pop().and_then(|i| i.confirm) {
                state.overlay = Overlay::Confirm(Box::new(confirm));
            }
        }
        _ => {
            items.insert(
                0,
                PickItem {
                    label: "keep as is".into(),
                    detail: "change nothing".into(),
                    confirm: None,
                },
            );
            state.overlay = Overlay::Picker(Picker {
                title: format!("Revert {} · {}", text.name, info.name),
                items,
                cursor: 0,
            });
        }
    }
}
