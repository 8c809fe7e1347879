//! A Phoenix span (and its annotations) as a `Sample`. OpenInference names most of what a
//! sample needs (`llm.model_name`, `llm.invocation_parameters`, `input.value`,
//! `llm.token_count.*`, `retrieval.documents.*`); segment, user, conversation and prompt
//! version come from the attributes the config names, since deployments differ there.
//!
//! Every value is outside data: text is cut and sanitised (`sample_text`, `short`), numbers
//! are taken only when finite and in range, and lists are bounded.

use super::wire::{Annotation, Span};
use crate::domain::sample::{sample_text, Params, Retrieved, Sample};
use crate::domain::SafeText;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// The most messages of one conversation, documents of one retrieval and labels of one span
/// read: a span that claims ten thousand is cut, not followed.
pub const MAX_MESSAGES: usize = 64;
pub const MAX_DOCUMENTS: usize = 50;
pub const MAX_LABELS: usize = 16;
/// The most characters of a short field (an id, a model name, a label, an error).
const SHORT: usize = 256;

/// Which attributes name what OpenInference leaves to each deployment.
#[derive(Clone, Debug)]
pub struct Attributes {
    pub segment: String,
    pub user: String,
    pub conversation: String,
    pub prompt_version: String,
    pub eval_annotation: String,
    pub eval_inverted: bool,
}

/// A short field: cut to `SHORT` characters, then made safe.
fn short(raw: &str) -> SafeText {
    match raw.char_indices().nth(SHORT) {
        Some((end, _)) => SafeText::new(&format!("{}…", &raw[..end])),
        None => SafeText::new(raw),
    }
}

/// The attribute at dotted `key`: as Phoenix flattens it (`metadata.segment`), or inside an
/// object or a JSON string held by a prefix of it (OpenInference's `metadata` is a JSON
/// string: `{"segment": "free-tier"}`).
pub fn attribute<'a>(attrs: &'a Map<String, Value>, key: &str) -> Option<Cow<'a, Value>> {
    if let Some(v) = attrs.get(key) {
        return Some(Cow::Borrowed(v));
    }
    for (i, _) in key.match_indices('.').collect::<Vec<_>>().into_iter().rev() {
        let (prefix, rest) = (&key[..i], &key[i + 1..]);
        match attrs.get(prefix) {
            Some(Value::Object(inner)) => return nested(inner, rest).map(Cow::Borrowed),
            Some(Value::String(s)) => {
                let parsed: Value = serde_json::from_str(s).ok()?;
                let found = nested(parsed.as_object()?, rest)?.clone();
                return Some(Cow::Owned(found));
            }
            _ => {}
        }
    }
    None
}

fn nested<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    nested(obj.get(head)?.as_object()?, rest)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn attr_text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attribute(attrs, key).and_then(|v| text(&v))
}

fn finite(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// A count: a non-negative whole number, written as an integer, a float or a string.
fn count(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let x = finite(v)?;
    (x >= 0.0 && x.fract() == 0.0 && x < u64::MAX as f64).then_some(x as u64)
}

fn whole(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let x = finite(v)?;
    (x.fract() == 0.0 && x.abs() < i64::MAX as f64).then_some(x as i64)
}

/// `llm.input_messages` / `llm.output_messages` as `role: content` paragraphs; `None` when
/// the span has none.
fn messages(attrs: &Map<String, Value>, prefix: &str) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for i in 0..MAX_MESSAGES {
        let at = |k: &str| {
            attrs
                .get(&format!("{prefix}.{i}.message.{k}"))
                .and_then(text)
        };
        let role = at("role");
        let content = at("content").or_else(|| {
            let parts: Vec<String> = (0..MAX_MESSAGES)
                .map_while(|j| at(&format!("contents.{j}.message_content.text")))
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n"))
        });
        if role.is_none() && content.is_none() {
            break;
        }
        out.push(match role {
            Some(r) => format!("{r}: {}", content.unwrap_or_default()),
            None => content.unwrap_or_default(),
        });
    }
    (!out.is_empty()).then(|| out.join("\n\n"))
}

