//! Which PromQL engine answers a `[[prometheus]]` source, and what that changes: how far
//! behind now its grid ends, and the known differences a responder should read next to
//! its numbers (engines.toml).
//!
//! Prometheus (and Thanos Query, Mimir: anything built on Prometheus' engine) answers
//! `/api/v1/status/buildinfo` with its version, Mimir adds its `application` name.
//! VictoriaMetrics answers it too, with an empty `data` in 1.79 and a Prometheus version
//! number in later releases; what gives it away is the `X-Server-Hostname` header every
//! VictoriaMetrics component sets (single node and vmselect alike).

use crate::domain::SafeText;
use serde::Deserialize;
use std::collections::BTreeMap;

const ENGINES: &str = include_str!("engines.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    name: String,
    latency_offset_secs: u32,
    notes: Vec<String>,
}

/// The engine behind a source, as far as its build info tells.
#[derive(Clone, Debug, PartialEq)]
pub struct Engine {
    /// "VictoriaMetrics", "Prometheus 2.42.0", "Grafana Mimir 2.10.0".
    pub name: String,
    /// Instants closer to now than this are not asked for.
    pub latency_offset_secs: u32,
    /// Known differences from Prometheus, for the sources view and the evidence.
    pub notes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct BuildInfo {
    #[serde(default)]
    data: Option<BuildData>,
}

#[derive(Debug, Default, Deserialize)]
struct BuildData {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    application: Option<String>,
}

fn known(key: &str) -> Engine {
    let table: BTreeMap<String, Known> = toml::from_str(ENGINES).unwrap_or_default();
    let k = table.get(key).cloned().unwrap_or(Known {
        name: key.to_string(),
        latency_offset_secs: 0,
        notes: Vec::new(),
    });
    Engine {
        name: k.name,
        latency_offset_secs: k.latency_offset_secs,
        notes: k.notes,
    }
}

impl Engine {
    /// Until the build info is read, and when it cannot be: the Prometheus behaviour, which
    /// every engine at least claims.
    pub fn assumed() -> Engine {
        Engine {
            name: "not identified yet".into(),
            ..known("prometheus")
        }
    }

    /// When the build info never answered (a proxy that swallows the question).
    pub fn unanswered() -> Engine {
        let compatible = known("compatible");
        Engine {
            name: format!("{} (build info: no answer)", compatible.name),
            ..compatible
        }
    }

    /// From the buildinfo answer: its status, whether it carried VictoriaMetrics' header,
    /// and its body. Names and versions come from outside and are sanitised.
    pub fn identify(status: u16, victoria_header: bool, body: &[u8]) -> Engine {
        if victoria_header {
            return known("victoriametrics");
        }
        let info: BuildInfo = serde_json::from_slice(body).unwrap_or_default();
        let data = info.data.unwrap_or_default();
        let clean = |s: &str| SafeText::new(s).to_string();
        let version = data.version.as_deref().map(clean).filter(|v| !v.is_empty());
        match (status, data.application.as_deref().map(clean), version) {
            (200..=299, Some(app), v) => Engine {
                name: [Some(app), v]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                ..known("compatible")
            },
            (200..=299, None, Some(v)) => Engine {
                name: format!("Prometheus {v}"),
                ..known("prometheus")
            },
            (status, _, _) => Engine {
                name: format!(
                    "{} (build info: {})",
                    known("compatible").name,
                    if (200..300).contains(&status) {
                        "no version".to_string()
                    } else {
                        format!("HTTP {status}")
                    }
                ),
                ..known("compatible")
            },
        }
    }

    /// Each known difference, naming the engine: read out of context (in an incident's
    /// evidence) a note still says which engine it is about.
    pub fn notes(&self) -> Vec<String> {
        self.notes
            .iter()
            .map(|n| format!("{}: {n}", self.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_names_every_engine_it_is_asked_for() {
        let table: BTreeMap<String, Known> = toml::from_str(ENGINES).expect("engines.toml");
        for key in ["prometheus", "victoriametrics", "compatible"] {
            assert!(table.contains_key(key), "{key}");
        }
    }

    #[test]
    fn engines_are_told_apart_by_their_build_info() {
        // VictoriaMetrics 1.79 as Debian ships it: empty data, the header.
        let vm = Engine::identify(200, true, br#"{"status":"success","data":{}}"#);
        assert_eq!(vm.name, "VictoriaMetrics");
        assert_eq!(vm.latency_offset_secs, 30);
        assert!(vm.notes.iter().any(|n| n.contains("extrapolate")));
        // Later releases claim a Prometheus version; the header still tells.
        let vm = Engine::identify(
            200,
            true,
            br#"{"status":"success","data":{"version":"2.24.0"}}"#,
        );
        assert_eq!(vm.name, "VictoriaMetrics");

        let prom = Engine::identify(
            200,
            false,
            br#"{"status":"success","data":{"version":"2.42.0","revision":"x"}}"#,
        );
        assert_eq!(
            (prom.name.as_str(), prom.latency_offset_secs),
            ("Prometheus 2.42.0", 0)
        );
        assert!(prom.notes.is_empty());

        let mimir = Engine::identify(
            200,
            false,
            br#"{"status":"success","data":{"application":"Grafana Mimir","version":"2.10.0"}}"#,
        );
        assert_eq!(mimir.name, "Grafana Mimir 2.10.0");

        let proxy = Engine::identify(404, false, b"<html>not found</html>");
        assert_eq!(
            proxy.name,
            "a Prometheus-compatible engine (build info: HTTP 404)"
        );
        let hostile = Engine::identify(200, false, b"{\"data\":{\"version\":\"2.1\\u001b[31m\"}}");
        assert!(!hostile.name.contains('\u{1b}'), "{}", hostile.name);
    }
}
