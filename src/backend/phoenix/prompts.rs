//! Phoenix's prompt registry as the prompt lever: the version holding the tag (`production`
//! by default) is the one served, and a rollback moves the tag to another version of the same
//! prompt (`POST /v1/prompt_versions/{id}/tags`; Phoenix keeps one tag of a name per prompt,
//! so adding it to a version takes it off the other). Phoenix has no kill switch: a feature
//! whose only lever source is this says so through the guard.

use super::client::key_refused;
use super::config::PhoenixConfig;
use super::wire::{decode_error, decode_prompts, decode_tagged, decode_versions};
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::prompt_tags::{PromptNames, TagHistory};
use crate::backend::{BackendError, FeatureFlags, FlagControl, FlagOp};
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// Prompts asked for per page of the prompt list.
const PROMPTS_PER_PAGE: usize = 100;
/// Versions asked for per page when a rollback checks its target belongs to the prompt.
const VERSIONS_PER_PAGE: usize = 100;

/// Phoenix's rule for prompt and tag names (its `Identifier`), so a name from config is
/// refused when the file is read rather than by a 422 during an incident.
pub fn identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            inner(first)
                && inner(last)
                && bytes.iter().all(|c| inner(c) || *c == b'_' || *c == b'-')
        }
        _ => false,
    }
}

pub struct PhoenixPrompts {
    name: String,
    base: Url,
    auth: Auth,
    tag: String,
    names: PromptNames,
    max_prompts: usize,
    max_versions: usize,
    max_pages: usize,
    timeout: Duration,
    cap: ReplyCap,
    client: http::Client,
    history: TagHistory,
}

