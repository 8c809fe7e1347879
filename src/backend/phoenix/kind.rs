//! How a Phoenix source starts: a task that answers each samples query as it comes, and with
//! `prompt_registry` on, a paced task that polls the prompt tags and moves them.

use super::config::SCHEMA;
use super::{Phoenix, PhoenixPrompts};
use crate::backend::driver::DriverConfig;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;
use std::time::Duration;

/// `[[phoenix]]`.
pub struct Kind;

impl SourceKind for Kind {
    fn schema(&self) -> &'static dyn SourceSchema {
        &SCHEMA
    }

    fn roles(&self) -> &'static [SourceRole] {
        &[SourceRole::Samples, SourceRole::Flags]
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
        // Both built before either starts: a bad prompt key fails the whole source.
        let prompts = if c.prompt_registry {
            Some(PhoenixPrompts::new(&c, start.data_dir)?)
        } else {
            None
        };
        start.samples(adapter, cfg);
        if let Some(prompts) = prompts {
            let timing = Timing::new(c.prompt_poll_secs, c.timeout_secs);
            let src = start.polled(prompts, &c.name, timing, c.answer_time_factor, usize::MAX);
            start.prompt_registry(src.adapter, src.cfg, Some(src.bell));
        }
        Ok(())
    }
}
