//! Starts the backends as driver tasks: the simulated fleet when nothing is configured,
//! otherwise every configured source, several at once, each by its kind in the source
//! registry (`backend::registry`). Each part a source plays is registered in the state
//! (status, what it cannot do) and in the router (where its commands go).

use crate::action::Action;
use crate::app::Router;
use crate::backend::driver::{self, DriverConfig};
use crate::backend::registry;
use crate::backend::report::{Report, Reporter};
use crate::backend::sim::Sim;
use crate::backend::start::{Registration, Routes, Start};
use crate::clock::Clock;
use crate::config::settings::Settings;
use crate::drill::{self, Timetable};
use crate::state::{SourceHealth, SourceRole, State};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// Backend reports as the app's actions, on its channel.
pub fn reporter(tx: &UnboundedSender<Action>) -> Reporter {
    let tx = tx.clone();
    Reporter::new(move |r| {
        let action = match r {
            Report::Event(ev) => Action::Backend(ev),
            Report::Outcome(o) => Action::CommandDone(o),
        };
        tx.send(action).is_ok()
    })
}

/// A random drill in the cockpit spreads its faults over the first hour and a half.
const RANDOM_DRILL_SECS: i64 = 90 * 60;

/// Registers a source whose adapter could not even be built (bad URL, missing token): it
/// shows as failing with the reason, and the rest of the cockpit carries on.
fn broken(state: &mut State, name: &str, role: SourceRole, error: String) {
    tracing::error!(source = name, %error, "source not started");
    // The footer already names the source.
    let error = error
        .strip_prefix(&format!("{name}: "))
        .map(str::to_string)
        .unwrap_or(error);
    let mut h = SourceHealth::new(name, role, None);
    h.last_error = Some((state.now, error));
    state.sources.push(h);
}

/// One part a started source plays, into the state. The first flag system started is where
/// levers go for features no flag system has reported yet; the first pager is where pages go.
fn register(state: &mut State, r: Registration) {
    state
        .sources
        .push(SourceHealth::new(&r.name, r.role, r.interval_secs));
    for (op, why) in r.unsupported {
        state.unsupported.insert((r.name.clone(), op), why);
    }
    match r.role {
        SourceRole::Flags if state.flag_source.is_none() => state.flag_source = Some(r.name),
        SourceRole::Pager if state.pager_source.is_none() => {
            state.pager_source = Some(r.name);
            state.change_events = r.change_events;
        }
        _ => {}
    }
}

fn router(routes: Routes) -> Router {
    Router {
        incidents: routes.incidents,
        flags: routes.flags,
        pagers: routes.pagers,
    }
}

/// The embedded fleet: metrics, the cockpit's own incident store, and the flag levers.
pub fn start_sim(
    settings: &Settings,
    seed: u64,
    timetable: Timetable,
    clock: Clock,
    tx: &UnboundedSender<Action>,
    state: &mut State,
) -> Result<Router, String> {
    let reporter = reporter(tx);
    let spec = drill::fleet(timetable, seed, RANDOM_DRILL_SECS)?;
    let sim = Sim::new(spec, seed, clock.origin())?;
    let name = "sim".to_string();
    let poll = settings.sim.poll_secs.duration();
    // Polls come every `poll` of wall time, so `speed` times that of cockpit time.
    let interval = Some(poll.as_secs_f64() * clock.speed());
    let cfg = DriverConfig {
        source: name.clone(),
        poll,
        timeout: Duration::from_secs(10),
    };
    let mut routes = Routes::default();
    let mut registered = Vec::new();
    let mut start = Start {
        clock,
        reporter: &reporter,
        detect: &settings.detect,
        routes: &mut routes,
        registered: &mut registered,
    };
    start.detecting(sim.metrics(), cfg.clone(), interval);
    registered.push(Registration::new(&name, SourceRole::Flags, interval));
    for r in registered {
        register(state, r);
    }
    let (flag_tx, flag_rx) = unbounded_channel();
    routes.flags.insert(name, flag_tx);
    tokio::spawn(driver::run_flags(
        sim.flags(),
        cfg,
        clock,
        flag_rx,
        reporter,
    ));
    Ok(router(routes))
}

/// Every configured source, started by its kind.
pub fn start_real(
    settings: &Settings,
    clock: Clock,
    tx: &UnboundedSender<Action>,
    state: &mut State,
) -> Router {
    let reporter = reporter(tx);
    let mut routes = Routes::default();
    for entry in settings.sources.iter() {
        // Settings hold only the registry's kinds; a kind not found has nothing to start.
        let Some(kind) = registry::kind(entry.kind) else {
            continue;
        };
        let mut registered = Vec::new();
        let mut start = Start {
            clock,
            reporter: &reporter,
            detect: &settings.detect,
            routes: &mut routes,
            registered: &mut registered,
        };
        let started = kind.start(entry, &mut start);
        for r in registered {
            register(state, r);
        }
        if let Err(e) = started {
            let role = kind.roles().first().copied().unwrap_or(SourceRole::Metrics);
            broken(state, &entry.name, role, e);
        }
    }
    router(routes)
}

/// Header text naming where the data comes from.
pub fn banner(settings: &Settings) -> String {
    let names: Vec<&str> = settings.sources.iter().map(|e| e.name.as_str()).collect();
    names.join(" + ")
}
