//! The Phoenix HTTP client: one window's samples are the newest spans of the feature's
//! project in it, paged through `next_cursor`, with the spans of the window's worst traces
//! when asked (worst.rs), judged by their span annotations, with the documents their trace's
//! retriever spans returned.

use super::config::PhoenixConfig;
use super::mapping::{assemble, attach_documents, traces_without_documents, Attributes};
use super::wire::{
    decode_annotations, decode_error, decode_spans, decode_traces, Annotation, Span,
};
use super::worst;
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::{BackendError, SampleSource};
use crate::domain::sample::{SampleBatch, SampleQuery, Worst, MAX_SAMPLES_PER_WINDOW};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Url;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Span ids (16 hex digits) per annotation request and trace ids (32) per retriever
/// request: a few kilobytes of query string, well inside what servers and proxies accept.
const SPAN_IDS_PER_REQUEST: usize = 100;
const TRACE_IDS_PER_REQUEST: usize = 50;
/// Annotations asked for per request; Phoenix allows up to 10,000.
const ANNOTATIONS_PER_PAGE: usize = 1000;

/// The span kinds Phoenix 20 files spans under (`span_kind` filter).
const SPAN_KINDS: [&str; 11] = [
    "LLM",
    "CHAIN",
    "TOOL",
    "RETRIEVER",
    "EMBEDDING",
    "AGENT",
    "RERANKER",
    "GUARDRAIL",
    "EVALUATOR",
    "DECISION",
    "UNKNOWN",
];

pub struct Phoenix {
    name: String,
    base: Url,
    auth: Auth,
    projects: BTreeMap<String, String>,
    span_kind: Option<String>,
    page_size: usize,
    max_pages: usize,
    attrs: Attributes,
    worst_traces: usize,
    worst_eval_below: f64,
    /// When and why this Phoenix refused the worst-traces query: not asked again before
    /// `worst::RETRY` has passed.
    worst_refused: Option<(Instant, String)>,
    timeout: Duration,
    cap: ReplyCap,
    client: http::Client,
}

impl std::fmt::Debug for Phoenix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phoenix")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// One request's worth of spans, and where the next page starts.
struct Page {
    spans: Vec<Span>,
    next: Option<String>,
}

