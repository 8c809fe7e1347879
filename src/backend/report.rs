//! Where a source's task reports: what it found (`BackendEvent`) and how a command ended
//! (`CommandOutcome`). The app's channel is one such place (`wiring::reporter` connects it); a
//! test or a headless tool can take the reports as they are. Backends never build the app's
//! actions, so they stay below the app.

use super::{BackendEvent, CommandOutcome};
use std::sync::Arc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// One report from a source's task.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    Event(BackendEvent),
    Outcome(CommandOutcome),
}

type Deliver = dyn Fn(Report) -> bool + Send + Sync;

/// Hands reports on. `false` from a send means nobody listens any more (the app has quit) and
/// the task should end.
#[derive(Clone)]
pub struct Reporter(Arc<Deliver>);

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

impl Reporter {
    pub fn new(deliver: impl Fn(Report) -> bool + Send + Sync + 'static) -> Reporter {
        Reporter(Arc::new(deliver))
    }

    /// Reports into a channel of their own.
    pub fn channel() -> (Reporter, UnboundedReceiver<Report>) {
        let (tx, rx) = unbounded_channel();
        (Reporter::new(move |r| tx.send(r).is_ok()), rx)
    }

    pub fn event(&self, ev: BackendEvent) -> bool {
        (self.0)(Report::Event(ev))
    }

    pub fn outcome(&self, outcome: CommandOutcome) -> bool {
        (self.0)(Report::Outcome(outcome))
    }
}
