//! How old "now" is, on screen: a signal's value is shown as current only when its newest
//! point is within about a step of the poll; an older one carries its age, and a window with
//! nothing in it says "no data yet". The sources view names the engine behind a metrics
//! source and what it does differently, and every incident that source raises carries it in
//! its evidence.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cockpit_testkit::screen::{row, screen, signals_state};
use oncall_cockpit::action::Action;
use oncall_cockpit::domain::event::BackendEvent;
use oncall_cockpit::domain::{FeatureInfo, Signal, SignalKind, SignalSet};
use oncall_cockpit::state::{update, State};

const SOURCE: &str = "vm";

fn poll() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 2, 15, 23)
        .single()
        .expect("valid")
}

/// A VictoriaMetrics-like poll: cost's newest slot came back empty (its newest value is
/// 97 s old), tokens are on a grid ending 23 s before the poll, TTFT has no value at all.
fn set() -> SignalSet {
    let at = poll();
    let minute = |n: usize, last: f64| {
        let mut p = vec![1.0; n];
        p[n - 1] = last;
        p
    };
    let mut cost = minute(121, f64::NAN);
    cost[119] = 2.98;
    SignalSet {
        at: Some(at),
        signals: vec![
            Signal::new("support-bot", SignalKind::CostPerMin, 60, cost)
                .ending_at(at - Duration::seconds(37)),
            Signal::new(
                "support-bot",
                SignalKind::TokensPerMin,
                60,
                minute(121, 827_800.0),
            )
            .ending_at(at - Duration::seconds(23)),
            Signal::new("support-bot", SignalKind::TtftP99, 60, vec![f64::NAN; 121])
                .ending_at(at - Duration::seconds(23)),
        ],
        distributions: Vec::new(),
        features: vec![FeatureInfo::traffic_only("support-bot", "gpt-a")],
        engine: Some("VictoriaMetrics".into()),
        notes: vec![
            "VictoriaMetrics: rate() and increase() do not extrapolate to the window's edges"
                .into(),
        ],
        coverage: Vec::new(),
    }
}

fn state() -> State {
    signals_state(SOURCE, poll(), set())
}

#[test]
fn an_old_value_carries_its_age_and_an_empty_window_says_no_data_yet() {
    let mut state = state();
    for (w, h) in [(80, 24), (160, 48)] {
        update(&mut state, Action::Resize(w, h));
        let s = screen(&state, w, h);
        assert!(row(&s, "cost $/min").contains("$2.98 · 1m37s ago"), "{s}");
        let tokens = row(&s, "tokens/min");
        assert!(tokens.contains("827.8k") && !tokens.contains("ago"), "{s}");
        assert!(row(&s, "TTFT p99").contains("no data yet"), "{s}");
    }
    // The age counts on between polls: it is how old the value is now.
    update(&mut state, Action::Tick(poll() + Duration::seconds(10)));
    let s = screen(&state, 160, 48);
    assert!(row(&s, "cost $/min").contains("$2.98 · 1m47s ago"), "{s}");
}

#[test]
fn the_sources_view_names_the_engine_and_what_it_does_differently() {
    let mut state = state();
    update(&mut state, Action::Sources);
    let s = screen(&state, 100, 30);
    assert!(s.contains("engine: VictoriaMetrics"), "{s}");
    assert!(s.contains("do not extrapolate"), "{s}");
}

/// The simulated fleet 40 minutes into its drill, as if a VictoriaMetrics had computed it.
struct OnVictoria(oncall_cockpit::backend::sim::SimMetrics);

impl oncall_cockpit::backend::MetricsSource for OnVictoria {
    async fn fetch(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<SignalSet, oncall_cockpit::backend::BackendError> {
        let mut set = self.0.fetch(now + Duration::minutes(40)).await?;
        set.engine = Some("VictoriaMetrics".into());
        set.notes = vec!["VictoriaMetrics: rate() does not extrapolate".into()];
        Ok(set)
    }
}

#[tokio::test]
async fn an_engines_notes_are_evidence_of_every_incident_its_source_raises() {
    use oncall_cockpit::backend::driver::{run_detecting, DriverConfig};
    use oncall_cockpit::backend::incident_store::IncidentStore;
    use oncall_cockpit::backend::report::{Report, Reporter};
    use oncall_cockpit::backend::sim::Sim;
    use oncall_cockpit::clock::Clock;
    use oncall_cockpit::drill::Timetable;

    let origin = oncall_cockpit::drill::origin();
    let spec = oncall_cockpit::drill::fleet(Timetable::Default, 42, 90 * 60).expect("fleet");
    let sim = Sim::new(spec, 42, origin).expect("sim");
    let (reporter, mut reports) = Reporter::channel();
    let (_commands, inbox) = tokio::sync::mpsc::unbounded_channel();
    let cfg = DriverConfig {
        source: "vm".into(),
        poll: std::time::Duration::from_secs(3600),
        timeout: std::time::Duration::from_secs(600),
    };
    tokio::spawn(run_detecting(
        OnVictoria(sim.metrics()),
        cfg,
        oncall_cockpit::detect::builtin(),
        Clock::new(origin, 1.0),
        IncidentStore::new("vm"),
        inbox,
        tokio::sync::mpsc::unbounded_channel().1,
        reporter,
    ));
    let Some(Report::Event(BackendEvent::Turn(events))) = reports.recv().await else {
        panic!("the first report is the first poll's turn");
    };
    let incidents = events
        .iter()
        .find_map(|e| match e {
            BackendEvent::Incidents { incidents, .. } => Some(incidents.clone()),
            _ => None,
        })
        .expect("incidents in the turn");
    assert!(
        !incidents.is_empty(),
        "40 minutes into the drill, something fires"
    );
    for inc in &incidents {
        assert!(
            inc.evidence
                .iter()
                .any(|e| e.as_str() == "VictoriaMetrics: rate() does not extrapolate"),
            "{}: {:?}",
            inc.title,
            inc.evidence
        );
    }
}
