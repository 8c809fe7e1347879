//! Phoenix's REST replies (`/v1/projects/{p}/spans`, `/v1/projects/{p}/span_annotations`), as
//! version 20 serves them (its `/openapi.json`). Only what samples need is typed; attributes
//! stay JSON, flattened to dotted keys the way Phoenix returns them
//! (`retrieval.documents.0.document.id`).

use crate::backend::BackendError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One page of spans.
#[derive(Debug, Deserialize)]
pub struct SpansPage {
    pub data: Vec<Span>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Span {
    pub context: SpanContext,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    #[serde(default)]
    pub status_code: String,
    #[serde(default)]
    pub status_message: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub events: Vec<SpanEvent>,
}

#[derive(Debug, Deserialize)]
pub struct SpanContext {
    pub trace_id: String,
    pub span_id: String,
}

#[derive(Debug, Deserialize)]
pub struct SpanEvent {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// One page of span annotations.
#[derive(Debug, Deserialize)]
pub struct AnnotationsPage {
    pub data: Vec<Annotation>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Annotation {
    pub span_id: String,
    pub name: String,
    #[serde(default)]
    pub result: Option<AnnotationResult>,
    /// Several annotations of one name on a span (two annotators): the latest counts.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AnnotationResult {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub score: Option<f64>,
}

/// One page of `/v1/projects/{p}/traces`: only which traces, their spans are read apart.
#[derive(Debug, Deserialize)]
pub struct TracesPage {
    pub data: Vec<Trace>,
}

#[derive(Debug, Deserialize)]
pub struct Trace {
    pub trace_id: String,
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, BackendError> {
    serde_json::from_slice(body)
        .map_err(|e| BackendError::Malformed(format!("Phoenix {what}: {e}")))
}

pub fn decode_spans(body: &[u8]) -> Result<SpansPage, BackendError> {
    decode(body, "spans")
}

pub fn decode_annotations(body: &[u8]) -> Result<AnnotationsPage, BackendError> {
    decode(body, "span annotations")
}

pub fn decode_traces(body: &[u8]) -> Result<TracesPage, BackendError> {
    decode(body, "traces")
}

/// One page of `/v1/prompts`, newest first.
#[derive(Debug, Deserialize)]
pub struct PromptsPage {
    pub data: Vec<Prompt>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Prompt {
    pub name: String,
}

/// One page of `/v1/prompts/{name}/versions`, newest first.
#[derive(Debug, Deserialize)]
pub struct VersionsPage {
    pub data: Vec<PromptVersion>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A prompt version; only its id matters to the lever (the template is the app's business).
#[derive(Debug, Deserialize)]
pub struct PromptVersion {
    pub id: String,
}

/// `/v1/prompts/{name}/tags/{tag}`: the version holding the tag.
#[derive(Debug, Deserialize)]
pub struct Tagged {
    pub data: PromptVersion,
}

pub fn decode_prompts(body: &[u8]) -> Result<PromptsPage, BackendError> {
    decode(body, "prompts")
}

pub fn decode_versions(body: &[u8]) -> Result<VersionsPage, BackendError> {
    decode(body, "prompt versions")
}

pub fn decode_tagged(body: &[u8]) -> Result<Tagged, BackendError> {
    decode(body, "tagged prompt version")
}

/// Phoenix's reason for a refusal: FastAPI's `{"detail": …}`, or its plain-text body.
pub fn decode_error(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let detail = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| match v.get("detail")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| i.get("msg").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        });
    crate::backend::http::excerpt(&detail.unwrap_or_else(|| text.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_page_decodes_and_a_broken_one_says_what_it_was() {
        let body =
            br#"{"data":[{"id":"U3Bhbjox","name":"llm","context":{"trace_id":"t","span_id":"s"},
            "span_kind":"LLM","parent_id":null,"start_time":"2026-12-01T02:48:37+00:00",
            "end_time":"2026-12-01T02:48:37.500000+00:00","status_code":"OK","status_message":"",
            "attributes":{"llm.model_name":"gpt-4o"},"events":[]}],"next_cursor":"abc"}"#;
        let page = decode_spans(body).expect("decodes");
        assert_eq!(page.data.len(), 1);
        assert_eq!(page.next_cursor.as_deref(), Some("abc"));
        assert_eq!(
            (page.data[0].end_time - page.data[0].start_time).num_milliseconds(),
            500
        );
        let err = decode_spans(br#"{"data":[{"context":{}}]}"#).expect_err("malformed");
        assert!(
            matches!(&err, BackendError::Malformed(m) if m.starts_with("Phoenix spans:")),
            "{err:?}"
        );
        assert!(decode_spans(b"<html>").is_err());
    }

    #[test]
    fn a_traces_page_gives_its_trace_ids() {
        let body = br#"{"data":[{"id":"VHJhY2U6MQ==","trace_id":"74d7","project_id":"UHJvamVjdDoy",
            "start_time":"2026-12-01T07:15:15+00:00","end_time":"2026-12-01T07:15:17+00:00",
            "token_count_prompt":12,"token_count_completion":3,"token_count_total":15,"spans":null}],
            "next_cursor":null}"#;
        let page = decode_traces(body).expect("decodes");
        assert_eq!(page.data.len(), 1);
        assert_eq!(page.data[0].trace_id, "74d7");
        let err = decode_traces(br#"{"data":[{"id":"x"}]}"#).expect_err("no trace id");
        assert!(
            matches!(&err, BackendError::Malformed(m) if m.starts_with("Phoenix traces:")),
            "{err:?}"
        );
    }

    #[test]
    fn errors_read_fastapi_details_and_plain_text() {
        assert_eq!(
            decode_error(b"Project with name nope not found"),
            "Project with name nope not found"
        );
        assert_eq!(
            decode_error(br#"{"detail":[{"msg":"Input should be a valid datetime"}]}"#),
            "Input should be a valid datetime"
        );
        assert_eq!(
            decode_error(br#"{"detail":"Invalid token"}"#),
            "Invalid token"
        );
    }
}
