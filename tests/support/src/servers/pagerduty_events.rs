//! A contract server for PagerDuty's Events API v2 (`events.pagerduty.com`), on 127.0.0.1.
//! It accepts what the public docs accept and answers the way they document:
//! - `POST /v2/enqueue`: JSON body; `routing_key` of 32 characters; `event_action` one of
//!   trigger/acknowledge/resolve; `dedup_key` at most 255 characters and required unless
//!   triggering; a trigger's `payload` needs `summary` (1–1024 characters), `source` and a
//!   `severity` of critical/error/warning/info; `timestamp`, when given, is ISO 8601;
//!   `custom_details`, when given, is an object. 202 `{"status":"success","message":"Event
//!   processed","dedup_key"}`; an invalid event is 400 `{"status":"invalid event","message":
//!   "Event object is invalid","errors":[…]}`.
//! - `POST /v2/change/enqueue`: `routing_key` as above, `payload.summary` 1–1024 characters,
//!   optional ISO 8601 `payload.timestamp`. 202 `{"status":"success","message":"Change event
//!   processed"}`.
//!
//! Switches: 500 for the next N requests, 429 (throttle event) for the next N.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::DateTime;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};

/// Integration keys are 32 characters.
pub const ROUTING_KEY: &str = "R0123456789abcdef0123456789abcde";

#[derive(Default)]
pub struct EventsState {
    /// Accepted trigger/ack/resolve events, in order.
    pub events: Vec<Value>,
    pub changes: Vec<Value>,
    pub fail_next: u32,
    pub throttle_next: u32,
}

impl EventsState {
    /// Distinct alerts PagerDuty would hold: one per dedup key, in the order first seen
    /// (events for one alert need not be neighbours).
    pub fn dedup_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for key in self.events.iter().filter_map(|e| e["dedup_key"].as_str()) {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        }
        keys
    }
}

type Shared = Arc<Mutex<EventsState>>;

fn lock(s: &Shared) -> MutexGuard<'_, EventsState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct EventsServer {
    pub url: String,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EventsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventsServer {
    pub async fn start() -> EventsServer {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/v2/enqueue", post(enqueue))
            .route("/v2/change/enqueue", post(change))
            .with_state(state.clone());
        let (url, task) = super::serve_http(app).await;
        EventsServer { url, state, task }
    }

    pub fn lock(&self) -> MutexGuard<'_, EventsState> {
        lock(&self.state)
    }
}

fn invalid(errors: Vec<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors})),
    )
        .into_response()
}

/// Faults first, then the JSON body, or the response that refuses the request.
fn gate(state: &Shared, headers: &HeaderMap, body: &str) -> Result<Value, Box<Response>> {
    {
        let mut s = lock(state);
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Err(Box::new(
                (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
            ));
        }
        if s.throttle_next > 0 {
            s.throttle_next -= 1;
            return Err(Box::new((
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."})),
            )
                .into_response()));
        }
    }
    let json_ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_ct {
        return Err(Box::new(invalid(vec![
            "Content-Type must be application/json".into(),
        ])));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|_| Box::new(invalid(vec!["Request body is not valid JSON".into()])))?;
    let mut errors = Vec::new();
    match v["routing_key"].as_str() {
        Some(k) if k.len() == 32 => {
            if k != ROUTING_KEY {
                // PagerDuty accepts the shape and drops events for unknown integrations; the
                // contract server refuses so a test can see a wrong key.
                errors.push("Unknown routing_key".to_string());
            }
        }
        Some(_) => errors
            .push("Length of 'routing_key' is incorrect (should be 32 characters)".to_string()),
        None => errors.push("'routing_key' is missing or blank".to_string()),
    }
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(Box::new(invalid(errors)))
    }
}

fn check_summary(p: &Value, errors: &mut Vec<String>) {
    match p["summary"].as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
        Some(s) if !s.is_empty() => errors.push("'payload.summary' is too long".into()),
        _ => errors.push("'payload.summary' is missing or blank".into()),
    }
    if let Some(t) = p.get("timestamp") {
        let ok = t
            .as_str()
            .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok());
        if !ok {
            errors.push("'payload.timestamp' is not ISO 8601".into());
        }
    }
    if let Some(d) = p.get("custom_details") {
        if !d.is_object() {
            errors.push("'payload.custom_details' must be an object".into());
        }
    }
}

async fn enqueue(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let v = match gate(&state, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut errors = Vec::new();
    let action = v["event_action"].as_str().unwrap_or("");
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        errors.push("'event_action' is invalid (must be trigger, acknowledge or resolve)".into());
    }
    let dedup = v["dedup_key"].as_str();
    if dedup.is_some_and(|k| k.len() > 255) {
        errors.push("'dedup_key' is too long (max 255)".into());
    }
    if action != "trigger" && dedup.is_none() {
        errors.push("'dedup_key' is required for acknowledge and resolve".into());
    }
    if action == "trigger" {
        let p = &v["payload"];
        check_summary(p, &mut errors);
        if p["source"].as_str().is_none_or(str::is_empty) {
            errors.push("'payload.source' is missing or blank".into());
        }
        let sev = p["severity"].as_str().unwrap_or("");
        if !["critical", "error", "warning", "info"].contains(&sev) {
            errors.push("'payload.severity' is invalid".into());
        }
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let key = dedup.map(str::to_string).unwrap_or_else(|| {
        // PagerDuty makes one up when a trigger has none.
        format!("srv-{}", lock(&state).events.len())
    });
    let mut stored = v.clone();
    stored["dedup_key"] = json!(key);
    lock(&state).events.push(stored);
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "message": "Event processed", "dedup_key": key})),
    )
        .into_response()
}

async fn change(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let v = match gate(&state, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut errors = Vec::new();
    check_summary(&v["payload"], &mut errors);
    if !errors.is_empty() {
        return invalid(errors);
    }
    lock(&state).changes.push(v);
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "message": "Change event processed"})),
    )
        .into_response()
}
