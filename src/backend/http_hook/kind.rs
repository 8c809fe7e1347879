//! How an HTTP hook starts: a task that calls the team's endpoint when a lever is
//! pulled.

use super::config::SCHEMA;
use super::HttpHook;
use crate::backend::driver::DriverConfig;
use crate::backend::registry::SourceKind;
use crate::backend::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::config::timing::Timing;
use crate::domain::SourceRole;
use std::time::Duration;

/// `[[http_hook]]`.
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
        let adapter = HttpHook::new(&c)?;
        // An endpoint has nothing to poll; the slow interval only republishes what was pulled.
        let timing = Timing::unpolled(Duration::from_secs(60), c.timeout_secs);
        let cfg = DriverConfig {
            source: c.name.clone(),
            poll: timing.poll,
            timeout: timing.timeout,
        };
        start.flags(adapter, cfg, None);
        Ok(())
    }
}
