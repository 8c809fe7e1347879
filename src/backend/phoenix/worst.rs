//! Worst-first: a busy window holds more spans than one fetch reads (`page_size` ×
//! `max_pages`, at most 500 samples), newest first, so its worst requests — a hallucination
//! an evaluator flagged an hour into the incident, the one 40-second call — may not be among
//! them. Phoenix can find them itself: `GET /v1/projects/{p}/traces` takes a trace filter
//! over span annotations and sorts by `latency_ms`. Their spans are merged with the newest
//! page, each span once, the worst always kept.
//!
//! A Phoenix that refuses the query (an older version: 400 on the filter, 422 on the sort,
//! 404 without the endpoint) is not asked again for `RETRY`: the fetch answers with the
//! newest spans and a note saying worst-first is off, never one failed request per fetch.
//! A slow or failing worst query (past `TIMEOUT_SHARE` of the timeout, a 5xx) costs only
//! that fetch its worst, said in its note.

use super::mapping::Attributes;
use super::wire::Span;
use crate::backend::BackendError;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The worst query gets this fraction of the source's `timeout_secs` (a third): the newest
/// page, the annotations and the documents need the rest.
pub const TIMEOUT_SHARE: u32 = 3;

/// How long a Phoenix that refused the worst-traces query is left alone (an upgrade is not
/// noticed sooner).
pub const RETRY: Duration = Duration::from_secs(600);

/// Phoenix's trace filter (a Python expression) for traces holding a span the eval
/// annotation judges worse than `below`, on the cockpit's scale (higher is better). The
/// annotation's name goes in as a quoted literal, escaped, so a name with a quote in it
/// cannot change the expression.
pub fn eval_filter(attrs: &Attributes, below: f64) -> String {
    let name = attrs
        .eval_annotation
        .replace('\\', "\\\\")
        .replace('\'', "\\'");
    let (op, bar) = if attrs.eval_inverted {
        (">", 1.0 - below)
    } else {
        ("<", below)
    };
    format!("any(x.name == '{name}' and x.score {op} {bar} for x in span_annotations)")
}

/// The spans of the worst traces, in the order of their traces in `traces` (the worst
/// first), at most `cap`.
pub fn ranked(mut spans: Vec<Span>, traces: &[String], cap: usize) -> Vec<Span> {
    let rank: HashMap<&str, usize> = traces
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    // A span of a trace not asked for is not one of the worst.
    spans.retain(|s| rank.contains_key(s.context.trace_id.as_str()));
    spans.sort_by_key(|s| rank.get(s.context.trace_id.as_str()).copied());
    spans.truncate(cap);
    spans
}

/// `worst` and `recent` (newest first) as one list of at most `want`, newest first: each span
/// once, every worst one kept, the oldest of `recent` left out to make room.
pub fn merge(recent: Vec<Span>, worst: Vec<Span>, want: usize) -> Vec<Span> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<Span> = worst
        .into_iter()
        .filter(|s| seen.insert(s.context.span_id.clone()))
        .take(want)
        .collect();
    let room = want.saturating_sub(out.len());
    out.extend(
        recent
            .into_iter()
            .filter(|s| seen.insert(s.context.span_id.clone()))
            .take(room),
    );
    out.sort_by(|a, b| {
        b.start_time
            .cmp(&a.start_time)
            .then_with(|| a.context.span_id.cmp(&b.context.span_id))
    });
    out
}

