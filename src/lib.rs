//! oncall-cockpit: a keyboard-driven terminal cockpit for on-call responders of AI/LLM systems.

pub mod action;
pub mod backend;
pub mod config;
pub mod detect;
pub mod domain;
