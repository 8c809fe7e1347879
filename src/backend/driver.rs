//! One tokio task per adapter: poll on an interval, execute commands as they arrive, and send
//! every result to its `Reporter`. Each call is bounded by a timeout so a hung backend
//! shows up as a stale pane with an error rather than silence.

use super::incident_store::IncidentStore;
use super::report::Reporter;
use super::{
    BackendError, BackendEvent, Command, CommandOutcome, CommandRequest, FlagControl,
    IncidentSource, MetricsSource, Pager, SampleSource,
};
use crate::clock::Clock;
use crate::detect::{self, DetectConfig, Engine};
use crate::domain::change::ChangeLog;
use crate::domain::sample::{SampleQuery, MAX_SAMPLES_PER_WINDOW};
use crate::domain::shadow::ShadowRequest;
use crate::domain::SafeText;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
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

/// Polls a metrics source, runs the detection engine over what it returns, and keeps the
/// incidents it raises in its own store. The signals of a poll and the incidents they raised
/// go out together, as one turn, so an incident is on screen in the same frame as the
/// sparkline that turned red. Commands on those incidents come to this task too, and are
/// served even while a poll is under way: an ack never waits for a slow backend. The engine
/// and the store live as long as the task: baselines, incident conditions and the incidents'
/// history carry over from poll to poll. Shadow comparisons (`shadow`) are asked of the same
/// source between polls, each within the timeout; one asked during a poll waits for it.
#[allow(clippy::too_many_arguments)]
pub async fn run_detecting<M: MetricsSource>(
    mut source: M,
    cfg: DriverConfig,
    detect_cfg: DetectConfig,
    clock: Clock,
    mut store: IncidentStore,
    mut commands: UnboundedReceiver<CommandRequest>,
    mut shadow: UnboundedReceiver<ShadowRequest>,
    tx: Reporter,
) {
    let mut tick = interval(cfg.poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut engine = Engine::new(detect_cfg);
    let mut shadow_open = true;
    let mut waiting: Vec<ShadowRequest> = Vec::new();
    loop {
        while !waiting.is_empty() {
            let request = waiting.remove(0);
            let now = clock.now();
            let compared = {
                let work = bounded(cfg.timeout, source.compare(&request, now));
                tokio::pin!(work);
                loop {
                    tokio::select! {
                        done = &mut work => break done,
                        req = commands.recv() => {
                            let Some(req) = req else { return };
                            if !serve_own(&mut store, &cfg.source, &req, clock.now(), &tx) {
                                return;
                            }
                        }
                    }
                }
            };
            let answer = BackendEvent::Shadow {
                source: cfg.source.clone(),
                at: clock.now(),
                request: Box::new(request),
                answer: compared.map(Box::new).map_err(|e| e.to_string()),
            };
            if !tx.event(answer) {
                return;
            }
        }
        tokio::select! {
            _ = tick.tick() => {}
            req = commands.recv() => {
                let Some(req) = req else { return };
                if !serve_own(&mut store, &cfg.source, &req, clock.now(), &tx) {
                    return;
                }
                continue;
            }
            q = shadow.recv(), if shadow_open => {
                match q {
                    Some(q) => queue_comparison(&mut waiting, q),
                    None => shadow_open = false,
                }
                continue;
            }
        }
        let now = clock.now();
        let fetched = {
            let fetch = bounded(cfg.timeout, source.fetch(now));
            tokio::pin!(fetch);
            loop {
                tokio::select! {
                    done = &mut fetch => break done,
                    req = commands.recv() => {
                        let Some(req) = req else { return };
                        if !serve_own(&mut store, &cfg.source, &req, clock.now(), &tx) {
                            return;
                        }
                    }
                    q = shadow.recv(), if shadow_open => match q {
                        Some(q) => queue_comparison(&mut waiting, q),
                        None => shadow_open = false,
                    },
                }
            }
        };
        let event = match fetched {
            Ok(mut set) => {
                let mut eval = engine.ingest(&set, &store.open_keys());
                // How the engine's numbers differ is evidence too: a responder comparing
                // them with another engine's reads why they disagree.
                for d in &mut eval.detections {
                    d.evidence
                        .extend(set.notes.iter().map(|n| SafeText::new(n)));
                    // A signal read through a fallback says so where the decision is read.
                    d.evidence.extend(
                        set.coverage
                            .iter()
                            .filter(|c| c.feature == d.feature && c.kind == d.signal)
                            .map(|c| SafeText::new(&format!("{}: {}", c.kind.label(), c.text()))),
                    );
                }
                detect::apply_thresholds(&mut set, &eval);
                store.observe(&eval.detections, now);
                BackendEvent::Turn(vec![
                    BackendEvent::Signals {
                        source: cfg.source.clone(),
                        at: now,
                        set,
                        detections: eval.detections,
                    },
                    BackendEvent::Incidents {
                        source: cfg.source.clone(),
                        at: now,
                        incidents: store.incidents().to_vec(),
                    },
                ])
            }
            // The store is as fresh as the signals it judged: while the source fails, so
            // do its incidents.
            Err(e) => failed(&cfg.source, now, &e),
        };
        if !tx.event(event) {
            return; // the app has quit
        }
    }
}

/// The most comparisons waiting for a poll to end: each is a responder's open dialog, and
/// one asked again replaces its earlier copy.
const MAX_WAITING_COMPARISONS: usize = 8;

fn queue_comparison(waiting: &mut Vec<ShadowRequest>, request: ShadowRequest) {
    waiting.retain(|w| *w != request);
    if waiting.len() >= MAX_WAITING_COMPARISONS {
        waiting.remove(0);
    }
    waiting.push(request);
}

/// A command on the task's own incidents: its outcome, then the incidents as they now are.
/// `false` once nobody listens.
fn serve_own(
    store: &mut IncidentStore,
    source: &str,
    req: &CommandRequest,
    now: DateTime<Utc>,
    tx: &Reporter,
) -> bool {
    let result = match &req.command {
        Command::Incident { id, op, .. } => store.apply(id, op, &req.author, now),
        other => Err(BackendError::Rejected(format!(
            "{source} is an incident source and cannot {}",
            other.name()
        ))),
    };
    send_outcome(tx, req.action_id, result)
        && tx.event(BackendEvent::Incidents {
            source: source.to_string(),
            at: now,
            incidents: store.incidents().to_vec(),
        })
}

fn failed(source: &str, at: chrono::DateTime<chrono::Utc>, e: &BackendError) -> BackendEvent {
    tracing::warn!(source, error = %e, "backend call failed");
    BackendEvent::Failed {
        source: source.to_string(),
        at,
        error: e.to_string(),
    }
}

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send + 'a>>;

/// A backend polled on an interval that also takes commands: incident sources and flag
/// systems share one loop through this.
trait Served: Send + 'static {
    /// For refusing a command of the wrong kind ("an incident source cannot prompt_rollback").
    const KIND: &'static str;
    /// The command's work, or None when this kind of backend cannot do it at all.
    fn execute<'a>(
        &'a mut self,
        cmd: &'a Command,
        author: &'a str,
        now: DateTime<Utc>,
    ) -> Option<Fut<'a, String>>;
    fn poll<'a>(&'a mut self, source: &'a str, now: DateTime<Utc>) -> Fut<'a, BackendEvent>;
    /// What the backend last read of its change history, if it keeps one.
    fn changes(&self) -> Option<ChangeLog>;
}