/// Why this Phoenix cannot answer the worst-traces query at all, when `e` says so: it
/// rejected the filter or the sort (400, 405, 422), or has no such endpoint. The spans page
/// of the same project was just read, so a 404 here is the endpoint missing, not the project.
/// Anything else (a timeout, a 5xx) may pass and is tried again next fetch.
pub fn refusal(e: &BackendError) -> Option<String> {
    match e {
        BackendError::Http {
            status: status @ (400 | 405 | 422),
            message,
        } => Some(format!("HTTP {status}: {message}")),
        BackendError::Rejected(_) => Some("HTTP 404: no traces endpoint".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::decode_spans;
    use super::*;
    use serde_json::json;

    fn attrs(name: &str, inverted: bool) -> Attributes {
        Attributes {
            segment: "metadata.segment".into(),
            user: "user.id".into(),
            conversation: "session.id".into(),
            prompt_version: "llm.prompt_template.version".into(),
            eval_annotation: name.into(),
            eval_inverted: inverted,
        }
    }

    fn span(trace: &str, id: &str, second: u32) -> Span {
        let page = json!({"data": [{
            "context": {"trace_id": trace, "span_id": id},
            "start_time": format!("2026-12-01T02:00:{second:02}Z"),
            "end_time": format!("2026-12-01T02:00:{second:02}.5Z"),
        }]});
        let body = serde_json::to_vec(&page).expect("json");
        decode_spans(&body).expect("decodes").data.remove(0)
    }

    fn ids(spans: &[Span]) -> Vec<&str> {
        spans.iter().map(|s| s.context.span_id.as_str()).collect()
    }

    #[test]
    fn the_eval_filter_asks_below_the_bar_or_above_its_inverse_and_escapes_the_name() {
        assert_eq!(
            eval_filter(&attrs("correctness", false), 0.5),
            "any(x.name == 'correctness' and x.score < 0.5 for x in span_annotations)"
        );
        assert_eq!(
            eval_filter(&attrs("hallucination", true), 0.25),
            "any(x.name == 'hallucination' and x.score > 0.75 for x in span_annotations)"
        );
        assert_eq!(
            eval_filter(&attrs("it's\\", false), 0.5),
            "any(x.name == 'it\\'s\\\\' and x.score < 0.5 for x in span_annotations)"
        );
    }

    #[test]
    fn worst_spans_keep_their_traces_order_and_the_cap() {
        let spans = vec![
            span("t-slow", "a", 1),
            span("t-other", "x", 2),
            span("t-bad", "b", 3),
            span("t-slow", "c", 4),
        ];
        let traces = ["t-bad".to_string(), "t-slow".to_string()];
        assert_eq!(ids(&ranked(spans, &traces, 10)), ["b", "a", "c"]);
        let spans = vec![span("t-slow", "a", 1), span("t-bad", "b", 3)];
        assert_eq!(ids(&ranked(spans, &traces, 1)), ["b"]);
    }

    #[test]
    fn merging_keeps_every_worst_span_once_and_drops_the_oldest_recent() {
        let recent = vec![
            span("t5", "r5", 50),
            span("t4", "r4", 40),
            span("t3", "r3", 30),
            span("t2", "r2", 20),
        ];
        // r2 is both recent and worst; w1 is older than every recent one.
        let worst = vec![span("t2", "r2", 20), span("t1", "w1", 10)];
        assert_eq!(
            ids(&merge(recent, worst, 4)),
            ["r5", "r4", "r2", "w1"],
            "r3 makes room; r2 is kept once"
        );
        let recent = vec![span("t5", "r5", 50)];
        assert_eq!(ids(&merge(recent, vec![], 4)), ["r5"]);
    }

    #[test]
    fn only_a_rejection_of_the_query_turns_worst_first_off() {
        let bad_filter = BackendError::Http {
            status: 400,
            message: "invalid field `x.nope`".into(),
        };
        assert_eq!(
            refusal(&bad_filter).as_deref(),
            Some("HTTP 400: invalid field `x.nope`")
        );
        let bad_sort = BackendError::Http {
            status: 422,
            message: "Input should be 'start_time'".into(),
        };
        assert!(refusal(&bad_sort).is_some());
        assert!(refusal(&BackendError::Rejected("no project".into())).is_some());
        let busy = BackendError::Http {
            status: 503,
            message: "busy".into(),
        };
        assert_eq!(refusal(&busy), None);
        assert_eq!(refusal(&BackendError::Unreachable("x".into())), None);
    }
}
