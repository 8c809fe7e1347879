//! Alertmanager API v2 as an incident source.
//!
//! Every alert Alertmanager holds (active, silenced, inhibited) is an incident. Alertmanager has
//! no acknowledgement, so the cockpit acknowledges with a silence on the alert's exact labels and
//! keeps renewing it for as long as the alert fires; once the alert clears, renewal stops and the
//! silence runs out by itself. "Resolve" expires that silence: Alertmanager resolves alerts only
//! when their condition clears, so all the cockpit can do is stop suppressing. Notes live in the
//! silence comment, the only free text Alertmanager keeps next to an alert.
//!
//! Silence updates in Alertmanager 0.25: re-POSTing a silence with its id, identical matchers and
//! the exact `startsAt` the server reported updates it in place (same id). Any other change
//! expires the old silence and returns a new id, and an id that is already expired always gets a
//! new one. Renewals therefore echo the server's `startsAt`, and the adapter keeps whichever id
//! comes back.

mod client;
pub mod config;
mod kind;
mod mapping;
mod wire;

pub use client::{Alertmanager, ACK_COMMENT};
pub use config::AlertmanagerConfig;
pub use kind::Kind;
