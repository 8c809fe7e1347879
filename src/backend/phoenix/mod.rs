//! Arize Phoenix (open-source LLM tracing, REST API `/v1`) as a samples source: what the
//! models of a feature actually said, read from the spans its instrumentation sent
//! (OpenInference attributes), judged by the span annotations evaluators and people left.
//!
//! A window's samples are the newest spans of the feature's project (`projects` maps a
//! feature to a project; by default the project of its name) between the window's bounds,
//! of one span kind (`LLM` by default), paged through `next_cursor` within `max_pages`
//! requests. Asked for the window's worst (the view sorted by worst eval or latency, a lever's
//! evidence), the spans of the traces Phoenix itself finds worst are merged in (worst.rs).
//! Their annotations come from `span_annotations` (by span id), and documents a retriever
//! span of the same trace returned fill `retrieved` when the span has none.
//!
//! With `prompt_registry = true` the same source also plays the prompt lever
//! (`PhoenixPrompts`, its own task): one server, one URL, key and TLS setup, two roles.

mod client;
pub mod config;
mod kind;
mod mapping;
mod prompts;
mod wire;
mod worst;

pub use client::Phoenix;
pub use config::PhoenixConfig;
pub use kind::Kind;
pub use mapping::{Attributes, MAX_DOCUMENTS, MAX_LABELS, MAX_MESSAGES};
pub use prompts::PhoenixPrompts;
pub use wire::decode_error;

use crate::backend::BackendError;
use crate::domain::sample::Sample;

/// Samples of `feature` from raw replies, as the client decodes them: a page of spans, their
/// annotations, and the retriever spans of their traces. For the fuzz harness.
pub fn decode_samples(
    feature: &str,
    attrs: &Attributes,
    spans: &[u8],
    annotations: &[u8],
    retrievers: &[u8],
) -> Result<Vec<Sample>, BackendError> {
    let spans = wire::decode_spans(spans)?.data;
    let annotations = wire::decode_annotations(annotations)?.data;
    let retrievers = wire::decode_spans(retrievers)?.data;
    let mut samples = mapping::assemble(feature, &spans, &annotations, attrs);
    mapping::attach_documents(&spans, &mut samples, &retrievers);
    Ok(samples)
}
