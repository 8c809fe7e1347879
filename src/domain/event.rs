//! What a source reports back to the cockpit: readings, incidents, levers, failures. Plain
//! data, below both the backends that produce it and the state that folds it in.

use super::{Detection, Incident, SignalSet};
use chrono::{DateTime, Utc};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("timed out after {0}s")]
    Timeout(u64),
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The backend understood and refused (conflict, unknown id, invalid state).
    #[error("{0}")]
    Rejected(String),
    /// The reply passed the source's `max_reply_mib`; `size` when the server announced it.
    #[error("reply too large ({})", too_large(*.size, *.cap))]
    TooLarge { size: Option<u64>, cap: u64 },
}

fn too_large(size: Option<u64>, cap: u64) -> String {
    let mib = |b: u64| {
        let m = b as f64 / f64::from(1 << 20);
        if m >= 10.0 || m.fract() == 0.0 {
            format!("{m:.0} MiB")
        } else {
            format!("{m:.1} MiB")
        }
    };
    match size {
        Some(size) => format!("{} > cap {}", mib(size), mib(cap)),
        None => format!("over the {} cap; not read further", mib(cap)),
    }
}

/// What a driver task reports back to the app.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendEvent {
    Signals {
        source: String,
        at: DateTime<Utc>,
        set: SignalSet,
        detections: Vec<Detection>,
    },
    Incidents {
        source: String,
        at: DateTime<Utc>,
        incidents: Vec<Incident>,
    },
    /// What a flag system says the levers are set to now.
    Flags {
        source: String,
        at: DateTime<Utc>,
        flags: Vec<FeatureFlags>,
    },
    Failed {
        source: String,
        at: DateTime<Utc>,
        error: String,
    },
    /// Incidents the source holds that the cockpit does not show (past its cap on incidents
    /// or its pages per poll). Sent when it changes, before that poll's incidents.
    NotShown { source: String, not_shown: NotShown },
    /// Several reports from one poll, folded in together: the signals of a poll and the
    /// incidents they raised reach the screen in the same frame.
    Turn(Vec<BackendEvent>),
    /// The answer to one samples request (`SampleQuery`), whole or failed.
    Samples {
        source: String,
        at: DateTime<Utc>,
        feature: String,
        window: crate::domain::sample::Window,
        samples: Result<Vec<crate::domain::sample::Sample>, String>,
        /// What the source could not do that was asked (worst-first refused), said beside
        /// the samples it did fetch.
        note: Option<String>,
    },
    /// The answer to one shadow comparison (`ShadowRequest`), whole or failed: a failure is
    /// the comparison's, shown in its dialog, not the source's health.
    Shadow {
        source: String,
        at: DateTime<Utc>,
        // Boxed: a comparison is rare and large, and every event is as big as its largest.
        request: Box<crate::domain::shadow::ShadowRequest>,
        answer: Result<Box<crate::domain::shadow::ShadowAnswer>, String>,
    },
    /// What a source last read of its change history (flag events, PagerDuty's related change
    /// events), whole: it replaces what the source reported before.
    Changes {
        source: String,
        log: crate::domain::change::ChangeLog,
    },
    /// Pacing stretched the poll interval to this many seconds (`None`: back to the
    /// configured one); stale marks follow it.
    Paced {
        source: String,
        interval_secs: Option<f64>,
    },
}

/// The levers of one feature as its flag system reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureFlags {
    pub feature: String,
    /// Prompt versions the flag can serve, in the flag system's order.
    pub prompt_versions: Vec<String>,
    pub current_prompt: Option<String>,
    pub last_known_good: Option<String>,
    /// When the served prompt version last changed, if the flag system records it.
    pub prompt_changed_at: Option<DateTime<Utc>>,
    /// Kill switches engaged: "*" for the whole feature, else segment names.
    pub killed: Vec<String>,
    /// User segments the kill switch can target, as far as the flag system knows them.
    pub segments: Vec<String>,
    /// Reported by a prompt registry (Phoenix prompt tags): it holds the feature's prompt
    /// versions and their rollback, never a kill switch, so a flag system reporting the
    /// same feature keeps its kill switch.
    pub prompt_only: bool,
    /// The settable levers (`Lever::SETTABLE`) the flag system carries for the feature.
    pub levers: Vec<crate::domain::lever::LeverSetting>,
}

/// Incidents a source holds but the cockpit does not show: past the pages read per poll, or
/// past the cap on incidents held per source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotShown {
    pub count: u64,
    /// The backend said there is more without saying how much.
    pub more: bool,
}

impl NotShown {
    pub fn is_none(&self) -> bool {
        self.count == 0 && !self.more
    }
}
