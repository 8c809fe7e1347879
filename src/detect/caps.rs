//! Absolute caps: lines that need no history, so a feature is watched from its first minute.
//!
//! The relative detectors compare a feature with its own past, and a feature launched ten
//! minutes ago has none: with the default `[detect]` windows the cost detector judges nothing
//! until half an hour of accepted history (plus the quarantine) exists, and an explosion that
//! starts inside that time becomes the history it would be judged against. A cap is the net
//! under that warm-up:
//!
//! - **$/min**: one default for every feature (`[detect.caps] cost_per_min_usd`), or the
//!   feature's own.
//! - **tokens/min**: the feature's own, or the $ cap divided by the lowest price per token of
//!   the feature's models (the price table of its source). Tokens at that rate cost at least
//!   the $ cap, so the derived line never fires on spend the $ cap lets through; it is what
//!   catches a runaway on a model the price table does not know, where cost is unknown. Without
//!   any price, `unpriced_tokens_per_min`.
//! - **error ratio**: the errors detector is absolute already (`error_ratio`, no baseline);
//!   a feature may have its own.
//!
//! A default cap applies only while the detector has no baseline for the feature: afterwards
//! the trailing median knows the feature's normal spend better than any default can. A cap set
//! for the feature (`[detect.caps.feature."name"]`) is a ceiling and applies always.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// USD per million tokens: the unit of every price table (the fleet's, `prices` of a
/// Prometheus source).
const TOKENS_PER_PRICE_UNIT: f64 = 1_000_000.0;

/// A finite number above zero, refused otherwise when the config is read.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Positive(f64);

impl TryFrom<f64> for Positive {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v > 0.0 {
            Ok(Positive(v))
        } else {
            Err(format!("a cap must be a number above zero, not {v}"))
        }
    }
}

impl From<Positive> for f64 {
    fn from(p: Positive) -> f64 {
        p.0
    }
}

/// A share strictly between 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Ratio(f64);

impl TryFrom<f64> for Ratio {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v > 0.0 && v < 1.0 {
            Ok(Ratio(v))
        } else {
            Err(format!(
                "an error ratio cap must be between 0 and 1, not {v}"
            ))
        }
    }
}

impl From<Ratio> for f64 {
    fn from(r: Ratio) -> f64 {
        r.0
    }
}

/// `[detect.caps]`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapsConfig {
    /// USD per minute, for every feature without its own cap, while it has no baseline.
    pub cost_per_min_usd: Positive,
    /// Tokens per minute for a feature none of whose models has a price.
    pub unpriced_tokens_per_min: Positive,
    /// A feature's own caps: ceilings that apply always.
    #[serde(default)]
    pub feature: BTreeMap<String, FeatureCaps>,
}

/// `[detect.caps.feature."name"]`: any of the three.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureCaps {
    pub cost_per_min_usd: Option<Positive>,
    pub tokens_per_min: Option<Positive>,
    pub error_ratio: Option<Ratio>,
}

/// Where a cap comes from, which decides when it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Set for this feature (or derived from one that is): a ceiling, always.
    Feature,
    /// A default: the warm-up net, only while there is no baseline.
    Default,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cap {
    pub line: f64,
    pub origin: Origin,
    /// How the line was reached, for the evidence ("$10.00/min ÷ $0.15 per 1M tokens").
    pub derived_from_price: Option<f64>,
}

impl Cap {
    /// Whether it judges now: always when the feature's own, else only without a baseline
    /// (`baseline_known` false).
    pub fn applies(&self, baseline_known: bool) -> bool {
        self.origin == Origin::Feature || !baseline_known
    }

    /// Where this cap came from, for the evidence and the fix.
    pub fn source(&self, feature: &str, key: &str) -> String {
        match self.origin {
            Origin::Feature => format!("[detect.caps.feature.{feature:?}]"),
            Origin::Default => format!("the default [detect.caps] {key}"),
        }
    }
}

/// The caps of one feature, resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Caps {
    pub cost_per_min: Cap,
    pub tokens_per_min: Cap,
    /// The feature's own error ratio line, when it has one (else `[detect] error_ratio`).
    pub error_ratio: Option<f64>,
}

