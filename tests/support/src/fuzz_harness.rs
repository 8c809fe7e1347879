//! One driver per decoder of outside data, shared by the cargo-fuzz targets (`fuzz/`) and by
//! `tests/fuzz_regressions.rs`, so a crash found by fuzzing replays under the normal `cargo test`
//! through exactly the code that found it.
//!
//! Each driver takes raw bytes, runs the adapter's own decoding function (not a bare
//! `serde_json::from_slice`), and checks what must hold of any result beyond "no panic": text
//! that reaches the screen carries no control or bidi characters, numbers are finite or NaN,
//! deadlines are not before their triggers. A violated property panics, which libFuzzer records
//! as a crash and `cargo test` as a failure.
//!
//! Inputs that hold several bodies (alerts and silences, an incident page and its log) separate
//! them with a 0xFF byte, which valid UTF-8 and so valid JSON never contains. A body may start
//! with a three-digit HTTP status and a newline (`503\n<html>…`); without one it is a 200.

use chrono::{DateTime, Utc};
use oncall_cockpit::backend::alertmanager::Alertmanager;
use oncall_cockpit::backend::alertmanager::AlertmanagerConfig;
use oncall_cockpit::backend::flagd::{self, FlagFile, FlagNames, KeyPattern};
use oncall_cockpit::backend::pagerduty;
use oncall_cockpit::backend::pagerduty_events;
use oncall_cockpit::backend::phoenix;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::prometheus::{Price, PrometheusConfig};
use oncall_cockpit::backend::registry;
use oncall_cockpit::backend::unleash;
use oncall_cockpit::backend::{BackendError, FeatureFlags, FlagOp};
use oncall_cockpit::config::keymap::{Keymap, Mode};
use oncall_cockpit::config::settings::{self, Settings};
use oncall_cockpit::config::theme::{Theme, ThemeRole};
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::{Incident, SignalSet};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;

/// The instant every Prometheus poll is decoded at: 2026-11-23T02:00:00Z, on the minute, so
/// seeds can put samples exactly on the grid (`1795399200 - 60 k`).
pub const NOW_SECS: i64 = 1_795_399_200;

/// Separates the bodies of a multi-body input.
const SEP: u8 = 0xFF;

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW_SECS, 0).unwrap_or_default()
}

fn parts(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == SEP).collect()
}

/// `(status, body)`: a leading `NNN\n` is the status, else 200.
fn answer(part: &[u8]) -> (u16, &[u8]) {
    match part {
        [a, b, c, b'\n', body @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            let status = [a, b, c]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(**d - b'0'));
            (status, body)
        }
        _ => (200, part),
    }
}

/// Text the renderer may receive must be inert: no C0/C1 controls, no bidi overrides or
/// isolates, no zero-width characters (`SafeText`'s promise).
pub fn assert_inert(what: &str, s: &str) {
    let bad = s.chars().find(|c| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}')
    });
    assert!(
        bad.is_none(),
        "{what} reaches the screen with {bad:?}: {s:?}"
    );
}

fn assert_incident(inc: &Incident) {
    assert_inert("title", inc.title.as_str());
    assert_inert("feature", inc.feature.as_str());
    for e in &inc.evidence {
        assert_inert("evidence", e.as_str());
    }
    for t in &inc.timeline {
        assert_inert("timeline", t.text.as_str());
    }
    if let Some(by) = &inc.acked_by {
        assert_inert("acked_by", by.as_str());
    }
    assert!(
        inc.respond_by >= inc.triggered_at,
        "respond_by {} before triggered_at {}",
        inc.respond_by,
        inc.triggered_at
    );
    assert!(
        inc.timeline.windows(2).all(|w| w[0].at <= w[1].at),
        "timeline out of order"
    );
}

// ---- Prometheus --------------------------------------------------------------------------

pub fn prometheus_config() -> PrometheusConfig {
    PrometheusConfig {
        name: "prom".into(),
        url: "http://127.0.0.1:9/".into(),
        preset: "otel".into(),
        feature_label: "job".into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        range_secs: 7200,
        step_secs: 60,
        rate_window: "5m".into(),
        auth: None,
        queries: BTreeMap::new(),
        prices: BTreeMap::from([(
            "gpt-4o".to_string(),
            Price {
                input: 2.5,
                output: 10.0,
            },
        )]),
        tls: None,
    }
}

