//! The Langfuse HTTP client: the prompt list (page-numbered, newest versions kept), the
//! version holding the label, and the label moved by a PATCH, read back before it counts.

use super::config::LangfuseConfig;
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::prompt_tags::{PromptNames, TagHistory};
use crate::backend::{BackendError, FeatureFlags, FlagControl, FlagOp};
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Prompts asked for per page of the list.
const PROMPTS_PER_PAGE: usize = 50;

#[derive(Debug, Deserialize)]
struct PromptList {
    data: Vec<PromptMeta>,
    meta: PageMeta,
}

#[derive(Debug, Deserialize)]
struct PromptMeta {
    name: String,
    versions: Vec<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageMeta {
    page: u64,
    total_pages: u64,
}

/// A prompt version as `GET /prompts/{name}` and the PATCH answer it: only what the lever
/// needs.
#[derive(Debug, Deserialize)]
struct PromptVersion {
    name: String,
    version: u64,
    #[serde(default)]
    labels: Vec<String>,
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, BackendError> {
    serde_json::from_slice(body)
        .map_err(|e| BackendError::Malformed(format!("Langfuse {what}: {e}")))
}

/// Langfuse's reason for a refusal: `{"message": …}` (and `error` on some routes), or the
/// start of the body.
fn decode_error(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        ["message", "error"]
            .iter()
            .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_string))
    });
    http::excerpt(&message.unwrap_or_else(|| text.into_owned()))
}

pub struct Langfuse {
    name: String,
    /// `<url>/api/public/v2`.
    base: Url,
    auth: Auth,
    label: String,
    names: PromptNames,
    max_pages: usize,
    max_prompts: usize,
    max_versions: usize,
    timeout: Duration,
    cap: ReplyCap,
    client: http::Client,
    history: TagHistory,
}

