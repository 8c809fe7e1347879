//! Detectors and the SEV ladder: pure functions of the points they are given. No I/O and no
//! clock: "now" is the timestamp of the newest point, so the same points always give the same
//! verdicts, in the cockpit, in a drill, in a backtest and in a test.
//!
//! [`Engine`] is the stateful part: per signal it keeps a baseline that never learns from
//! anomalies and an incident condition that enters and leaves with different margins; see
//! `engine/track.rs` for the state machine, `memory.rs` for how baselines are kept, and `rule.rs`
//! for what each detector (cost, latency_errors, quality) answers. docs/detection.md explains the
//! reasoning for responders.

pub mod caps;
pub mod cost;
pub mod engine;
pub mod latency_errors;
pub mod memory;
pub mod quality;
pub mod rule;
pub mod sev;
pub mod stats;

pub use engine::{Change, ChangeKind, Engine};

use crate::domain::{Bounds, Detection, SignalKind, SignalSet};
use serde::{Deserialize, Serialize};

/// Tuning of the detectors; the values ship in the `[detect]` table of
/// src/config/defaults.toml (which documents each key) and a user config overrides them key
/// by key.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub cost_rate_multiplier: f64,
    pub cost_trailing_secs: u64,
    pub cost_confirm_secs: u64,
    pub cost_exit_multiplier: f64,
    pub daily_cost_multiplier: f64,
    pub latency_multiplier: f64,
    pub latency_hold_secs: u64,
    pub latency_exit_multiplier: f64,
    pub error_ratio: f64,
    pub error_hold_secs: u64,
    pub error_exit_share: f64,
    pub baseline_secs: u64,
    pub baseline_quarantine_secs: u64,
    pub recover_hold_secs: u64,
    pub count_p_value: f64,
    pub count_window_secs: u64,
    pub refusal_window_secs: u64,
    pub refusal_high_factor: f64,
    pub refusal_min_increase: f64,
    pub refusal_low_factor: f64,
    pub refusal_exit_low_factor: f64,
    pub refusal_exit_share: f64,
    pub drift_js: f64,
    pub drift_exit_js: f64,
    pub drift_window_secs: u64,
    pub eval_min: f64,
    pub eval_noise_z: f64,
    pub retrieval_factor: f64,
    pub retrieval_exit_factor: f64,
    pub retrieval_window_secs: u64,
    pub caps: caps::CapsConfig,
}

const DEFAULTS_TOML: &str = include_str!("../config/defaults.toml");

/// The `[detect]` table of the shipped defaults. An error here is a bug in a file that ships
/// with the binary; a test keeps it `Ok`.
pub fn from_defaults() -> Result<DetectConfig, String> {
    let table: toml::Table = DEFAULTS_TOML
        .parse()
        .map_err(|e| format!("src/config/defaults.toml: {e}"))?;
    let detect = table
        .get("detect")
        .cloned()
        .ok_or_else(|| "src/config/defaults.toml has no [detect] table".to_string())?;
    detect
        .try_into()
        .map_err(|e| format!("src/config/defaults.toml [detect]: {e}"))
}

/// The shipped detector defaults.
///
/// # Panics
/// Only if the defaults.toml compiled into the binary is malformed, which `from_defaults`'s
/// test rules out; there is no sane detector tuning to fall back to without that file.
pub fn builtin() -> DetectConfig {
    match from_defaults() {
        Ok(cfg) => cfg,
        Err(e) => panic!("shipped detector defaults are invalid: {e}"),
    }
}

/// A line to draw on one signal's chart: the band the detector judges against (the frozen
/// pre-incident one while an incident on the signal fires).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub feature: String,
    pub kind: SignalKind,
    pub bounds: Bounds,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// One per open episode (feature, incident type), worst SEV first.
    pub detections: Vec<Detection>,
    pub thresholds: Vec<Threshold>,
    /// Episodes opened, raised and recovered during this ingest, in time order.
    pub changes: Vec<Change>,
}

/// Copies each detector's band into its signal, for the sparkline and the postmortem.
pub fn apply_thresholds(set: &mut SignalSet, eval: &Evaluation) {
    for sig in &mut set.signals {
        if let Some(t) = eval
            .thresholds
            .iter()
            .find(|t| t.feature == sig.feature && t.kind == sig.kind)
        {
            sig.bounds = Some(t.bounds);
        }
    }
}