fn params(attrs: &Map<String, Value>, conversation: &str) -> Params {
    let raw = attrs.get("llm.invocation_parameters");
    let parsed: Option<Value> = match raw {
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    let get = |k: &str| parsed.as_ref().and_then(|p| p.get(k));
    Params {
        temperature: get("temperature").and_then(finite),
        top_p: get("top_p").and_then(finite),
        max_tokens: ["max_tokens", "max_completion_tokens", "max_output_tokens"]
            .iter()
            .find_map(|k| get(k).and_then(count)),
        seed: get("seed").and_then(whole),
        conversation: attr_text(attrs, conversation).map(|c| short(&c)),
    }
}

fn retrieved(attrs: &Map<String, Value>) -> Vec<Retrieved> {
    (0..MAX_DOCUMENTS)
        .map_while(|i| {
            let key = |k: &str| format!("retrieval.documents.{i}.document.{k}");
            let id = attrs.get(&key("id")).and_then(text);
            let score = attrs.get(&key("score")).and_then(finite);
            (id.is_some() || score.is_some()).then(|| Retrieved {
                id: short(&id.unwrap_or_else(|| format!("#{i}"))),
                // Relevance judgements are document annotations, which Phoenix's REST API
                // does not serve: hit or miss stays unknown.
                hit: None,
                score,
            })
        })
        .collect()
}

/// Why the request failed, when the span says it did.
fn error(span: &Span) -> Option<SafeText> {
    if !span.status_code.eq_ignore_ascii_case("ERROR") {
        return None;
    }
    if !span.status_message.trim().is_empty() {
        return Some(short(&span.status_message));
    }
    let exception = span.events.iter().find(|e| e.name == "exception");
    let why = exception
        .and_then(|e| {
            let t = e.attributes.get("exception.type").and_then(text);
            let m = e.attributes.get("exception.message").and_then(text);
            match (t, m) {
                (Some(t), Some(m)) => Some(format!("{t}: {m}")),
                (t, m) => t.or(m),
            }
        })
        .unwrap_or_else(|| "ERROR".into());
    Some(short(&why))
}

/// The eval score and labels of one span, from its annotations.
fn judgements(annotations: &[&Annotation], attrs: &Attributes) -> (Option<f64>, Vec<SafeText>) {
    let eval = annotations
        .iter()
        .filter(|a| a.name == attrs.eval_annotation)
        .filter_map(|a| {
            let score = a
                .result
                .as_ref()?
                .score
                .filter(|s| (0.0..=1.0).contains(s))?;
            Some((a.updated_at, score))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, s)| if attrs.eval_inverted { 1.0 - s } else { s });
    let mut labels: Vec<SafeText> = Vec::new();
    for a in annotations {
        let Some(label) = a.result.as_ref().and_then(|r| r.label.as_deref()) else {
            continue;
        };
        let label = short(label.trim());
        if !label.as_str().is_empty() && !labels.contains(&label) && labels.len() < MAX_LABELS {
            labels.push(label);
        }
    }
    (eval, labels)
}

/// `span` as a sample of `feature`, judged by `annotations` (this span's).
pub fn to_sample(
    span: &Span,
    feature: &str,
    annotations: &[&Annotation],
    attrs: &Attributes,
) -> Sample {
    let a = &span.attributes;
    let latency = (span.end_time - span.start_time)
        .num_microseconds()
        .filter(|us| *us >= 0)
        .map(|us| us as f64 / 1e6);
    let (eval_score, labels) = judgements(annotations, attrs);
    let input = attr_text(a, "input.value").or_else(|| messages(a, "llm.input_messages"));
    let output = attr_text(a, "output.value").or_else(|| messages(a, "llm.output_messages"));
    Sample {
        id: short(&span.context.span_id),
        at: span.start_time,
        feature: short(feature),
        segment: attr_text(a, &attrs.segment).map(|s| short(&s)),
        user: attr_text(a, &attrs.user).map(|s| short(&s)),
        prompt_version: attr_text(a, &attrs.prompt_version).map(|s| short(&s)),
        model: attr_text(a, "llm.model_name").map(|s| short(&s)),
        error: error(span),
        input_tokens: a.get("llm.token_count.prompt").and_then(count),
        output_tokens: a.get("llm.token_count.completion").and_then(count),
        cost: a
            .get("llm.cost.total")
            .and_then(finite)
            .filter(|c| *c >= 0.0),
        latency_secs: latency,
        eval_score,
        labels,
        input: sample_text(&input.unwrap_or_default()),
        output: sample_text(&output.unwrap_or_default()),
        retrieved: retrieved(a),
        params: params(a, &attrs.conversation),
    }
}

/// The samples of `spans`, each judged by its own annotations among `annotations`.
pub fn assemble(
    feature: &str,
    spans: &[Span],
    annotations: &[Annotation],
    attrs: &Attributes,
) -> Vec<Sample> {
    let mut by_span: HashMap<&str, Vec<&Annotation>> = HashMap::new();
    for a in annotations {
        by_span.entry(a.span_id.as_str()).or_default().push(a);
    }
    spans
        .iter()
        .map(|s| {
            let judged = by_span
                .get(s.context.span_id.as_str())
                .map_or(&[][..], Vec::as_slice);
            to_sample(s, feature, judged, attrs)
        })
        .collect()
}

/// The traces whose samples carry no documents of their own, once each.
pub fn traces_without_documents<'a>(spans: &'a [Span], samples: &[Sample]) -> Vec<&'a str> {
    let mut traces: Vec<&str> = spans
        .iter()
        .zip(samples)
        .filter(|(_, s)| s.retrieved.is_empty())
        .map(|(span, _)| span.context.trace_id.as_str())
        .collect();
    traces.sort_unstable();
    traces.dedup();
    traces
}

