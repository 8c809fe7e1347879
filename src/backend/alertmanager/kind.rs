//! How an Alertmanager source starts: one paced task lists alerts and takes
//! acks (silences), escalations and notes.

use super::config::SCHEMA;
use super::Alertmanager;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;

/// `[[alertmanager]]`.
pub struct Kind;

impl SourceKind for Kind {
    fn schema(&self) -> &'static dyn SourceSchema {
        &SCHEMA
    }

    fn roles(&self) -> &'static [SourceRole] {
        &[SourceRole::Incidents]
    }

    fn start(&self, entry: &SourceEntry, start: &mut Start<'_>) -> Result<(), String> {
        let c = SCHEMA.parse(entry)?;
        let adapter = Alertmanager::new(&c)?;
        let timing = Timing::new(c.poll_secs, c.timeout_secs);
        let src = start.polled(
            adapter,
            &c.name,
            timing,
            c.answer_time_factor,
            c.max_incidents,
        );
        start.incidents(src.adapter, src.cfg, Some(src.bell));
        Ok(())
    }
}
