//! From series to the cockpit's signals: one per feature, token rates priced into cost,
//! and each problem with the data logged once.

use super::config::Price;
use super::plan::{kind_name, CostQuery, Role};
use super::wire::Series;
use crate::domain::{FeatureInfo, SafeText, Signal, SignalKind};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Prices are per 1M tokens.
const TOKENS_PER_PRICE_UNIT: f64 = 1e6;

/// Logs each distinct problem with the data once per source: the same gap would otherwise
/// fill the log every poll.
pub(super) struct Warnings {
    pub(super) source: String,
    pub(super) seen: HashSet<String>,
}

impl Warnings {
    pub(super) fn first(&mut self, key: String) -> bool {
        self.seen.insert(key)
    }
}

/// Turns query results into signals for one poll.
pub(super) struct Reading<'a> {
    pub(super) feature_label: &'a str,
    pub(super) prices: &'a BTreeMap<String, Price>,
    pub(super) warnings: &'a mut Warnings,
}

impl Reading<'_> {
    /// One signal per feature, straight from the query's series.
    pub(super) fn direct(
        &mut self,
        kind: SignalKind,
        step: u32,
        series: Vec<Series>,
    ) -> Vec<Signal> {
        let mut by_feature: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for s in series {
            let Some(feature) = self.feature_of(&s, Role::Signal(kind)) else {
                continue;
            };
            if by_feature.contains_key(&feature) {
                self.warn_duplicate(kind, &feature);
                continue;
            }
            by_feature.insert(feature, s.points);
        }
        by_feature
            .into_iter()
            .map(|(f, points)| Signal::new(&f, kind, step, points))
            .collect()
    }

    /// Cost per minute per feature from token rates by model and token type, and the models
    /// seen per feature. A step where a model without a price used tokens is NaN: unknown,
    /// never a silent $0.
    pub(super) fn priced(
        &mut self,
        cq: &CostQuery,
        step: u32,
        series: Vec<Series>,
    ) -> (Vec<Signal>, BTreeMap<String, BTreeSet<String>>) {
        let mut sums: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let mut models: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in series {
            let Some(feature) = self.feature_of(&s, Role::CostTokens) else {
                continue;
            };
            let model = s.labels.get(&cq.model_label).cloned().unwrap_or_default();
            let token_type = s.labels.get(&cq.token_type_label).map(String::as_str);
            let price = self.unit_price(cq, &model, token_type);
            if !model.is_empty() {
                // Shown in the signals pane: a label value is data, like any text from outside.
                let shown = SafeText::new(&model).to_string();
                models.entry(feature.clone()).or_default().insert(shown);
            }
            let acc = sums
                .entry(feature)
                .or_insert_with(|| vec![None; s.points.len()]);
            add_cost(acc, &s.points, price);
        }
        let signals = sums
            .into_iter()
            .map(|(f, acc)| {
                let points = acc.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                Signal::new(&f, SignalKind::CostPerMin, step, points)
            })
            .collect();
        (signals, models)
    }

    /// USD per token for this model and token type, or None (warned once) when unknown.
    fn unit_price(&mut self, cq: &CostQuery, model: &str, token_type: Option<&str>) -> Option<f64> {
        let Some(price) = self.prices.get(model) else {
            if self.warnings.first(format!("price:{model}")) {
                tracing::warn!(
                    source = %self.warnings.source,
                    model,
                    "no price for this model in `prices`: cost of the features using it is unknown"
                );
            }
            return None;
        };
        match token_type {
            Some(t) if t == cq.input => Some(price.input / TOKENS_PER_PRICE_UNIT),
            Some(t) if t == cq.output => Some(price.output / TOKENS_PER_PRICE_UNIT),
            other => {
                let t = other.unwrap_or("");
                if self.warnings.first(format!("token_type:{t}")) {
                    tracing::warn!(
                        source = %self.warnings.source,
                        token_type = t,
                        "token type is neither input nor output: its cost is unknown"
                    );
                }
                None
            }
        }
    }

    /// The feature a series belongs to. A series without the feature label cannot be shown:
    /// the query does not aggregate `by` the feature label (warned once per query).
    fn feature_of(&mut self, s: &Series, role: Role) -> Option<String> {
        if let Some(f) = s.labels.get(self.feature_label) {
            // The feature name is shown everywhere and keys incidents, signals and levers:
            // sanitised here, once, so that every one of them agrees on it.
            return Some(SafeText::new(f).to_string());
        }
        if self.warnings.first(format!("unlabelled:{}", role.name())) {
            tracing::warn!(
                source = %self.warnings.source,
                query = %role.name(),
                label = self.feature_label,
                "query returned a series without the feature label; it is ignored"
            );
        }
        None
    }

    fn warn_duplicate(&mut self, kind: SignalKind, feature: &str) {
        if self
            .warnings
            .first(format!("duplicate:{}", kind_name(kind)))
        {
            tracing::warn!(
                source = %self.warnings.source,
                query = %kind_name(kind),
                feature,
                "query returned several series for one feature; only the first is shown"
            );
        }
    }
}

/// Adds `rates × price` into `acc` step by step. No data at a step adds nothing; zero
/// tokens cost zero even without a price; tokens without a price make the step unknown.
fn add_cost(acc: &mut [Option<f64>], rates: &[f64], price: Option<f64>) {
    for (slot, &v) in acc.iter_mut().zip(rates) {
        if !v.is_finite() {
            continue;
        }
        let cost = match price {
            _ if v == 0.0 => 0.0,
            Some(p) => v * p,
            None => f64::NAN,
        };
        *slot = Some(slot.unwrap_or(0.0) + cost);
    }
}

pub(super) fn feature_info(
    name: &str,
    models: Option<&BTreeSet<String>>,
    uses_retrieval: bool,
) -> FeatureInfo {
    let model = models
        .map(|m| m.iter().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    // Prometheus knows traffic, not deployments: everything else is unknown here.
    FeatureInfo {
        uses_retrieval,
        ..FeatureInfo::traffic_only(name, &model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_add_up_and_unknown_prices_stay_unknown() {
        let mut acc = vec![None; 3];
        add_cost(&mut acc, &[60.0, f64::NAN, 0.0], Some(0.5));
        add_cost(&mut acc, &[10.0, f64::NAN, 5.0], None);
        add_cost(&mut acc, &[f64::NAN, f64::NAN, 0.0], None);
        assert!(acc[0].is_some_and(f64::is_nan));
        assert_eq!(acc[1], None);
        assert!(acc[2].is_some_and(f64::is_nan));
        let mut acc = vec![None; 2];
        add_cost(&mut acc, &[60.0, 0.0], Some(0.5));
        add_cost(&mut acc, &[f64::NAN, 0.0], None);
        assert_eq!(acc, vec![Some(30.0), Some(0.0)]);
    }
}
