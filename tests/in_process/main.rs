//! The in-process suites, one test binary: update and render driven without a terminal,
//! config files, fuzz regressions, the postmortem, contract servers for what cannot run here
//! (PagerDuty) and fault servers, flagd files, HTTP hooks and the headless drills.

mod config_files;
mod containment;
mod flagd_file;
mod fuzz_regressions;
mod grouping;
mod habits;
mod http_hook;
mod langfuse_contract;
mod pagerduty_changes;
mod pagerduty_contract;
mod pagerduty_events_contract;
mod pagerduty_oncall;
mod pagerduty_responders;
mod pagerduty_snooze;
mod postmortem;
mod prometheus_faults;
mod render;
mod samples;
mod signal_age;
mod signal_coverage;
mod sim_drill;
mod sim_levers;
mod update;
mod warm_up;
