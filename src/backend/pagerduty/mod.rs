//! PagerDuty REST API v2 incident adapter: lists open incidents (following `more` through
//! offset paging, up to `max_pages` per poll), acknowledges, resolves, escalates, adds notes, and builds each incident's
//! timeline from its log entries (newest first, paged up to `max_log_entries`, reading after a
//! change only what is newer than the entries held; a cut timeline says so in its first line).
//!
//! Rate limits are respected in two ways: log entries are fetched only for incidents that are
//! new or whose `last_status_change_at` moved (at most `LOG_FETCHES_PER_POLL` per poll, most
//! urgent first), and after a 429 no request is sent until PagerDuty's reset time has passed;
//! every call made meanwhile fails loudly with the seconds left.
//!
//! The change timeline: the related change events of the most urgent open incidents
//! (`changes.rs`), a few incidents per poll, each read again every five minutes.
//!
//! Severity: a priority named like "P1", "SEV1" or "SEV-1" maps to that SEV (P0 → SEV1, P4
//! and beyond → SEV4). Without a usable priority, urgency decides: high → SEV2, low → SEV4.

mod changes;
mod client;
pub mod config;
mod errors;
mod kind;
mod mapping;
mod oncall;
mod wire;

pub use client::PagerDuty;
pub use config::PagerDutyConfig;
pub use errors::{map_error, reset_secs};
pub use kind::Kind;
pub use mapping::decode_incidents;
