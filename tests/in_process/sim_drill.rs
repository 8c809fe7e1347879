//! The embedded drill: every incident type shows up early, the same seed replays the same
//! drill, and the levers change the simulation the way DESIGN.md says they should.

use chrono::Duration;
use cockpit_testkit::common;
use common::{origin, Drill};
use oncall_cockpit::backend::sim::FleetSpec;
use oncall_cockpit::backend::IncidentOp;
use oncall_cockpit::detect;
use oncall_cockpit::domain::{IncidentType, Sev, SignalKind, Status};
use oncall_cockpit::drill::report::{self, Options, Summary};
use oncall_cockpit::drill::{Run, Timetable};

#[test]
fn every_incident_type_fires_within_half_an_hour_of_simulated_time() {
    // At --speed 10 this is three minutes of wall time.
    let mut d = Drill::new(42);
    d.minutes(30);
    let seen: Vec<IncidentType> = d.run.store.incidents().iter().map(|i| i.kind).collect();
    // Every type the detectors know; `Other` is only for external sources.
    for kind in IncidentType::ALL
        .into_iter()
        .filter(|k| *k != IncidentType::Other)
    {
        assert!(seen.contains(&kind), "{kind:?} never fired; saw {seen:?}");
    }
}

#[test]
fn a_calm_fleet_raises_nothing_for_three_hours() {
    // Longer than every hold (errors 10 min, latency 15 min) and every baseline window, on
    // several seeds: the bootstrap from history, the quarantine and the count tests all run.
    for seed in [1, 2, 3] {
        let mut spec = FleetSpec::builtin().expect("fleet");
        spec.scenario.clear();
        let mut run = Run::new(spec, seed, detect::builtin()).expect("run");
        run.run_until(origin() + Duration::hours(3), 10);
        assert!(
            run.changes.is_empty(),
            "seed {seed}: {:?}",
            run.changes.first()
        );
    }
}

#[test]
fn the_drill_lands_on_the_sev_ladder_as_designed() {
    let mut d = Drill::new(42);
    d.minutes(30);
    let sev_of = |kind: IncidentType| {
        d.run
            .store
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
    assert_eq!(a.run.store.incidents(), b.run.store.incidents());
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
    d.run
        .store
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
    assert!(d.run.world.kill_switch("triage-agent", None, true).is_ok());
    d.minutes(10);
    assert_eq!(last(&d, "triage-agent", SignalKind::CostPerMin), 0.0);
    // Contained at once, but "recovered" only after a full recovery hold back inside.
    assert!(firing(&d, "triage-agent", IncidentType::CostExplosion));
    d.minutes(14);
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
        .run
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
        d.run.world.rollback("support-bot", "v12").map(|_| ()),
        Ok(()),
        "rollback to last-known-good"
    );
    // The next scheduled eval (every 5 min) and a drained drift window.
    d.minutes(27);
    assert!(!firing(&d, "support-bot", IncidentType::CapabilityDrift));
    assert!(!firing(&d, "support-bot", IncidentType::EvalRegression));
    assert!(
        d.run.world.rollback("support-bot", "v12").is_err(),
        "already on v12"
    );
    assert!(d.run.world.rollback("support-bot", "v99").is_err());
}

#[test]
fn acknowledging_stops_the_countdown() {
    let mut d = Drill::new(42);
    d.minutes(6);
    let id = d.run.store.incidents()[0].id.clone();
    let inc = &d.run.store.incidents()[0];
    assert!(inc.seconds_left(d.now).is_some());
    assert!(d
        .run
        .store
        .apply(&id, &IncidentOp::Ack, "ana", d.now)
        .is_ok());
    let inc = &d.run.store.incidents()[0];
    assert_eq!(inc.status, Status::Acknowledged);
    assert_eq!(inc.seconds_left(d.now), None);
    assert!(origin() < d.now);
}

#[test]
fn levers_reject_unknown_targets_plainly() {
    let mut d = Drill::new(42);
    assert_eq!(
        d.run.world.kill_switch("nope", None, true),
        Err("no feature nope in the fleet".into())
    );
    assert_eq!(
        d.run.world.kill_switch("support-bot", Some("vip"), true),
        Err("support-bot has no user segment vip".into())
    );
    assert!(d.run.world.kill_switch("support-bot", None, false).is_err());
    d.minutes(1);
}

fn report(timetable: Timetable, seeds: std::ops::Range<u64>) -> Summary {
    let opts = Options {
        timetable,
        seeds: seeds.collect(),
        hours: 3.0,
        poll_secs: 10,
        cfg: detect::builtin(),
    };
    report::run(&opts).expect("drills run")
}

/// The acceptance bar of a drill report: every expected incident raised once at its SEV and
/// within its bound, nothing else raised, nothing shown recovered while its cause lasts.
fn assert_clean(s: &Summary) {
    let text = report::render(s);
    assert!(s.expected > 0, "{text}");
    assert_eq!(s.detected, s.expected, "recall\n{text}");
    assert_eq!(s.false_positives, 0, "false positives\n{text}");
    assert_eq!(s.duplicates, 0, "raised more than once\n{text}");
    assert_eq!(
        s.recovered_while_firing, 0,
        "recovered while firing\n{text}"
    );
    assert_eq!(s.late, 0, "time to detect\n{text}");
    assert_eq!(s.sev_wrong, 0, "SEV\n{text}");
}

