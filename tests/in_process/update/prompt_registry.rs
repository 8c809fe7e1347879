//! `update` with a prompt registry (Phoenix prompt tags) beside a flag system: the registry
//! holds the prompts of the features it reports and takes their rollbacks, the flag system
//! keeps their kill switches, and a feature only the registry knows is told it has none.

use super::*;
use oncall_cockpit::domain::source::Registration;

fn registry(s: &mut State, name: &str) {
    let mut r = Registration::new(name, SourceRole::Flags, Some(30.0));
    r.prompts_only = true;
    let now = s.now;
    s.sources.register(r, now);
}

fn prompts(s: &mut State, source: &str, feature: &str, versions: &[&str], current: &str) {
    let now = s.now;
    update(
        s,
        Action::Backend(BackendEvent::Flags {
            source: source.into(),
            at: now,
            flags: vec![FeatureFlags {
                feature: feature.into(),
                prompt_versions: versions.iter().map(|v| v.to_string()).collect(),
                current_prompt: Some(current.into()),
                last_known_good: Some(versions[0].into()),
                prompt_changed_at: Some(now - chrono::Duration::minutes(7)),
                prompt_only: true,
                ..FeatureFlags::default()
            }],
        }),
    );
}

#[test]
fn the_registry_takes_the_prompt_rollback_and_the_flag_system_keeps_the_kill_switch() {
    let mut s = state();
    registry(&mut s, "phoenix");
    prompts(
        &mut s,
        "phoenix",
        "support-bot",
        &["pv1", "pv2", "pv3"],
        "pv3",
    );
    let info = s.feature_info("support-bot").expect("feature").clone();
    assert_eq!(info.prompt_source.as_deref(), Some("phoenix"));
    assert_eq!(
        info.flag_source, None,
        "the registry never holds the feature's other levers"
    );
    assert_eq!(info.current_prompt.as_deref(), Some("pv3"));
    assert_eq!(info.last_known_good_prompt.as_deref(), Some("pv1"));
    let ids: Vec<&str> = info.prompt_versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        ids,
        ["pv1", "pv2", "pv3"],
        "the fleet's own versions give way"
    );
    assert!(
        s.sources.flag_source.as_deref() == Some("sim"),
        "a prompt registry never becomes the default flag system"
    );

    select(&mut s, IncidentType::CapabilityDrift);
    update(&mut s, Action::Rollback);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("rollback opens a version picker: {}", flash(&s));
    };
    assert_eq!(
        p.items[p.cursor].label, "pv1",
        "last-known-good preselected"
    );
    update(&mut s, Action::Select);
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        vec![Command::Flag {
            source: "phoenix".into(),
            op: FlagOp::Rollback {
                feature: "support-bot".into(),
                to_version: "pv1".into()
            }
        }]
    );

    update(&mut s, Action::KillSwitch);
    update(&mut s, Action::Down);
    update(&mut s, Action::Select);
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert!(
        matches!(&sent(&fx)[..], [Command::Flag { source, op: FlagOp::KillSwitch { .. } }] if source == "sim"),
        "{:?}",
        sent(&fx)
    );
}

#[test]
fn a_feature_whose_only_lever_source_is_a_prompt_registry_is_told_it_has_no_kill_switch() {
    let mut s = State::new(common::origin(), "ana", "phoenix");
    registry(&mut s, "phoenix");
    prompts(&mut s, "phoenix", "faq-bot", &["pv1", "pv2"], "pv2");
    update(&mut s, Action::NextFeature);
    assert_eq!(s.shown_feature().as_deref(), Some("faq-bot"));

    let fx = update(&mut s, Action::KillSwitch);
    assert!(fx.is_empty(), "{fx:?}");
    assert!(matches!(s.overlay, Overlay::None));
    let msg = flash(&s);
    assert!(
        msg.contains("kill switch unavailable")
            && msg.contains("faq-bot")
            && msg.contains("prompt registry")
            && msg.contains("no kill switch"),
        "{msg}"
    );

    update(&mut s, Action::Rollback);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("the prompt rollback still works: {}", flash(&s));
    };
    assert_eq!(p.items[p.cursor].label, "pv1");
    update(&mut s, Action::Cancel);

    s.read_only = true;
    for a in [Action::Rollback, Action::KillSwitch] {
        assert!(update(&mut s, a.clone()).is_empty(), "{a:?}");
        assert!(flash(&s).contains("read-only"), "{a:?}: {}", flash(&s));
    }
}
