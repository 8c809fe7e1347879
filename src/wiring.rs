//! Starts the backends as driver tasks: the simulated fleet when nothing is configured,
//! otherwise every configured source, several at once. Each one is registered in the state
//! (health, what it cannot do) and in the router (where its commands go).

use crate::action::Action;
use crate::app::Router;
use crate::backend::alertmanager::Alertmanager;
use crate::backend::bounds::{Bounded, CommandBell, Limits};
use crate::backend::driver::{self, DriverConfig};
use crate::backend::flagd::Flagd;
use crate::backend::hook::HttpHook;
use crate::backend::incident_store::SharedIncidents;
use crate::backend::pagerduty::PagerDuty;
use crate::backend::pagerduty_events::PagerDutyEvents;
use crate::backend::prometheus::Prometheus;
use crate::backend::report::{Report, Reporter};
use crate::backend::sim::Sim;
use crate::backend::unleash::Unleash;
use crate::backend::{CommandRequest, FlagControl, IncidentOp, IncidentSource};
use crate::clock::Clock;
use crate::config::settings::Settings;
use crate::config::timing::Timing;
use crate::drill::{self, Timetable};
use crate::state::{SourceHealth, SourceRole, State};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

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

fn register_unsupported<I: IncidentSource>(state: &mut State, name: &str, source: &I) {
    let ops = [
        IncidentOp::Ack,
        IncidentOp::Escalate,
        IncidentOp::Resolve,
        IncidentOp::Note(String::new()),
    ];
    for op in ops {
        if let Some(why) = source.unsupported(&op) {
            state
                .unsupported
                .insert((name.to_string(), op.name().to_string()), why);
        }
    }
}

/// A command channel for a source's task. With a bell, every command rings it on the way,
/// so a poll waiting for its pace gives way to the command.
fn command_channel(
    bell: Option<CommandBell>,
) -> (
    UnboundedSender<CommandRequest>,
    UnboundedReceiver<CommandRequest>,
) {
    let (front, mut inbox) = unbounded_channel();
    let Some(bell) = bell else {
        return (front, inbox);
    };
    let (forward, back) = unbounded_channel();
    tokio::spawn(async move {
        while let Some(req) = inbox.recv().await {
            bell.ring();
            if forward.send(req).is_err() {
                return;
            }
        }
    });
    (front, back)
}

fn spawn_incidents<I: IncidentSource>(
    source: I,
    cfg: DriverConfig,
    clock: Clock,
    bell: Option<CommandBell>,
    tx: &Reporter,
    router: &mut Router,
) {
    let (cmd_tx, cmd_rx) = command_channel(bell);
    router.incidents.insert(cfg.source.clone(), cmd_tx);
    tokio::spawn(driver::run_incidents(
        source,
        cfg,
        clock,
        cmd_rx,
        tx.clone(),
    ));
}

/// A flag system's task. The first one started is where levers go for features that no flag
/// system has reported yet.
fn spawn_flags<F: FlagControl>(
    control: F,
    cfg: DriverConfig,
    clock: Clock,
    bell: Option<CommandBell>,
    tx: &Reporter,
    router: &mut Router,
    state: &mut State,
) {
    state.sources.push(SourceHealth::new(
        &cfg.source,
        SourceRole::Flags,
        Some(cfg.poll.as_secs_f64()),
    ));
    if state.flag_source.is_none() {
        state.flag_source = Some(cfg.source.clone());
    }
    let (cmd_tx, cmd_rx) = command_channel(bell);
    router.flags.insert(cfg.source.clone(), cmd_tx);
    tokio::spawn(driver::run_flags(control, cfg, clock, cmd_rx, tx.clone()));
}

/// A polled source with its limits applied (pacing, timeout, incident cap), the driver config
/// that leaves room for its pacing, and the bell its commands ring.
struct Polled<S> {
    adapter: Bounded<S>,
    cfg: DriverConfig,
    bell: CommandBell,
}