impl std::fmt::Debug for PhoenixPrompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoenixPrompts")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl PhoenixPrompts {
    /// What `new` refuses in the prompt keys of the config.
    pub fn check(cfg: &PhoenixConfig) -> Result<(), String> {
        if !identifier(&cfg.prompt_tag) {
            return Err(format!(
                "prompt_tag {:?} is not a Phoenix tag name (lower-case letters, digits, - and _, starting and ending with a letter or digit)",
                cfg.prompt_tag
            ));
        }
        for (feature, prompt) in &cfg.prompts {
            if !identifier(prompt) {
                return Err(format!(
                    "prompts.{feature} = {prompt:?} is not a Phoenix prompt name (lower-case letters, digits, - and _)"
                ));
            }
        }
        let mut targets: Vec<&String> = cfg.prompts.values().collect();
        targets.sort_unstable();
        if let Some(w) = targets.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "prompts maps two features to prompt {:?}: one prompt's tag cannot serve two features' rollbacks",
                w[0]
            ));
        }
        Ok(())
    }

    /// The prompt lever of `cfg`, recording tag moves under `data_dir`.
    pub fn new(cfg: &PhoenixConfig, data_dir: &Path) -> Result<Self, String> {
        let name = &cfg.name;
        Self::check(cfg).map_err(|e| format!("{name}: {e}"))?;
        let base = http::check_url(cfg.url.trim_end_matches('/'))?;
        let auth = Auth::from_config(cfg.auth.as_ref()).map_err(|e| format!("{name}: {e}"))?;
        let timeout = cfg.timeout_secs.duration();
        let file = format!("{}.jsonl", crate::private::file_component(name));
        Ok(PhoenixPrompts {
            name: name.clone(),
            base,
            auth,
            tag: cfg.prompt_tag.clone(),
            names: PromptNames::new(&cfg.prompts),
            max_prompts: cfg.max_prompts as usize,
            max_versions: cfg.max_prompt_versions as usize,
            max_pages: cfg.max_pages as usize,
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| format!("{name}: {e}"))?,
            history: TagHistory::new(data_dir.join("prompt-tags").join(file), &cfg.prompt_tag),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, BackendError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| BackendError::Unreachable(format!("{} cannot hold a path", self.base)))?
            .pop_if_empty()
            .push("v1")
            .extend(segments);
        Ok(url)
    }

    /// Sends and returns the status and body of a 2xx; anything else says `what` was being
    /// done. A 404 is `Rejected` (the prompt or version is not there: retrying will not
    /// help); auth and server failures stay `Http`, which the cockpit offers to retry.
    async fn call(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
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
        let detail = decode_error(&http::read_error_body(resp).await);
        let message = match status {
            401 => format!("{what}: {}", key_refused(&self.auth, &detail)),
            403 => format!("{what}: the API key may not do this: {detail}"),
            404 | 422 => {
                return Err(BackendError::Rejected(format!(
                    "{what}: Phoenix has no such thing ({status}): {detail}"
                )))
            }
            _ => format!("{what}: {detail}"),
        };
        Err(BackendError::Http { status, message })
    }

    /// Every prompt name, newest first, up to `max_prompts` in at most `max_pages` requests.
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..self.max_pages {
            let limit = PROMPTS_PER_PAGE.min(self.max_prompts - names.len());
            let mut query = vec![("limit", limit.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let body = self
                .call(
                    Method::GET,
                    self.url(&["prompts"])?,
                    &query,
                    None,
                    "list prompts",
                )
                .await?;
            let page = decode_prompts(&body)?;
            names.extend(page.data.into_iter().map(|p| p.name));
            cursor = page.next_cursor.filter(|c| !c.is_empty());
            if cursor.is_none() || names.len() >= self.max_prompts {
                break;
            }
        }
        if cursor.is_some() {
            tracing::debug!(source = %self.name, read = names.len(), "prompts past max_prompts or max_pages not read");
        }
        names.truncate(self.max_prompts);
        Ok(names)
    }

    /// The version holding the tag; `None` when no version of the prompt holds it.
    async fn holder(&self, prompt: &str) -> Result<Option<String>, BackendError> {
        let url = self.url(&["prompts", prompt, "tags", &self.tag])?;
        let what = format!("read tag {} of prompt {prompt}", self.tag);
        match self.call(Method::GET, url, &[], None, &what).await {
            Ok(body) => Ok(Some(decode_tagged(&body)?.data.id)),
            Err(BackendError::Rejected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of the prompt's versions, newest first, and where the next starts.
    async fn versions_page(
        &self,
        prompt: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), BackendError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let url = self.url(&["prompts", prompt, "versions"])?;
        let what = format!("list versions of prompt {prompt}");
        let body = self.call(Method::GET, url, &query, None, &what).await?;
        let page = decode_versions(&body)?;
        Ok((
            page.data.into_iter().map(|v| v.id).collect(),
            page.next_cursor.filter(|c| !c.is_empty()),
        ))
    }

    /// Whether `version` is one of the prompt's, looked for in at most `max_pages` pages.
    async fn has_version(&self, prompt: &str, version: &str) -> Result<bool, BackendError> {
        let mut cursor: Option<String> = None;
        for _ in 0..self.max_pages {
            let (ids, next) = self
                .versions_page(prompt, VERSIONS_PER_PAGE, cursor.as_deref())
                .await?;
            if ids.iter().any(|v| v == version) {
                return Ok(true);
            }
            cursor = next;
            if cursor.is_none() {
                return Ok(false);
            }
        }
        Err(BackendError::Rejected(format!(
            "version {version} not among the newest {} versions of prompt {prompt} (raise max_pages to look further)",
            self.max_pages * VERSIONS_PER_PAGE
        )))
    }

    async fn read_prompt(
        &mut self,
        prompt: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FeatureFlags>, BackendError> {
        let (newest, _) = match self.versions_page(prompt, self.max_versions, None).await {
            Ok(page) => page,
            // Deleted between the list and now: gone from the levers at the next poll.
            Err(BackendError::Rejected(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let current = self.holder(prompt).await?;
        let mut ff = FeatureFlags {
            feature: self.names.feature(prompt).to_string(),
            prompt_only: true,
            ..FeatureFlags::default()
        };
        // Oldest first, as flag systems list versions; the picker shows the newest first.
        ff.prompt_versions = newest.into_iter().rev().collect();
        if let Some(cur) = &current {
            self.history.notice(&self.name, prompt, cur, now);
            let (lkg, changed_at) = self.history.lineage(prompt, cur);
            for v in [Some(cur), lkg.as_ref()].into_iter().flatten() {
                if !ff.prompt_versions.contains(v) {
                    ff.prompt_versions.insert(0, v.clone());
                }
            }
            ff.last_known_good = lkg;
            ff.prompt_changed_at = changed_at;
        }
        ff.current_prompt = current;
        Ok(Some(ff))
    }

    async fn rollback(
        &mut self,
        feature: &str,
        to: &str,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let prompt = self.names.prompt(feature).to_string();
        let tag = self.tag.clone();
        if !identifier(&prompt) {
            return Err(BackendError::Rejected(format!(
                "{prompt:?} is not a Phoenix prompt name: map feature {feature} with prompts = {{ \"{feature}\" = \"<prompt>\" }}"
            )));
        }
        self.history.load_or_warn(&self.name);
        let from = self.holder(&prompt).await?;
        if from.as_deref() == Some(to) {
            return Err(BackendError::Rejected(format!(
                "{feature} already runs prompt {to} (Phoenix prompt {prompt}, tag {tag})"
            )));
        }
        // A version id of another prompt would move that prompt's tag instead.
        if !self.has_version(&prompt, to).await? {
            return Err(BackendError::Rejected(format!(
                "Phoenix prompt {prompt} has no version {to}"
            )));
        }
        let url = self.url(&["prompt_versions", to, "tags"])?;
        let what = format!("move tag {tag} of prompt {prompt} to {to}");
        self.call(Method::POST, url, &[], Some(json!({ "name": tag })), &what)
            .await?;
        let now_held = self.holder(&prompt).await?;
        if now_held.as_deref() != Some(to) {
            return Err(BackendError::Malformed(format!(
                "Phoenix accepted the move of tag {tag} to {to} but prompt {prompt} serves {}",
                now_held.as_deref().unwrap_or("no version under it")
            )));
        }
        let unrecorded = self
            .history
            .rolled_back(&prompt, from.clone(), to, author, now);
        let from = from.unwrap_or_else(|| "no tagged version".into());
        Ok(format!(
            "{feature} prompt rolled back {from} → {to} (Phoenix prompt {prompt}, tag {tag}){}",
            unrecorded.unwrap_or_default()
        ))
    }
}

impl FlagControl for PhoenixPrompts {
    async fn read(&mut self, now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        self.history.load_or_warn(&self.name);
        let mut names = self.list().await?;
        for mapped in self.names.mapped() {
            if !names.contains(mapped) {
                names.push(mapped.clone());
            }
        }
        let mut out = Vec::new();
        for prompt in names {
            if let Some(ff) = self.read_prompt(&prompt, now).await? {
                out.push(ff);
            }
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
                    "{} is a Phoenix prompt registry: it has no {} for {}",
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
    fn names_follow_phoenix_identifier_rule() {
        for ok in ["production", "support-bot", "a", "v2_b", "9x"] {
            assert!(identifier(ok), "{ok}");
        }
        for bad in ["", "Production", "-a", "a-", "a b", "a/b", "é", "a_"] {
            assert!(!identifier(bad), "{bad}");
        }
    }
}
