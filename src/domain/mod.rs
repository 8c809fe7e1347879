//! Plain data shared by backends, detectors, state and UI. No I/O, no clock.

pub mod burn;
pub mod change;
pub mod command;
pub mod event;
pub mod incident;
pub mod lever;
pub mod oncall;
pub mod responders;
pub mod sample;
pub mod sev;
pub mod shadow;
pub mod signal;
pub mod source;
pub mod split;
pub mod text;

pub use incident::{Incident, IncidentId, IncidentType, Status, TimelineEntry};
pub use lever::Lever;
pub use sev::Sev;
pub use signal::{
    Bounds, Counts, Coverage, CoverageState, Detection, Distribution, FeatureInfo, Freshness,
    Newest, PromptVersion, SegmentCounts, Signal, SignalKind, SignalSet,
};
pub use source::SourceRole;
pub use text::SafeText;
