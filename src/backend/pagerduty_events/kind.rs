//! How a PagerDuty Events source starts: a task that sends pages and change events as
//! they are confirmed; nothing to poll.

use super::config::SCHEMA;
use super::PagerDutyEvents;
use crate::backend::driver::DriverConfig;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;
use std::time::Duration;

/// `[[pagerduty_events]]`.
pub struct Kind;

impl SourceKind for Kind {
    fn schema(&self) -> &'static dyn SourceSchema {
        &SCHEMA
    }

    fn roles(&self) -> &'static [SourceRole] {
        &[SourceRole::Pager]
    }

    fn start(&self, entry: &SourceEntry, start: &mut Start<'_>) -> Result<(), String> {
        let c = SCHEMA.parse(entry)?;
        let adapter = PagerDutyEvents::new(&c)?;
        // Nothing is polled; the interval only paces a task that waits for commands.
        let timing = Timing::unpolled(Duration::from_secs(3600), c.timeout_secs);
        let cfg = DriverConfig {
            source: c.name.clone(),
            poll: timing.poll,
            timeout: timing.timeout,
        };
        start.pager(adapter, cfg, c.change_events);
        Ok(())
    }
}