impl CapsConfig {
    /// `price_per_mtok`: the lowest price per million tokens (input or output) among the
    /// feature's models, when the source knows one.
    pub fn resolve(&self, feature: &str, price_per_mtok: Option<f64>) -> Caps {
        let own = self.feature.get(feature);
        let cost_per_min = match own.and_then(|c| c.cost_per_min_usd) {
            Some(v) => Cap {
                line: v.into(),
                origin: Origin::Feature,
                derived_from_price: None,
            },
            None => Cap {
                line: self.cost_per_min_usd.into(),
                origin: Origin::Default,
                derived_from_price: None,
            },
        };
        let price = price_per_mtok.filter(|p| p.is_finite() && *p > 0.0);
        let tokens_per_min = match (own.and_then(|c| c.tokens_per_min), price) {
            (Some(v), _) => Cap {
                line: v.into(),
                origin: Origin::Feature,
                derived_from_price: None,
            },
            (None, Some(p)) => Cap {
                line: cost_per_min.line / p * TOKENS_PER_PRICE_UNIT,
                origin: cost_per_min.origin,
                derived_from_price: Some(p),
            },
            (None, None) => Cap {
                line: self.unpriced_tokens_per_min.into(),
                origin: Origin::Default,
                derived_from_price: None,
            },
        };
        Caps {
            cost_per_min,
            tokens_per_min,
            error_ratio: own.and_then(|c| c.error_ratio).map(f64::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> CapsConfig {
        let mut feature = BTreeMap::new();
        feature.insert(
            "big".to_string(),
            FeatureCaps {
                cost_per_min_usd: Some(Positive(50.0)),
                tokens_per_min: None,
                error_ratio: Some(Ratio(0.02)),
            },
        );
        CapsConfig {
            cost_per_min_usd: Positive(10.0),
            unpriced_tokens_per_min: Positive(2_000_000.0),
            feature,
        }
    }

    #[test]
    fn the_token_line_follows_the_dollar_line_through_the_cheapest_price() {
        // $10/min at $0.15 per 1M tokens: 66.7M tokens/min cost exactly $10/min.
        let c = caps().resolve("new", Some(0.15));
        assert_eq!(c.cost_per_min.origin, Origin::Default);
        assert!((c.tokens_per_min.line - 10.0 / 0.15 * 1e6).abs() < 1e-3);
        assert_eq!(c.tokens_per_min.derived_from_price, Some(0.15));
        // No price: the unpriced default, whatever the $ cap.
        let c = caps().resolve("new", None);
        assert_eq!(c.tokens_per_min.line, 2_000_000.0);
        assert_eq!(c.error_ratio, None);
        // A feature's own $ cap carries its origin into the derived token line.
        let c = caps().resolve("big", Some(2.5));
        assert_eq!(c.cost_per_min.line, 50.0);
        assert_eq!(c.tokens_per_min.origin, Origin::Feature);
        assert!((c.tokens_per_min.line - 20_000_000.0).abs() < 1e-6);
        assert_eq!(c.error_ratio, Some(0.02));
    }

    #[test]
    fn a_default_cap_is_only_a_warm_up_net() {
        let c = caps().resolve("new", None);
        assert!(c.cost_per_min.applies(false));
        assert!(!c.cost_per_min.applies(true));
        let own = caps().resolve("big", None);
        assert!(own.cost_per_min.applies(true));
    }

    #[test]
    fn bad_caps_are_refused_with_the_reason() {
        assert!(Positive::try_from(0.0).is_err());
        assert!(Positive::try_from(f64::INFINITY).is_err());
        assert!(Ratio::try_from(1.0)
            .err()
            .is_some_and(|e| e.contains("between 0 and 1")));
        let bad: Result<CapsConfig, _> = toml::from_str(
            "cost_per_min_usd = 10.0\nunpriced_tokens_per_min = 1.0\n[feature.x]\ncost = 1.0\n",
        );
        assert!(bad.is_err());
    }
}
