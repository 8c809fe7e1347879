//! oncall-cockpit: a keyboard-driven terminal cockpit for on-call responders of AI/LLM systems.

pub mod action;
pub mod app;
pub mod atomic_file;
pub mod audit;
pub mod backend;
pub mod backtest;
pub mod clock;
pub mod config;
pub mod detect;
pub mod doctor;
pub mod domain;
pub mod drill;
pub mod logfile;
pub mod memory;
pub mod private;
pub mod runbook;
pub mod state;
pub mod ui;
pub mod wiring;