/// Answers every query of one poll with the input's bodies, in turn (one body answers them
/// all), and decodes them as `fetch` does.
pub fn prometheus_with(prom: &mut Prometheus, data: &[u8]) -> Result<SignalSet, BackendError> {
    let bodies: Vec<(u16, &[u8])> = parts(data).into_iter().map(answer).collect();
    let answers: Vec<(u16, &[u8])> = (0..prom.query_count())
        .map(|i| bodies[i % bodies.len()])
        .collect();
    let result = prom.decode_answers(now(), &answers);
    if let Ok(set) = &result {
        assert_eq!(set.at, Some(now()));
        for s in &set.signals {
            assert_inert("signal feature", &s.feature);
            assert!(
                s.points.iter().all(|p| p.is_finite() || p.is_nan()),
                "{:?} has an infinity",
                s.kind
            );
        }
        for f in &set.features {
            assert_inert("feature name", &f.name);
            assert_inert("feature model", &f.model);
        }
    }
    result
}

pub fn prometheus(data: &[u8]) -> Result<SignalSet, BackendError> {
    let mut prom = Prometheus::new(&prometheus_config()).expect("test config is valid");
    prometheus_with(&mut prom, data)
}

// ---- Alertmanager ------------------------------------------------------------------------

pub fn alertmanager_config() -> AlertmanagerConfig {
    AlertmanagerConfig {
        name: "am".into(),
        url: "http://127.0.0.1:9/".into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        max_incidents: 5000,
        filter: Vec::new(),
        auth: None,
        silence_secs: 3600,
        renew_before_secs: 600,
        severity_label: "severity".into(),
        feature_label: "feature".into(),
        type_label: "ai_incident_type".into(),
        tls: None,
    }
}

/// `alerts 0xFF silences`; no silences part means none.
pub fn alertmanager_with(am: &Alertmanager, data: &[u8]) -> Result<Vec<Incident>, BackendError> {
    let p = parts(data);
    let silences = p.get(1).copied().unwrap_or(b"[]");
    let result = am.decode_incidents(p[0], silences);
    for inc in result.iter().flatten() {
        assert_incident(inc);
        assert!(inc.id.starts_with("am:"), "{}", inc.id);
    }
    result
}

pub fn alertmanager(data: &[u8]) -> Result<Vec<Incident>, BackendError> {
    let am = Alertmanager::new(&alertmanager_config()).expect("test config is valid");
    alertmanager_with(&am, data)
}

// ---- PagerDuty ---------------------------------------------------------------------------

/// `incident page 0xFF log entries`; no log part means an empty log.
pub fn pagerduty_incidents(data: &[u8]) -> Result<(Vec<Incident>, bool), BackendError> {
    let p = parts(data);
    let log = p.get(1).copied().unwrap_or(br#"{"log_entries":[]}"#);
    let result = pagerduty::decode_incidents("pd", p[0], log);
    if let Ok((incidents, _)) = &result {
        for inc in incidents {
            assert_incident(inc);
            assert!(inc.id.starts_with("pd:"), "{}", inc.id);
        }
    }
    result
}

fn assert_error_inert(e: &BackendError) {
    match e {
        BackendError::Http { message, .. } => assert_inert("error", message),
        BackendError::Rejected(m) | BackendError::Malformed(m) | BackendError::Unreachable(m) => {
            assert_inert("error", m)
        }
        BackendError::Timeout(_) | BackendError::TooLarge { .. } => {}
    }
}

/// `NNN\n` status and an error body, as a write to incident `PD1` would get it.
pub fn pagerduty_error(data: &[u8]) -> BackendError {
    let (status, body) = answer(data);
    let e = pagerduty::map_error(status, body, Some("pd:PD1"));
    assert_error_inert(&e);
    e
}

/// An Events API v2 reply body to the dedup key and the text a failure would show.
pub fn pagerduty_events_reply(data: &[u8]) -> Result<(Option<String>, String), String> {
    let r = pagerduty_events::decode_reply(data);
    if let Err(e) = &r {
        assert!(!e.is_empty(), "a refused reply says why");
    }
    r
}

/// `name: value` lines (values are raw bytes) as a 429's headers; returns the backoff.
pub fn pagerduty_rate_limit(data: &[u8]) -> u64 {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(line[..colon].trim_ascii());
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (name, value) {
            headers.append(n, v);
        }
    }
    let secs = pagerduty::reset_secs(&headers);
    assert!(secs >= 1, "a 429 must back off");
    assert!(
        std::time::Instant::now()
            .checked_add(std::time::Duration::from_secs(secs))
            .is_some(),
        "backoff of {secs}s cannot be scheduled"
    );
    secs
}

// ---- config files ------------------------------------------------------------------------