struct Incidents<I>(I);
struct Flags<F>(F);

impl<I: IncidentSource> Served for Incidents<I> {
    const KIND: &'static str = "an incident source";

    fn execute<'a>(
        &'a mut self,
        cmd: &'a Command,
        author: &'a str,
        now: DateTime<Utc>,
    ) -> Option<Fut<'a, String>> {
        let Command::Incident { id, op, .. } = cmd else {
            return None;
        };
        Some(match self.0.unsupported(op) {
            Some(why) => Box::pin(async move { Err(BackendError::Rejected(why)) }),
            None => Box::pin(self.0.apply(id, op, author, now)),
        })
    }

    fn changes(&self) -> Option<ChangeLog> {
        self.0.changes()
    }

    fn poll<'a>(&'a mut self, source: &'a str, now: DateTime<Utc>) -> Fut<'a, BackendEvent> {
        Box::pin(async move {
            Ok(BackendEvent::Incidents {
                source: source.to_string(),
                at: now,
                incidents: self.0.list(now).await?,
            })
        })
    }
}

impl<F: FlagControl> Served for Flags<F> {
    const KIND: &'static str = "a flag system";

    fn execute<'a>(
        &'a mut self,
        cmd: &'a Command,
        author: &'a str,
        now: DateTime<Utc>,
    ) -> Option<Fut<'a, String>> {
        let Command::Flag { op, .. } = cmd else {
            return None;
        };
        Some(Box::pin(self.0.apply(op, author, now)))
    }

    fn changes(&self) -> Option<ChangeLog> {
        self.0.changes()
    }

    fn poll<'a>(&'a mut self, source: &'a str, now: DateTime<Utc>) -> Fut<'a, BackendEvent> {
        Box::pin(async move {
            Ok(BackendEvent::Flags {
                source: source.to_string(),
                at: now,
                flags: self.0.read(now).await?,
            })
        })
    }
}

