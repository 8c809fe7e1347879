//! Starts the backends as driver tasks: the simulated fleet when nothing is configured,
//! otherwise every configured source, several at once, each by its kind in the source
//! registry (`backend::registry`). Each part a source plays is routed (where its commands
//! go) and returned as a `Registration`, which the app applies through `update` at start.

use crate::action::Action;
use crate::app::Router;
use crate::backend::driver::{self, DriverConfig};
use crate::backend::registry;
use crate::backend::report::{Report, Reporter};
use crate::backend::sim::Sim;
use crate::backend::start::{Registration, Routes, Start};
use crate::clock::Clock;
use crate::config::settings::Settings;
use crate::domain::SourceRole;
use crate::drill::{self, Timetable};
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

fn router(routes: Routes) -> Router {
    Router {
        incidents: routes.incidents,
        flags: routes.flags,
        pagers: routes.pagers,
        samples: routes.samples,
        shadow: routes.shadow,
    }
}

/// The embedded fleet: metrics, the cockpit's own incident store, and the flag levers.
pub fn start_sim(
    settings: &Settings,
    data_dir: &std::path::Path,
    seed: u64,
    timetable: Timetable,
    clock: Clock,
    tx: &UnboundedSender<Action>,
) -> Result<(Router, Vec<Registration>), String> {
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
        data_dir,
    };
    start.detecting(sim.metrics(), cfg.clone(), interval);
    start.samples(sim.samples(), cfg.clone());
    registered.push(Registration::new(&name, SourceRole::Flags, interval));
    let (flag_tx, flag_rx) = unbounded_channel();
    routes.flags.insert(name, flag_tx);
    tokio::spawn(driver::run_flags(
        sim.flags(),
        cfg,
        clock,
        flag_rx,
        reporter,
    ));
    Ok((router(routes), registered))
}

/// Every configured source, started by its kind.
pub fn start_real(
    settings: &Settings,
    data_dir: &std::path::Path,
    clock: Clock,
    tx: &UnboundedSender<Action>,
) -> (Router, Vec<Registration>) {
    let reporter = reporter(tx);
    let mut routes = Routes::default();
    let mut all = Vec::new();
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
            data_dir,
        };
        let started = kind.start(entry, &mut start);
        all.append(&mut registered);
        if let Err(error) = started {
            tracing::error!(source = entry.name, %error, "source not started");
            let role = kind.roles().first().copied().unwrap_or(SourceRole::Metrics);
            let mut r = Registration::new(&entry.name, role, None);
            r.error = Some(error);
            all.push(r);
        }
    }
    (router(routes), all)
}

/// Header text naming where the data comes from.
pub fn banner(settings: &Settings) -> String {
    let names: Vec<&str> = settings.sources.iter().map(|e| e.name.as_str()).collect();
    names.join(" + ")
}
