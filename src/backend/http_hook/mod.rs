//! A team's own HTTP endpoint as a flag system: the request for each lever (method, URL,
//! headers, JSON body) is a template in config.
//!
//! Templates are filled structurally, never by pasting text into JSON: a body string that is
//! exactly a placeholder becomes a typed value (`"{engage}"` → `true`, `"{segment}"` → `null`
//! for the whole feature), other strings get the values substituted inside them, and URL
//! placeholders are percent-encoded. So a feature or segment name cannot inject JSON or a path.
//!
//! An endpoint cannot be asked what it has done, so the hook reports only the levers this
//! cockpit pulled through it (and the features, versions and lever variants its config
//! declares). A settable lever's current setting is unknown (empty) until the cockpit sets it.

pub mod config;
mod kind;

use super::http;
use super::{BackendError, FeatureFlags, FlagControl, FlagOp};
use crate::config::secret::Secret;
use crate::domain::lever::{Lever, LeverSetting, LeverVariant};
use chrono::{DateTime, SecondsFormat, Utc};
pub use config::{FeatureVariants, HookRequest, HookVariant, HttpHookConfig, PerLever};
pub use kind::Kind;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The values a template can use, by placeholder name.
fn values(op: &FlagOp, author: &str, now: DateTime<Utc>) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        ("author", Value::from(author)),
        ("actor", Value::from(author)),
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
        FlagOp::SetLever {
            feature,
            lever,
            segment,
            variant,
            undo,
        } => {
            v.push(("feature", Value::from(feature.as_str())));
            v.push(("lever", Value::from(lever.key())));
            v.push(("variant", Value::from(variant.as_str())));
            v.push((
                "segment",
                segment.as_deref().map(Value::from).unwrap_or(Value::Null),
            ));
            v.push(("undo", Value::from(*undo)));
            v.push(("action", Value::from(op.name())));
        }
    }
    v
}

/// An error body without the request's secrets: an endpoint that echoes the request back
/// must not put its token in the status line and the audit log. The token's words are
/// redacted on their own too (`Bearer abc…` echoed as `abc…`); words too short to be secret
/// (`Bearer`) are left.
fn redact(body: &str, secrets: &[(String, Secret)]) -> String {
    let mut out = body.to_string();
    for (_, secret) in secrets {
        let token = secret.expose();
        let words = token.split_whitespace().filter(|w| w.len() >= 8);
        for t in std::iter::once(token).chain(words) {
            if !t.is_empty() {
                out = out.replace(t, "[secret]");
            }
        }
    }
    out
}

/// Variants and features declared per lever, past which a config is refused: the choosers
/// list them all.
const MAX_DECLARED: usize = 256;

/// What is wrong with the levers and variants a config declares, every mistake at once,
/// each message naming its key.
fn lever_problems(cfg: &HttpHookConfig) -> Vec<String> {
    let mut out = Vec::new();
    for (lever, _) in cfg.levers.iter() {
        if cfg.variants.get(lever).is_none_or(|v| v.is_empty()) {
            out.push(format!(
                "levers.{0}: no variants declared for any feature (variants.{0})",
                lever.key()
            ));
        }
    }
    for (lever, per_feature) in cfg.variants.iter() {
        let key = lever.key();
        if cfg.levers.get(lever).is_none() {
            out.push(format!(
                "variants.{key}: declared, but there is no levers.{key} request to set them"
            ));
        }
        if per_feature.len() > MAX_DECLARED {
            out.push(format!(
                "variants.{key}: {} features, at most {MAX_DECLARED}",
                per_feature.len()
            ));
        }
        for (feature, list) in per_feature {
            let at = format!("variants.{key}.{feature}");
            if list.is_empty() {
                out.push(format!("{at}: no variants"));
            }
            if list.len() > MAX_DECLARED {
                out.push(format!(
                    "{at}: {} variants, at most {MAX_DECLARED}",
                    list.len()
                ));
            }
            for (i, v) in list.iter().enumerate() {
                if v.name.trim().is_empty() {
                    out.push(format!("{at}: variant {} has an empty name", i + 1));
                } else if list[..i].iter().any(|w| w.name == v.name) {
                    out.push(format!("{at}: variant {:?} is declared twice", v.name));
                }
            }
        }
    }
    out
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
    let urls: Vec<&str> = cfg
        .requests()
        .into_iter()
        .map(|(_, r)| r.url.as_str())
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
    levers: Vec<(Lever, Prepared)>,
    /// Each lever's variants per feature, as declared.
    variants: Vec<(Lever, String, Vec<LeverVariant>)>,
    declared: Vec<String>,
    prompt_versions: Vec<String>,
    segments: Vec<String>,
    /// What this cockpit has done through the hook, per feature.
    pulled: BTreeMap<String, FeatureFlags>,
}

impl HttpHook {
    /// Everything the config itself gets wrong: the declared levers' mistakes all at once,
    /// else what `new` refuses.
    pub fn problems(cfg: &HttpHookConfig) -> Vec<String> {
        let levers = lever_problems(cfg);
        if !levers.is_empty() {
            return levers;
        }
        Self::check(cfg).err().into_iter().collect()
    }

