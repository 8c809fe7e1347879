//! `GET /incidents/{id}/related_change_events` of the PagerDuty contract server, in its own
//! file so the endpoints it adds stay apart from the incident ones. As the public API
//! reference documents it: the common headers (`gate`), one optional `limit` (1–100, "the
//! number of results per page"; the endpoint has no offset), an unknown incident → 404, and
//! `{"change_events":[…]}` with each event's `correlation_reason`.

use super::{gate, invalid, lock, not_found, pd_error, ts, Shared};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// A change event PagerDuty correlated with an incident.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    pub summary: String,
    pub at: DateTime<Utc>,
    pub source: String,
    /// `recent_service_change`, `related_service_change` or `intelligent`.
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct RelatedChanges {
    /// Events per incident id.
    pub events: std::collections::HashMap<String, Vec<ChangeEvent>>,
    /// (incident id, query pairs) of each request that passed the gate.
    pub queries: Vec<(String, Vec<(String, String)>)>,
    /// Answer 500 to every request.
    pub fail: bool,
}

pub(super) async fn related_change_events(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&state, &headers, false).await {
        return r;
    }
    let mut s = lock(&state);
    s.changes.queries.push((id.clone(), q.clone()));
    let mut limit = 25usize;
    for (k, v) in &q {
        if k == "limit" {
            match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => return invalid(&["limit must be between 1 and 100"]),
            }
        }
    }
    if s.changes.fail {
        return pd_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2000,
            "Internal Server Error",
            &[],
        );
    }
    if !s.incidents.iter().any(|i| i.id == id) {
        return not_found();
    }
    let events: Vec<Value> = s
        .changes
        .events
        .get(&id)
        .into_iter()
        .flatten()
        .take(limit)
        .enumerate()
        .map(|(n, e)| {
            json!({
                "id": format!("PCE{n}{id}"),
                "type": "change_event",
                "summary": e.summary,
                "timestamp": ts(e.at),
                "source": e.source,
                "services": [{ "id": "PSVC01", "type": "service_reference" }],
                "integration": { "id": "PINT01", "type": "inbound_integration_reference" },
                "custom_details": {},
                "links": [],
                "correlation_reason": { "reason": e.reason },
            })
        })
        .collect();
    (StatusCode::OK, Json(json!({ "change_events": events }))).into_response()
}
