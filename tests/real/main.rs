//! Against real things, one test binary: real Prometheus, Alertmanager, Unleash+PostgreSQL,
//! Arize Phoenix and promtool started on 127.0.0.1 (tests/run installs them), TLS from a
//! private CA, and the cockpit binary itself in a pseudo-terminal.

mod alertmanager_real;
mod backtest_real;
mod e2e_pty;
mod faults;
mod fuzz_seeds;
mod habits_pty;
mod hostile;
mod instrumentation_real;
mod phoenix_prompts_real;
mod phoenix_real;
mod prometheus_real;
mod rules_promtool;
mod screen_pty;
mod shadow_real;
mod tls_real;
mod unleash_real;
mod victoria_real;
