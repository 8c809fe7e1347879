//! A contract server for Langfuse's public prompt API (`/api/public/v2`), on 127.0.0.1,
//! holding prompts, their numbered versions and labels. It refuses what Langfuse's public API
//! definition (fern `prompts.yml`, `prompt-version.yml`) and its route handlers refuse:
//! - every request: `Authorization: Basic base64(public_key:secret_key)` of the project, else
//!   401 `{"message": …}`;
//! - `GET /prompts?page=&limit=`: pages numbered from 1, `{"data": [PromptMeta], "meta":
//!   {"page","limit","totalItems","totalPages"}}`;
//! - `GET /prompts/{name}?label=|version=`: the version (label `production` when neither is
//!   given), 404 `{"message": "Prompt not found…"}` when none;
//! - `PATCH /prompts/{name}/versions/{version}` (plural: the handler only routes that),
//!   `Content-Type: application/json`, body exactly `{"newLabels": [string…]}`; `latest` is
//!   Langfuse's own and refused; the labels are added to the version and taken off every
//!   other version of the prompt; unknown prompt or version → 404.
//!
//! Faults queue up for the next requests: a status with a body (and `Retry-After`), a
//! malformed body, or a huge one.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

pub const PUBLIC_KEY: &str = "pk-lf-contract-0123";
pub const SECRET_KEY: &str = "sk-lf-contract-4567";

#[derive(Clone, Debug)]
pub enum Fault {
    Status {
        status: u16,
        body: String,
        retry_after: Option<u64>,
    },
    /// 200 with a body that is not what the route answers.
    Malformed,
    /// 200 with this many bytes of a JSON string.
    Huge(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
pub struct LfState {
    /// Prompt name → its versions' labels, version n at index n-1.
    pub prompts: BTreeMap<String, Vec<Vec<String>>>,
    pub faults: VecDeque<Fault>,
    /// Every request that passed auth, in order.
    pub requests: Vec<Request>,
    /// Requests refused for their auth header.
    pub unauthorized: u32,
}

type Shared = Arc<Mutex<LfState>>;

fn lock(s: &Shared) -> MutexGuard<'_, LfState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct LfServer {
    pub url: String,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LfServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LfServer {
    /// Binds a free port and serves on the current tokio runtime.
    pub async fn start() -> LfServer {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/api/public/v2/prompts", get(list))
            .route(
                "/api/public/v2/prompts/{*rest}",
                get(one).patch(patch_labels),
            )
            .with_state(state.clone());
        let (url, task) = super::serve_http(app).await;
        LfServer { url, state, task }
    }

    pub fn lock(&self) -> MutexGuard<'_, LfState> {
        lock(&self.state)
    }

    /// A prompt with `versions` versions; `labelled` holds `production`.
    pub fn prompt(&self, name: &str, versions: usize, labelled: Option<usize>) {
        let mut all = vec![Vec::new(); versions];
        if let Some(v) = labelled {
            all[v - 1].push("production".to_string());
        }
        if let Some(last) = all.last_mut() {
            last.push("latest".into());
        }
        self.lock().prompts.insert(name.into(), all);
    }

    /// The version of `name` holding `label`, as the server holds it.
    pub fn labelled(&self, name: &str, label: &str) -> Option<usize> {
        self.lock()
            .prompts
            .get(name)?
            .iter()
            .position(|l| l.iter().any(|x| x == label))
            .map(|i| i + 1)
    }

    pub fn fault(&self, f: Fault) {
        self.lock().faults.push_back(f);
    }
}

fn message(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({ "message": msg }))).into_response()
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Auth, the request log and the fault queue, in the order Langfuse would meet them.
fn gate(
    s: &Shared,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: Option<Value>,
) -> Option<Response> {
    let expected = format!(
        "Basic {}",
        base64(format!("{PUBLIC_KEY}:{SECRET_KEY}").as_bytes())
    );
    let mut st = lock(s);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        st.unauthorized += 1;
        return Some(message(
            StatusCode::UNAUTHORIZED,
            "Invalid authorization header",
        ));
    }
    st.requests.push(Request {
        method: method.to_string(),
        path: path.to_string(),
        body,
    });
    match st.faults.pop_front()? {
        Fault::Status {
            status,
            body,
            retry_after,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (code, body).into_response();
            if let Some(secs) = retry_after {
                if let Ok(v) = secs.to_string().parse() {
                    resp.headers_mut().insert("retry-after", v);
                }
            }
            Some(resp)
        }
        Fault::Malformed => Some((StatusCode::OK, "{\"data\": [{\"name\": 7").into_response()),
        Fault::Huge(n) => Some((StatusCode::OK, format!("\"{}\"", "x".repeat(n))).into_response()),
    }
}

