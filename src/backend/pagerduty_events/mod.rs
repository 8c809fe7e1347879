//! PagerDuty Events API v2: pages someone for a detection that has no incident anywhere yet
//! (`/v2/enqueue`, trigger with a dedup key so a second page updates the first), and records
//! levers pulled as change events (`/v2/change/enqueue`) so the PagerDuty timeline shows
//! "support-bot prompt rolled back v14 → v12" next to the alerts it explains.
//!
//! The Events API authenticates with the integration's routing key in the body, not with the
//! REST token; it answers 202 on success and 400 with `errors` for an invalid event.

pub mod config;
mod kind;

use super::http;
use super::{BackendError, PageOp, Pager};
use crate::config::secret::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
pub use config::PagerDutyEventsConfig;
pub use kind::Kind;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// PagerDuty truncates longer summaries; cut them ourselves so the cut is visible ("…").
const MAX_SUMMARY: usize = 1024;
const MAX_DEDUP_KEY: usize = 255;

#[derive(Debug, Default, Deserialize)]
struct Reply {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    dedup_key: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

/// The production decoder of an Events API reply body (fuzzed).
pub fn decode_reply(body: &[u8]) -> Result<(Option<String>, String), String> {
    let r: Reply =
        serde_json::from_slice(body).map_err(|e| format!("not an Events API reply: {e}"))?;
    let mut text = r.message.or(r.status).unwrap_or_default();
    if !r.errors.is_empty() {
        text = format!("{text}: {}", r.errors.join("; "));
    }
    Ok((r.dedup_key, text))
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn details(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<Map<String, Value>>(),
    )
}

/// The request body for one operation, exactly as the Events API documents it.
pub fn body(routing_key: &str, op: &PageOp, now: DateTime<Utc>) -> Value {
    let ts = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    match op {
        PageOp::Trigger {
            dedup_key,
            summary,
            severity,
            source,
            component,
            class,
            details: d,
        } => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": cut(dedup_key, MAX_DEDUP_KEY),
            "client": "oncall-cockpit",
            "payload": {
                "summary": cut(summary, MAX_SUMMARY),
                "source": source,
                "severity": severity.as_str(),
                "timestamp": ts,
                "component": component,
                "class": class,
                "custom_details": details(d),
            }
        }),
        PageOp::Change {
            summary,
            source,
            details: d,
        } => json!({
            "routing_key": routing_key,
            "payload": {
                "summary": cut(summary, MAX_SUMMARY),
                "source": source,
                "timestamp": ts,
                "custom_details": details(d),
            }
        }),
    }
}

pub struct PagerDutyEvents {
    name: String,
    url: String,
    routing_key: Secret,
    client: http::Client,
    timeout: Duration,
    cap: http::ReplyCap,
}

impl PagerDutyEvents {
    /// What `new` refuses in the config itself, without reading the routing key.
    pub fn check(cfg: &PagerDutyEventsConfig) -> Result<(), String> {
        cfg.routing_key
            .check()
            .map_err(|e| format!("routing_key: {e}"))?;
        http::check_url(cfg.url.trim_end_matches('/')).map(drop)
    }

    pub fn new(cfg: &PagerDutyEventsConfig) -> Result<Self, String> {
        Self::check(cfg).map_err(|e| format!("{}: {e}", cfg.name))?;
        let routing_key = cfg
            .routing_key
            .load()
            .map_err(|e| format!("{}: routing key: {e}", cfg.name))?;
        let timeout = cfg.timeout_secs.duration();
        Ok(PagerDutyEvents {
            name: cfg.name.clone(),
            url: cfg.url.trim_end_matches('/').to_string(),
            routing_key,
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| format!("{}: {e}", cfg.name))?,
            timeout,
            cap: http::ReplyCap::mib(cfg.max_reply_mib),
        })
    }
}

impl Pager for PagerDutyEvents {
    async fn send(&mut self, op: &PageOp, now: DateTime<Utc>) -> Result<String, BackendError> {
        let path = match op {
            PageOp::Trigger { .. } => "/v2/enqueue",
            PageOp::Change { .. } => "/v2/change/enqueue",
        };
        let resp = self
            .client
            .post(format!("{}{path}", self.url))
            .json(&body(self.routing_key.expose(), op, now))
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status();
        let bytes = if status.is_success() {
            http::read_body(resp, self.cap, self.timeout).await?
        } else {
            http::read_error_body(resp).await
        };
        let reply = decode_reply(&bytes);
        if !status.is_success() {
            let message = match reply {
                Ok((_, text)) if !text.is_empty() => text,
                _ => http::excerpt(&String::from_utf8_lossy(&bytes)),
            };
            let message = match status.as_u16() {
                // The Events API has no token to expire: a 4xx on the key means it is wrong.
                400 if message.contains("routing") => format!("{message} (check the routing key)"),
                429 => format!("{message} (rate limited; retry in a minute)"),
                _ => message,
            };
            return Err(BackendError::Http {
                status: status.as_u16(),
                message,
            });
        }
        Ok(match op {
            PageOp::Trigger { dedup_key, .. } => {
                let key = reply.ok().and_then(|(k, _)| k).unwrap_or(dedup_key.clone());
                format!("paged via {} (dedup key {key})", self.name)
            }
            PageOp::Change { .. } => format!("change event sent to {}", self.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::PageSeverity;
    use chrono::TimeZone;

    #[test]
    fn trigger_body_follows_the_documented_shape() {
        let op = PageOp::Trigger {
            dedup_key: "cockpit/sim/cost/triage-agent".into(),
            summary: "x".repeat(2000),
            severity: PageSeverity::Critical,
            source: "triage-agent".into(),
            component: "claude-x".into(),
            class: "cost_explosion".into(),
            details: vec![("evidence".into(), "$/min 41x baseline".into())],
        };
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let b = body("k".repeat(32).as_str(), &op, at);
        assert_eq!(b["event_action"], "trigger");
        assert_eq!(b["payload"]["severity"], "critical");
        assert_eq!(b["payload"]["timestamp"], "2026-11-23T02:00:00Z");
        assert_eq!(
            b["payload"]["summary"].as_str().unwrap().chars().count(),
            1024
        );
        assert_eq!(
            b["payload"]["custom_details"]["evidence"],
            "$/min 41x baseline"
        );
    }

    #[test]
    fn replies_decode_with_their_errors() {
        let (key, text) = decode_reply(
            br#"{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}"#,
        )
        .unwrap();
        assert_eq!(key, None);
        assert!(text.contains("summary' is missing"), "{text}");
        assert!(decode_reply(b"<html>").is_err());
    }
}
