//! The Phoenix HTTP client: one window's samples are the newest spans of the feature's
//! project in it, paged through `next_cursor`, judged by their span annotations, with the
//! documents their trace's retriever spans returned.

use super::config::PhoenixConfig;
use super::mapping::{assemble, attach_documents, traces_without_documents, Attributes};
use super::wire::{decode_annotations, decode_error, decode_spans, Annotation, Span};
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::{BackendError, SampleSource};
use crate::domain::sample::{Sample, SampleQuery, MAX_SAMPLES_PER_WINDOW};
use chrono::SecondsFormat;
use reqwest::Url;
use std::collections::BTreeMap;
use std::time::Duration;

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
        let time =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
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

    /// The RETRIEVER spans of `traces`, one page per request of `TRACE_IDS_PER_REQUEST`.
    async fn retrievers(
        &self,
        q: &SampleQuery,
        project: &str,
        traces: &[&str],
    ) -> Result<Vec<Span>, BackendError> {
        let mut out = Vec::new();
        for chunk in traces.chunks(TRACE_IDS_PER_REQUEST) {
            let mut query: Vec<(&str, String)> =
                chunk.iter().map(|t| ("trace_id", t.to_string())).collect();
            query.push(("span_kind", "RETRIEVER".into()));
            query.push(("limit", self.page_size.to_string()));
            let body = self
                .get(self.url(project, "spans")?, &query, &q.feature, project)
                .await?;
            out.extend(decode_spans(&body)?.data);
        }
        Ok(out)
    }

    async fn fetch(&self, q: &SampleQuery) -> Result<Vec<Sample>, BackendError> {
        let project = self.project(&q.feature);
        let want = q.limit.min(MAX_SAMPLES_PER_WINDOW);
        if want == 0 || q.from >= q.to {
            return Ok(Vec::new());
        }
        let spans = self.spans(q, project, want).await?;
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let annotations = self.annotations(q, project, &spans).await?;
        let mut samples = assemble(&q.feature, &spans, &annotations, &self.attrs);
        // Only when the samples are not retriever spans themselves.
        if self.span_kind.as_deref().is_some_and(|k| k != "RETRIEVER") {
            let traces = traces_without_documents(&spans, &samples);
            if !traces.is_empty() {
                let retrievers = self.retrievers(q, project, &traces).await?;
                attach_documents(&spans, &mut samples, &retrievers);
            }
        }
        Ok(samples)
    }
}

impl SampleSource for Phoenix {
    async fn samples(&mut self, query: &SampleQuery) -> Result<Vec<Sample>, BackendError> {
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
