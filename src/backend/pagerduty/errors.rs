//! PagerDuty's refusals as the cockpit's errors: rate limits (when to try again) and
//! error bodies (conflicts in PagerDuty's own words).

use crate::backend::http;
use crate::backend::BackendError;
use crate::domain::SafeText;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// Backoff after a 429 that names no reset time: PagerDuty's limits are per minute.
const DEFAULT_BACKOFF_SECS: u64 = 60;
/// Longest backoff a 429 can impose. PagerDuty's windows are a minute; a reset further away is
/// a broken header, and honouring it would silence the source for good (or overflow the clock).
const MAX_BACKOFF_SECS: u64 = 3600;

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

pub(super) fn rate_limited(secs: u64) -> BackendError {
    BackendError::Http {
        status: 429,
        message: format!("rate limited; retry in {secs}s"),
    }
}

/// Seconds until PagerDuty accepts requests again: the later of `ratelimit-reset` and
/// `Retry-After` (both in seconds), at least one and at most `MAX_BACKOFF_SECS`.
pub fn reset_secs(headers: &HeaderMap) -> u64 {
    let secs = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match (secs("ratelimit-reset"), secs("retry-after")) {
        (None, None) => DEFAULT_BACKOFF_SECS,
        (a, b) => a
            .max(b)
            .unwrap_or(DEFAULT_BACKOFF_SECS)
            .clamp(1, MAX_BACKOFF_SECS),
    }
}

/// PagerDuty's error shape `{"error":{"message","code","errors":[…]}}`, or a body excerpt.
fn error_texts(body: &[u8]) -> (String, Vec<String>) {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => (
            SafeText::new(env.error.message.as_deref().unwrap_or("")).to_string(),
            env.error
                .errors
                .iter()
                .map(|e| SafeText::new(e).to_string())
                .collect(),
        ),
        Err(_) => (
            SafeText::new(&http::excerpt(&String::from_utf8_lossy(body))).to_string(),
            Vec::new(),
        ),
    }
}

/// A non-2xx answer (other than 429) as the error the cockpit shows: conflicts become
/// `Rejected` with PagerDuty's own words, the rest `Http` with its message.
pub fn map_error(status: u16, body: &[u8], incident: Option<&str>) -> BackendError {
    let (message, errors) = error_texts(body);
    let detail = std::iter::once(message.clone())
        .chain(errors.iter().cloned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let conflict = errors
        .iter()
        .chain(std::iter::once(&message))
        .find(|s| s.to_lowercase().contains("already"));
    match (status, incident, conflict) {
        (401, ..) => BackendError::Http {
            status,
            message: format!("invalid API token: expired or revoked? (PagerDuty: {detail})"),
        },
        (403, ..) => BackendError::Http {
            status,
            message: format!("forbidden: the token may not do this ({detail})"),
        },
        (404, Some(id), _) => BackendError::Rejected(format!("no incident {id}")),
        (400 | 409 | 422, _, Some(text)) => BackendError::Rejected(text.clone()),
        _ => BackendError::Http {
            status,
            message: detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(reset_secs(&h), DEFAULT_BACKOFF_SECS);
        h.insert("ratelimit-reset", HeaderValue::from_static("2"));
        assert_eq!(reset_secs(&h), 2);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(reset_secs(&h), 7);
    }
}
