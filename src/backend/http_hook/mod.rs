//! A team's own HTTP endpoint as a flag system: the request for each lever (method, URL,
//! headers, JSON body) is a template in config.
//!
//! Templates are filled structurally, never by pasting text into JSON: a body string that is
//! exactly a placeholder becomes a typed value (`"{engage}"` → `true`, `"{segment}"` → `null`
//! for the whole feature), other strings get the values substituted inside them, and URL
//! placeholders are percent-encoded. So a feature or segment name cannot inject JSON or a path.
//!
//! An endpoint cannot be asked what it has done, so the hook reports only the levers this
//! cockpit pulled through it (and the features and versions its config declares).

pub mod config;
mod kind;

use super::http;
use super::{BackendError, FeatureFlags, FlagControl, FlagOp};
use crate::config::secret::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
pub use config::{HookRequest, HttpHookConfig};
pub use kind::Kind;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The values a template can use, by placeholder name.
fn values(op: &FlagOp, author: &str, now: DateTime<Utc>) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        ("author", Value::from(author)),
        (
            "at",
            Value::from(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        ),
    ];
    match op {
        FlagOp::Rollback {
            feature,
            to_version,
        } => {
            v.push(("feature", Value::from(feature.as_str())));
            v.push(("to_version", Value::from(to_version.as_str())));
            v.push(("action", Value::from("rollback")));
        }
        FlagOp::KillSwitch {
            feature,
            segment,
            engage,
        } => {
            v.push(("feature", Value::from(feature.as_str())));
            v.push((
                "segment",
                segment.as_deref().map(Value::from).unwrap_or(Value::Null),
            ));
            v.push(("engage", Value::from(*engage)));
            v.push((
                "action",
                Value::from(if *engage { "engage" } else { "release" }),
            ));
        }
        FlagOp::SetLever { feature, .. } => {
            v.push(("feature", Value::from(feature.as_str())));
        }
    }
    v
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn fill_text(template: &str, vals: &[(&str, Value)], encode: bool) -> String {
    let mut out = template.to_string();
    for (name, v) in vals {
        let text = as_text(v);
        let text = if encode { percent_encode(&text) } else { text };
        out = out.replace(&format!("{{{name}}}"), &text);
    }
    out
}

/// Fills a JSON body template; see the module comment for the rules.
pub fn fill_body(template: &Value, vals: &[(&str, Value)]) -> Value {
    match template {
        Value::String(s) => {
            let exact = vals.iter().find(|(name, _)| {
                s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) == Some(name)
            });
            match exact {
                Some((_, v)) => v.clone(),
                None => Value::String(fill_text(s, vals, false)),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| fill_body(i, vals)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_body(v, vals)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// RFC 3986 unreserved characters pass; everything else, `/` included, is encoded so a value
/// stays one path segment or query value.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Prepared {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    secrets: Vec<(String, Secret)>,
    body: Option<Value>,
}

fn prepare(name: &str, what: &str, req: &HookRequest) -> Result<Prepared, String> {
    let method = Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("{name}: {what}: bad HTTP method {:?}", req.method))?;
    let mut secrets = Vec::new();
    for (header, spec) in &req.secret_headers {
        let secret = spec
            .load()
            .map_err(|e| format!("{name}: {what} header {header}: {e}"))?;
        secrets.push((header.clone(), secret));
    }
    Ok(Prepared {
        method,
        url: req.url.clone(),
        headers: req
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        secrets,
        body: req.body.clone(),
    })
}

/// The url whose host `tls.server_name` stands in for: every request's url must name that
/// one host, written out (a placeholder there could send the renamed request anywhere).
fn renamed_url(cfg: &HttpHookConfig) -> Result<String, String> {
    let urls: Vec<&str> = [&cfg.rollback, &cfg.kill_switch]
        .into_iter()
        .flatten()
        .map(|r| r.url.as_str())
        .collect();
    let Some(first) = urls.first() else {
        return Ok(String::new());
    };
    if cfg.tls.as_ref().is_some_and(|t| t.server_name.is_some()) {
        let host = |url: &str| {
            reqwest::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        };
        let hosts: Vec<Option<String>> = urls.iter().map(|u| host(u)).collect();
        if hosts.iter().any(Option::is_none) || hosts.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "{}: tls.server_name needs every request url to name one host, written out",
                cfg.name
            ));
        }
    }
    Ok(first.to_string())
}

pub struct HttpHook {
    name: String,
    client: http::Client,
    timeout: Duration,
    rollback: Option<Prepared>,
    kill_switch: Option<Prepared>,
    declared: Vec<String>,
    prompt_versions: Vec<String>,
    segments: Vec<String>,
    /// What this cockpit has done through the hook, per feature.
    pulled: BTreeMap<String, FeatureFlags>,
}

impl HttpHook {
    /// What `new` refuses in the config itself, without reading the secret headers.
    pub fn check(cfg: &HttpHookConfig) -> Result<(), String> {
        let strip =
            |req: &Option<HookRequest>, what: &str| -> Result<Option<HookRequest>, String> {
                let Some(req) = req else { return Ok(None) };
                for (header, spec) in &req.secret_headers {
                    spec.check()
                        .map_err(|e| format!("{what}.secret_headers.{header}: {e}"))?;
                }
                Ok(Some(HookRequest {
                    secret_headers: Default::default(),
                    ..req.clone()
                }))
            };
        let cfg = HttpHookConfig {
            rollback: strip(&cfg.rollback, "rollback")?,
            kill_switch: strip(&cfg.kill_switch, "kill_switch")?,
            ..cfg.clone()
        };
        Self::new(&cfg).map(drop).map_err(|e| {
            e.strip_prefix(&format!("{}: ", cfg.name))
                .unwrap_or(&e)
                .to_string()
        })
    }

