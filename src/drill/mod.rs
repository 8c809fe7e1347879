//! Headless drills: the simulated fleet, the detection engine and the cockpit's own incident
//! store, stepped in simulated time as fast as the CPU allows, scored against what the drill
//! injected (`oncall-cockpit drill --report`). Tests drive the same runner.

pub mod random;
pub mod report;
pub mod truth;

use crate::backend::incident_store::IncidentStore;
use crate::backend::sim::{FleetSpec, SimWorld};
use crate::detect::{self, Change, DetectConfig, Engine, Evaluation};
use crate::domain::SignalSet;
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Where drills start, so the same seed gives the same report to the second.
pub fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Which timetable a drill runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timetable {
    /// The documented one in fleet.toml.
    Default,
    /// Drawn from the seed (see `random`).
    Random,
}

/// The fleet spec a drill runs: the built-in fleet with the chosen timetable.
pub fn fleet(timetable: Timetable, seed: u64, horizon_secs: i64) -> Result<FleetSpec, String> {
    let base = FleetSpec::builtin()?;
    Ok(match timetable {
        Timetable::Default => base,
        Timetable::Random => random::timetable(&base, seed, horizon_secs),
    })
}

/// One drill in progress: what the metrics driver and the incident store do in the cockpit,
/// without the tasks and the clock.
pub struct Run {
    pub world: SimWorld,
    pub engine: Engine,
    pub store: IncidentStore,
    pub now: DateTime<Utc>,
    /// Every episode change so far, in time order.
    pub changes: Vec<Change>,
    /// The latest evaluation: open episodes and the bands on screen.
    pub eval: Evaluation,
    bucket_secs: i64,
    polled: bool,
}

impl Run {
    pub fn new(spec: FleetSpec, seed: u64, cfg: DetectConfig) -> Result<Run, String> {
        let bucket_secs = i64::from(spec.bucket_secs.max(1));
        let world = SimWorld::new(spec, seed, origin())?;
        Ok(Run {
            world,
            engine: Engine::new(cfg),
            store: IncidentStore::new("sim"),
            now: origin(),
            changes: Vec::new(),
            eval: Evaluation::default(),
            bucket_secs,
            polled: false,
        })
    }

    /// One poll `secs` after the last.
    pub fn poll(&mut self, secs: i64) {
        self.now += Duration::seconds(secs.max(1));
        self.world.advance_to(self.now);
        let set = if self.polled {
            // Only what is new since the last poll, plus one bucket of overlap.
            let points = (secs.max(1) / self.bucket_secs + 2) as usize;
            self.world.snapshot_recent(points)
        } else {
            self.world.snapshot()
        };
        self.polled = true;
        let open = self.store.open_keys();
        let eval = self.engine.ingest(&set, &open);
        self.store.observe(&eval.detections, self.now);
        self.changes.extend(eval.changes.iter().cloned());
        self.eval = eval;
    }

    /// Polls every `step` seconds until `at`.
    pub fn run_until(&mut self, at: DateTime<Utc>, step: i64) {
        while self.now < at {
            self.poll(step);
        }
    }

    /// Polls every bucket for `m` more simulated minutes from the drill's start.
    pub fn minutes(&mut self, m: i64) {
        let bucket = self.bucket_secs;
        self.run_until(origin() + Duration::minutes(m), bucket);
    }

    /// What the signal pane would show now: the whole window, with the detectors' bands.
    pub fn signals(&self) -> SignalSet {
        let mut set = self.world.snapshot();
        detect::apply_thresholds(&mut set, &self.eval);
        set
    }

    /// Seconds since the drill started.
    pub fn elapsed(&self) -> i64 {
        (self.now - origin()).num_seconds()
    }
}
