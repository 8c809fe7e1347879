//! `oncall-cockpit doctor`: what each configured Prometheus source can really be read for.
//! Per source it asks which GenAI metric families exist, plans the queries that read them
//! (the same plan the cockpit polls with), runs one poll, and prints per feature and signal
//! the query, the current value, a fallback or a coarse histogram for what it is, and for
//! each signal nothing measures, what is absent and the concrete fix, and the absolute caps
//! that watch the feature before its baselines exist. New users run it first; a source that
//! cannot be read makes it exit non-zero.

use crate::backend::prometheus::{Prometheus, PrometheusConfig};
use crate::backend::MetricsSource;
use crate::detect::caps::{Cap, CapsConfig, Origin};
use crate::domain::{CoverageState, Freshness, SafeText, SignalKind, SignalSet};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// One source's report, and whether it could be read at all.
pub struct Report {
    pub text: String,
    pub readable: bool,
}

/// Asks `cfg`'s server now.
pub async fn prometheus(cfg: &PrometheusConfig, caps: &CapsConfig, now: DateTime<Utc>) -> Report {
    let mut out = String::new();
    let mut source = match Prometheus::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "{e}");
            return Report {
                text: out,
                readable: false,
            };
        }
    };
    let _ = writeln!(out, "prometheus {:?} ({})", cfg.name, cfg.url);
    let found = match source.discover().await {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(
                out,
                "  cannot be read: {e}\n  fix: check `url`, `auth` and `tls` of this [[prometheus]] entry"
            );
            return Report {
                text: out,
                readable: false,
            };
        }
    };
    if let Ok(engine) = source.probe_engine().await {
        let _ = writeln!(out, "  engine: {}", engine.name);
    }
    let families: Vec<&str> = found
        .families
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "target_info")
        .collect();
    let _ = writeln!(
        out,
        "  GenAI metric families found: {}",
        if families.is_empty() {
            "none".to_string()
        } else {
            families.join(", ")
        }
    );
    if found.target_info_labelled && !found.labelled.iter().any(|f| f != "target_info") {
        let _ = writeln!(
            out,
            "  feature label {:?}: only on target_info; queries join it in (* on (job, instance) group_left({}) target_info)",
            cfg.feature_label, cfg.feature_label
        );
    }
    source.use_discovered(found, now);
    for (kind, hint) in source.missing() {
        let _ = writeln!(out, "  {:<14} not measured: {hint}", kind.label());
    }
    let set = match source.fetch(now).await {
        Ok(set) => set,
        Err(e) => {
            let _ = writeln!(out, "  a poll failed: {e}");
            return Report {
                text: out,
                readable: false,
            };
        }
    };
    write_features(&mut out, &source, &set, caps, now);
    if set.features.is_empty() {
        let _ = writeln!(
            out,
            "  no feature: no series carries the feature label {:?} (feature_label)",
            cfg.feature_label
        );
    }
    Report {
        text: out,
        readable: true,
    }
}

fn write_features(
    out: &mut String,
    source: &Prometheus,
    set: &SignalSet,
    caps: &CapsConfig,
    now: DateTime<Utc>,
) {
    for feature in &set.features {
        let name = &feature.name;
        let _ = writeln!(out, "  feature {name}");
        let own = caps.resolve(name, feature.price_per_mtok);
        let _ = writeln!(
            out,
            "    {:<14} {}; {}",
            "caps",
            cap_line(&own.cost_per_min, |v| format!("${v:.2}/min")),
            cap_line(&own.tokens_per_min, |v| format!("{:.0} tokens/min", v))
        );
        for kind in SignalKind::ALL {
            let signal = set
                .signals
                .iter()
                .find(|s| &s.feature == name && s.kind == kind);
            let coverage = set
                .coverage
                .iter()
                .find(|c| &c.feature == name && c.kind == kind);
            let (line, query) = match (signal, coverage) {
                (_, Some(c)) if !matches!(c.state, CoverageState::Fallback(_)) => (c.text(), None),
                (Some(s), c) => {
                    let value = match s.freshness(set.at.unwrap_or(now)) {
                        Freshness::Current(v) => kind.format(v),
                        Freshness::Old(n) => format!("{} (old)", kind.format(n.value)),
                        Freshness::NoData => "no data yet".to_string(),
                    };
                    let fallback = c.map(|c| format!(" — {}", c.text())).unwrap_or_default();
                    (
                        format!("{value}{fallback}"),
                        source.chosen_query(name, kind),
                    )
                }
                (None, _) => continue,
            };
            let _ = writeln!(out, "    {:<14} {}", kind.label(), SafeText::new(&line));
            if let Some(q) = query {
                let _ = writeln!(out, "      query: {}", SafeText::new(&one_line(&q)));
            }
        }
    }
}

/// "$10.00/min until its baseline exists", "$40.00/min always".
fn cap_line(cap: &Cap, fmt: impl Fn(f64) -> String) -> String {
    let when = match cap.origin {
        Origin::Default => "until its baseline exists",
        Origin::Feature => "always (its own)",
    };
    let how = cap
        .derived_from_price
        .map(|p| format!(" (the $ cap ÷ ${p:.2} per 1M tokens)"))
        .unwrap_or_default();
    format!("{}{how} {when}", fmt(cap.line))
}

fn one_line(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}
