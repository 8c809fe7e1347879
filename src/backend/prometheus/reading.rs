//! From series to the cockpit's signals: one per feature, token rates priced into cost,
//! and each problem with the data logged once.

use super::config::Price;
use super::plan::{kind_name, CostQuery, Role};
use super::wire::Series;
use crate::domain::{Counts, FeatureInfo, SafeText, SegmentCounts, Signal, SignalKind};
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
    pub(super) segment_label: Option<&'a str>,
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
        let mut by_segment: BTreeMap<(String, String), Vec<Option<f64>>> = BTreeMap::new();
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
            if let Some(segment) = self.segment_of(&s) {
                let acc = by_segment
                    .entry((feature.clone(), segment))
                    .or_insert_with(|| vec![None; s.points.len()]);
                add_cost(acc, &s.points, price);
            }
            let acc = sums
                .entry(feature)
                .or_insert_with(|| vec![None; s.points.len()]);
            add_cost(acc, &s.points, price);
        }
        let unknown = |acc: Vec<Option<f64>>| -> Vec<f64> {
            acc.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()
        };
        let mut signals: Vec<Signal> = sums
            .into_iter()
            .map(|(f, acc)| Signal::new(&f, SignalKind::CostPerMin, step, unknown(acc)))
            .collect();
        // Dollars spent in each step per segment (USD/min × minutes per step); the requests
        // behind them come from the requests query (`with_requests`).
        let minutes = f64::from(step) / 60.0;
        for ((feature, segment), acc) in by_segment {
            if let Some(sig) = signals.iter_mut().find(|s| s.feature == feature) {
                let events: Vec<f64> = unknown(acc).into_iter().map(|v| v * minutes).collect();
                let trials = vec![f64::NAN; events.len()];
                sig.segments.push(SegmentCounts {
                    segment,
                    counts: Counts { events, trials },
                });
            }
        }
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

    /// Requests per minute by feature and segment, from the split's requests query.
    pub(super) fn per_segment(&mut self, series: Vec<Series>) -> SegmentRates {
        let mut rates = SegmentRates::new();
        for s in series {
            let Some(feature) = self.feature_of(&s, Role::SegmentRequests) else {
                continue;
            };
            let Some(segment) = self.segment_of(&s) else {
                continue;
            };
            rates.insert((feature, segment), s.points);
        }
        rates
    }

    /// The segment a series belongs to, when the source splits by one. A series without the
    /// label is traffic no segment claims: "(none)", shown as such rather than dropped.
    fn segment_of(&self, s: &Series) -> Option<String> {
        let label = self.segment_label?;
        Some(
            s.labels
                .get(label)
                .map_or_else(|| "(none)".to_string(), |v| SafeText::new(v).to_string()),
        )
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

/// Requests per minute per (feature, segment), one value per step.
pub(super) type SegmentRates = BTreeMap<(String, String), Vec<f64>>;

/// Fills the requests behind each segment's spend (requests per minute × minutes per step).
/// A segment the requests query does not name keeps unknown trials: its dollars still show,
/// its request rate does not.
pub(super) fn with_requests(sig: &mut Signal, requests: &SegmentRates) {
    let minutes = f64::from(sig.step_secs) / 60.0;
    for seg in &mut sig.segments {
        let Some(rates) = requests.get(&(sig.feature.clone(), seg.segment.clone())) else {
            continue;
        };
        for (slot, r) in seg.counts.trials.iter_mut().zip(rates) {
            *slot = r * minutes;
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

/// What Prometheus knows of a feature: its traffic's models and their lowest price per
/// million tokens (the token cap is derived from it), not its deployments.
pub(super) fn feature_info(
    name: &str,
    models: Option<&BTreeSet<String>>,
    uses_retrieval: bool,
    prices: &BTreeMap<String, Price>,
) -> FeatureInfo {
    let model = models
        .map(|m| m.iter().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let price_per_mtok = models
        .into_iter()
        .flatten()
        .filter_map(|m| prices.get(m))
        .map(|p| p.input.min(p.output))
        .filter(|p| p.is_finite() && *p > 0.0)
        .min_by(f64::total_cmp);
    FeatureInfo {
        uses_retrieval,
        price_per_mtok,
        ..FeatureInfo::traffic_only(name, &model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], points: &[f64]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn spend_per_segment_adds_up_to_the_feature_and_takes_its_requests() {
        let prices: BTreeMap<String, Price> = [(
            "m".to_string(),
            Price {
                input: 1e6,
                output: 2e6,
            },
        )]
        .into_iter()
        .collect();
        let mut warnings = Warnings {
            source: "p".into(),
            seen: HashSet::new(),
        };
        let mut r = Reading {
            feature_label: "job",
            segment_label: Some("tenant"),
            prices: &prices,
            warnings: &mut warnings,
        };
        let cq = CostQuery {
            query: String::new(),
            model_label: "model".into(),
            token_type_label: "type".into(),
            input: "in".into(),
            output: "out".into(),
        };
        let tokens = vec![
            // Tokens per minute at $1 (in) and $2 (out) a token.
            series(
                &[
                    ("job", "bot"),
                    ("tenant", "acme"),
                    ("model", "m"),
                    ("type", "in"),
                ],
                &[1.0, 2.0],
            ),
            series(
                &[
                    ("job", "bot"),
                    ("tenant", "acme"),
                    ("model", "m"),
                    ("type", "out"),
                ],
                &[1.0, 1.0],
            ),
            series(
                &[("job", "bot"), ("model", "m"), ("type", "in")],
                &[3.0, f64::NAN],
            ),
        ];
        // Two-minute steps: dollars in a step are twice the per-minute figure.
        let (mut signals, _) = r.priced(&cq, 120, tokens);
        let requests = r.per_segment(vec![series(
            &[("job", "bot"), ("tenant", "acme")],
            &[5.0, 6.0],
        )]);
        with_requests(&mut signals[0], &requests);
        let sig = &signals[0];
        assert_eq!(
            sig.points,
            vec![6.0, 4.0],
            "the feature's total is every segment's"
        );
        let seg = |name: &str| sig.segments.iter().find(|s| s.segment == name);
        let Some(acme) = seg("acme") else {
            panic!("acme: {:?}", sig.segments)
        };
        assert_eq!(acme.counts.events, vec![6.0, 8.0]);
        assert_eq!(acme.counts.trials, vec![10.0, 12.0]);
        let Some(none) = seg("(none)") else {
            panic!(
                "unclaimed traffic is shown, not dropped: {:?}",
                sig.segments
            )
        };
        assert_eq!(none.counts.events[0], 6.0);
        assert!(none.counts.events[1].is_nan() && none.counts.trials[0].is_nan());
    }

    #[test]
    fn a_features_price_is_the_cheapest_known_of_its_models() {
        let price = |input, output| Price { input, output };
        let prices: BTreeMap<String, Price> = [
            ("big".to_string(), price(2.5, 10.0)),
            ("mini".to_string(), price(0.6, 0.15)),
        ]
        .into_iter()
        .collect();
        let models =
            |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
        let both = feature_info(
            "f",
            Some(&models(&["big", "mini", "unpriced"])),
            false,
            &prices,
        );
        assert_eq!(both.price_per_mtok, Some(0.15));
        let none = feature_info("f", Some(&models(&["unpriced"])), false, &prices);
        assert_eq!(none.price_per_mtok, None);
        assert_eq!(feature_info("f", None, false, &prices).price_per_mtok, None);
    }

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
