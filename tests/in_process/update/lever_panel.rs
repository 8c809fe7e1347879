//! The levers panel (`L`): every lever of the selected incident's feature with its setting
//! and who moved it, `enter` opening the lever's chooser (segments first, the whole feature
//! last, the cursor on "keep as is"), `u` reverting to the previous setting, both confirmed,
//! both refused under --read-only while the panel itself still opens.

use super::*;
use chrono::Duration;
use oncall_cockpit::state::lever_panel::{row_text, rows, PanelRow};

fn model_lever(previous: Option<&str>) -> LeverSetting {
    let v = |name: &str, model: &str| LeverVariant {
        name: name.into(),
        value: serde_json::json!({ "model": model }),
    };
    LeverSetting {
        lever: Lever::ModelSwitch,
        flag: "support-bot.model".into(),
        variants: vec![v("xl", "frontier-xl"), v("mini", "frontier-mini")],
        current: "xl".into(),
        segments: vec![("enterprise".into(), "mini".into())],
        segments_unknown: false,
        previous: previous.map(str::to_string),
        changed_at: previous.map(|_| common::origin()),
        changed_by: previous.map(|_| "bo".to_string()),
    }
}

/// The drill at minute 15 with the drift incident selected, and a flag system ("flagd",
/// before "sim" by name, so it holds the levers) reporting support-bot's model lever.
fn with_model_lever(previous: Option<&str>) -> State {
    let mut s = state();
    select(&mut s, IncidentType::CapabilityDrift);
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Flags {
            source: "flagd".into(),
            at,
            flags: vec![FeatureFlags {
                feature: "support-bot".into(),
                prompt_versions: vec!["v12".into(), "v13".into()],
                current_prompt: Some("v13".into()),
                last_known_good: Some("v12".into()),
                segments: vec!["free-tier".into(), "enterprise".into()],
                levers: vec![model_lever(previous)],
                ..FeatureFlags::default()
            }],
        }),
    );
    s
}

fn cursor_to(s: &mut State, row: PanelRow) {
    let at = rows().iter().position(|r| *r == row).expect("row");
    update(s, Action::Top);
    for _ in 0..at {
        update(s, Action::Down);
    }
}

#[test]
fn the_panel_lists_every_lever_with_its_setting_and_who_moved_it() {
    let s = &mut with_model_lever(Some("mini"));
    update(s, Action::Levers);
    let Overlay::Levers { feature, cursor } = &s.overlay else {
        panic!("L opens the levers panel: {:?}", s.overlay);
    };
    assert_eq!((feature.as_str(), *cursor), ("support-bot", 0));
    let info = s.feature_info("support-bot").expect("feature").clone();
    let text = |row| row_text(s, &info, row);
    let model = text(PanelRow::Setting(Lever::ModelSwitch));
    assert_eq!(model.now, "xl (model frontier-xl) · enterprise: mini");
    assert!(model.last.starts_with("set by bo at "), "{}", model.last);
    assert_eq!(model.revert_to.as_deref(), Some("mini"));
    let prompt = text(PanelRow::Prompt);
    assert!(
        prompt.now.starts_with("v13 · last-known-good v12"),
        "{}",
        prompt.now
    );
    assert_eq!(prompt.revert_to.as_deref(), Some("v12"));
    let budget = text(PanelRow::Setting(Lever::TokenBudget));
    assert!(!budget.carried);
    assert!(
        budget.now.contains("not carried by flagd"),
        "{}",
        budget.now
    );
    assert_eq!(
        rows().len(),
        7,
        "prompt, kill switch and the five settable levers"
    );
}

#[test]
fn enter_on_a_lever_offers_each_scope_and_sets_the_chosen_one_after_confirming() {
    let s = &mut with_model_lever(None);
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::ModelSwitch));
    update(s, Action::Select);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("enter opens the lever's chooser: {:?}", s.overlay);
    };
    let labels: Vec<&str> = p.items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "keep as is",
            "segment free-tier → mini",
            "segment pro → mini",
            "segment enterprise → xl",
            "whole feature → mini"
        ],
        "what a scope is served already is not offered; the whole feature comes last"
    );
    assert_eq!(
        p.cursor, 0,
        "nothing that changes production is preselected"
    );
    update(s, Action::Down);
    let asked = update(s, Action::Select);
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("a choice confirms first");
    };
    assert!(c.danger);
    // A model switch compares the two models (by their values, not the variant names) on
    // the model label, asked for as the dialog opens.
    let shadow = c
        .shadow
        .as_ref()
        .expect("a model switch asks for a comparison");
    assert_eq!(
        (shadow.current.as_str(), shadow.target.as_str()),
        ("frontier-xl", "frontier-mini")
    );
    assert_eq!(shadow.label, "gen_ai_request_model");
    assert!(
        asked
            .iter()
            .any(|e| matches!(e, Effect::Shadow { request, .. } if request == shadow)),
        "{asked:?}"
    );
    assert_eq!(
        c.lines,
        ["support-bot · segment free-tier · model switch: xl → mini (model frontier-mini)"]
    );
    let fx = common::evidence_written(s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        [Command::Flag {
            source: "flagd".into(),
            op: FlagOp::SetLever {
                feature: "support-bot".into(),
                lever: Lever::ModelSwitch,
                segment: Some("free-tier".into()),
                variant: "mini".into(),
                undo: false,
            }
        }]
    );
    assert_eq!(audited(&fx), [("model_switch".into(), "requested".into())]);
    // Habit keys change nothing: `enter enter y` lands on "keep as is".
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::ModelSwitch));
    for k in [Action::Select, Action::Select, Action::Confirm] {
        assert!(sent(&update(s, k)).is_empty());
    }
}