    pub fn new(cfg: &HttpHookConfig) -> Result<Self, String> {
        if cfg.rollback.is_none() && cfg.kill_switch.is_none() {
            return Err(format!(
                "{}: needs a [rollback] or [kill_switch] request",
                cfg.name
            ));
        }
        let timeout = cfg.timeout_secs.duration();
        let client = http::Client::new(timeout, cfg.tls.as_ref(), &renamed_url(cfg)?)
            .map_err(|e| format!("{}: {e}", cfg.name))?;
        let rollback = cfg
            .rollback
            .as_ref()
            .map(|r| prepare(&cfg.name, "rollback", r))
            .transpose()?;
        let kill_switch = cfg
            .kill_switch
            .as_ref()
            .map(|r| prepare(&cfg.name, "kill_switch", r))
            .transpose()?;
        Ok(HttpHook {
            name: cfg.name.clone(),
            client,
            timeout,
            rollback,
            kill_switch,
            declared: cfg.features.clone(),
            prompt_versions: cfg.prompt_versions.clone(),
            segments: cfg.segments.clone(),
            pulled: BTreeMap::new(),
        })
    }

    fn entry(&mut self, feature: &str) -> &mut FeatureFlags {
        let (versions, segments) = (&self.prompt_versions, &self.segments);
        self.pulled
            .entry(feature.to_string())
            .or_insert_with(|| FeatureFlags {
                feature: feature.to_string(),
                prompt_versions: versions.clone(),
                segments: segments.clone(),
                ..FeatureFlags::default()
            })
    }

    fn record(&mut self, op: &FlagOp, now: DateTime<Utc>) {
        match op {
            FlagOp::Rollback {
                feature,
                to_version,
            } => {
                let e = self.entry(feature);
                e.last_known_good = None;
                e.current_prompt = Some(to_version.clone());
                e.prompt_changed_at = Some(now);
            }
            FlagOp::KillSwitch {
                feature,
                segment,
                engage,
            } => {
                let scope = segment.clone().unwrap_or_else(|| "*".into());
                let e = self.entry(feature);
                e.killed.retain(|k| *k != scope);
                if *engage {
                    e.killed.push(scope);
                }
            }
            FlagOp::SetLever { .. } => {}
        }
    }
}

impl FlagControl for HttpHook {
    async fn read(&mut self, _now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        for f in self.declared.clone() {
            self.entry(&f);
        }
        Ok(self.pulled.values().cloned().collect())
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let (req, what) = match op {
            FlagOp::Rollback { .. } => (&self.rollback, "prompt rollback"),
            FlagOp::KillSwitch { .. } => (&self.kill_switch, "kill switch"),
            FlagOp::SetLever { lever, .. } => (&None, lever.short()),
        };
        let Some(req) = req else {
            return Err(BackendError::Rejected(format!(
                "{} has no {what} request configured",
                self.name
            )));
        };
        let vals = values(op, author, now);
        let url = fill_text(&req.url, &vals, true);
        let mut builder = self.client.request(req.method.clone(), &url);
        for (k, v) in &req.headers {
            builder = builder.header(k, fill_text(v, &vals, false));
        }
        for (k, s) in &req.secrets {
            builder = builder.header(k, s.expose());
        }
        if let Some(body) = &req.body {
            builder = builder.json(&fill_body(body, &vals));
        }
        let resp = builder
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status();
        if !status.is_success() {
            let body = http::read_error_body(resp).await;
            return Err(BackendError::Http {
                status: status.as_u16(),
                message: http::excerpt(&String::from_utf8_lossy(&body)),
            });
        }
        self.record(op, now);
        let done = match op {
            FlagOp::Rollback {
                feature,
                to_version,
            } => format!("{feature} prompt set to {to_version}"),
            FlagOp::KillSwitch {
                feature,
                segment,
                engage,
            } => format!(
                "kill switch {} for {feature}{}",
                if *engage { "engaged" } else { "released" },
                segment
                    .as_deref()
                    .map(|s| format!(" segment {s}"))
                    .unwrap_or_else(|| " (whole feature)".into())
            ),
            FlagOp::SetLever { .. } => op.target(),
        };
        Ok(format!(
            "{done} via {} (HTTP {})",
            self.name,
            status.as_u16()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn kill(segment: Option<&str>) -> Vec<(&'static str, Value)> {
        let op = FlagOp::KillSwitch {
            feature: "support-bot".into(),
            segment: segment.map(str::to_string),
            engage: true,
        };
        values(
            &op,
            "ana",
            Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
        )
    }

    #[test]
    fn exact_placeholders_become_typed_values() {
        let t = json!({"flag": "{feature}", "on": "{engage}", "segment": "{segment}",
                       "reason": "kill {feature} by {author}", "tags": ["{action}"], "n": 3});
        assert_eq!(
            fill_body(&t, &kill(None)),
            json!({"flag": "support-bot", "on": true, "segment": null,
                   "reason": "kill support-bot by ana", "tags": ["engage"], "n": 3})
        );
    }

    #[test]
    fn names_cannot_inject_json_or_paths() {
        let vals = kill(Some("free\",\"admin\":true/../x"));
        let body = fill_body(&json!({"s": "{segment}", "msg": "seg {segment}"}), &vals);
        assert_eq!(body["s"], "free\",\"admin\":true/../x");
        assert!(body.get("admin").is_none());
        let url = fill_text("https://ops/f/{feature}/{segment}", &vals, true);
        assert_eq!(
            url,
            "https://ops/f/support-bot/free%22%2C%22admin%22%3Atrue%2F..%2Fx"
        );
    }
}