/// A config.toml as the cockpit reads it at start, then what start-up does with the numbers:
/// poll intervals and timeouts, and building sources from their entries (secrets left out:
/// loading one reads the environment or a file, which is not decoding). Every error points
/// inside the file, and whatever the check accepts, the adapters accept too.
pub fn config_file(data: &[u8]) -> Option<Result<Settings, String>> {
    // read_to_string refuses invalid UTF-8 before any parsing, and the cockpit says so.
    let text = std::str::from_utf8(data).ok()?;
    let result = settings::settings_from("config.toml", text, &registry::schemas());
    if let Err(errors) = &result {
        assert!(!errors.is_empty(), "refused without a reason");
        for e in errors {
            assert_error_in_file(text, e.line);
        }
    }
    if let Ok(s) = &result {
        // Every kind in the registry: what the check accepts reads as the kind's config,
        // and the adapter's own checks find nothing more.
        for entry in s.sources.iter() {
            let kind = registry::kind(entry.kind).expect("settings hold registry kinds");
            let cfg = kind.schema().read_entry(entry);
            let cfg = cfg.unwrap_or_else(|e| panic!("checked entry unreadable: {e}"));
            assert_eq!(cfg.problems(), Vec::<String>::new(), "{}", entry.name);
        }
        let prometheus = oncall_cockpit::backend::prometheus::config::SCHEMA.entries(&s.sources);
        let alertmanager =
            oncall_cockpit::backend::alertmanager::config::SCHEMA.entries(&s.sources);
        for p in prometheus.iter().flatten() {
            let built = Prometheus::new(&PrometheusConfig {
                auth: None,
                ..p.clone()
            });
            assert!(built.is_ok(), "checked config refused: {:?}", built.err());
        }
        for a in alertmanager.iter().flatten() {
            let built = Alertmanager::new(&AlertmanagerConfig {
                auth: None,
                ..a.clone()
            });
            assert!(built.is_ok(), "checked config refused: {:?}", built.err());
        }
    }
    Some(result.map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }))
}

fn assert_error_in_file(text: &str, line: Option<usize>) {
    if let Some(line) = line {
        let lines = text.split('\n').count();
        assert!(
            (1..=lines).contains(&line),
            "error on line {line} of a {lines}-line file"
        );
    }
}

/// A user keymap file, alone and over every built-in, as `load_keymap` reads it.
pub fn keymap(data: &[u8]) -> Option<Result<Keymap, String>> {
    let text = std::str::from_utf8(data).ok()?;
    for name in Keymap::builtin_names() {
        let base = Keymap::builtin(name)
            .and_then(|t| Keymap::parse(name, t).ok())
            .expect("built-in keymap parses");
        match Keymap::overlay(&base, "fuzz.toml", text) {
            Ok(k) => {
                for mode in Mode::ALL {
                    for (action, keys) in k.bindings(mode) {
                        assert!(!keys.is_empty(), "{action:?} listed without keys");
                    }
                }
            }
            Err(e) => assert_error_in_file(text, e.line),
        }
    }
    let parsed = Keymap::parse("fuzz.toml", text);
    if let Err(e) = &parsed {
        assert_error_in_file(text, e.line);
    }
    Some(parsed.map_err(|e| e.to_string()))
}

/// A user theme file, alone and over every built-in, as `load_theme` reads it.
pub fn theme(data: &[u8]) -> Option<Result<Theme, String>> {
    let text = std::str::from_utf8(data).ok()?;
    for name in Theme::builtin_names() {
        let base = Theme::builtin(name)
            .and_then(|t| Theme::parse(name, t).ok())
            .expect("built-in theme parses");
        match Theme::overlay(&base, "fuzz.toml", text) {
            Ok(t) => {
                for role in ThemeRole::ALL {
                    let _ = t.style(role);
                }
            }
            Err(e) => assert_error_in_file(text, e.line),
        }
    }
    let parsed = Theme::parse("fuzz.toml", text);
    if let Err(e) = &parsed {
        assert_error_in_file(text, e.line);
    }
    Some(parsed.map_err(|e| e.to_string()))
}

// ---- flag systems ------------------------------------------------------------------------

pub fn flagd_names() -> FlagNames {
    FlagNames {
        prompt: KeyPattern::parse("{feature}.prompt").expect("pattern"),
        kill: KeyPattern::parse("{feature}.kill-switch").expect("pattern"),
        segment_field: "segment".into(),
    }
}

/// Decodes, then re-encodes and decodes again: the file the cockpit writes back must mean
/// what it read.
fn flagd_round_trip(file: &FlagFile) {
    let again = flagd::decode(&file.encode());
    assert_eq!(
        again.as_ref(),
        Ok(file),
        "re-encoded flag file decodes differently"
    );
}