/// Polls on an interval and executes commands as they arrive, polling again right after each
/// so the responder sees the effect of an ack or a rollback without waiting for the interval.
async fn serve<S: Served>(
    mut backend: S,
    cfg: DriverConfig,
    clock: Clock,
    mut commands: UnboundedReceiver<CommandRequest>,
    tx: Reporter,
) {
    let mut tick = interval(cfg.poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            req = commands.recv() => {
                let Some(req) = req else { return };
                let result = match backend.execute(&req.command, &req.author, clock.now()) {
                    Some(work) => bounded(cfg.timeout, work).await,
                    None => Err(BackendError::Rejected(format!(
                        "{} is {} and cannot {}",
                        cfg.source,
                        S::KIND,
                        req.command.name()
                    ))),
                };
                if !send_outcome(&tx, req.action_id, result) {
                    return;
                }
            }
        }
        let now = clock.now();
        let event = bounded(cfg.timeout, backend.poll(&cfg.source, now))
            .await
            .unwrap_or_else(|e| failed(&cfg.source, now, &e));
        if !tx.event(event) {
            return;
        }
        // After the poll's own report, what it read of the change history: the timeline is
        // the state's to draw, never a reason to hold back the levers.
        if let Some(log) = backend.changes() {
            let changes = BackendEvent::Changes {
                source: cfg.source.clone(),
                log,
            };
            if !tx.event(changes) {
                return;
            }
        }
    }
}

pub async fn run_incidents<I: IncidentSource>(
    source: I,
    cfg: DriverConfig,
    clock: Clock,
    commands: UnboundedReceiver<CommandRequest>,
    tx: Reporter,
) {
    serve(Incidents(source), cfg, clock, commands, tx).await
}

/// Flag commands are applied one at a time, in the order they were confirmed.
pub async fn run_flags<F: FlagControl>(
    control: F,
    cfg: DriverConfig,
    clock: Clock,
    commands: UnboundedReceiver<CommandRequest>,
    tx: Reporter,
) {
    serve(Flags(control), cfg, clock, commands, tx).await
}

/// Sends pages and change events as they are confirmed; nothing to poll.
pub async fn run_pager<P: Pager>(
    mut pager: P,
    cfg: DriverConfig,
    clock: Clock,
    mut commands: UnboundedReceiver<CommandRequest>,
    tx: Reporter,
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

/// Answers samples queries one at a time, each within the source's timeout; a failure is
/// that query's answer and the source's health, so a dead tracing server shows like any
/// other dead source.
pub async fn run_samples<S: SampleSource>(
    mut source: S,
    cfg: DriverConfig,
    clock: Clock,
    mut queries: UnboundedReceiver<SampleQuery>,
    tx: Reporter,
) {
    while let Some(query) = queries.recv().await {
        let result = bounded(cfg.timeout, source.samples(&query)).await;
        let at = clock.now();
        let failed = result.as_ref().err().map(|e| BackendEvent::Failed {
            source: cfg.source.clone(),
            at,
            error: e.to_string(),
        });
        let (samples, note) = match result {
            Ok(mut batch) => {
                batch
                    .samples
                    .truncate(query.limit.min(MAX_SAMPLES_PER_WINDOW));
                (Ok(batch.samples), batch.note)
            }
            Err(e) => (Err(e.to_string()), None),
        };
        let answer = BackendEvent::Samples {
            source: cfg.source.clone(),
            at,
            feature: query.feature,
            window: query.window,
            samples,
            note,
        };
        let event = match failed {
            Some(f) => BackendEvent::Turn(vec![f, answer]),
            None => answer,
        };
        if !tx.event(event) {
            return;
        }
    }
}

fn send_outcome(tx: &Reporter, action_id: u64, result: Result<String, BackendError>) -> bool {
    let outcome = CommandOutcome {
        action_id,
        result: result.map_err(|e| e.to_string()),
    };
    tx.outcome(outcome)
}
