//! Placeholder module tree; filled in by the core session.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendEvent;
#[derive(Clone, Debug, PartialEq)]
pub struct CommandOutcome;
