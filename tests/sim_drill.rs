//! The embedded drill: every incident type shows up early, the same seed replays the same
//! drill, and the levers change the simulation the way DESIGN.md says they should.

mod common;

use common::{origin, Drill};
use oncall_cockpit::backend::IncidentOp;
use oncall_cockpit::domain::{IncidentType, Sev, SignalKind, Status};

fn open_types(d: &Drill) -> Vec<(IncidentType, String, Sev)> {
    d.store
        .incidents()
        .iter()
        .filter(|i| i.is_open() && i.firing)
        .map(|i| (i.kind, i.feature.to_string(), i.sev))
        .collect()
}

#[test]
fn every_incident_type_fires_within_half_an_hour_of_simulated_time() {
    // At --speed 10 this is three minutes of wall time.
    let mut d = Drill::new(42);
    d.minutes(30);
    let seen: Vec<IncidentType> = d.store.incidents().iter().map(|i| i.kind).collect();
    // Every type the detectors know; `Other` is only for external sources.
    for kind in IncidentType::ALL
        .into_iter()
        .filter(|k| *k != IncidentType::Other)
    {
        assert!(seen.contains(&kind), "{kind:?} never fired; saw {seen:?}");
    }
}

#[test]
fn calm_history_raises_nothing() {
    let mut d = Drill::new(42);
    d.minutes(1);
    assert!(d.store.incidents().is_empty(), "{:?}", open_types(&d));
}

#[test]
fn the_drill_lands_on_the_sev_ladder_as_designed() {
    let mut d = Drill::new(42);
    d.minutes(30);
    let sev_of = |kind: IncidentType| {
        d.store
            .incidents()
            .iter()
            .find(|i| i.kind == kind)
            .map(|i| i.sev)
    };
    assert_eq!(sev_of(IncidentType::GuardrailBypass), Some(Sev::Sev1));
    assert_eq!(sev_of(IncidentType::CostExplosion), Some(Sev::Sev2));
    assert_eq!(sev_of(IncidentType::LatencyDegradation), Some(Sev::Sev3));
    assert_eq!(sev_of(IncidentType::Errors), Some(Sev::Sev3));
}

#[test]
fn same_seed_same_drill_other_seed_other_numbers() {
    let mut a = Drill::new(7);
    let mut b = Drill::new(7);
    let mut c = Drill::new(8);
    for d in [&mut a, &mut b, &mut c] {
        d.minutes(12);
    }
    assert_eq!(a.last, b.last);
    assert_eq!(a.store.incidents(), b.store.incidents());
    assert_ne!(a.last.signals, c.last.signals);
}

fn last(d: &Drill, feature: &str, kind: SignalKind) -> f64 {
    d.last
        .signals
        .iter()
        .find(|s| s.feature == feature && s.kind == kind)
        .and_then(|s| s.last())
        .unwrap_or(f64::NAN)
}

fn firing(d: &Drill, feature: &str, kind: IncidentType) -> bool {
    d.store
        .incidents()
        .iter()
        .any(|i| i.feature.as_str() == feature && i.kind == kind && i.is_open() && i.firing)
}

#[test]
fn kill_switch_stops_the_cost_loop_of_that_feature_only() {
    let mut d = Drill::new(42);
    d.minutes(6);
    assert!(firing(&d, "triage-agent", IncidentType::CostExplosion));
    let support_cost = last(&d, "support-bot", SignalKind::CostPerMin);
    assert!(d.world.kill_switch("triage-agent", None, true).is_ok());
    d.minutes(10);
    assert_eq!(last(&d, "triage-agent", SignalKind::CostPerMin), 0.0);
    assert!(!firing(&d, "triage-agent", IncidentType::CostExplosion));
    // Other features keep serving.
    assert!(last(&d, "support-bot", SignalKind::CostPerMin) > support_cost * 0.5);
}

#[test]
fn segment_kill_switch_ends_the_guardrail_bypass() {
    let mut d = Drill::new(42);
    d.minutes(12);
    assert!(firing(&d, "code-assistant", IncidentType::GuardrailBypass));
    assert!(d
        .world
        .kill_switch("code-assistant", Some("free-tier"), true)
        .is_ok());
    d.minutes(20);
    assert!(!firing(&d, "code-assistant", IncidentType::GuardrailBypass));
    assert!(last(&d, "code-assistant", SignalKind::RefusalRate) > 0.04);
}

#[test]
fn prompt_rollback_heals_drift_and_eval() {
    let mut d = Drill::new(42);
    d.minutes(15);
    assert!(firing(&d, "support-bot", IncidentType::CapabilityDrift));
    assert!(firing(&d, "support-bot", IncidentType::EvalRegression));
    assert_eq!(
        d.world.rollback("support-bot", "v12").map(|_| ()),
        Ok(()),
        "rollback to last-known-good"
    );
    // The next scheduled eval (every 5 min) and a drained drift window.
    d.minutes(27);
    assert!(!firing(&d, "support-bot", IncidentType::CapabilityDrift));
    assert!(!firing(&d, "support-bot", IncidentType::EvalRegression));
    assert!(
        d.world.rollback("support-bot", "v12").is_err(),
        "already on v12"
    );
    assert!(d.world.rollback("support-bot", "v99").is_err());
}

#[test]
fn acknowledging_stops_the_countdown() {
    let mut d = Drill::new(42);
    d.minutes(6);
    let id = d.store.incidents()[0].id.clone();
    let inc = &d.store.incidents()[0];
    assert!(inc.seconds_left(d.now).is_some());
    assert!(d.store.apply(&id, &IncidentOp::Ack, "ana", d.now).is_ok());
    let inc = &d.store.incidents()[0];
    assert_eq!(inc.status, Status::Acknowledged);
    assert_eq!(inc.seconds_left(d.now), None);
    assert!(origin() < d.now);
}

#[test]
fn levers_reject_unknown_targets_plainly() {
    let mut d = Drill::new(42);
    assert_eq!(
        d.world.kill_switch("nope", None, true),
        Err("no feature nope in the fleet".into())
    );
    assert_eq!(
        d.world.kill_switch("support-bot", Some("vip"), true),
        Err("support-bot has no user segment vip".into())
    );
    assert!(d.world.kill_switch("support-bot", None, false).is_err());
    d.minutes(1);
}
