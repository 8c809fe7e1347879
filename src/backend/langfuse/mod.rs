//! Langfuse's prompt management (public API `/api/public/v2`) as a prompt registry: the
//! version holding the label (`production` by default) is the one served, and a prompt
//! rollback puts the label on another version (`PATCH /prompts/{name}/versions/{version}`
//! with `{"newLabels": [label]}`; Langfuse takes a label off every other version of the
//! prompt). Like Phoenix it keeps no label history the API serves, so moves are recorded in
//! the cockpit's data dir (`backend::prompt_tags`). No kill switch.

mod client;
pub mod config;
mod kind;

pub use client::Langfuse;
pub use config::LangfuseConfig;
pub use kind::Kind;
