//! Unleash admin API wire types and their decoding: what the replies look like, read
//! leniently (`null` as empty) and bounded by the caller.

use crate::backend::http;
use crate::backend::BackendError;
use crate::domain::SafeText;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// `null` where a list or object is expected decodes as empty, as Unleash sends both.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// One flag of `GET /api/admin/projects/{project}/features`.
#[derive(Clone, Debug, Deserialize)]
pub struct FlagSummary {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub archived: bool,
}

#[derive(Deserialize)]
struct FlagList {
    features: Vec<FlagSummary>,
}

/// `GET /api/admin/projects/{project}/features/{flag}`.
#[derive(Clone, Debug, Deserialize)]
pub struct FlagDetail {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub environments: Vec<FlagEnvironment>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FlagEnvironment {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub strategies: Vec<Strategy>,
}

/// A strategy as Unleash returns it. Constraints, parameters, variants and segments stay raw
/// JSON so that an update sends back everything the adapter does not itself change.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Strategy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub disabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub constraints: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: serde_json::Map<String, Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub segments: Vec<Value>,
    #[serde(default, rename = "sortOrder")]
    pub sort_order: Option<f64>,
}

/// One event of `GET /api/admin/search/events`.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
    /// Who made the change, for the change timeline.
    #[serde(default, rename = "createdBy")]
    pub created_by: Option<String>,
    /// The flag an event of a project's log is about.
    #[serde(default, rename = "featureName")]
    pub feature_name: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default, rename = "preData")]
    pub pre_data: Option<Value>,
}

#[derive(Deserialize)]
struct EventPage {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct ContextField {
    #[serde(default, rename = "legalValues", deserialize_with = "nullable")]
    legal_values: Vec<LegalValue>,
}

#[derive(Deserialize)]
struct LegalValue {
    value: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

fn malformed(what: &str, e: serde_json::Error) -> BackendError {
    BackendError::Malformed(format!("{what}: {e}"))
}

pub fn decode_flag_list(body: &[u8]) -> Result<Vec<FlagSummary>, BackendError> {
    serde_json::from_slice::<FlagList>(body)
        .map(|l| l.features)
        .map_err(|e| malformed("flag list", e))
}

pub fn decode_flag(body: &[u8]) -> Result<FlagDetail, BackendError> {
    serde_json::from_slice(body).map_err(|e| malformed("flag", e))
}

/// The strategy echoed by a create or update.
pub fn decode_strategy(body: &[u8]) -> Result<Strategy, BackendError> {
    serde_json::from_slice(body).map_err(|e| malformed("strategy", e))
}

pub fn decode_events(body: &[u8]) -> Result<Vec<Event>, BackendError> {
    serde_json::from_slice::<EventPage>(body)
        .map(|p| p.events)
        .map_err(|e| malformed("event log", e))
}

/// The legal values of a context field (`GET /api/admin/context/{field}`).
pub fn decode_context_field(body: &[u8]) -> Result<Vec<String>, BackendError> {
    serde_json::from_slice::<ContextField>(body)
        .map(|c| c.legal_values.into_iter().map(|v| v.value).collect())
        .map_err(|e| malformed("context field", e))
}

/// Unleash's error text (`{"message", "details":[{"message"}]}`), or a body excerpt; inert,
/// like every error text bound for the footer (PagerDuty's are made so the same way).
pub fn decode_error(body: &[u8]) -> String {
    SafeText::new(&error_text(body)).to_string()
}

fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => {
            let mut parts: Vec<String> = e.message.into_iter().collect();
            for d in e.details.into_iter().filter_map(|d| d.message) {
                if !parts.contains(&d) {
                    parts.push(d);
                }
            }
            http::excerpt(&parts.join(": "))
        }
        Err(_) => http::excerpt(&String::from_utf8_lossy(body)),
    }
}

pub(super) fn sorted_strategies(env: &FlagEnvironment) -> Vec<&Strategy> {
    let mut all: Vec<&Strategy> = env.strategies.iter().collect();
    all.sort_by(|a, b| {
        a.sort_order
            .unwrap_or(0.0)
            .total_cmp(&b.sort_order.unwrap_or(0.0))
    });
    all
}

pub(super) fn strategy_body(st: &Strategy) -> Value {
    json!({
        "name": st.name,
        "title": st.title,
        "disabled": st.disabled,
        "constraints": st.constraints,
        "parameters": st.parameters,
        "variants": st.variants,
        "segments": st.segments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_survive_odd_json() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{}",
            b"{\"features\":null}",
            b"{\"features\":[{\"name\":1}]}",
            b"{\"name\":\"f\",\"environments\":[{\"name\":\"p\",\"strategies\":[{\"id\":null}]}]}",
            b"{\"events\":[{\"type\":5}]}",
            b"\xff\xfe",
        ] {
            let _ = decode_flag_list(body);
            let _ = decode_flag(body);
            let _ = decode_strategy(body);
            let _ = decode_events(body);
            let _ = decode_context_field(body);
            let _ = decode_error(body);
        }
        let flag = decode_flag(
            br#"{"name":"f","environments":[{"name":"production","enabled":null,"strategies":[
                {"id":"s","name":"flexibleRollout","constraints":null,"variants":null,"segments":null,
                 "parameters":null,"disabled":null}]}]}"#,
        )
        .expect("nulls decode as empty");
        assert!(!flag.environments[0].enabled);
        assert!(flag.environments[0].strategies[0].constraints.is_empty());
        assert_eq!(
            decode_context_field(br#"{"name":"segment","legalValues":[{"value":"eu"},{"value":"us","description":"x"}]}"#),
            Ok(vec!["eu".to_string(), "us".to_string()])
        );
        assert_eq!(
            decode_error(br#"{"name":"NotFoundError","message":"gone","details":[{"message":"gone"},{"message":"really"}]}"#),
            "gone: really"
        );
        assert!(
            decode_flag_list(b"{}").is_err(),
            "a list without `features` is not empty"
        );
    }
}
