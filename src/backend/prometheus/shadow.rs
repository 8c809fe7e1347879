//! Shadow comparison on Prometheus: each variant's figures over the window, read from series
//! that carry the variant's label (`[shadow] prompt_label`, `model_label`) beside the feature
//! label, one instant query per figure, aggregated on the server. The names are the
//! OpenTelemetry GenAI ones and the custom counters conventions.toml documents
//! (gen_ai_eval_score, gen_ai_refusals_total / gen_ai_answers_total, gen_ai_output_drift_js):
//! a figure whose series are absent is "no data", with the family it looked for.

use super::config::Price;
use super::wire::Answer;
use crate::backend::BackendError;
use crate::domain::shadow::{Figure, Measured, ShadowRequest, VariantFigures};
use std::collections::BTreeMap;

/// What one query of a comparison reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    Requests,
    EvalMean,
    EvalPoints,
    Refusals,
    Answers,
    DriftMean,
    DriftPoints,
    /// Tokens by model and token type, priced with `prices`.
    Tokens,
    TtftP95,
    TtftCount,
    /// Operation duration: the latency of a service that exports no TTFT.
    DurationP95,
    DurationCount,
}

const MODEL: &str = "gen_ai_request_model";
const TOKEN_TYPE: &str = "gen_ai_token_type";

/// A PromQL string literal holding `v` whatever it holds: the values come from flag systems.
fn quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The queries for one variant: `target` adds the shadow matcher to its selector.
pub(super) fn queries(
    request: &ShadowRequest,
    feature_label: &str,
    value: &str,
    target: bool,
) -> Vec<(Part, String)> {
    let mut sel = format!(
        "{feature_label}={}, {}={}",
        quoted(&request.feature),
        request.label,
        quoted(value)
    );
    if let (true, Some(m)) = (target, &request.shadow_matcher) {
        sel.push_str(", ");
        sel.push_str(m);
    }
    let w = format!("{}s", request.window_secs);
    let by_model = format!("{MODEL}, {TOKEN_TYPE}");
    vec![
        (
            Part::Requests,
            format!("sum(increase(gen_ai_client_operation_duration_seconds_count{{{sel}}}[{w}]))"),
        ),
        (
            Part::EvalMean,
            format!("avg(avg_over_time(gen_ai_eval_score{{{sel}}}[{w}]))"),
        ),
        (
            Part::EvalPoints,
            format!("sum(count_over_time(gen_ai_eval_score{{{sel}}}[{w}]))"),
        ),
        (
            Part::Refusals,
            format!("sum(increase(gen_ai_refusals_total{{{sel}}}[{w}]))"),
        ),
        (
            Part::Answers,
            format!("sum(increase(gen_ai_answers_total{{{sel}}}[{w}]))"),
        ),
        (
            Part::DriftMean,
            format!("avg(avg_over_time(gen_ai_output_drift_js{{{sel}}}[{w}]))"),
        ),
        (
            Part::DriftPoints,
            format!("sum(count_over_time(gen_ai_output_drift_js{{{sel}}}[{w}]))"),
        ),
        (
            Part::Tokens,
            format!(
                "sum by ({by_model}) (increase(gen_ai_client_token_usage_sum{{{sel}}}[{w}]))"
            ),
        ),
        (
            Part::TtftP95,
            format!(
                "histogram_quantile(0.95, sum by (le) (increase(gen_ai_server_time_to_first_token_seconds_bucket{{{sel}}}[{w}])))"
            ),
        ),
        (
            Part::TtftCount,
            format!(
                "sum(increase(gen_ai_server_time_to_first_token_seconds_count{{{sel}}}[{w}]))"
            ),
        ),
        (
            Part::DurationP95,
            format!(
                "histogram_quantile(0.95, sum by (le) (increase(gen_ai_client_operation_duration_seconds_bucket{{{sel}}}[{w}])))"
            ),
        ),
        (
            Part::DurationCount,
            format!("sum(increase(gen_ai_client_operation_duration_seconds_count{{{sel}}}[{w}]))"),
        ),
    ]
}

/// The one value of a single-series answer, if it has one.
fn single(answers: &[(Part, Answer)], part: Part) -> Option<f64> {
    answers
        .iter()
        .find(|(p, _)| *p == part)
        .and_then(|(_, a)| a.series.first())
        .and_then(|s| s.points.last().copied())
        .filter(|v| v.is_finite())
}

fn count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.round().min(u64::MAX as f64) as u64
    } else {
        0
    }
}

