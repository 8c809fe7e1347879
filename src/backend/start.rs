//! What starting a source takes, whatever its kind: its limits applied (pacing, timeout,
//! incident cap), a driver task per part it plays, a command channel per part that takes
//! commands, and a registration for each part so the cockpit shows its status.

use super::bounds::{Bounded, CommandBell, Limits};
use super::driver::{self, DriverConfig};
use super::incident_store::IncidentStore;
use super::report::Reporter;
use super::{
    CommandRequest, FlagControl, IncidentOp, IncidentSource, MetricsSource, Pager, SampleSource,
};
use crate::clock::Clock;
use crate::config::timing::Timing;
use crate::detect::DetectConfig;
use crate::domain::sample::SampleQuery;
use crate::domain::shadow::ShadowRequest;
pub use crate::domain::source::Registration;
use crate::domain::SourceRole;
use std::collections::HashMap;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Where commands go: a channel per source, for each part that takes commands.
#[derive(Default)]
pub struct Routes {
    pub incidents: HashMap<String, UnboundedSender<CommandRequest>>,
    pub flags: HashMap<String, UnboundedSender<CommandRequest>>,
    pub pagers: HashMap<String, UnboundedSender<CommandRequest>>,
    pub samples: HashMap<String, UnboundedSender<SampleQuery>>,
    /// Detecting metrics sources, for shadow comparisons.
    pub shadow: HashMap<String, UnboundedSender<ShadowRequest>>,
}

/// What a kind's `start` works with.
pub struct Start<'a> {
    pub clock: Clock,
    pub reporter: &'a Reporter,
    pub detect: &'a DetectConfig,
    pub routes: &'a mut Routes,
    pub registered: &'a mut Vec<Registration>,
    /// Where the cockpit keeps its files: a source that must remember what its backend does
    /// not (who held a Phoenix prompt tag before) keeps it under here.
    pub data_dir: &'a std::path::Path,
}

/// A polled source with its limits applied, the driver config that leaves room for its
/// pacing, and the bell its commands ring.
pub struct Polled<S> {
    pub adapter: Bounded<S>,
    pub cfg: DriverConfig,
    pub bell: CommandBell,
}

