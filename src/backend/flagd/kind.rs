//! How a flagd file starts: one paced task reads the file and writes levers into it.

use super::config::SCHEMA;
use super::Flagd;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;

/// `[[flagd]]`.
pub struct Kind;

impl SourceKind for Kind {
    fn schema(&self) -> &'static dyn SourceSchema {
        &SCHEMA
    }

    fn roles(&self) -> &'static [SourceRole] {
        &[SourceRole::Flags]
    }

    fn start(&self, entry: &SourceEntry, start: &mut Start<'_>) -> Result<(), String> {
        let c = SCHEMA.parse(entry)?;
        let adapter = Flagd::new(&c)?;
        let timing = Timing::new(c.poll_secs, c.timeout_secs);
        let src = start.polled(adapter, &c.name, timing, c.answer_time_factor, usize::MAX);
        start.flags(src.adapter, src.cfg, Some(src.bell));
        Ok(())
    }
}
