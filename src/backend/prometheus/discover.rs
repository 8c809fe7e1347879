//! Asks a server which GenAI metric families it holds (conventions.toml names them), which
//! of them carry the feature label, and the bucket boundaries of each latency histogram per
//! feature: three small requests, each bounded by the source's reply cap and timeout.

use super::convention::{Conventions, Discovered};
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::BackendError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How one source asks.
pub(super) struct Asker<'a> {
    pub(super) client: &'a http::Client,
    pub(super) auth: &'a Auth,
    /// The server's base URL, without a trailing slash.
    pub(super) base: &'a str,
    pub(super) timeout: Duration,
    pub(super) cap: ReplyCap,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Vector {
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

impl Asker<'_> {
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<T, BackendError> {
        let url = format!("{}{path}", self.base);
        let req = self.auth.apply(self.client.get(&url).query(params));
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status();
        if !status.is_success() {
            let body = http::read_error_body(resp).await;
            return Err(BackendError::Http {
                status: status.as_u16(),
                message: format!("{path}: {}", http::excerpt(&String::from_utf8_lossy(&body))),
            });
        }
        let body = http::read_body(resp, self.cap, self.timeout).await?;
        let env: Envelope<T> = serde_json::from_slice(&body)
            .map_err(|e| BackendError::Malformed(format!("{path}: {e}")))?;
        match (env.status.as_str(), env.data) {
            ("success", Some(data)) => Ok(data),
            _ => Err(BackendError::Malformed(format!(
                "{path}: status {:?} {}",
                env.status,
                env.error.unwrap_or_default()
            ))),
        }
    }

    async fn instant(&self, promql: &str) -> Result<Vec<BTreeMap<String, String>>, BackendError> {
        Ok(self
            .instant_values(promql)
            .await?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    async fn instant_values(
        &self,
        promql: &str,
    ) -> Result<Vec<(BTreeMap<String, String>, f64)>, BackendError> {
        let v: Vector = self.get("/api/v1/query", &[("query", promql)]).await?;
        Ok(v.result
            .into_iter()
            .map(|s| {
                let value = s
                    .value
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (s.metric, value)
            })
            .collect())
    }

    /// Series per family, among the names that match `selector`.
    async fn counts(&self, selector: &str) -> Result<BTreeMap<String, f64>, BackendError> {
        Ok(self
            .instant_values(&format!("count by (__name__) ({selector})"))
            .await?
            .into_iter()
            .filter_map(|(m, v)| m.get("__name__").map(|n| (n.clone(), v)))
            .collect())
    }

    /// What the server holds that the conventions can read, as seen now.
    pub(super) async fn discover(
        &self,
        conv: &Conventions,
        feature_label: &str,
        histograms: &BTreeSet<String>,
    ) -> Result<Discovered, BackendError> {
        let names = &conv.discover_names;
        let matcher = format!("{{__name__=~\"{names}\"}}");
        let all: Vec<String> = self
            .get(
                "/api/v1/label/__name__/values",
                &[("match[]", matcher.as_str())],
            )
            .await?;
        let known = conv.families();
        let families: BTreeSet<String> = all
            .into_iter()
            .filter(|n| known.contains(n) || n == "target_info")
            .collect();
        // A family is labelled when every one of its series carries the feature label: one
        // that some services label and others do not (OpenLIT and the official
        // instrumentation share names) is joined to target_info, which overwrites the label
        // with the same value where it was there.
        let total = self.counts(&format!("{{__name__=~\"{names}\"}}")).await?;
        let with_label = self
            .counts(&format!("{{__name__=~\"{names}\", {feature_label}!=\"\"}}"))
            .await?;
        let labelled: BTreeSet<String> = with_label
            .into_iter()
            .filter(|(n, v)| total.get(n).is_some_and(|t| t <= v))
            .map(|(n, _)| n)
            .collect();
        let mut found = Discovered {
            target_info_labelled: labelled.contains("target_info"),
            labelled,
            families,
            buckets: BTreeMap::new(),
        };
        for h in histograms.iter().filter(|h| found.families.contains(*h)) {
            let join = found.join(h, feature_label);
            let q = format!("count by ({feature_label}, le) ({h}{join})");
            for m in self.instant(&q).await? {
                let (Some(feature), Some(le)) = (m.get(feature_label), m.get("le")) else {
                    continue;
                };
                let Ok(bound) = le.parse::<f64>() else {
                    continue;
                };
                if bound.is_finite() {
                    let f = crate::domain::SafeText::new(feature).to_string();
                    found.buckets.entry((h.clone(), f)).or_default().push(bound);
                }
            }
        }
        for bounds in found.buckets.values_mut() {
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
        }
        Ok(found)
    }
}