impl Start<'_> {
    /// Applies a polled source's limits.
    pub fn polled<S>(
        &self,
        adapter: S,
        name: &str,
        timing: Timing,
        answer_time_factor: f64,
        max_incidents: usize,
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
            adapter: Bounded::new(
                adapter,
                limits,
                self.clock,
                bell.clone(),
                self.reporter.clone(),
            ),
            cfg,
            bell,
        }
    }

    pub fn register(&mut self, registration: Registration) {
        self.registered.push(registration);
    }

    /// An incident source's task, registered with what it cannot do.
    pub fn incidents<I: IncidentSource>(
        &mut self,
        source: I,
        cfg: DriverConfig,
        bell: Option<CommandBell>,
    ) {
        let mut reg = Registration::new(
            &cfg.source,
            SourceRole::Incidents,
            Some(cfg.poll.as_secs_f64()),
        );
        reg.unsupported = unsupported(&source);
        self.register(reg);
        let (cmd_tx, cmd_rx) = command_channel(bell);
        self.routes.incidents.insert(cfg.source.clone(), cmd_tx);
        tokio::spawn(driver::run_incidents(
            source,
            cfg,
            self.clock,
            cmd_rx,
            self.reporter.clone(),
        ));
    }

    /// A metrics source whose signals feed the cockpit's own detectors: one task polls,
    /// detects and keeps the incidents they raise, which appear under the source's name and
    /// take their commands through the same task.
    pub fn detecting<M: MetricsSource>(
        &mut self,
        source: M,
        cfg: DriverConfig,
        interval_secs: Option<f64>,
    ) {
        self.register(Registration::new(
            &cfg.source,
            SourceRole::Metrics,
            interval_secs,
        ));
        let mut reg = Registration::new(&cfg.source, SourceRole::Incidents, interval_secs);
        reg.unsupported = every_op()
            .into_iter()
            .filter_map(|op| {
                crate::backend::incident_store::unsupported(&op).map(|why| (op, why.to_string()))
            })
            .collect();
        self.register(reg);
        let (cmd_tx, cmd_rx) = unbounded_channel();
        self.routes.incidents.insert(cfg.source.clone(), cmd_tx);
        let (shadow_tx, shadow_rx) = unbounded_channel();
        self.routes.shadow.insert(cfg.source.clone(), shadow_tx);
        let store = IncidentStore::new(&cfg.source);
        tokio::spawn(driver::run_detecting(
            source,
            cfg,
            self.detect.clone(),
            self.clock,
            store,
            cmd_rx,
            shadow_rx,
            self.reporter.clone(),
        ));
    }

    /// A flag system's task.
    pub fn flags<F: FlagControl>(
        &mut self,
        control: F,
        cfg: DriverConfig,
        bell: Option<CommandBell>,
    ) {
        self.lever_task(control, cfg, bell, false);
    }

    /// A prompt registry's task: a flag role that holds prompt versions and their rollback,
    /// and no kill switch.
    pub fn prompt_registry<F: FlagControl>(
        &mut self,
        control: F,
        cfg: DriverConfig,
        bell: Option<CommandBell>,
    ) {
        self.lever_task(control, cfg, bell, true);
    }

    fn lever_task<F: FlagControl>(
        &mut self,
        control: F,
        cfg: DriverConfig,
        bell: Option<CommandBell>,
        prompts_only: bool,
    ) {
        let mut reg =
            Registration::new(&cfg.source, SourceRole::Flags, Some(cfg.poll.as_secs_f64()));
        reg.prompts_only = prompts_only;
        self.register(reg);
        let (cmd_tx, cmd_rx) = command_channel(bell);
        self.routes.flags.insert(cfg.source.clone(), cmd_tx);
        tokio::spawn(driver::run_flags(
            control,
            cfg,
            self.clock,
            cmd_rx,
            self.reporter.clone(),
        ));
    }

    /// A pager's task: nothing to poll, so no interval.
    pub fn pager<P: Pager>(&mut self, pager: P, cfg: DriverConfig, change_events: bool) {
        let mut reg = Registration::new(&cfg.source, SourceRole::Pager, None);
        reg.change_events = change_events;
        self.register(reg);
        let (cmd_tx, cmd_rx) = unbounded_channel();
        self.routes.pagers.insert(cfg.source.clone(), cmd_tx);
        tokio::spawn(driver::run_pager(
            pager,
            cfg,
            self.clock,
            cmd_rx,
            self.reporter.clone(),
        ));
    }
}

impl Start<'_> {
    /// A samples source's task: nothing to poll, it answers each query as it comes.
    pub fn samples<S: SampleSource>(&mut self, source: S, cfg: DriverConfig) {
        self.register(Registration::new(&cfg.source, SourceRole::Samples, None));
        let (tx, rx) = unbounded_channel();
        self.routes.samples.insert(cfg.source.clone(), tx);
        tokio::spawn(driver::run_samples(
            source,
            cfg,
            self.clock,
            rx,
            self.reporter.clone(),
        ));
    }
}

/// The incident operations `source` cannot do at all, with why.
pub fn unsupported<I: IncidentSource>(source: &I) -> Vec<(IncidentOp, String)> {
    every_op()
        .iter()
        .filter_map(|op| source.unsupported(op).map(|why| (op.clone(), why)))
        .collect()
}

/// One of each incident operation, to ask a source which it cannot do.
fn every_op() -> Vec<IncidentOp> {
    use crate::domain::responders::{Layer, ResponderTarget, Role};
    vec![
        IncidentOp::Ack,
        IncidentOp::Escalate,
        IncidentOp::Resolve,
        IncidentOp::Note(String::new()),
        IncidentOp::RequestResponders {
            layer: Layer::Model,
            who: String::new(),
            target: ResponderTarget::User(String::new()),
            message: String::new(),
        },
        IncidentOp::StatusUpdate(String::new()),
        IncidentOp::Role {
            role: Role::Commander,
            name: String::new(),
        },
        IncidentOp::Merge(Vec::new()),
        IncidentOp::Snooze(crate::domain::command::SnoozeFor::CHOICES[0]),
        IncidentOp::Reassign {
            who: String::new(),
            user: None,
        },
    ]
}

/// A command channel for a source's task. With a bell, every command rings it on the way,
/// so a poll waiting for its pace gives way to the command.
pub fn command_channel(
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
