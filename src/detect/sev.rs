//! The AI-aware SEV ladder of DESIGN.md ("SEV ladder"), one function per rung family.
//!
//! - SEV1 (15 min): guardrail bypass in production, cost > 100x baseline.
//! - SEV2 (1 h): quality regression > 20% of traffic, cost 10-100x baseline, capability
//!   unavailable.
//! - SEV3 (4 h): latency p99 > 2x baseline, quality regression < 20% of traffic, cost 2-10x.
//! - SEV4 (24 h): isolated quality degradation, minor latency spike.
//!
//! These cut-offs are the ladder itself, not detector tuning: the detectors decide *whether*
//! something is wrong (thresholds in defaults.toml), the ladder decides *how bad*. When a
//! detector is tuned below a rung (say a 1.5x cost trigger) the breach lands on SEV4.

use crate::domain::Sev;

/// Cost as a multiple of its baseline. `None` below 2x: not a cost incident on the ladder.
pub fn cost_sev(multiplier: f64) -> Option<Sev> {
    if multiplier > 100.0 {
        Some(Sev::Sev1)
    } else if multiplier >= 10.0 {
        Some(Sev::Sev2)
    } else if multiplier >= 2.0 {
        Some(Sev::Sev3)
    } else {
        // NaN lands here too: an unmeasurable multiple is not a rung.
        None
    }
}

/// A guardrail bypass in production is SEV1 whatever its size: one leaked answer is the harm.
pub fn guardrail_sev() -> Sev {
    Sev::Sev1
}

/// Quality regressions (over-refusal, drift, eval) by the share of traffic affected, 0..1.
/// An unknown share (NaN) is treated as the smaller rung rather than guessed upward.
pub fn quality_sev(affected_share: f64) -> Sev {
    if affected_share > 0.2 {
        Sev::Sev2
    } else {
        Sev::Sev3
    }
}

/// Latency p99 as a multiple of its baseline: > 2x is SEV3, anything less a minor spike.
pub fn latency_sev(ratio: f64) -> Sev {
    if ratio > 2.0 {
        Sev::Sev3
    } else {
        Sev::Sev4
    }
}

/// Error ratio, 0..1: half the requests failing is "capability unavailable".
pub fn errors_sev(ratio: f64) -> Sev {
    if ratio >= 0.5 {
        Sev::Sev2
    } else {
        Sev::Sev3
    }
}

/// Retrieval hit rate: below half its baseline the feature answers mostly without grounding,
/// which is a capability loss rather than a degradation.
pub fn retrieval_sev(current: f64, baseline: f64) -> Sev {
    if current < 0.5 * baseline {
        Sev::Sev2
    } else {
        Sev::Sev3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rungs_and_boundaries() {
        assert_eq!(cost_sev(1.99), None);
        assert_eq!(cost_sev(2.0), Some(Sev::Sev3));
        assert_eq!(cost_sev(9.9), Some(Sev::Sev3));
        assert_eq!(cost_sev(10.0), Some(Sev::Sev2));
        assert_eq!(cost_sev(100.0), Some(Sev::Sev2));
        assert_eq!(cost_sev(100.1), Some(Sev::Sev1));
        assert_eq!(cost_sev(f64::INFINITY), Some(Sev::Sev1));
        assert_eq!(cost_sev(f64::NAN), None);
    }

    #[test]
    fn guardrail_is_always_sev1() {
        assert_eq!(guardrail_sev(), Sev::Sev1);
    }

    #[test]
    fn quality_splits_at_twenty_percent() {
        assert_eq!(quality_sev(0.2), Sev::Sev3);
        assert_eq!(quality_sev(0.2001), Sev::Sev2);
        assert_eq!(quality_sev(0.05), Sev::Sev3);
        assert_eq!(quality_sev(f64::NAN), Sev::Sev3);
    }

    #[test]
    fn latency_errors_retrieval_rungs() {
        assert_eq!(latency_sev(2.0), Sev::Sev4);
        assert_eq!(latency_sev(2.01), Sev::Sev3);
        assert_eq!(errors_sev(0.49), Sev::Sev3);
        assert_eq!(errors_sev(0.5), Sev::Sev2);
        assert_eq!(retrieval_sev(0.41, 0.8), Sev::Sev3);
        assert_eq!(retrieval_sev(0.39, 0.8), Sev::Sev2);
    }
}
