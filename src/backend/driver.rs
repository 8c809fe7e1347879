//! One tokio task per adapter: poll on an interval, execute commands as they arrive, and send
//! every result back over the app channel. Each call is bounded by a timeout so a hung backend
//! shows up as a stale pane with an error rather than silence.

use super::clock::Clock;
use super::local::SharedIncidents;
use super::{
    BackendError, BackendEvent, Command, CommandOutcome, CommandRequest, FlagControl,
    IncidentSource, MetricsSource, Pager,
};
use crate::action::Action;
use crate::detect::{self, DetectConfig};
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::{interval, timeout, MissedTickBehavior};

#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub source: String,
    pub poll: Duration,
    pub timeout: Duration,
}

async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    match timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::Timeout(limit.as_secs().max(1))),
    }
}

/// Polls a metrics source, runs the detectors over what it returns, and feeds the detections
/// to the local incident store when the source has one.
pub async fn run_metrics<M: MetricsSource>(
    mut source: M,
    cfg: DriverConfig,
    detect_cfg: DetectConfig,
    clock: Clock,
    local: Option<SharedIncidents>,
    tx: UnboundedSender<Action>,
) {
    let mut tick = interval(cfg.poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now();
        let event = match bounded(cfg.timeout, source.fetch(now)).await {
            Ok(mut set) => {
                let eval = detect::evaluate(&set, &detect_cfg);
                detect::apply_thresholds(&mut set, &eval);
                if let Some(store) = &local {
                    store.observe(&eval.detections, now);
                }
                BackendEvent::Signals {
                    source: cfg.source.clone(),
                    at: now,
                    set,
                    detections: eval.detections,
                }
            }
            Err(e) => failed(&cfg.source, now, &e),
        };
        if tx.send(Action::Backend(event)).is_err() {
            return; // the app has quit
        }
    }
}

fn failed(source: &str, at: chrono::DateTime<chrono::Utc>, e: &BackendError) -> BackendEvent {
    tracing::warn!(source, error = %e, "backend call failed");
    BackendEvent::Failed {
        source: source.to_string(),
        at,
        error: e.to_string(),
    }
}

/// Lists incidents on an interval and applies incident commands, re-listing right after each
/// so the responder sees the effect of an ack without waiting for the next poll.
pub async fn run_incidents<I: IncidentSource>(
    mut source: I,
    cfg: DriverConfig,
    clock: Clock,
    mut commands: UnboundedReceiver<CommandRequest>,
    tx: UnboundedSender<Action>,
) {
    let mut tick = interval(cfg.poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            req = commands.recv() => {
                let Some(req) = req else { return };
                let result = match &req.command {
                    Command::Incident { id, op, .. } => match source.unsupported(op) {
                        Some(why) => Err(BackendError::Rejected(why)),
                        None => {
                            bounded(cfg.timeout, source.apply(id, op, &req.author, clock.now()))
                                .await
                        }
                    },
                    other => Err(BackendError::Rejected(format!(
                        "{} is an incident source and cannot {}", cfg.source, other.name()
                    ))),
                };
                if !send_outcome(&tx, req.action_id, result) {
                    return;
                }
            }
        }
        let now = clock.now();
        let event = match bounded(cfg.timeout, source.list(now)).await {
            Ok(incidents) => BackendEvent::Incidents {
                source: cfg.source.clone(),
                at: now,
                incidents,
            },
            Err(e) => failed(&cfg.source, now, &e),
        };
        if tx.send(Action::Backend(event)).is_err() {
            return;
        }
    }
}

/// Reads the levers on an interval and applies flag commands one at a time, in the order
/// they were confirmed, re-reading right after each so the panes show the lever as it is.
pub async fn run_flags<F: FlagControl>(
    mut control: F,
    cfg: DriverConfig,
    clock: Clock,
    mut commands: UnboundedReceiver<CommandRequest>,
    tx: UnboundedSender<Action>,
) {
    let mut tick = interval(cfg.poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            req = commands.recv() => {
                let Some(req) = req else { return };
                let result = match &req.command {
                    Command::Flag { op, .. } => {
                        bounded(cfg.timeout, control.apply(op, &req.author, clock.now())).await
                    }
                    other => Err(BackendError::Rejected(format!(
                        "{} is a flag system and cannot {}",
                        cfg.source,
                        other.name()
                    ))),
                };
                if !send_outcome(&tx, req.action_id, result) {
                    return;
                }
            }
        }
        let now = clock.now();
        let event = match bounded(cfg.timeout, control.read(now)).await {
            Ok(flags) => BackendEvent::Flags {
                source: cfg.source.clone(),
                at: now,
                flags,
            },
            Err(e) => failed(&cfg.source, now, &e),
        };
        if tx.send(Action::Backend(event)).is_err() {
            return;
        }
    }
}

/// Sends pages and change events as they are confirmed; nothing to poll.
pub async fn run_pager<P: Pager>(
    mut pager: P,
    cfg: DriverConfig,
    clock: Clock,
    mut commands: UnboundedReceiver<CommandRequest>,
    tx: UnboundedSender<Action>,
) {
    while let Some(req) = commands.recv().await {
        let result = match &req.command {
            Command::Page { op, .. } => bounded(cfg.timeout, pager.send(op, clock.now())).await,
            other => Err(BackendError::Rejected(format!(
                "{} is a pager and cannot {}",
                cfg.source,
                other.name()
            ))),
        };
        if !send_outcome(&tx, req.action_id, result) {
            return;
        }
    }
}

fn send_outcome(
    tx: &UnboundedSender<Action>,
    action_id: u64,
    result: Result<String, BackendError>,
) -> bool {
    let outcome = CommandOutcome {
        action_id,
        result: result.map_err(|e| e.to_string()),
    };
    tx.send(Action::CommandDone(outcome)).is_ok()
}