#[test]
fn the_default_drill_raises_each_event_once_at_its_sev_on_twenty_seeds() {
    let s = report(Timetable::Default, 1..21);
    assert_clean(&s);
    // Every one of the eight events, on every seed.
    assert_eq!(s.expected, 8 * 20);
    // The SEV1 guardrail bypass: within 3 minutes always, within 2 at the median, and the
    // SEV2 cost explosion within 2 minutes always.
    let guard = &s.by_type["guardrail bypass"];
    assert!(guard.ttd_median_secs.is_some_and(|t| t <= 120), "{guard:?}");
    assert!(guard.ttd_max_secs.is_some_and(|t| t <= 180), "{guard:?}");
    let cost = &s.by_type["cost explosion"];
    assert!(cost.ttd_max_secs.is_some_and(|t| t <= 120), "{cost:?}");
    // Latency and errors keep their holds.
    assert!(s.by_type["latency degradation"].ttd_median_secs >= Some(15 * 60 - 60));
    assert!(s.by_type["errors"].ttd_median_secs >= Some(9 * 60));
}

#[test]
fn random_drills_are_raised_once_each_and_nothing_else_on_twenty_seeds() {
    let s = report(Timetable::Random, 1..21);
    assert_clean(&s);
    // Every incident type comes up somewhere in twenty random timetables.
    for kind in IncidentType::ALL
        .into_iter()
        .filter(|k| *k != IncidentType::Other)
    {
        let st = s.by_type.get(kind.label());
        assert!(st.is_some_and(|t| t.detected > 0), "{kind:?} never drawn");
    }
}

/// The sim's metrics, read as if `ahead` more of the drill had gone by: the first poll already
/// sees the drill's faults, with no wall-clock wait.
struct Ahead(oncall_cockpit::backend::sim::SimMetrics, Duration);

impl oncall_cockpit::backend::MetricsSource for Ahead {
    async fn fetch(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<oncall_cockpit::domain::SignalSet, oncall_cockpit::backend::BackendError> {
        self.0.fetch(now + self.1).await
    }
}

#[tokio::test]
async fn an_incident_arrives_in_the_same_turn_as_the_signals_that_raised_it() {
    use oncall_cockpit::backend::driver::{run_detecting, DriverConfig};
    use oncall_cockpit::backend::incident_store::IncidentStore;
    use oncall_cockpit::backend::report::{Report, Reporter};
    use oncall_cockpit::backend::sim::Sim;
    use oncall_cockpit::backend::{BackendEvent, Command, CommandRequest};
    use oncall_cockpit::clock::Clock;

    let spec = oncall_cockpit::drill::fleet(Timetable::Default, 42, 90 * 60).expect("fleet");
    let sim = Sim::new(spec, 42, origin()).expect("sim");
    let (reporter, mut reports) = Reporter::channel();
    let (commands, inbox) = tokio::sync::mpsc::unbounded_channel();
    // An hour between polls: everything below comes from the first poll alone.
    let cfg = DriverConfig {
        source: "sim".into(),
        poll: std::time::Duration::from_secs(3600),
        timeout: std::time::Duration::from_secs(600),
    };
    tokio::spawn(run_detecting(
        Ahead(sim.metrics(), Duration::minutes(40)),
        cfg,
        detect::builtin(),
        Clock::new(origin(), 1.0),
        IncidentStore::new("sim"),
        inbox,
        tokio::sync::mpsc::unbounded_channel().1,
        reporter,
    ));
    // The first report is the first poll's whole turn.
    let first = reports.recv().await.expect("task alive");
    let Report::Event(BackendEvent::Turn(events)) = first else {
        panic!("first report is not one turn: {first:?}");
    };
    let [BackendEvent::Signals { detections, .. }, BackendEvent::Incidents { incidents, .. }] =
        events.as_slice()
    else {
        panic!("a turn is the signals, then the incidents: {events:?}");
    };
    assert!(
        !detections.is_empty(),
        "40 minutes into the drill, something fires"
    );
    for d in detections {
        assert!(
            incidents
                .iter()
                .any(|i| i.kind == d.kind && i.feature.as_str() == d.feature && i.is_open()),
            "{:?} on {} has no incident in the same turn",
            d.kind,
            d.feature
        );
    }
    // A command on one of them is served by the same task, without another poll.
    let id = incidents[0].id.clone();
    commands
        .send(CommandRequest {
            action_id: 7,
            author: "ana".into(),
            command: Command::Incident {
                source: "sim".into(),
                id: id.clone(),
                op: IncidentOp::Ack,
            },
        })
        .expect("task alive");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(reports.recv().await.expect("task alive"));
    }
    let Report::Outcome(outcome) = &seen[0] else {
        panic!("the command's outcome first: {seen:?}");
    };
    assert_eq!(outcome.action_id, 7);
    assert!(outcome.result.is_ok(), "{outcome:?}");
    let Report::Event(BackendEvent::Incidents { incidents, .. }) = &seen[1] else {
        panic!("then the incidents as they now are: {seen:?}");
    };
    let acked = incidents.iter().find(|i| i.id == id).expect("still listed");
    assert_eq!(acked.status, Status::Acknowledged);
}
