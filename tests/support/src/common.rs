//! Shared fixtures: the simulated drill driven headlessly, with a fixed clock, so tests see
//! exactly what the cockpit would show at a given simulated minute.

use chrono::{DateTime, Duration, Utc};
use oncall_cockpit::action::Action;
use oncall_cockpit::backend::sim::FleetSpec;
use oncall_cockpit::detect;
use oncall_cockpit::domain::event::BackendEvent;
use oncall_cockpit::domain::SignalSet;
use oncall_cockpit::drill::Run;
use oncall_cockpit::state::{update, Effect, Overlay, Saving, SourceRole, SourceStatus, State};

pub const SOURCE: &str = "sim";

pub fn origin() -> DateTime<Utc> {
    oncall_cockpit::drill::origin()
}

/// The fleet, its detection engine and its incident store, stepped like the metrics driver
/// does (the library's headless drill runner, with the signal pane's view of it).
pub struct Drill {
    pub run: Run,
    pub now: DateTime<Utc>,
    pub last: SignalSet,
}

impl Drill {
    pub fn new(seed: u64) -> Self {
        let spec = FleetSpec::builtin().expect("built-in fleet");
        Drill {
            run: Run::new(spec, seed, detect::builtin()).expect("world"),
            now: origin(),
            last: SignalSet::default(),
        }
    }

    /// Advances in 10-second polls, running detection each time.
    pub fn run_until(&mut self, at: DateTime<Utc>) {
        self.run.run_until(at, 10);
        self.now = self.run.now;
        self.last = self.run.signals();
    }

    pub fn minutes(&mut self, m: i64) {
        let at = origin() + Duration::minutes(m);
        self.run_until(at);
    }

    /// What the app would have received by now.
    pub fn events(&self) -> Vec<Action> {
        vec![
            Action::Backend(BackendEvent::Signals {
                source: SOURCE.into(),
                at: self.now,
                set: self.last.clone(),
                detections: self.run.eval.detections.clone(),
            }),
            Action::Backend(BackendEvent::Incidents {
                source: SOURCE.into(),
                at: self.now,
                incidents: self.run.store.incidents().to_vec(),
            }),
            Action::Tick(self.now),
        ]
    }

    pub fn state(&self) -> State {
        let mut state = State::new(self.now, "ana", "sim seed 42 ×1");
        state.sources.flag_source = Some(SOURCE.into());
        state.sources.list = vec![
            SourceStatus::new(SOURCE, SourceRole::Metrics, Some(10.0)),
            SourceStatus::new(SOURCE, SourceRole::Incidents, Some(10.0)),
            SourceStatus::new(SOURCE, SourceRole::Flags, None),
        ];
        for a in self.events() {
            update(&mut state, a);
        }
        state
    }
}

/// Events of the drill at `minutes`, computed once per process and shared by tests.
pub fn drill_events(minutes: i64) -> Vec<Action> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<i64, Vec<Action>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(minutes)
        .or_insert_with(|| {
            let mut d = Drill::new(42);
            d.minutes(minutes);
            d.events()
        })
        .clone()
}

/// A fresh cockpit state that has seen the drill up to `minutes`.
pub fn drill_state(minutes: i64) -> State {
    let now = origin() + Duration::minutes(minutes);
    let mut state = State::new(now, "ana", "sim seed 42 ×1");
    state.sources.flag_source = Some(SOURCE.into());
    state.sources.list = vec![
        SourceStatus::new(SOURCE, SourceRole::Metrics, Some(10.0)),
        SourceStatus::new(SOURCE, SourceRole::Incidents, Some(10.0)),
        SourceStatus::new(SOURCE, SourceRole::Flags, None),
    ];
    for a in drill_events(minutes) {
        update(&mut state, a);
    }
    state
}

/// Moves the cursor to the first incident matching `pred`; false when none does.
pub fn select_where(
    state: &mut State,
    pred: impl Fn(&oncall_cockpit::domain::Incident) -> bool,
) -> bool {
    update(state, Action::Top);
    for _ in 0..state.incidents.shown.len() {
        if state.selected().is_some_and(&pred) {
            return true;
        }
        update(state, Action::Down);
    }
    false
}

/// `update` with `action`, then as the app goes on once its journal thread has written every
/// evidence snapshot asked for: each `Saved` reply applied, so the lever it held goes out.
pub fn evidence_written(s: &mut State, action: Action) -> Vec<Effect> {
    let fx = update(s, action);
    let mut out = Vec::new();
    for e in fx {
        match e {
            Effect::Save {
                what: what @ Saving::Evidence(_),
                snapshot,
            } => {
                let result = Ok(format!("/data/{}", snapshot.dir));
                out.push(Effect::Save { what, snapshot });
                out.extend(update(s, Action::Saved { what, result }));
            }
            other => out.push(other),
        }
    }
    out
}

/// Pulls the kill switch on the selected incident's first segment: opens the chooser, picks
/// the first `ENGAGE segment` entry and confirms. Returns what the confirmation asked for (the
/// evidence snapshot comes before anything is sent).
pub fn cut_first_segment(s: &mut State) -> Vec<Effect> {
    update(s, Action::KillSwitch);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("the kill switch's chooser, not {:?}", s.overlay);
    };
    let segment = p
        .items
        .iter()
        .position(|i| i.label.starts_with("ENGAGE segment"))
        .expect("a segment to cut");
    for _ in 0..segment {
        update(s, Action::Down);
    }
    update(s, Action::Select);
    update(s, Action::Confirm)
}
