//! What a source is to the cockpit, whatever its kind.

/// A part a source plays; one source may play several (the simulated fleet plays all but
/// pager; Prometheus plays metrics and, through the cockpit's own detectors, incidents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRole {
    Metrics,
    Incidents,
    Flags,
    Pager,
}
