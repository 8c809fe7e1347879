//! Which metric names a Prometheus source's services really emit, and so which query reads
//! each signal: the candidates of conventions.toml, narrowed to the families the server
//! holds. What the instrumentation libraries emit differs (unit suffixes, request or
//! response model, TTFT or only operation duration, coarse default buckets); assuming one
//! convention left signals empty or pinned at a bucket boundary without a word.

use crate::domain::SignalKind;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const CONVENTIONS: &str = include_str!("conventions.toml");

/// One way to read a signal.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Candidate {
    pub(super) convention: String,
    pub(super) requires: Vec<String>,
    pub(super) query: String,
    /// Set when the query measures something near the signal, saying what.
    #[serde(default)]
    pub(super) fallback: Option<String>,
    /// The `_bucket` family of a quantile query, whose boundaries are checked per feature.
    #[serde(default)]
    pub(super) histogram: Option<String>,
}

/// One way to read token rates by model and token type, to be priced.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CostCandidate {
    pub(super) convention: String,
    pub(super) requires: Vec<String>,
    pub(super) query: String,
    pub(super) model_label: String,
    pub(super) token_type_label: String,
    pub(super) input: String,
    pub(super) output: String,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct Conventions {
    pub(super) rediscover_secs: u64,
    pub(super) settle_secs: u64,
    pub(super) discover_names: String,
    pub(super) coarse_ratio: f64,
    pub(super) cost: Vec<CostCandidate>,
    pub(super) missing: BTreeMap<SignalKind, String>,
    #[serde(flatten)]
    pub(super) signals: BTreeMap<SignalKind, Vec<Candidate>>,
}

impl Conventions {
    pub(super) fn load() -> Result<Conventions, String> {
        toml::from_str(CONVENTIONS).map_err(|e| format!("built-in conventions.toml: {e}"))
    }

    /// The families named anywhere: what discovery asks about.
    pub(super) fn families(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self
            .signals
            .values()
            .flatten()
            .flat_map(|c| c.requires.iter().cloned())
            .collect();
        all.extend(self.cost.iter().flat_map(|c| c.requires.iter().cloned()));
        all
    }
}

/// What discovery found on one server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovered {
    /// Metric families that exist.
    pub families: BTreeSet<String>,
    /// Families whose series carry the feature label themselves.
    pub labelled: BTreeSet<String>,
    /// Whether `target_info` carries the feature label (OTel resources: `service_name`).
    pub target_info_labelled: bool,
    /// Per histogram family and feature, its finite bucket boundaries, ascending.
    pub buckets: BTreeMap<(String, String), Vec<f64>>,
}

impl Discovered {
    pub(super) fn has_all(&self, requires: &[String]) -> bool {
        requires.iter().all(|f| self.families.contains(f))
    }

    /// The join a query of `family` needs to name features by the feature label: none when
    /// its series carry the label (or `target_info` cannot help), else the target_info join.
    pub(super) fn join(&self, family: &str, feature_label: &str) -> String {
        if self.labelled.contains(family) || !self.target_info_labelled {
            String::new()
        } else {
            format!(" * on (job, instance) group_left({feature_label}) target_info")
        }
    }
}

/// The bucket a quantile estimate fell into is too wide to resolve it: the estimate is an
/// interpolation inside `(lower, upper]`, not a measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Coarse {
    pub lower: f64,
    pub upper: f64,
}

/// Whether `value`, a `histogram_quantile` over buckets with these finite upper bounds,
/// lies in a bucket whose upper bound is more than `ratio` times its lower bound (a lower
/// bound of 0 included), or above the last finite bound (where it is clamped).
pub fn coarse(value: f64, bounds: &[f64], ratio: f64) -> Option<Coarse> {
    if !value.is_finite() || bounds.is_empty() {
        return None;
    }
    let Some(i) = bounds.iter().position(|b| value <= *b) else {
        let last = bounds.last().copied().unwrap_or(0.0);
        return Some(Coarse {
            lower: last,
            upper: f64::INFINITY,
        });
    };
    let upper = bounds[i];
    let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
    // A bucket entirely at or below zero holds no latency worth resolving.
    if upper <= 0.0 {
        return None;
    }
    (lower <= 0.0 || upper > ratio * lower).then_some(Coarse { lower, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_loads_and_every_signal_it_reads_has_a_missing_hint() {
        let c = Conventions::load().expect("conventions.toml");
        for kind in c.signals.keys() {
            assert!(c.missing.contains_key(kind), "{kind:?}");
        }
        assert!(c.missing.contains_key(&SignalKind::CostPerMin));
        for kind in [
            SignalKind::TokensPerMin,
            SignalKind::TtftP99,
            SignalKind::TpotP99,
            SignalKind::ErrorRatio,
            SignalKind::RefusalRate,
        ] {
            assert!(c.signals.contains_key(&kind), "{kind:?}");
        }
        assert!(c.families().contains("gen_ai_client_token_usage_token_sum"));
    }

    #[test]
    fn a_quantile_in_a_wide_bucket_is_coarse() {
        // The OTel SDK's default boundaries: a 0.05 s TTFT reads 4.95 s, inside (0, 5].
        let sdk = [0.0, 5.0, 10.0, 25.0, 50.0];
        assert_eq!(
            coarse(4.95, &sdk, 4.0),
            Some(Coarse {
                lower: 0.0,
                upper: 5.0
            })
        );
        // (5, 10] is twice as wide as its floor: resolved well enough.
        assert_eq!(coarse(7.0, &sdk, 4.0), None);
        // Doubling boundaries (the official instrumentation's): always resolved.
        let doubling = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28];
        assert_eq!(coarse(0.13, &doubling, 4.0), None);
        // Above the last finite boundary histogram_quantile clamps: not a measurement.
        assert!(coarse(3.0, &doubling, 4.0).is_some());
        assert_eq!(coarse(f64::NAN, &doubling, 4.0), None);
        assert_eq!(coarse(1.0, &[], 4.0), None);
    }
}