#[allow(clippy::too_many_arguments)]
fn polled<S>(
    adapter: S,
    name: &str,
    timing: Timing,
    answer_time_factor: f64,
    max_incidents: usize,
    clock: Clock,
    tx: &Reporter,
) -> Polled<S> {
    let limits = Limits {
        source: name.to_string(),
        timeout: timing.timeout,
        answer_time_factor,
        max_incidents,
        poll_secs: timing.poll.as_secs_f64(),
    };
    let cfg = DriverConfig {
        source: name.to_string(),
        poll: timing.poll,
        timeout: limits.driver_timeout(),
    };
    let bell = CommandBell::default();
    Polled {
        adapter: Bounded::new(adapter, limits, clock, bell.clone(), tx.clone()),
        cfg,
        bell,
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
    let tx = &reporter(tx);
    let spec = drill::fleet(timetable, seed, RANDOM_DRILL_SECS)?;
    let sim = Sim::new(spec, seed, clock.origin())?;
    let name = "sim".to_string();
    let poll = settings.sim.poll_secs.duration();
    let interval = Some(poll.as_secs_f64() * clock.speed());
    state.sources.extend([
        SourceHealth::new(&name, SourceRole::Metrics, interval),
        SourceHealth::new(&name, SourceRole::Incidents, interval),
        SourceHealth::new(&name, SourceRole::Flags, interval),
    ]);
    state.flag_source = Some(name.clone());
    let cfg = DriverConfig {
        source: name.clone(),
        poll,
        timeout: Duration::from_secs(10),
    };
    let local = SharedIncidents::new(&name);
    let detect = settings.detect.clone();
    tokio::spawn(driver::run_metrics(
        sim.metrics(),
        cfg.clone(),
        detect,
        clock,
        Some(local.clone()),
        tx.clone(),
    ));
    let mut router = Router::default();
    spawn_incidents(local, cfg.clone(), clock, None, tx, &mut router);
    let (flag_tx, flag_rx) = unbounded_channel();
    router.flags.insert(name, flag_tx);
    tokio::spawn(driver::run_flags(
        sim.flags(),
        cfg,
        clock,
        flag_rx,
        tx.clone(),
    ));
    Ok(router)
}

/// Every configured real source. Prometheus signals also feed the cockpit's own detectors,
/// whose incidents appear under the Prometheus source's name.
pub fn start_real(
    settings: &Settings,
    clock: Clock,
    tx: &UnboundedSender<Action>,
    state: &mut State,
) -> Router {
    let tx = &reporter(tx);
    let mut router = Router::default();
    for p in &settings.sources.prometheus {
        match Prometheus::new(p) {
            Ok(adapter) => {
                let metrics = polled(
                    adapter,
                    &p.name,
                    Timing::new(p.poll_secs, p.timeout_secs),
                    p.answer_time_factor,
                    usize::MAX,
                    clock,
                    tx,
                );
                let interval = Some(metrics.cfg.poll.as_secs_f64());
                state
                    .sources
                    .push(SourceHealth::new(&p.name, SourceRole::Metrics, interval));
                state
                    .sources
                    .push(SourceHealth::new(&p.name, SourceRole::Incidents, interval));
                let local = SharedIncidents::new(&p.name);
                let detect = settings.detect.clone();
                // The cockpit's own detections: a local store, nothing to pace.
                let local_cfg = DriverConfig {
                    timeout: p.timeout_secs.duration(),
                    ..metrics.cfg.clone()
                };
                tokio::spawn(driver::run_metrics(
                    metrics.adapter,
                    metrics.cfg,
                    detect,
                    clock,
                    Some(local.clone()),
                    tx.clone(),
                ));
                spawn_incidents(local, local_cfg, clock, None, tx, &mut router);
            }
            Err(e) => broken(state, &p.name, SourceRole::Metrics, e),
        }
    }
    for a in &settings.sources.alertmanager {
        match Alertmanager::new(a) {
            Ok(adapter) => {
                register_unsupported(state, &a.name, &adapter);
                let src = polled(
                    adapter,
                    &a.name,
                    Timing::new(a.poll_secs, a.timeout_secs),
                    a.answer_time_factor,
                    a.max_incidents,
                    clock,
                    tx,
                );
                state.sources.push(SourceHealth::new(
                    &a.name,
                    SourceRole::Incidents,
                    Some(src.cfg.poll.as_secs_f64()),
                ));
                spawn_incidents(src.adapter, src.cfg, clock, Some(src.bell), tx, &mut router);
            }
            Err(e) => broken(state, &a.name, SourceRole::Incidents, e),
        }
    }
    for p in &settings.sources.pagerduty {
        match PagerDuty::new(p) {
            Ok(adapter) => {
                register_unsupported(state, &p.name, &adapter);
                let src = polled(
                    adapter,
                    &p.name,
                    Timing::new(p.poll_secs, p.timeout_secs),
                    p.answer_time_factor,
                    p.max_incidents,
                    clock,
                    tx,
                );
                state.sources.push(SourceHealth::new(
                    &p.name,
                    SourceRole::Incidents,
                    Some(src.cfg.poll.as_secs_f64()),
                ));
                spawn_incidents(src.adapter, src.cfg, clock, Some(src.bell), tx, &mut router);
            }
            Err(e) => broken(state, &p.name, SourceRole::Incidents, e),
        }
    }
    for p in &settings.sources.pagerduty_events {
        let cfg = DriverConfig {
            source: p.name.clone(),
            poll: Duration::from_secs(3600),
            timeout: p.timeout_secs.duration(),
        };
        match PagerDutyEvents::new(p) {
            Ok(adapter) => {
                state
                    .sources
                    .push(SourceHealth::new(&p.name, SourceRole::Pager, None));
                if state.pager_source.is_none() {
                    state.pager_source = Some(p.name.clone());
                    state.change_events = p.change_events;
                }
                let (cmd_tx, cmd_rx) = unbounded_channel();
                router.pagers.insert(p.name.clone(), cmd_tx);
                tokio::spawn(driver::run_pager(adapter, cfg, clock, cmd_rx, tx.clone()));
            }
            Err(e) => broken(state, &p.name, SourceRole::Pager, e),
        }
    }
    for f in &settings.sources.flagd {
        match Flagd::new(f) {
            Ok(adapter) => {
                let src = polled(
                    adapter,
                    &f.name,
                    Timing::new(f.poll_secs, f.timeout_secs),
                    f.answer_time_factor,
                    usize::MAX,
                    clock,
                    tx,
                );
                let bell = Some(src.bell);
                spawn_flags(src.adapter, src.cfg, clock, bell, tx, &mut router, state);
            }
            Err(e) => broken(state, &f.name, SourceRole::Flags, e),
        }
    }
    for h in &settings.sources.http_hook {
        // An endpoint has nothing to poll; the slow interval only republishes what was pulled.
        let cfg = DriverConfig {
            source: h.name.clone(),
            poll: Duration::from_secs(60),
            timeout: h.timeout_secs.duration(),
        };
        match HttpHook::new(h) {
            Ok(adapter) => spawn_flags(adapter, cfg, clock, None, tx, &mut router, state),
            Err(e) => broken(state, &h.name, SourceRole::Flags, e),
        }
    }
    for u in &settings.sources.unleash {
        match Unleash::new(u) {
            Ok(adapter) => {
                let src = polled(
                    adapter,
                    &u.name,
                    Timing::new(u.poll_secs, u.timeout_secs),
                    u.answer_time_factor,
                    usize::MAX,
                    clock,
                    tx,
                );
                let bell = Some(src.bell);
                spawn_flags(src.adapter, src.cfg, clock, bell, tx, &mut router, state);
            }
            Err(e) => broken(state, &u.name, SourceRole::Flags, e),
        }
    }
    router
}

/// Header text naming where the data comes from.
pub fn banner(settings: &Settings) -> String {
    let s = &settings.sources;
    let names: Vec<&str> = s
        .prometheus
        .iter()
        .map(|p| p.name.as_str())
        .chain(s.alertmanager.iter().map(|a| a.name.as_str()))
        .chain(s.pagerduty.iter().map(|p| p.name.as_str()))
        .chain(s.pagerduty_events.iter().map(|p| p.name.as_str()))
        .chain(s.flagd.iter().map(|f| f.name.as_str()))
        .chain(s.http_hook.iter().map(|h| h.name.as_str()))
        .chain(s.unleash.iter().map(|u| u.name.as_str()))
        .collect();
    names.join(" + ")
}