impl std::fmt::Debug for Langfuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Langfuse")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Langfuse {
    /// What `new` refuses in the config itself, without reading the secret key.
    pub fn check(cfg: &LangfuseConfig) -> Result<(), String> {
        http::check_url(&cfg.url)?;
        cfg.secret_key
            .check()
            .map_err(|e| format!("secret_key: {e}"))?;
        if cfg.public_key.trim().is_empty() || cfg.public_key.contains(':') {
            return Err("public_key must be the project's public key (pk-lf-…)".into());
        }
        if cfg.label.trim().is_empty() || cfg.label == "latest" {
            return Err(format!(
                "label {:?}: Langfuse manages \"latest\" itself; name the deployment label (production)",
                cfg.label
            ));
        }
        let mut targets: Vec<&String> = cfg.prompts.values().collect();
        targets.sort_unstable();
        if let Some(w) = targets.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "prompts maps two features to prompt {:?}: one prompt's label cannot serve two features' rollbacks",
                w[0]
            ));
        }
        Ok(())
    }

    pub fn new(cfg: &LangfuseConfig, data_dir: &Path) -> Result<Self, String> {
        let name = &cfg.name;
        Self::check(cfg).map_err(|e| format!("{name}: {e}"))?;
        let mut base = http::check_url(cfg.url.trim_end_matches('/'))?;
        base.path_segments_mut()
            .map_err(|()| format!("{name}: {} cannot hold a path", cfg.url))?
            .pop_if_empty()
            .extend(["api", "public", "v2"]);
        let password = cfg
            .secret_key
            .load()
            .map_err(|e| format!("{name}: secret_key: {e}"))?;
        let timeout = cfg.timeout_secs.duration();
        let file = format!("{}.jsonl", crate::private::file_component(name));
        Ok(Langfuse {
            name: name.clone(),
            base,
            auth: Auth::Basic {
                user: cfg.public_key.clone(),
                password,
            },
            label: cfg.label.clone(),
            names: PromptNames::new(&cfg.prompts),
            max_pages: cfg.max_pages as usize,
            max_prompts: cfg.max_prompts as usize,
            max_versions: cfg.max_prompt_versions as usize,
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| format!("{name}: {e}"))?,
            history: TagHistory::new(data_dir.join("prompt-tags").join(file), &cfg.label),
        })
    }

    /// `<base>/<segments>`, each segment percent-encoded: a prompt in a folder
    /// (`team/support-bot`) is one segment, as Langfuse asks.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends and returns the body of a 2xx; anything else says `what` was being done. A 404
    /// is `Rejected` (no such prompt or version: retrying will not help); auth, rate limits
    /// and server failures stay `Http`, which the cockpit offers to retry.
    async fn call(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<Value>,
        what: &str,
    ) -> Result<Vec<u8>, BackendError> {
        let mut req = self
            .auth
            .apply(self.client.request(method, url.as_str()).query(query))
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return http::read_body(resp, self.cap, self.timeout).await;
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let detail = decode_error(&http::read_error_body(resp).await);
        let message = match status {
            401 => format!(
                "{what}: Langfuse refused the key pair (public_key and secret_key of one project?): {detail}"
            ),
            403 => format!("{what}: the keys may not do this: {detail}"),
            404 => {
                return Err(BackendError::Rejected(format!(
                    "{what}: Langfuse has no such prompt or version: {detail}"
                )))
            }
            400 => {
                return Err(BackendError::Rejected(format!(
                    "{what}: Langfuse refused the request: {detail}"
                )))
            }
            429 => format!(
                "{what}: Langfuse rate limit{}: {detail}",
                retry_after.map_or(String::new(), |s| format!(" (retry after {s}s)"))
            ),
            _ => format!("{what}: {detail}"),
        };
        Err(BackendError::Http { status, message })
    }

    /// The prompts and their version numbers, newest pages first, within the page budget.
    async fn list(&self) -> Result<Vec<PromptMeta>, BackendError> {
        let mut out: Vec<PromptMeta> = Vec::new();
        for page in 1..=self.max_pages as u64 {
            let query = [
                ("page", page.to_string()),
                ("limit", PROMPTS_PER_PAGE.to_string()),
            ];
            let body = self
                .call(
                    Method::GET,
                    self.url(&["prompts"]),
                    &query,
                    None,
                    "list prompts",
                )
                .await?;
            let list: PromptList = decode(&body, "prompt list")?;
            out.extend(list.data);
            if list.meta.page >= list.meta.total_pages || out.len() >= self.max_prompts {
                break;
            }
        }
        out.truncate(self.max_prompts);
        Ok(out)
    }

    /// The version holding the label; `None` when none does.
    async fn holder(&self, prompt: &str) -> Result<Option<u64>, BackendError> {
        let what = format!("read label {} of prompt {prompt}", self.label);
        let query = [("label", self.label.clone())];
        match self
            .call(
                Method::GET,
                self.url(&["prompts", prompt]),
                &query,
                None,
                &what,
            )
            .await
        {
            Ok(body) => {
                let v: PromptVersion = decode(&body, "prompt")?;
                if v.name != prompt || !v.labels.contains(&self.label) {
                    return Err(BackendError::Malformed(format!(
                        "Langfuse answered {what} with {} version {} labelled {:?}",
                        v.name, v.version, v.labels
                    )));
                }
                Ok(Some(v.version))
            }
            Err(BackendError::Rejected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read_prompt(
        &mut self,
        meta: PromptMeta,
        now: DateTime<Utc>,
    ) -> Result<FeatureFlags, BackendError> {
        let mut versions = meta.versions;
        versions.sort_unstable();
        versions.dedup();
        let keep = versions.len().saturating_sub(self.max_versions);
        let mut ff = FeatureFlags {
            feature: self.names.feature(&meta.name).to_string(),
            prompt_versions: versions[keep..].iter().map(u64::to_string).collect(),
            prompt_only: true,
            ..FeatureFlags::default()
        };
        if let Some(cur) = self.holder(&meta.name).await?.map(|v| v.to_string()) {
            self.history.notice(&self.name, &meta.name, &cur, now);
            let (lkg, changed_at) = self.history.lineage(&meta.name, &cur);
            for v in [Some(&cur), lkg.as_ref()].into_iter().flatten() {
                if !ff.prompt_versions.contains(v) {
                    ff.prompt_versions.insert(0, v.clone());
                }
            }
            ff.current_prompt = Some(cur);
            ff.last_known_good = lkg;
            ff.prompt_changed_at = changed_at;
        }
        Ok(ff)
    }

    async fn rollback(
        &mut self,
        feature: &str,
        to: &str,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let prompt = self.names.prompt(feature).to_string();
        let label = self.label.clone();
        let Ok(version) = to.parse::<u64>() else {
            return Err(BackendError::Rejected(format!(
                "{to:?} is not a Langfuse prompt version (a number)"
            )));
        };
        self.history.load_or_warn(&self.name);
        let from = self.holder(&prompt).await?;
        if from == Some(version) {
            return Err(BackendError::Rejected(format!(
                "{feature} already runs prompt {to} (Langfuse prompt {prompt}, label {label})"
            )));
        }
        let what = format!("put label {label} on version {to} of prompt {prompt}");
        let body = self
            .call(
                Method::PATCH,
                self.url(&["prompts", &prompt, "versions", to]),
                &[],
                Some(json!({ "newLabels": [label] })),
                &what,
            )
            .await?;
        let echoed: PromptVersion = decode(&body, "label update")?;
        let held = self.holder(&prompt).await?;
        if echoed.version != version || !echoed.labels.contains(&label) || held != Some(version) {
            return Err(BackendError::Malformed(format!(
                "Langfuse accepted {what} but serves {} under it",
                held.map_or("no version".into(), |v| format!("version {v}"))
            )));
        }
        let from = from.map(|v| v.to_string());
        let unrecorded = self
            .history
            .rolled_back(&prompt, from.clone(), to, author, now);
        let from = from.unwrap_or_else(|| "no labelled version".into());
        Ok(format!(
            "{feature} prompt rolled back {from} → {to} (Langfuse prompt {prompt}, label {label}){}",
            unrecorded.unwrap_or_default()
        ))
    }
}

impl FlagControl for Langfuse {
    async fn read(&mut self, now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        self.history.load_or_warn(&self.name);
        let mut out = Vec::new();
        for meta in self.list().await? {
            out.push(self.read_prompt(meta, now).await?);
        }
        Ok(out)
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        match op {
            FlagOp::Rollback {
                feature,
                to_version,
            } => self.rollback(feature, to_version, author, now).await,
            FlagOp::KillSwitch { .. } | FlagOp::SetLever { .. } => {
                Err(BackendError::Rejected(format!(
                    "{} is a Langfuse prompt registry: it has no {} for {}",
                    self.name,
                    op.lever_name(),
                    op.feature()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode_and_errors_read_langfuse_messages() {
        let list: PromptList = decode(
            br#"{"data":[{"name":"support-bot","versions":[1,2,3],"labels":["production","latest"],"tags":[],"lastUpdatedAt":"2026-12-01T00:00:00.000Z","lastConfig":{}}],"meta":{"page":1,"limit":50,"totalItems":1,"totalPages":1}}"#,
            "prompt list",
        )
        .expect("decodes");
        assert_eq!(list.data[0].versions, [1, 2, 3]);
        assert_eq!(list.meta.total_pages, 1);
        let err = decode::<PromptList>(br#"{"data":[{"name":1}]}"#, "prompt list")
            .expect_err("malformed");
        assert!(
            matches!(&err, BackendError::Malformed(m) if m.starts_with("Langfuse prompt list")),
            "{err:?}"
        );
        assert_eq!(
            decode_error(br#"{"message":"Prompt not found: x"}"#),
            "Prompt not found: x"
        );
        assert_eq!(decode_error(b"Bad Gateway"), "Bad Gateway");
    }
}
