//! Backend adapters live behind three traits: metrics (signals), incidents (list and act) and
//! flags (prompt version and kill switches). Each configured adapter is driven by its own tokio
//! task (see `driver`), which reports over the app's channel, so a slow or dead backend never
//! blocks the render loop.

pub mod alertmanager;
pub mod bounds;
pub mod driver;
pub mod flagd;

pub mod http;
pub mod http_hook;
pub mod incident_store;
pub mod langfuse;
pub mod pagerduty;
pub mod pagerduty_events;
pub mod phoenix;
pub mod prometheus;
pub mod prompt_tags;
pub mod registry;
pub mod report;
pub mod sim;
pub mod start;
pub mod unleash;

use crate::domain::change::ChangeLog;
pub use crate::domain::command::{
    Command, CommandOutcome, CommandRequest, FlagOp, IncidentOp, PageOp, PageSeverity,
};
pub use crate::domain::event::{BackendError, BackendEvent, FeatureFlags, NotShown};
use crate::domain::shadow::{ShadowAnswer, ShadowRequest};
use crate::domain::{Incident, IncidentId, SignalSet};
use chrono::{DateTime, Utc};
use std::future::Future;

pub trait MetricsSource: Send + 'static {
    fn fetch(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<SignalSet, BackendError>> + Send;

    /// Two variants of a feature (prompt versions, models) side by side over the request's
    /// window, from series labelled by variant. A source whose series carry no variant
    /// label cannot, and says so.
    fn compare(
        &mut self,
        request: &ShadowRequest,
        _now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ShadowAnswer, BackendError>> + Send {
        let why = format!(
            "this source cannot compare {} variants of {}",
            request.axis.noun(),
            request.feature
        );
        async move { Err(BackendError::Rejected(why)) }
    }
}

pub trait IncidentSource: Send + 'static {
    /// Why this source cannot do `op` at all (shown greyed out with the reason), if it can't.
    fn unsupported(&self, _op: &IncidentOp) -> Option<String> {
        None
    }

    /// What the last `list` left out by the backend's own count (paging stopped early).
    fn not_listed(&self) -> NotShown {
        NotShown::default()
    }

    /// What changed before its incidents, as the last `list` read it (PagerDuty's related
    /// change events); `None` for a source that keeps no change history.
    fn changes(&self) -> Option<ChangeLog> {
        None
    }

    fn list(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Incident>, BackendError>> + Send;

    fn apply(
        &mut self,
        id: &IncidentId,
        op: &IncidentOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
}

/// Somewhere to page people and record changes (PagerDuty's Events API).
pub trait Pager: Send + 'static {
    fn send(
        &mut self,
        op: &PageOp,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
}

/// A system that keeps the requests a feature served (a tracing server, the simulated
/// fleet): read when a responder opens the samples of an incident, and before a lever.
pub trait SampleSource: Send + 'static {
    /// Up to `query.limit` samples of `query.feature` between `from` and `to`, newest first,
    /// holding the window's worst as `query.worst` asks where the source can find them.
    fn samples(
        &mut self,
        query: &crate::domain::sample::SampleQuery,
    ) -> impl Future<Output = Result<crate::domain::sample::SampleBatch, BackendError>> + Send;
}

pub trait FlagControl: Send + 'static {
    /// The levers of every feature this flag system knows. A write-only system (an HTTP hook)
    /// knows none and returns an empty list.
    fn read(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FeatureFlags>, BackendError>> + Send;

    /// The flag system's own record of flips (Unleash's event log), as the last `read` read
    /// it; `None` for a system that keeps none (the cockpit then notices flips itself).
    fn changes(&self) -> Option<ChangeLog> {
        None
    }

    fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
}