#[test]
fn u_reverts_to_the_recorded_previous_setting_after_confirming() {
    let s = &mut with_model_lever(Some("mini"));
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::ModelSwitch));
    update(s, Action::Revert);
    // Past the segment's own revert to the whole feature's.
    update(s, Action::Down);
    update(s, Action::Down);
    update(s, Action::Select);
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("u confirms first: {:?}", s.overlay);
    };
    assert_eq!(c.title, "Revert model switch?");
    let fx = common::evidence_written(s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        [Command::Flag {
            source: "flagd".into(),
            op: FlagOp::SetLever {
                feature: "support-bot".into(),
                lever: Lever::ModelSwitch,
                segment: None,
                variant: "mini".into(),
                undo: true,
            }
        }]
    );
    assert_eq!(audited(&fx), [("lever_revert".into(), "requested".into())]);
    // The prompt row goes back to the last-known-good version.
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Prompt);
    update(s, Action::Revert);
    let fx = common::evidence_written(s, Action::Confirm);
    assert!(matches!(
        &sent(&fx)[..],
        [Command::Flag { op: FlagOp::Rollback { to_version, .. }, .. }] if to_version == "v12"
    ));
}

#[test]
fn nothing_to_revert_or_a_lever_not_carried_is_said_and_changes_nothing() {
    let s = &mut with_model_lever(None);
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::Fallback));
    assert!(sent(&update(s, Action::Select)).is_empty());
    assert!(
        flash(s).contains("carries no fallback lever"),
        "{}",
        flash(s)
    );
    cursor_to(s, PanelRow::KillSwitch);
    update(s, Action::Revert);
    assert!(flash(s).contains("no earlier setting"), "{}", flash(s));
    assert!(matches!(s.overlay, Overlay::Levers { .. }));
}

#[test]
fn read_only_shows_the_panel_and_refuses_every_pull_and_revert() {
    let s = &mut with_model_lever(Some("mini"));
    s.read_only = true;
    update(s, Action::Levers);
    assert!(matches!(s.overlay, Overlay::Levers { .. }));
    for row in rows() {
        for key in [Action::Select, Action::Revert] {
            cursor_to(s, row);
            assert!(sent(&update(s, key)).is_empty());
            assert!(flash(s).contains("read-only"), "{row:?}: {}", flash(s));
            assert!(matches!(s.overlay, Overlay::Levers { .. }));
        }
    }
}

#[test]
fn a_landed_lever_is_watched_for_containment_and_on_the_timeline() {
    let s = &mut with_model_lever(Some("mini"));
    let onset = s.selected().expect("selected").triggered_at;
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::ModelSwitch));
    update(s, Action::Select);
    for _ in 0..4 {
        update(s, Action::Down);
    }
    update(s, Action::Select);
    let fx = common::evidence_written(s, Action::Confirm);
    let id = match fx.iter().find_map(|e| match e {
        Effect::Send(r) => Some(r.action_id),
        _ => None,
    }) {
        Some(id) => id,
        None => panic!("the set was sent: {fx:?}"),
    };
    update(
        s,
        Action::CommandDone(CommandOutcome {
            action_id: id,
            result: Ok("support-bot model → mini".into()),
        }),
    );
    let inc = s.selected().expect("selected").clone();
    assert!(
        s.containment.watch(&inc.id).is_some(),
        "the feature's incident is watched after a model switch"
    );
    let seen: Vec<String> = s
        .changes
        .around(&inc, s.now + Duration::minutes(1))
        .entries
        .iter()
        .map(|c| c.what.to_string())
        .collect();
    assert!(
        seen.iter()
            .any(|w| w.starts_with("model switch support-bot set to mini by ")),
        "{seen:?} (onset {onset})"
    );
}

#[test]
fn u_on_a_lever_pulled_for_a_segment_puts_that_segment_back_on_the_features_setting() {
    let s = &mut with_model_lever(None);
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::ModelSwitch));
    update(s, Action::Revert);
    let Overlay::Picker(p) = &s.overlay else {
        panic!(
            "u on a lever with segment rules lists what to put back: {:?}",
            s.overlay
        );
    };
    let labels: Vec<&str> = p.items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(
        labels,
        ["keep as is", "segment enterprise → xl"],
        "no whole-feature revert without a recorded previous setting"
    );
    assert_eq!(p.cursor, 0);
    update(s, Action::Down);
    update(s, Action::Select);
    let fx = common::evidence_written(s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        [Command::Flag {
            source: "flagd".into(),
            op: FlagOp::SetLever {
                feature: "support-bot".into(),
                lever: Lever::ModelSwitch,
                segment: Some("enterprise".into()),
                variant: "xl".into(),
                undo: true,
            }
        }]
    );
    // With a previous setting recorded, the whole feature's revert comes last.
    let s = &mut with_model_lever(Some("mini"));
    update(s, Action::Levers);
    cursor_to(s, PanelRow::Setting(Lever::ModelSwitch));
    update(s, Action::Revert);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("{:?}", s.overlay);
    };
    assert_eq!(
        p.items.last().map(|i| i.label.as_str()),
        Some("whole feature → mini")
    );
}