/// A flagd flag file as read from disk; then every lever it shows is pulled once (rollback to
/// the first other version, kill switch on the whole feature and on its first segment), each
/// result written and read back.
pub fn flagd_file(data: &[u8]) -> Result<Vec<FeatureFlags>, String> {
    let names = flagd_names();
    let file = flagd::decode(data)?;
    flagd_round_trip(&file);
    let levers = file.levers(&names);
    for ff in &levers {
        let mut ops = Vec::new();
        if let Some(to) = ff
            .prompt_versions
            .iter()
            .find(|v| Some(*v) != ff.current_prompt.as_ref())
        {
            ops.push(FlagOp::Rollback {
                feature: ff.feature.clone(),
                to_version: to.clone(),
            });
        }
        for segment in [None, ff.segments.first().cloned()] {
            for engage in [true, false] {
                ops.push(FlagOp::KillSwitch {
                    feature: ff.feature.clone(),
                    segment: segment.clone(),
                    engage,
                });
            }
        }
        for op in ops {
            let mut edited = file.clone();
            if edited.apply(&op, &names, "ana", now()).is_err() {
                continue;
            }
            flagd_round_trip(&edited);
            if let FlagOp::Rollback {
                feature,
                to_version,
            } = &op
            {
                let after = edited.levers(&names);
                let f = after.iter().find(|f| &f.feature == feature);
                assert_eq!(
                    f.and_then(|f| f.current_prompt.as_ref()),
                    Some(to_version),
                    "rollback did not take"
                );
            }
        }
    }
    Ok(levers)
}

/// Unleash admin API bodies, separated by 0xFF: flag list, flag detail, strategy echo, event
/// log, context field, error body; each through the adapter's decoder.
pub fn unleash(data: &[u8]) -> Vec<bool> {
    let p = parts(data);
    let body = |i: usize| p.get(i).copied().unwrap_or(b"");
    let error = unleash::decode_error(body(5));
    assert!(error.chars().count() <= 201, "error excerpt too long");
    assert!(!error.contains('\n'), "error excerpt spans lines");
    vec![
        unleash::decode_flag_list(body(0)).is_ok(),
        unleash::decode_flag(body(1)).is_ok(),
        unleash::decode_strategy(body(2)).is_ok(),
        unleash::decode_events(body(3)).is_ok(),
        unleash::decode_context_field(body(4)).is_ok(),
    ]
}

/// Phoenix REST bodies, separated by 0xFF: a page of spans, their span annotations, the
/// retriever spans of their traces, an error body; through the adapter's decoders to samples.
/// Every text field of a sample must be inert and bounded, every number finite and in range.
pub fn phoenix(data: &[u8]) -> Result<Vec<oncall_cockpit::domain::sample::Sample>, BackendError> {
    use oncall_cockpit::domain::sample::MAX_SAMPLE_TEXT;
    let p = parts(data);
    let body = |i: usize| p.get(i).copied().unwrap_or(b"");
    let error = phoenix::decode_error(body(3));
    assert!(error.chars().count() <= 201, "error excerpt too long");
    assert!(!error.contains('\n'), "error excerpt spans lines");
    let attrs = phoenix::Attributes {
        segment: "metadata.segment".into(),
        user: "user.id".into(),
        conversation: "session.id".into(),
        prompt_version: "llm.prompt_template.version".into(),
        eval_annotation: "correctness".into(),
        eval_inverted: false,
    };
    let samples = phoenix::decode_samples("support-bot", &attrs, body(0), body(1), body(2))?;
    for s in &samples {
        let short = [&s.id, &s.feature]
            .into_iter()
            .chain(&s.segment)
            .chain(&s.user)
            .chain(&s.prompt_version)
            .chain(&s.model)
            .chain(&s.error)
            .chain(&s.params.conversation)
            .chain(&s.labels)
            .chain(s.retrieved.iter().map(|d| &d.id));
        for t in short {
            assert_inert("sample field", t.as_str());
            assert!(t.as_str().chars().count() <= 257, "short field too long");
        }
        for t in [&s.input, &s.output] {
            for line in t.as_str().split('\n') {
                assert_inert("sample text", line);
            }
            assert!(
                t.as_str().len() <= MAX_SAMPLE_TEXT + 64,
                "sample text not cut"
            );
        }
        assert!(
            s.eval_score.is_none_or(|e| (0.0..=1.0).contains(&e)),
            "eval out of range"
        );
        assert!(s.cost.is_none_or(|c| c.is_finite() && c >= 0.0), "cost");
        assert!(
            s.latency_secs.is_none_or(|l| l.is_finite() && l >= 0.0),
            "latency"
        );
        for x in [s.params.temperature, s.params.top_p] {
            assert!(x.is_none_or(f64::is_finite), "parameter not finite");
        }
        assert!(s.labels.len() <= phoenix::MAX_LABELS, "labels unbounded");
        assert!(
            s.retrieved.len() <= phoenix::MAX_DOCUMENTS,
            "documents unbounded"
        );
        assert!(
            s.retrieved
                .iter()
                .all(|d| d.score.is_none_or(f64::is_finite)),
            "document score not finite"
        );
    }
    Ok(samples)
}
