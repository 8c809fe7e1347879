//! How a Phoenix source starts: a task that answers each samples query as it comes; nothing
//! is polled.

use super::config::SCHEMA;
use super::Phoenix;
use crate::backend::driver::DriverConfig;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::domain::SourceRole;
use std::time::Duration;

/// `[[phoenix]]`.
pub struct Kind;

impl SourceKind for Kind {
    fn schema(&self) -> &'static dyn SourceSchema {
        &SCHEMA
    }

    fn roles(&self) -> &'static [SourceRole] {
        &[SourceRole::Samples]
    }

    fn start(&self, entry: &SourceEntry, start: &mut Start<'_>) -> Result<(), String> {
        let c = SCHEMA.parse(entry)?;
        let adapter = Phoenix::new(&c)?;
        let cfg = DriverConfig {
            source: c.name.clone(),
            // Unused by a samples task, which only answers queries.
            poll: Duration::from_secs(3600),
            timeout: c.timeout_secs.duration(),
        };
        start.samples(adapter, cfg);
        Ok(())
    }
}
