//! How a Langfuse source starts: one paced task reads the prompts' labels and moves them.

use super::config::SCHEMA;
use super::Langfuse;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;

/// `[[langfuse]]`.
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
        let adapter = Langfuse::new(&c, start.data_dir)?;
        let timing = Timing::new(c.poll_secs, c.timeout_secs);
        let src = start.polled(adapter, &c.name, timing, c.answer_time_factor, usize::MAX);
        start.prompt_registry(src.adapter, src.cfg, Some(src.bell));
        Ok(())
    }
}