    /// What `new` refuses in the config itself, without reading the secret headers.
    pub fn check(cfg: &HttpHookConfig) -> Result<(), String> {
        let strip =
            |req: Option<&HookRequest>, what: &str| -> Result<Option<HookRequest>, String> {
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
        let l = &cfg.levers;
        let levers = PerLever {
            model: strip(l.model.as_ref(), "levers.model")?,
            config: strip(l.config.as_ref(), "levers.config")?,
            budget: strip(l.budget.as_ref(), "levers.budget")?,
            retrieval: strip(l.retrieval.as_ref(), "levers.retrieval")?,
            fallback: strip(l.fallback.as_ref(), "levers.fallback")?,
        };
        let cfg = HttpHookConfig {
            rollback: strip(cfg.rollback.as_ref(), "rollback")?,
            kill_switch: strip(cfg.kill_switch.as_ref(), "kill_switch")?,
            levers,
            ..cfg.clone()
        };
        Self::new(&cfg).map(drop).map_err(|e| {
            e.strip_prefix(&format!("{}: ", cfg.name))
                .unwrap_or(&e)
                .to_string()
        })
    }

    pub fn new(cfg: &HttpHookConfig) -> Result<Self, String> {
        if cfg.requests().is_empty() {
            return Err(format!(
                "{}: needs a [rollback], [kill_switch] or [levers.<lever>] request",
                cfg.name
            ));
        }
        let problems = lever_problems(cfg);
        if !problems.is_empty() {
            return Err(format!("{}: {}", cfg.name, problems.join("; ")));
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
        let levers = cfg
            .levers
            .iter()
            .map(|(l, r)| Ok((l, prepare(&cfg.name, &format!("levers.{}", l.key()), r)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let variants: Vec<(Lever, String, Vec<LeverVariant>)> = cfg
            .variants
            .iter()
            .flat_map(|(l, per_feature)| {
                per_feature.iter().map(move |(feature, list)| {
                    let list = list
                        .iter()
                        .map(|v| LeverVariant {
                            name: v.name.clone(),
                            value: v.value.clone(),
                        })
                        .collect();
                    (l, feature.clone(), list)
                })
            })
            .collect();
        let mut declared = cfg.features.clone();
        for (_, feature, _) in &variants {
            if !declared.contains(feature) {
                declared.push(feature.clone());
            }
        }
        Ok(HttpHook {
            name: cfg.name.clone(),
            client,
            timeout,
            rollback,
            kill_switch,
            levers,
            variants,
            declared,
            prompt_versions: cfg.prompt_versions.clone(),
            segments: cfg.segments.clone(),
            pulled: BTreeMap::new(),
        })
    }

    fn entry(&mut self, feature: &str) -> &mut FeatureFlags {
        let (versions, segments) = (&self.prompt_versions, &self.segments);
        let levers = self
            .variants
            .iter()
            .filter(|(_, f, _)| f == feature)
            .map(|(lever, _, variants)| LeverSetting {
                lever: *lever,
                flag: format!("{} levers.{}", self.name, lever.key()),
                variants: variants.clone(),
                current: String::new(),
                segments: Vec::new(),
                previous: None,
                changed_at: None,
                changed_by: None,
                segments_unknown: false,
            })
            .collect();
        self.pulled
            .entry(feature.to_string())
            .or_insert_with(|| FeatureFlags {
                feature: feature.to_string(),
                prompt_versions: versions.clone(),
                segments: segments.clone(),
                levers,
                ..FeatureFlags::default()
            })
    }

    /// The declared value of a lever's variant for a feature, or why it cannot be set.
    fn variant_value(&self, lever: Lever, feature: &str, variant: &str) -> Result<Value, String> {
        let (_, _, list) = self
            .variants
            .iter()
            .find(|(l, f, _)| *l == lever && f == feature)
            .ok_or_else(|| {
                format!(
                    "{} declares no {} variants for {feature} (variants.{})",
                    self.name,
                    lever.short(),
                    lever.key()
                )
            })?;
        list.iter()
            .find(|v| v.name == variant)
            .map(|v| v.value.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|v| v.name.as_str()).collect();
                format!(
                    "{feature} has no {} variant {variant:?} in {} (declared: {})",
                    lever.short(),
                    self.name,
                    names.join(", ")
                )
            })
    }

    fn record(&mut self, op: &FlagOp, author: &str, now: DateTime<Utc>) {
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
            FlagOp::SetLever {
                feature,
                lever,
                segment,
                variant,
                ..
            } => {
                let Some(l) = self
                    .entry(feature)
                    .levers
                    .iter_mut()
                    .find(|l| l.lever == *lever)
                else {
                    return;
                };
                match segment {
                    None => {
                        l.previous = Some(std::mem::replace(&mut l.current, variant.clone()))
                            .filter(|p| !p.is_empty());
                    }
                    Some(seg) => {
                        // As flagd records it: a segment's change has no "previous" for the
                        // whole feature to go back to.
                        l.previous = None;
                        l.segments.retain(|(s, _)| s != seg);
                        if *variant != l.current {
                            l.segments.push((seg.clone(), variant.clone()));
                        }
                    }
                }
                l.changed_at = Some(now);
                l.changed_by = Some(author.to_string());
            }
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
            FlagOp::Rollback { .. } => (self.rollback.as_ref(), "prompt rollback"),
            FlagOp::KillSwitch { .. } => (self.kill_switch.as_ref(), "kill switch"),
            FlagOp::SetLever { lever, .. } => (
                self.levers.iter().find(|(l, _)| l == lever).map(|(_, r)| r),
                lever.short(),
            ),
        };
        let Some(req) = req else {
            return Err(BackendError::Rejected(format!(
                "{} has no {what} request configured",
                self.name
            )));
        };
        let mut vals = values(op, author, now);
        if let FlagOp::SetLever {
            feature,
            lever,
            variant,
            ..
        } = op
        {
            let value = self
                .variant_value(*lever, feature, variant)
                .map_err(BackendError::Rejected)?;
            vals.push(("value", value));
        }
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
            let body = redact(&String::from_utf8_lossy(&body), &req.secrets);
            return Err(BackendError::Http {
                status: status.as_u16(),
                message: http::excerpt(&body),
            });
        }
        self.record(op, author, now);
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