/// One variant's figures from its answers; the second value says the latency row is the
/// operation duration (no TTFT series).
pub(super) fn figures(
    value: &str,
    target: bool,
    answers: &[(Part, Answer)],
    prices: &BTreeMap<String, Price>,
) -> (VariantFigures, bool) {
    let absent = |family: &str| Err(format!("no {family} series"));
    let requests = single(answers, Part::Requests).map(count).unwrap_or(0);
    let eval = match (
        single(answers, Part::EvalMean),
        single(answers, Part::EvalPoints),
    ) {
        (Some(v), Some(n)) => Ok(Measured {
            value: v,
            count: count(n),
        }),
        _ => absent("gen_ai_eval_score"),
    };
    let refusals = match (
        single(answers, Part::Refusals),
        single(answers, Part::Answers),
    ) {
        (Some(r), Some(a)) if a > 0.0 => Ok(Measured {
            value: r / a,
            count: count(a),
        }),
        // Answers counted and no refusal series: none refused.
        (None, Some(a)) if a > 0.0 => Ok(Measured {
            value: 0.0,
            count: count(a),
        }),
        _ => absent("gen_ai_answers_total"),
    };
    let drift = match (
        single(answers, Part::DriftMean),
        single(answers, Part::DriftPoints),
    ) {
        (Some(v), Some(n)) => Ok(Measured {
            value: v,
            count: count(n),
        }),
        _ => absent("gen_ai_output_drift_js"),
    };
    let cost = cost_per_request(answers, prices, requests);
    let (latency, fallback) = match (
        single(answers, Part::TtftP95),
        single(answers, Part::TtftCount),
    ) {
        (Some(v), Some(n)) => (
            Ok(Measured {
                value: v,
                count: count(n),
            }),
            false,
        ),
        _ => match (
            single(answers, Part::DurationP95),
            single(answers, Part::DurationCount),
        ) {
            (Some(v), Some(n)) => (
                Ok(Measured {
                    value: v,
                    count: count(n),
                }),
                true,
            ),
            _ => (absent("gen_ai_server_time_to_first_token_seconds"), false),
        },
    };
    (
        VariantFigures {
            value: value.to_string(),
            shadow: target,
            figures: vec![
                (Figure::Eval, eval),
                (Figure::Refusals, refusals),
                (Figure::Drift, drift),
                (Figure::CostPerRequest, cost),
                (Figure::Latency, latency),
            ],
        },
        fallback,
    )
}

fn cost_per_request(
    answers: &[(Part, Answer)],
    prices: &BTreeMap<String, Price>,
    requests: u64,
) -> Result<Measured, String> {
    let Some((_, tokens)) = answers.iter().find(|(p, _)| *p == Part::Tokens) else {
        return Err("no gen_ai_client_token_usage series".into());
    };
    if tokens.series.is_empty() {
        return Err("no gen_ai_client_token_usage series".into());
    }
    if requests == 0 {
        return Err("no gen_ai_client_operation_duration series to count requests".into());
    }
    let mut dollars = 0.0;
    for s in &tokens.series {
        let n = s
            .points
            .last()
            .copied()
            .filter(|v| v.is_finite())
            .unwrap_or(0.0);
        let model = s.labels.get(MODEL).map(String::as_str).unwrap_or("");
        let Some(price) = prices.get(model) else {
            return Err(format!("no price for model {model:?} under `prices`"));
        };
        let per_m = match s.labels.get(TOKEN_TYPE).map(String::as_str) {
            Some("input") => price.input,
            Some("output") => price.output,
            other => return Err(format!("token type {other:?} is neither input nor output")),
        };
        dollars += n * per_m / 1e6;
    }
    Ok(Measured {
        value: dollars / requests as f64,
        count: requests,
    })
}

/// The first failure among a variant's answers, naming the figure's query.
pub(super) fn first_error(
    results: Vec<(Part, Result<Answer, BackendError>)>,
) -> Result<Vec<(Part, Answer)>, BackendError> {
    results
        .into_iter()
        .map(|(p, r)| {
            r.map(|a| (p, a)).map_err(|e| match e {
                BackendError::Http { status, message } => BackendError::Http {
                    status,
                    message: format!("shadow {p:?} query: {message}"),
                },
                other => other,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shadow::Axis;

    #[test]
    fn values_are_quoted_and_the_matcher_is_only_the_targets() {
        let r = ShadowRequest {
            feature: "bot\"} or vector(1) #".into(),
            axis: Axis::Prompt,
            label: "prompt_version".into(),
            current: "v13".into(),
            target: "v12\\".into(),
            shadow_matcher: Some("shadow=\"true\"".into()),
            window_secs: 1800,
        };
        let cur = queries(&r, "service_name", "v13", false);
        let tgt = queries(&r, "service_name", "v12\\", true);
        assert!(cur[0].1.contains(r#"service_name="bot\"} or vector(1) #""#));
        assert!(!cur[0].1.contains("shadow="));
        assert!(tgt[0]
            .1
            .contains(r#"prompt_version="v12\\", shadow="true""#));
        assert!(tgt[0].1.ends_with("[1800s]))"));
    }
}