fn version_json(name: &str, version: usize, labels: &[String]) -> Value {
    json!({
        "id": format!("{name}-{version}"),
        "name": name,
        "version": version,
        "type": "text",
        "prompt": format!("You are {name}, version {version}."),
        "config": {},
        "labels": labels,
        "tags": [],
        "commitMessage": null,
    })
}

async fn list(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = gate(&s, &headers, &Method::GET, "/api/public/v2/prompts", None) {
        return r;
    }
    let page: usize = match q.get("page").map(|p| p.parse()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return message(StatusCode::BAD_REQUEST, "page must be a positive integer"),
    };
    let limit: usize = match q.get("limit").map(|p| p.parse()) {
        None => 50,
        Some(Ok(l)) if l >= 1 => l,
        _ => return message(StatusCode::BAD_REQUEST, "limit must be a positive integer"),
    };
    let st = lock(&s);
    let all: Vec<Value> = st
        .prompts
        .iter()
        .map(|(name, versions)| {
            let mut labels: Vec<&String> = versions.iter().flatten().collect();
            labels.sort();
            labels.dedup();
            json!({
                "name": name,
                "versions": (1..=versions.len()).collect::<Vec<_>>(),
                "labels": labels,
                "tags": [],
                "lastUpdatedAt": "2026-12-01T00:00:00.000Z",
                "lastConfig": {},
            })
        })
        .collect();
    let total = all.len();
    let data: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    axum::Json(json!({
        "data": data,
        "meta": { "page": page, "limit": limit, "totalItems": total, "totalPages": total.div_ceil(limit) },
    }))
    .into_response()
}

async fn one(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(rest): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = format!("/api/public/v2/prompts/{rest}");
    if let Some(r) = gate(&s, &headers, &Method::GET, &path, None) {
        return r;
    }
    let st = lock(&s);
    let Some(versions) = st.prompts.get(&rest) else {
        return message(StatusCode::NOT_FOUND, &format!("Prompt not found: {rest}"));
    };
    let found = match (q.get("version"), q.get("label")) {
        (Some(v), _) => v
            .parse::<usize>()
            .ok()
            .filter(|v| *v >= 1 && *v <= versions.len()),
        (None, label) => {
            let label = label.map_or("production", String::as_str);
            versions
                .iter()
                .position(|l| l.iter().any(|x| x == label))
                .map(|i| i + 1)
        }
    };
    match found {
        Some(v) => axum::Json(version_json(&rest, v, &versions[v - 1])).into_response(),
        None => message(StatusCode::NOT_FOUND, &format!("Prompt not found: {rest}")),
    }
}

async fn patch_labels(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(rest): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/public/v2/prompts/{rest}");
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if let Some(r) = gate(&s, &headers, &Method::PATCH, &path, parsed.clone()) {
        return r;
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return message(
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let Some((name, version)) = rest
        .rsplit_once('/')
        .and_then(|(head, v)| Some((head.strip_suffix("/versions")?, v)))
    else {
        return message(StatusCode::NOT_FOUND, "no such route");
    };
    let labels: Option<Vec<String>> = parsed.as_ref().and_then(|b| {
        let obj = b.as_object().filter(|o| o.len() == 1)?;
        obj.get("newLabels")?
            .as_array()?
            .iter()
            .map(|l| l.as_str().map(str::to_string))
            .collect()
    });
    let Some(labels) = labels else {
        return message(
            StatusCode::BAD_REQUEST,
            "Invalid request data: body must be {\"newLabels\": [string]}",
        );
    };
    if labels.iter().any(|l| l == "latest") {
        return message(StatusCode::BAD_REQUEST, "The 'latest' label is reserved");
    }
    let mut st = lock(&s);
    let Some(versions) = st.prompts.get_mut(name) else {
        return message(StatusCode::NOT_FOUND, &format!("Prompt not found: {name}"));
    };
    let Some(v) = version
        .parse::<usize>()
        .ok()
        .filter(|v| *v >= 1 && *v <= versions.len())
    else {
        return message(StatusCode::NOT_FOUND, &format!("Prompt not found: {name}"));
    };
    for (i, held) in versions.iter_mut().enumerate() {
        if i + 1 != v {
            held.retain(|l| !labels.contains(l));
        }
    }
    for l in labels {
        if !versions[v - 1].contains(&l) {
            versions[v - 1].push(l);
        }
    }
    axum::Json(version_json(name, v, &versions[v - 1])).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(super::base64(b"foob"), "Zm9vYg==");
    }
}
