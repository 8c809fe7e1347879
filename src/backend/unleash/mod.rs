//! Unleash 7 admin API flag adapter (`Authorization: <admin token>`).
//!
//! Per cockpit feature F, flags in the configured project (names from `prompt_flag`,
//! `kill_flag` and the lever keys, `{feature}` standing for F):
//! - the prompt flag: its first enabled strategy with variants in the configured environment
//!   has one variant per prompt version; the version served is the variant that gets the
//!   traffic. A rollback rewrites that strategy's variants so the chosen one is the only
//!   `variable` variant (all the traffic) and every other is `fix` at weight 0, which Unleash
//!   accepts: they stay listed so a later rollback can choose them.
//! - the kill-switch flag: the whole feature is killed while the environment is on with an
//!   unconstrained 100% strategy; a segment is killed by a 100% strategy whose only
//!   constraint is `<segment_field> IN [segment]`. Changing one scope never touches the
//!   others: strategies are enabled, disabled or narrowed one by one, and the environment
//!   goes on only once an enabled strategy exists (Unleash would otherwise add a default,
//!   unconstrained one: a whole-feature kill nobody asked for) and off only when no scope is
//!   left.
//!
//! - one toggle per settable lever (`model_flag`, `config_flag`, `budget_flag`,
//!   `retrieval_flag`, `fallback_flag`; lever.rs, docs/levers.md): its strategy variants are
//!   the settings, each payload the value; the unconstrained strategy's variant is the
//!   feature's setting, a 100% strategy constrained to `<segment_field> IN [s]` evaluated
//!   before it a segment's. A set rewrites that one strategy the way a rollback does, adds a
//!   segment's rule first in the order, or removes it when the segment goes back to the
//!   feature's setting; the toggle is read back to prove what Unleash now serves.
//!
//! Last-known-good and "changed at" come from Unleash's own event log for the prompt flag
//! (`/api/admin/search/events`): each strategy event records the variants before and after,
//! so the history of the served version can be rebuilt. The last-known-good is the version
//! served before the latest change to a version never served before (a deploy), so a
//! rollback does not make the bad version "good"; "changed at" is the latest change of the
//! served version. Both stay None when the log does not show them.
//!
//! The change timeline reads the same log for the whole project (`changes.rs`): the newest
//! 100 events every minute, and at once after a write of ours.

mod changes;
mod client;
pub mod config;
mod kill;
mod kind;
mod lever;
mod naming;
mod prompt;
mod wire;

pub use client::Unleash;
pub use config::UnleashConfig;
pub use kind::Kind;
pub use wire::{
    decode_context_field, decode_error, decode_events, decode_flag, decode_flag_list,
    decode_strategy, Event, FlagDetail, FlagEnvironment, FlagSummary, Strategy,
};