/// Gives each sample without documents those its trace's `retrievers` returned (OpenInference
/// puts them on the RETRIEVER span, beside the LLM span), at most `MAX_DOCUMENTS`.
pub fn attach_documents(spans: &[Span], samples: &mut [Sample], retrievers: &[Span]) {
    let mut docs: HashMap<&str, Vec<Retrieved>> = HashMap::new();
    for r in retrievers {
        let list = docs.entry(r.context.trace_id.as_str()).or_default();
        let room = MAX_DOCUMENTS.saturating_sub(list.len());
        list.extend(retrieved(&r.attributes).into_iter().take(room));
    }
    for (span, sample) in spans.iter().zip(samples.iter_mut()) {
        if sample.retrieved.is_empty() {
            if let Some(d) = docs.get(span.context.trace_id.as_str()) {
                sample.retrieved.clone_from(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::decode_spans;
    use super::*;
    use crate::domain::sample::MAX_SAMPLE_TEXT;
    use serde_json::json;

    fn attrs() -> Attributes {
        Attributes {
            segment: "metadata.segment".into(),
            user: "user.id".into(),
            conversation: "session.id".into(),
            prompt_version: "llm.prompt_template.version".into(),
            eval_annotation: "correctness".into(),
            eval_inverted: false,
        }
    }

    fn span(attributes: Value, status: &str, message: &str) -> Span {
        let page = json!({"data": [{
            "context": {"trace_id": "t1", "span_id": "s1"},
            "span_kind": "LLM",
            "start_time": "2026-12-01T02:00:00Z",
            "end_time": "2026-12-01T02:00:01.250Z",
            "status_code": status,
            "status_message": message,
            "attributes": attributes,
            "events": [{"name": "exception", "timestamp": "2026-12-01T02:00:01Z",
                        "attributes": {"exception.type": "RateLimitError", "exception.message": "429"}}]
        }], "next_cursor": null});
        let body = serde_json::to_vec(&page).expect("json");
        decode_spans(&body).expect("decodes").data.remove(0)
    }

    #[test]
    fn openinference_attributes_map_to_the_sample() {
        let s = span(
            json!({
                "llm.model_name": "gpt-4o-2024-08-06",
                "llm.invocation_parameters": "{\"temperature\": 0.7, \"top_p\": 0.9, \"max_completion_tokens\": 512, \"seed\": 42}",
                "llm.token_count.prompt": 120, "llm.token_count.completion": 33.0,
                "llm.cost.total": 0.0021,
                "metadata": "{\"segment\": \"free-tier\"}",
                "user.id": 1234, "session.id": "conv-9",
                "llm.prompt_template.version": "v13",
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "Be brief.",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.contents.0.message_content.text": "Refund?",
                "output.value": "Sure, 90 days.",
                "retrieval.documents.0.document.id": "kb-7",
                "retrieval.documents.0.document.score": 0.82,
                "retrieval.documents.1.document.score": 0.1
            }),
            "OK",
            "",
        );
        let sample = to_sample(&s, "support-bot", &[], &attrs());
        assert_eq!(
            sample.model.as_ref().map(SafeText::as_str),
            Some("gpt-4o-2024-08-06")
        );
        assert_eq!(
            sample.segment.as_ref().map(SafeText::as_str),
            Some("free-tier")
        );
        assert_eq!(sample.user.as_ref().map(SafeText::as_str), Some("1234"));
        assert_eq!(
            sample.prompt_version.as_ref().map(SafeText::as_str),
            Some("v13")
        );
        assert_eq!(sample.params.temperature, Some(0.7));
        assert_eq!(sample.params.top_p, Some(0.9));
        assert_eq!(sample.params.max_tokens, Some(512));
        assert_eq!(sample.params.seed, Some(42));
        assert_eq!(
            sample.params.conversation.as_ref().map(SafeText::as_str),
            Some("conv-9")
        );
        assert_eq!(
            (sample.input_tokens, sample.output_tokens),
            (Some(120), Some(33))
        );
        assert_eq!(sample.cost, Some(0.0021));
        assert_eq!(sample.latency_secs, Some(1.25));
        assert_eq!(sample.error, None);
        assert_eq!(sample.input.as_str(), "system: Be brief.\n\nuser: Refund?");
        assert_eq!(sample.output.as_str(), "Sure, 90 days.");
        assert_eq!(sample.retrieved.len(), 2);
        assert_eq!(sample.retrieved[0].id.as_str(), "kb-7");
        assert_eq!(sample.retrieved[1].id.as_str(), "#1");
        assert_eq!(sample.retrieved[1].score, Some(0.1));
    }

    #[test]
    fn errors_come_from_the_status_or_the_exception_event() {
        let failed = span(json!({}), "ERROR", "upstream 503");
        let s = to_sample(&failed, "f", &[], &attrs());
        assert_eq!(s.error.as_ref().map(SafeText::as_str), Some("upstream 503"));
        let silent = span(json!({}), "ERROR", "");
        let s = to_sample(&silent, "f", &[], &attrs());
        assert_eq!(
            s.error.as_ref().map(SafeText::as_str),
            Some("RateLimitError: 429")
        );
        let unset = span(json!({}), "UNSET", "");
        assert_eq!(to_sample(&unset, "f", &[], &attrs()).error, None);
    }

    #[test]
    fn hostile_and_absurd_values_are_cut_cleaned_or_dropped() {
        let hostile = format!(
            "\x1b]52;c;cm0gLXJmIH4=\x07pwned\u{202e}{}",
            "x".repeat(3 << 20)
        );
        let s = span(
            json!({
                "output.value": hostile,
                "llm.model_name": format!("\x1b[2J{}", "m".repeat(10_000)),
                "llm.token_count.prompt": -5, "llm.token_count.completion": 1.5,
                "llm.invocation_parameters": "{\"temperature\": \"NaN\", \"seed\": 1e300}",
                "llm.cost.total": -1
            }),
            "OK",
            "",
        );
        let sample = to_sample(&s, "f", &[], &attrs());
        assert!(
            sample.output.as_str().starts_with("pwned"),
            "{:.40}",
            sample.output.as_str()
        );
        assert!(sample.output.as_str().len() < MAX_SAMPLE_TEXT + 64);
        assert!(sample
            .output
            .as_str()
            .ends_with(&format!("[{} bytes in all]", hostile.len())));
        let model = sample.model.expect("model");
        assert!(!model.as_str().contains('\x1b'));
        assert!(model.as_str().chars().count() <= SHORT + 1);
        assert_eq!((sample.input_tokens, sample.output_tokens), (None, None));
        assert_eq!(
            (sample.params.temperature, sample.params.seed),
            (None, None)
        );
        assert_eq!(sample.cost, None);
    }

    #[test]
    fn annotations_give_labels_and_the_latest_eval_score() {
        let s = span(json!({}), "OK", "");
        let page: super::super::wire::AnnotationsPage = serde_json::from_value(json!({"data": [
            {"span_id": "s1", "name": "correctness", "updated_at": "2026-12-01T02:00:00Z",
             "result": {"label": "correct", "score": 0.9}},
            {"span_id": "s1", "name": "correctness", "updated_at": "2026-12-01T03:00:00Z",
             "result": {"label": "incorrect", "score": 0.2}},
            {"span_id": "s1", "name": "hallucination", "result": {"label": "hallucinated", "score": 1}},
            {"span_id": "s1", "name": "toxicity", "result": {"label": "\u{1b}[31mtoxic", "score": 7}},
            {"span_id": "s1", "name": "note", "result": null}
        ], "next_cursor": null}))
        .expect("annotations");
        let list: Vec<&Annotation> = page.data.iter().collect();
        let sample = to_sample(&s, "f", &list, &attrs());
        assert_eq!(sample.eval_score, Some(0.2));
        let labels: Vec<&str> = sample.labels.iter().map(SafeText::as_str).collect();
        assert_eq!(labels, ["correct", "incorrect", "hallucinated", "toxic"]);
        let inverted = Attributes {
            eval_annotation: "hallucination".into(),
            eval_inverted: true,
            ..attrs()
        };
        assert_eq!(to_sample(&s, "f", &list, &inverted).eval_score, Some(0.0));
        let out_of_range = Attributes {
            eval_annotation: "toxicity".into(),
            ..attrs()
        };
        assert_eq!(to_sample(&s, "f", &list, &out_of_range).eval_score, None);
    }
}
