//! How a Prometheus source starts: its metrics task polls, runs the cockpit's own
//! detectors and keeps the incidents they raise, under the source's name.

use super::config::SCHEMA;
use super::Prometheus;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;

/// `[[prometheus]]`.
pub struct Kind;

impl SourceKind for Kind {
    fn schema(&self) -> &'static dyn SourceSchema {
        &SCHEMA
    }

    fn roles(&self) -> &'static [SourceRole] {
        &[SourceRole::Metrics, SourceRole::Incidents]
    }

    fn start(&self, entry: &SourceEntry, start: &mut Start<'_>) -> Result<(), String> {
        let c = SCHEMA.parse(entry)?;
        let adapter = Prometheus::new(&c)?;
        let timing = Timing::new(c.poll_secs, c.timeout_secs);
        let metrics = start.polled(adapter, &c.name, timing, c.answer_time_factor, usize::MAX);
        let interval = Some(metrics.cfg.poll.as_secs_f64());
        start.detecting(metrics.adapter, metrics.cfg, interval);
        Ok(())
    }
}