impl Phoenix {
    /// What `new` refuses in the config itself, without reading any secret.
    pub fn check(cfg: &PhoenixConfig) -> Result<(), String> {
        http::check_url(&cfg.url)?;
        Auth::check(cfg.auth.as_ref())?;
        if !cfg.span_kind.is_empty() && !SPAN_KINDS.contains(&cfg.span_kind.as_str()) {
            return Err(format!(
                "span_kind {:?} is not a Phoenix span kind (one of {}, or \"\" for every kind)",
                cfg.span_kind,
                SPAN_KINDS.join(", ")
            ));
        }
        for (key, value) in [
            ("segment_attribute", &cfg.segment_attribute),
            ("user_attribute", &cfg.user_attribute),
            ("conversation_attribute", &cfg.conversation_attribute),
            ("prompt_version_attribute", &cfg.prompt_version_attribute),
            ("eval_annotation", &cfg.eval_annotation),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{key} is empty"));
            }
        }
        // It goes into Phoenix's filter expression as a one-line string literal.
        if cfg.eval_annotation.chars().any(char::is_control) {
            return Err(format!(
                "eval_annotation {:?} holds a control character",
                cfg.eval_annotation
            ));
        }
        for (feature, project) in &cfg.projects {
            // Phoenix reads a project name with these as a path or a query.
            if project.is_empty() || project.contains(['/', '?', '#']) {
                return Err(format!(
                    "projects.{feature} = {project:?}: Phoenix project names cannot be empty or contain /, ? or #"
                ));
            }
        }
        Ok(())
    }

    pub fn new(cfg: &PhoenixConfig) -> Result<Self, String> {
        let name = &cfg.name;
        Self::check(cfg).map_err(|e| format!("{name}: {e}"))?;
        let base = http::check_url(cfg.url.trim_end_matches('/'))?;
        let auth = Auth::from_config(cfg.auth.as_ref()).map_err(|e| format!("{name}: {e}"))?;
        let timeout = cfg.timeout_secs.duration();
        Ok(Phoenix {
            name: name.clone(),
            base,
            auth,
            projects: cfg.projects.clone(),
            span_kind: (!cfg.span_kind.is_empty()).then(|| cfg.span_kind.clone()),
            page_size: cfg.page_size as usize,
            max_pages: cfg.max_pages as usize,
            attrs: Attributes {
                segment: cfg.segment_attribute.clone(),
                user: cfg.user_attribute.clone(),
                conversation: cfg.conversation_attribute.clone(),
                prompt_version: cfg.prompt_version_attribute.clone(),
                eval_annotation: cfg.eval_annotation.clone(),
                eval_inverted: cfg.eval_inverted,
            },
            worst_traces: cfg.worst_traces as usize,
            worst_eval_below: cfg.worst_eval_below,
            worst_refused: None,
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| format!("{name}: {e}"))?,
        })
    }

    /// The Phoenix project `feature`'s spans are in.
    fn project<'a>(&'a self, feature: &'a str) -> &'a str {
        self.projects.get(feature).map_or(feature, String::as_str)
    }

    /// `<url>/v1/projects/<project>/<what>`, the project name percent-encoded.
    fn url(&self, project: &str, what: &str) -> Result<Url, BackendError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| BackendError::Unreachable(format!("{} cannot hold a path", self.base)))?
            .pop_if_empty()
            .extend(["v1", "projects", project, what]);
        Ok(url)
    }

    /// Sends a GET and returns the body of a 2xx; anything else says what was being read,
    /// and for a missing project, which feature it was for and how to map it.
    async fn get(
        &self,
        url: Url,
        query: &[(&str, String)],
        feature: &str,
        project: &str,
    ) -> Result<Vec<u8>, BackendError> {
        let req = self
            .auth
            .apply(self.client.get(url.as_str()).query(query))
            .header("Accept", "application/json");
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return http::read_body(resp, self.cap, self.timeout).await;
        }
        let detail = decode_error(&http::read_error_body(resp).await);
        let message = match status {
            401 => key_refused(&self.auth, &detail),
            403 => format!("the API key may not read project {project:?}: {detail}"),
            404 => {
                let mapped = if project == feature {
                    format!("the project named like feature {feature}")
                } else {
                    format!("projects.{feature}")
                };
                return Err(BackendError::Rejected(format!(
                    "no project {project:?} in Phoenix ({mapped}; map the feature with projects = {{ \"{feature}\" = \"<project>\" }}): {detail}"
                )));
            }
            _ => format!("reading project {project:?}: {detail}"),
        };
        Err(BackendError::Http { status, message })
    }

    async fn page(
        &self,
        q: &SampleQuery,
        project: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, BackendError> {
        let mut query = vec![
            ("start_time", time(q.from)),
            ("end_time", time(q.to)),
            ("limit", limit.to_string()),
            ("sort", "start_time".into()),
            ("order", "desc".into()),
        ];
        if let Some(kind) = &self.span_kind {
            query.push(("span_kind", kind.clone()));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let body = self
            .get(self.url(project, "spans")?, &query, &q.feature, project)
            .await?;
        let page = decode_spans(&body)?;
        Ok(Page {
            spans: page.data,
            next: page.next_cursor.filter(|c| !c.is_empty()),
        })
    }

    /// The newest spans of the window, up to `want`, in at most `max_pages` requests. A page
    /// over the reply cap (a few huge outputs) is asked for again at half the size, so big
    /// spans cost requests, not the fetch; only one span alone over the cap fails it.
    async fn spans(
        &self,
        q: &SampleQuery,
        project: &str,
        want: usize,
    ) -> Result<Vec<Span>, BackendError> {
        let mut spans: Vec<Span> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut size = self.page_size.min(want);
        for _ in 0..self.max_pages {
            let limit = size.min(want - spans.len());
            match self.page(q, project, cursor.as_deref(), limit).await {
                Ok(page) => {
                    spans.extend(page.spans);
                    cursor = page.next;
                }
                Err(BackendError::TooLarge { .. }) if limit > 1 => {
                    size = limit / 2;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if cursor.is_none() || spans.len() >= want {
                break;
            }
        }
        if cursor.is_some() && spans.len() < want {
            tracing::debug!(
                source = %self.name, project, got = spans.len(), want,
                "page budget (max_pages) spent before the window's limit"
            );
        }
        spans.truncate(want);
        Ok(spans)
    }

    /// Every annotation of `spans`, within the page budget.
    async fn annotations(
        &self,
        q: &SampleQuery,
        project: &str,
        spans: &[Span],
    ) -> Result<Vec<Annotation>, BackendError> {
        let ids: Vec<&str> = spans.iter().map(|s| s.context.span_id.as_str()).collect();
        let mut out = Vec::new();
        let mut pages = 0;
        for chunk in ids.chunks(SPAN_IDS_PER_REQUEST) {
            let mut cursor: Option<String> = None;
            loop {
                if pages >= self.max_pages {
                    return Ok(out);
                }
                pages += 1;
                let mut query: Vec<(&str, String)> = chunk
                    .iter()
                    .map(|id| ("span_ids", id.to_string()))
                    .collect();
                query.push(("limit", ANNOTATIONS_PER_PAGE.to_string()));
                if let Some(c) = &cursor {
                    query.push(("cursor", c.clone()));
                }
                let body = self
                    .get(
                        self.url(project, "span_annotations")?,
                        &query,
                        &q.feature,
                        project,
                    )
                    .await?;
                let page = decode_annotations(&body)?;
                out.extend(page.data);
                cursor = page.next_cursor.filter(|c| !c.is_empty());
                if cursor.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The spans of `traces` of one `kind` (every kind: `None`), started inside the window
    /// when `window` is set, one page per request of `TRACE_IDS_PER_REQUEST` traces.
    async fn spans_of(
        &self,
        q: &SampleQuery,
        project: &str,
        traces: &[&str],
        kind: Option<&str>,
        window: bool,
    ) -> Result<Vec<Span>, BackendError> {
        let mut out = Vec::new();
        for chunk in traces.chunks(TRACE_IDS_PER_REQUEST) {
            let mut query: Vec<(&str, String)> =
                chunk.iter().map(|t| ("trace_id", t.to_string())).collect();
            if let Some(kind) = kind {
                query.push(("span_kind", kind.into()));
            }
            if window {
                query.push(("start_time", time(q.from)));
                query.push(("end_time", time(q.to)));
            }
            query.push(("limit", self.page_size.to_string()));
            let body = self
                .get(self.url(project, "spans")?, &query, &q.feature, project)
                .await?;
            out.extend(decode_spans(&body)?.data);
        }
        Ok(out)
    }

    /// The ids of up to `limit` traces of the window, sorted by `sort` (descending) and
    /// kept by `filter`.
    async fn traces(
        &self,
        q: &SampleQuery,
        project: &str,
        sort: &str,
        filter: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let mut query = vec![
            ("start_time", time(q.from)),
            ("end_time", time(q.to)),
            ("sort", sort.to_string()),
            ("order", "desc".into()),
            ("limit", limit.to_string()),
        ];
        if let Some(f) = filter {
            query.push(("filter", f));
        }
        let body = self
            .get(self.url(project, "traces")?, &query, &q.feature, project)
            .await?;
        Ok(decode_traces(&body)?
            .data
            .into_iter()
            .take(limit)
            .map(|t| t.trace_id)
            .collect())
    }

    /// The spans of the window's worst traces as `asked`, worst first, at most `cap`: those
    /// with a span the eval annotation judges below the bar (newest first), then the slowest.
    async fn worst_spans(
        &self,
        q: &SampleQuery,
        project: &str,
        asked: Worst,
        cap: usize,
    ) -> Result<Vec<Span>, BackendError> {
        let per_kind = self.worst_traces.min(cap);
        let mut traces: Vec<String> = Vec::new();
        if asked.eval {
            let filter = worst::eval_filter(&self.attrs, self.worst_eval_below);
            traces.extend(
                self.traces(q, project, "start_time", Some(filter), per_kind)
                    .await?,
            );
        }
        if asked.latency {
            for t in self
                .traces(q, project, "latency_ms", None, per_kind)
                .await?
            {
                if !traces.contains(&t) {
                    traces.push(t);
                }
            }
        }
        if traces.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = traces.iter().map(String::as_str).collect();
        let spans = self
            .spans_of(q, project, &ids, self.span_kind.as_deref(), true)
            .await?;
        Ok(worst::ranked(spans, &traces, cap))
    }

    /// The worst spans `q` asks for, unless this Phoenix refused the query lately; what went
    /// wrong is a note beside the newest spans, not the fetch's failure.
    async fn worst_or_note(
        &mut self,
        q: &SampleQuery,
        project: &str,
        cap: usize,
    ) -> (Vec<Span>, Option<String>) {
        let newest = "showing the newest spans only";
        if let Some((since, why)) = &self.worst_refused {
            if since.elapsed() < worst::RETRY {
                return (
                    Vec::new(),
                    Some(format!(
                        "worst-first off: Phoenix refused the worst-traces query ({why}); {newest}"
                    )),
                );
            }
        }
        // A filter over a big project's annotations can be slow: past its share of the
        // timeout the fetch goes on with the newest, rather than fail whole.
        let budget = self.timeout / worst::TIMEOUT_SHARE;
        let found = tokio::time::timeout(budget, self.worst_spans(q, project, q.worst, cap))
            .await
            .unwrap_or(Err(BackendError::Timeout(budget.as_secs())));
        let e = match found {
            Ok(spans) => {
                self.worst_refused = None;
                return (spans, None);
            }
            Err(e) => e,
        };
        let Some(why) = worst::refusal(&e) else {
            return (
                Vec::new(),
                Some(format!("worst-first skipped this time ({e}); {newest}")),
            );
        };
        tracing::warn!(
            source = %self.name, %why,
            "Phoenix refused the worst-traces query; asked again in {} s",
            worst::RETRY.as_secs()
        );
        let note =
            format!("worst-first off: Phoenix refused the worst-traces query ({why}); {newest}");
        self.worst_refused = Some((Instant::now(), why));
        (Vec::new(), Some(note))
    }

    async fn fetch(&mut self, q: &SampleQuery) -> Result<SampleBatch, BackendError> {
        let project = self.project(&q.feature).to_string();
        let project = project.as_str();
        let want = q.limit.min(MAX_SAMPLES_PER_WINDOW);
        if want == 0 || q.from >= q.to {
            return Ok(SampleBatch::default());
        }
        let mut spans = self.spans(q, project, want).await?;
        // An empty window has no worst either. The newest keep at least half the room.
        let cap = want / 2;
        let mut note = None;
        if q.worst.any() && self.worst_traces > 0 && cap > 0 && !spans.is_empty() {
            let (worst, why) = self.worst_or_note(q, project, cap).await;
            spans = worst::merge(spans, worst, want);
            note = why;
        }
        if spans.is_empty() {
            return Ok(SampleBatch::default());
        }
        let annotations = self.annotations(q, project, &spans).await?;
        let mut samples = assemble(&q.feature, &spans, &annotations, &self.attrs);
        // Only when the samples are not retriever spans themselves.
        if self.span_kind.as_deref().is_some_and(|k| k != "RETRIEVER") {
            let traces = traces_without_documents(&spans, &samples);
            if !traces.is_empty() {
                let retrievers = self
                    .spans_of(q, project, &traces, Some("RETRIEVER"), false)
                    .await?;
                attach_documents(&spans, &mut samples, &retrievers);
            }
        }
        Ok(SampleBatch { samples, note })
    }
}

/// A time as Phoenix's query parameters take it.
fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SampleSource for Phoenix {
    async fn samples(&mut self, query: &SampleQuery) -> Result<SampleBatch, BackendError> {
        self.fetch(query).await
    }
}
/// Why Phoenix answered 401: auth is on and no key was configured, or the key was refused.
pub(super) fn key_refused(auth: &Auth, detail: &str) -> String {
    if *auth == Auth::None {
        format!(
            "Phoenix runs with auth on and no API key is configured: set auth = {{ bearer = {{ env = \"…\" }} }} ({detail})"
        )
    } else {
        format!("Phoenix refused the API key (expired or revoked?): {detail}")
    }
}
