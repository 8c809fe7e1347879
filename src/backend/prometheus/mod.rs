//! Prometheus HTTP API adapter. Every signal is one `query_range` over the sparkline window,
//! aggregated on the server per feature (`sum by`, `rate`, `histogram_quantile`), so a poll
//! moves a few hundred numbers however many raw series the server holds. The queries come
//! from a preset in `queries.toml` plus the user's `queries` overrides; all of them run
//! concurrently so one poll costs one round trip.

mod client;
pub mod config;
mod convention;
mod discover;
mod engine;
mod kind;
mod plan;
mod reading;
mod shadow;
mod wire;

pub use client::Prometheus;
pub use config::{Price, PrometheusConfig};
pub use convention::{coarse, Coarse, Discovered};
pub use engine::Engine;
pub use kind::Kind;