/// "1h", "15m", "1h30m", "90s" for window lengths in summaries.
fn fmt_secs(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// "42x" for big multiples, "3.1x" for small ones where the decimal matters.
fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.1}x")
    }
}

/// A 0..1 share of traffic as "23.0%".
fn fmt_share(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "—".to_string()
    }
}

/// A value that crossed `line`, as its signal prints it, with as many more decimals as it
/// takes not to print the same as the line: a 5-minute mean of 0.1004 against 0.1 reads
/// "0.1004 > 0.100", never "0.100 > 0.100". Scaled units (%, ms, k, M) keep theirs.
fn fmt_beyond(kind: SignalKind, v: f64, line: f64) -> String {
    let plain = kind.format(v);
    if plain != kind.format(line) || !v.is_finite() || v == line {
        return plain;
    }
    // The number inside the text ("$", "%", "ms", "k" around it) and the scale the signal
    // printed it at (100 for a share, 1000 for ms, 1e-3 for k).
    let Some(start) = plain.find(|c: char| c.is_ascii_digit()) else {
        return plain;
    };
    let end = plain[start..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(plain.len(), |e| start + e);
    let Ok(shown) = plain[start..end].parse::<f64>() else {
        return plain;
    };
    let decimals = plain[start..end]
        .split_once('.')
        .map_or(0, |(_, d)| d.len());
    let scale = if v != 0.0 && shown != 0.0 {
        10f64.powf((shown / v).abs().log10().round())
    } else {
        1.0
    };
    for more in decimals + 1..=decimals + 6 {
        let (a, b) = (
            format!("{:.*}", more, v * scale),
            format!("{:.*}", more, line * scale),
        );
        if a != b {
            return format!("{}{a}{}", &plain[..start], &plain[end..]);
        }
    }
    plain
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::domain::Signal;

    pub fn cfg() -> DetectConfig {
        from_defaults().expect("shipped defaults parse")
    }

    /// A signal for feature "chat" with `n` points from `f(index)`, oldest first.
    pub fn series(kind: SignalKind, step: u32, n: usize, f: impl Fn(usize) -> f64) -> Signal {
        Signal::new("chat", kind, step, (0..n).map(f).collect())
    }

    pub fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse_and_builtin_agrees() {
        let parsed = from_defaults();
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(parsed.ok(), Some(builtin()));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let mut table: toml::Table = DEFAULTS_TOML.parse().expect("toml");
        let mut detect = table.remove("detect").expect("[detect]");
        if let toml::Value::Table(t) = &mut detect {
            t.insert("cost_rate_multipler".into(), toml::Value::Float(3.0));
        }
        let err = detect
            .try_into::<DetectConfig>()
            .expect_err("typo must fail");
        assert!(err.to_string().contains("cost_rate_multipler"), "{err}");
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(fmt_secs(3600), "1h");
        assert_eq!(fmt_secs(900), "15m");
        assert_eq!(fmt_secs(5400), "1h30m");
        assert_eq!(fmt_secs(90), "1m30s");
        assert_eq!(fmt_secs(45), "45s");
        assert_eq!(fmt_ratio(42.4), "42x");
        assert_eq!(fmt_ratio(3.06), "3.1x");
        assert_eq!(fmt_share(0.2345), "23.4%");
        assert_eq!(fmt_share(f64::NAN), "—");
    }

    #[test]
    fn a_value_beyond_its_line_never_prints_as_the_line() {
        assert_eq!(fmt_beyond(SignalKind::Drift, 0.1004, 0.1), "0.1004");
        assert_eq!(fmt_beyond(SignalKind::Drift, 0.319, 0.1), "0.319");
        assert_eq!(fmt_beyond(SignalKind::ErrorRatio, 0.05003, 0.05), "5.003%");
        assert_eq!(fmt_beyond(SignalKind::EvalScore, 0.7696, 0.77), "0.7696");
        assert_eq!(fmt_beyond(SignalKind::TpotP99, 0.0502, 0.05), "50.2ms");
        assert_eq!(fmt_beyond(SignalKind::CostPerMin, 3.001, 3.0), "$3.001");
        assert_eq!(
            fmt_beyond(SignalKind::TokensPerMin, 2_000_040.0, 2e6),
            "2.00004M"
        );
    }
}
