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
use oncall_cockpit::config::error::ConfigError;
use oncall_cockpit::config::keymap::{ActionName, Keymap, Mode};
use oncall_cockpit::config::settings::{self, Settings};
use oncall_cockpit::config::theme::{Theme, ThemeRole};
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::lever::Lever;
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

/// An incident as the list shows it: its text inert, its deadline not before its trigger, its
/// timeline in time order, its id in the source's namespace (`prefix`).
pub fn check_incident(inc: &Incident, prefix: &str) {
    assert!(inc.id.starts_with(prefix), "{} outside {prefix}", inc.id);
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
        segment_label: None,
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
        check_signal_set(set);
    }
    result
}

/// A poll's signals: taken now, feature and model names inert, every point finite or NaN (no
/// data), never an infinity a sparkline or detector would choke on.
pub fn check_signal_set(set: &SignalSet) {
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
        check_incident(inc, "am:");
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
            check_incident(inc, "pd:");
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
    check_pagerduty_error(status, &e);
    e
}

/// What the footer shows of a refused write: inert, on one line, saying why, and, when it is
/// not a conflict, the status PagerDuty answered (a 500 must not read as a 400).
pub fn check_pagerduty_error(status: u16, e: &BackendError) {
    assert_error_inert(e);
    let text = e.to_string();
    assert!(!text.contains('\n'), "error spans lines: {text:?}");
    match e {
        BackendError::Http { status: shown, .. } => {
            assert_eq!(*shown, status, "status changed on the way: {text}")
        }
        BackendError::Rejected(m) => assert!(!m.trim().is_empty(), "refused without a reason"),
        other => panic!("a PagerDuty answer became {other:?}"),
    }
}

/// An Events API v2 reply body to the dedup key and the text a failure would show.
pub fn pagerduty_events_reply(data: &[u8]) -> Result<(Option<String>, String), String> {
    let r = pagerduty_events::decode_reply(data);
    match &r {
        Err(e) => assert!(!e.is_empty(), "a refused reply says why"),
        Ok(decoded) => check_events_reply(data, decoded),
    }
    r
}

/// A decoded Events API reply against its JSON: the dedup key (which a later page or resolve
/// must send back) unchanged, and every reason PagerDuty gave for refusing the event kept in
/// the text the responder sees.
pub fn check_events_reply(body: &[u8], (key, text): &(Option<String>, String)) {
    let Some(raw) = json(body) else { return };
    assert_eq!(
        key.as_deref(),
        str_at(&raw, "dedup_key"),
        "dedup key changed"
    );
    for reason in list_at(&raw, "errors").iter().filter_map(|e| e.as_str()) {
        assert!(text.contains(reason), "{reason:?} lost from {text:?}");
    }
    if let Some(said) = str_at(&raw, "message").or(str_at(&raw, "status")) {
        assert!(text.contains(said), "{said:?} lost from {text:?}");
    }
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
    check_backoff(&headers, secs);
    secs
}

/// The longest a 429 may silence a source: PagerDuty's windows are a minute, so an hour is
/// already a broken header (the adapter's `MAX_BACKOFF_SECS`).
pub const MAX_BACKOFF_SECS: u64 = 3600;

/// A 429 backs off at least a second and at most an hour, and never sooner than a reset
/// header in that range asks: retrying early only earns another 429.
pub fn check_backoff(headers: &HeaderMap, secs: u64) {
    assert!(
        (1..=MAX_BACKOFF_SECS).contains(&secs),
        "backoff of {secs}s outside 1..={MAX_BACKOFF_SECS}"
    );
    for name in ["ratelimit-reset", "retry-after"] {
        for v in headers.get_all(name) {
            let asked = v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(asked) = asked.filter(|a| *a <= MAX_BACKOFF_SECS) {
                // Only the first of a repeated header counts, as `HeaderMap::get` reads it.
                if headers.get(name) == Some(v) {
                    assert!(secs >= asked, "{name}: {asked} but backs off {secs}s");
                }
            }
        }
    }
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
    match &result {
        Err(errors) => check_config_errors(text, errors),
        Ok(s) => check_settings(s),
    }
    Some(result.map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }))
}

/// A refused file is refused with reasons, each on one inert line, located inside the file.
pub fn check_config_errors(text: &str, errors: &[ConfigError]) {
    assert!(!errors.is_empty(), "refused without a reason");
    for e in errors {
        check_config_error(text, e);
    }
}

/// Settings the check accepted: every source entry reads as its kind's config, the adapter's
/// own checks find nothing more, every number a limit governs is finite and within it, and
/// poll intervals and timeouts can become a `Duration`.
pub fn check_settings(s: &Settings) {
    for entry in s.sources.iter() {
        let kind = registry::kind(entry.kind).expect("settings hold registry kinds");
        let cfg = kind.schema().read_entry(entry);
        let cfg = cfg.unwrap_or_else(|e| panic!("checked entry unreadable: {e}"));
        assert_eq!(cfg.problems(), Vec::<String>::new(), "{}", entry.name);
        for (limit, value) in cfg.limits() {
            assert!(
                value.is_finite() && (limit.min..=limit.max).contains(&value),
                "{}: {} = {value} accepted outside {}..={}",
                entry.name,
                limit.key,
                limit.min,
                limit.max
            );
        }
    }
    let prometheus = oncall_cockpit::backend::prometheus::config::SCHEMA.entries(&s.sources);
    let alertmanager = oncall_cockpit::backend::alertmanager::config::SCHEMA.entries(&s.sources);
    let pagerduty = oncall_cockpit::backend::pagerduty::config::SCHEMA.entries(&s.sources);
    for p in prometheus.iter().flatten() {
        check_timing(&p.name, p.poll_secs.secs(), p.timeout_secs.secs());
        // Secrets and certificates left out: loading them reads files, which is not decoding.
        let built = Prometheus::new(&PrometheusConfig {
            auth: None,
            tls: None,
            ..p.clone()
        });
        assert!(built.is_ok(), "checked config refused: {:?}", built.err());
    }
    for a in alertmanager.iter().flatten() {
        check_timing(&a.name, a.poll_secs.secs(), a.timeout_secs.secs());
        let built = Alertmanager::new(&AlertmanagerConfig {
            auth: None,
            tls: None,
            ..a.clone()
        });
        assert!(built.is_ok(), "checked config refused: {:?}", built.err());
    }
    for p in pagerduty.iter().flatten() {
        check_timing(&p.name, p.poll_secs.secs(), p.timeout_secs.secs());
    }
}

fn check_timing(name: &str, poll: f64, timeout: f64) {
    for (what, secs) in [("poll_secs", poll), ("timeout_secs", timeout)] {
        assert!(
            secs.is_finite() && secs > 0.0,
            "{name}: {what} = {secs} accepted"
        );
        // Panics on a value no Duration can hold: what start-up does with it.
        let _ = std::time::Duration::from_secs_f64(secs);
    }
}

/// An error about a file: on one inert line (the key and table it names are the file's own
/// text, which may hold escape sequences), at a line and column that exist in the input.
pub fn check_config_error(text: &str, e: &ConfigError) {
    let shown = e.to_string();
    assert_inert("config error", &shown);
    assert!(!e.message.is_empty(), "error without a message: {shown}");
    let lines: Vec<&str> = text.split('\n').collect();
    if let Some(line) = e.line {
        assert!(
            (1..=lines.len()).contains(&line),
            "error on line {line} of a {}-line file: {shown}",
            lines.len()
        );
        if let Some(column) = e.column {
            // One past the last character points at the end of the line (a missing value).
            let width = lines[line - 1].chars().count() + 1;
            assert!(
                (1..=width).contains(&column),
                "error at column {column} of a {}-character line {line}: {shown}",
                width - 1
            );
        }
    } else {
        assert!(e.column.is_none(), "a column without a line: {shown}");
    }
}

/// The `[table] key` pairs of a TOML text, when it parses as TOML at all.
fn toml_keys(text: &str) -> Option<toml::Table> {
    text.parse::<toml::Table>().ok()
}

/// A user keymap file, alone and over every built-in, as `load_keymap` reads it.
pub fn keymap(data: &[u8]) -> Option<Result<Keymap, String>> {
    let text = std::str::from_utf8(data).ok()?;
    for name in Keymap::builtin_names() {
        let base = Keymap::builtin(name)
            .and_then(|t| Keymap::parse(name, t).ok())
            .expect("built-in keymap parses");
        match Keymap::overlay(&base, "fuzz.toml", text) {
            Ok(k) => check_keymap(text, &k),
            Err(e) => check_config_error(text, &e),
        }
    }
    let parsed = Keymap::parse("fuzz.toml", text);
    match &parsed {
        Ok(k) => check_keymap(text, k),
        Err(e) => check_config_error(text, e),
    }
    Some(parsed.map_err(|e| e.to_string()))
}

/// An accepted keymap: every mode and action name the file uses maps back to that same name
/// (no alias or case folding silently rebinding something else), an action the file gives
/// keys has keys, and the key names the help overlay shows are inert.
pub fn check_keymap(text: &str, k: &Keymap) {
    for mode in Mode::ALL {
        for (action, keys) in k.bindings(mode) {
            assert!(!keys.is_empty(), "{action:?} listed without keys");
            assert_eq!(ActionName::from_name(&action.name()), Some(action));
            for key in &keys {
                assert_inert("key name", key);
            }
        }
    }
    let Some(tables) = toml_keys(text) else {
        return;
    };
    for (mode_name, table) in &tables {
        let mode = Mode::ALL.into_iter().find(|m| m.name() == mode_name);
        let mode = mode.unwrap_or_else(|| panic!("mode [{mode_name}] accepted, named nothing"));
        let Some(table) = table.as_table() else {
            panic!("[{mode_name}] accepted but not a table");
        };
        for (action_name, keys) in table {
            let action = ActionName::from_name(action_name)
                .unwrap_or_else(|| panic!("action {action_name:?} accepted, names nothing"));
            assert_eq!(
                &action.name(),
                action_name,
                "[{mode_name}] {action_name:?} was read as another action"
            );
            let given = match keys {
                toml::Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if given {
                assert!(
                    !k.keys_for(mode, action).is_empty(),
                    "[{mode_name}] {action_name} given keys but has none"
                );
            }
        }
    }
}

/// A user theme file, alone and over every built-in, as `load_theme` reads it.
pub fn theme(data: &[u8]) -> Option<Result<Theme, String>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut overlays = Vec::new();
    for name in Theme::builtin_names() {
        let base = Theme::builtin(name)
            .and_then(|t| Theme::parse(name, t).ok())
            .expect("built-in theme parses");
        match Theme::overlay(&base, "fuzz.toml", text) {
            Ok(t) => overlays.push((base, t)),
            Err(e) => check_config_error(text, &e),
        }
    }
    check_theme_overlays(text, &overlays);
    let parsed = Theme::parse("fuzz.toml", text);
    if let Err(e) = &parsed {
        check_config_error(text, e);
    }
    Some(parsed.map_err(|e| e.to_string()))
}

/// `(base, file over base)` pairs of an accepted theme file: every key of the file names a
/// role that maps back to that same name; a role the file names has the file's style whatever
/// the base (it replaces the base style whole); a role it does not name keeps the base's.
pub fn check_theme_overlays(text: &str, overlays: &[(Theme, Theme)]) {
    let Some(keys) = toml_keys(text).filter(|_| !overlays.is_empty()) else {
        return;
    };
    let named: Vec<ThemeRole> = keys
        .keys()
        .map(|k| {
            let role = ThemeRole::ALL.into_iter().find(|r| r.name() == k);
            role.unwrap_or_else(|| panic!("theme key {k:?} accepted, names no role"))
        })
        .collect();
    let (_, first) = &overlays[0];
    for (base, over) in overlays {
        for role in ThemeRole::ALL {
            if named.contains(&role) {
                assert_eq!(
                    over.style(role),
                    first.style(role),
                    "{} depends on the base theme",
                    role.name()
                );
            } else {
                assert_eq!(
                    over.style(role),
                    base.style(role),
                    "{} changed though the file does not name it",
                    role.name()
                );
            }
        }
    }
}

// ---- flag systems ------------------------------------------------------------------------

pub fn flagd_names() -> FlagNames {
    FlagNames {
        prompt: KeyPattern::parse("{feature}.prompt").expect("pattern"),
        kill: KeyPattern::parse("{feature}.kill-switch").expect("pattern"),
        levers: [
            (Lever::ModelSwitch, "{feature}.model"),
            (Lever::ConservativeConfig, "{feature}.config"),
            (Lever::TokenBudget, "{feature}.token-budget"),
            (Lever::RetrievalPath, "{feature}.retrieval"),
            (Lever::Fallback, "{feature}.fallback"),
        ]
        .into_iter()
        .map(|(l, p)| (l, KeyPattern::parse(p).expect("pattern")))
        .collect(),
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
/// the first other version, kill switch on the whole feature and on its first segment, each
/// settable lever to another variant for the feature and for a segment), each result written
/// and read back.
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
        for l in &ff.levers {
            let Some(other) = l.variants.iter().find(|v| v.name != l.current) else {
                continue;
            };
            // A segment added past the reported ones would not be reported back.
            if l.segments.len() + 1 >= flagd::MAX_LISTED {
                continue;
            }
            let segment = l.segments.first().map(|(s, _)| s.clone());
            for segment in [None, segment.or(Some("fuzz-segment".into()))] {
                ops.push(FlagOp::SetLever {
                    feature: ff.feature.clone(),
                    lever: l.lever,
                    segment,
                    variant: other.name.clone(),
                    undo: false,
                });
            }
        }
        for op in ops {
            let mut edited = file.clone();
            if edited.apply(&op, &names, "ana", now()).is_err() {
                continue;
            }
            flagd_round_trip(&edited);
            if let FlagOp::SetLever {
                feature,
                lever,
                segment,
                variant,
                ..
            } = &op
            {
                let after = edited.levers(&names);
                let l = after
                    .iter()
                    .find(|f| &f.feature == feature)
                    .and_then(|f| f.levers.iter().find(|l| l.lever == *lever));
                assert_eq!(
                    l.map(|l| l.served_to(segment.as_deref())),
                    Some(variant.as_str()),
                    "lever set did not take"
                );
            }
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
/// log, context field, error body; each through the adapter's decoder, and what it decoded
/// checked against the same body read as plain JSON.
pub fn unleash(data: &[u8]) -> Vec<bool> {
    let p = parts(data);
    let body = |i: usize| p.get(i).copied().unwrap_or(b"");
    check_unleash_error(&unleash::decode_error(body(5)));
    let list = unleash::decode_flag_list(body(0));
    let flag = unleash::decode_flag(body(1));
    let strategy = unleash::decode_strategy(body(2));
    let events = unleash::decode_events(body(3));
    let legal = unleash::decode_context_field(body(4));
    if let Ok(l) = &list {
        check_unleash_flag_list(body(0), l);
    }
    if let Ok(f) = &flag {
        check_unleash_flag(body(1), f);
    }
    if let Ok(st) = &strategy {
        if let Some(raw) = json(body(2)) {
            check_unleash_strategy(&raw, st);
        }
    }
    if let Ok(e) = &events {
        check_unleash_events(body(3), e);
    }
    if let Ok(v) = &legal {
        check_unleash_legal_values(body(4), v);
    }
    vec![
        list.is_ok(),
        flag.is_ok(),
        strategy.is_ok(),
        events.is_ok(),
        legal.is_ok(),
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

/// A body the adapter decoded, as generic JSON. serde skips the fields a decoder ignores
/// without checking them, so a body the adapter rightly accepted may hold invalid UTF-8 there
/// (the fuzzer found a byte in an avatar URL) or a lone surrogate escape (`"\ud800"` in an
/// unknown key): read lossily, only such fields change; when even that fails, only an ignored
/// field can be at fault, and there is nothing to compare against (None).
fn json(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body)
        .or_else(|_| serde_json::from_str(&String::from_utf8_lossy(body)))
        .ok()
}

fn str_at<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_json::Value::as_str)
}

fn list_at<'a>(v: &'a serde_json::Value, key: &str) -> &'a [serde_json::Value] {
    v.get(key)
        .and_then(serde_json::Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Unleash's reason for a refusal, as the footer shows it: one inert line, cut to an excerpt.
pub fn check_unleash_error(error: &str) {
    assert_inert("Unleash error", error);
    assert!(error.chars().count() <= 201, "error excerpt too long");
    assert!(!error.contains('\n'), "error excerpt spans lines");
}

/// Flag names are what the adapter writes back into URLs, so they are carried unchanged (the
/// state layer strips them for display): every flag of the body, in order, by the same name.
pub fn check_unleash_flag_list(body: &[u8], decoded: &[unleash::FlagSummary]) {
    let Some(raw) = json(body) else { return };
    let features = list_at(&raw, "features");
    let names: Vec<Option<&str>> = features.iter().map(|f| str_at(f, "name")).collect();
    let got: Vec<Option<&str>> = decoded.iter().map(|f| Some(f.name.as_str())).collect();
    assert_eq!(got, names, "flag names changed in decoding");
    for (f, raw) in decoded.iter().zip(features) {
        let archived = raw.get("archived").and_then(serde_json::Value::as_bool);
        assert_eq!(f.archived, archived.unwrap_or(false), "{}", f.name);
    }
}

/// A flag's environments and their strategies, unchanged.
pub fn check_unleash_flag(body: &[u8], decoded: &unleash::FlagDetail) {
    let Some(raw) = json(body) else { return };
    assert_eq!(Some(decoded.name.as_str()), str_at(&raw, "name"));
    let envs = list_at(&raw, "environments");
    assert_eq!(
        decoded.environments.len(),
        envs.len(),
        "environments dropped"
    );
    for (env, raw) in decoded.environments.iter().zip(envs) {
        assert_eq!(
            Some(env.name.as_str()),
            str_at(raw, "name"),
            "environment renamed"
        );
        let enabled = raw.get("enabled").and_then(serde_json::Value::as_bool);
        assert_eq!(env.enabled, enabled.unwrap_or(false), "{}", env.name);
        let strategies = list_at(raw, "strategies");
        assert_eq!(env.strategies.len(), strategies.len(), "strategies dropped");
        for (st, raw) in env.strategies.iter().zip(strategies) {
            check_unleash_strategy(raw, st);
        }
    }
}

/// A strategy as decoded against its JSON: id and name, and the variants (prompt versions)
/// and constraints (kill-switch segments) a rollback or kill switch sends back, unchanged;
/// a sort order, if any, finite.
pub fn check_unleash_strategy(raw: &serde_json::Value, st: &unleash::Strategy) {
    assert_eq!(
        Some(st.id.as_str()),
        str_at(raw, "id"),
        "strategy id changed"
    );
    assert_eq!(
        Some(st.name.as_str()),
        str_at(raw, "name"),
        "strategy renamed"
    );
    assert_eq!(
        st.variants.as_slice(),
        list_at(raw, "variants"),
        "variants changed"
    );
    assert_eq!(
        st.constraints.as_slice(),
        list_at(raw, "constraints"),
        "constraints changed"
    );
    if let Some(order) = st.sort_order {
        assert!(order.is_finite(), "sort order {order}");
    }
}

/// Every event of the page, with its type, time and environment unchanged: the prompt's
/// history (last-known-good) is rebuilt from them.
pub fn check_unleash_events(body: &[u8], decoded: &[unleash::Event]) {
    let Some(raw) = json(body) else { return };
    let events = list_at(&raw, "events");
    assert_eq!(decoded.len(), events.len(), "events dropped");
    for (e, raw) in decoded.iter().zip(events) {
        assert_eq!(Some(e.kind.as_str()), str_at(raw, "type"));
        assert_eq!(e.created_at.as_deref(), str_at(raw, "createdAt"));
        assert_eq!(e.environment.as_deref(), str_at(raw, "environment"));
    }
}

/// The segments a kill switch can target, each legal value unchanged and in order.
pub fn check_unleash_legal_values(body: &[u8], decoded: &[String]) {
    let Some(raw) = json(body) else { return };
    let values: Vec<Option<&str>> = list_at(&raw, "legalValues")
        .iter()
        .map(|v| str_at(v, "value"))
        .collect();
    let got: Vec<Option<&str>> = decoded.iter().map(|v| Some(v.as_str())).collect();
    assert_eq!(got, values, "legal values changed");
}

/// Each check fails on an input that breaks its property: a check that cannot fail would let
/// the fuzzer and the regression replay pass on anything.
#[cfg(test)]
mod checks_can_fail {
    use super::*;

    const PD_PAGE: &[u8] = br#"{"incidents":[{"id":"P1","title":"t","status":"triggered","created_at":"2026-11-23T01:00:00Z"}]}"#;
    const MATRIX: &[u8] = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"bot"},"values":[[1795399200,"2"]]}]}}"#;

    #[test]
    #[should_panic(expected = "reaches the screen with")]
    fn inert_refuses_an_escape() {
        assert_inert("title", "ok\u{1b}]52;c;eA==\u{7}");
    }

    #[test]
    #[should_panic(expected = "reaches the screen with")]
    fn inert_refuses_a_bidi_override() {
        assert_inert("title", "abc\u{202e}def");
    }

    #[test]
    #[should_panic(expected = "has an infinity")]
    fn prometheus_check_refuses_an_infinity() {
        let mut set = prometheus(MATRIX).expect("decodes");
        set.signals[0].points[0] = f64::INFINITY;
        check_signal_set(&set);
    }

    #[test]
    #[should_panic(expected = "before triggered_at")]
    fn incident_check_refuses_a_deadline_before_the_trigger() {
        let (mut incidents, _) = pagerduty_incidents(PD_PAGE).expect("decodes");
        incidents[0].respond_by = incidents[0].triggered_at - chrono::Duration::minutes(1);
        check_incident(&incidents[0], "pd:");
    }

    #[test]
    #[should_panic(expected = "outside am:")]
    fn incident_check_refuses_another_sources_id() {
        let (incidents, _) = pagerduty_incidents(PD_PAGE).expect("decodes");
        check_incident(&incidents[0], "am:");
    }

    #[test]
    #[should_panic(expected = "status changed")]
    fn pagerduty_error_check_refuses_a_changed_status() {
        let e = BackendError::Http {
            status: 400,
            message: "Internal Server Error".into(),
        };
        check_pagerduty_error(500, &e);
    }

    #[test]
    #[should_panic(expected = "reaches the screen with")]
    fn pagerduty_error_check_refuses_an_escape() {
        check_pagerduty_error(409, &BackendError::Rejected("\u{1b}[2Jgone".into()));
    }

    #[test]
    #[should_panic(expected = "refused without a reason")]
    fn pagerduty_error_check_refuses_an_empty_reason() {
        check_pagerduty_error(409, &BackendError::Rejected(" ".into()));
    }

    fn reset(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    #[should_panic(expected = "but backs off 1s")]
    fn backoff_check_refuses_retrying_before_the_reset() {
        check_backoff(&reset("ratelimit-reset", "30"), 1);
    }

    #[test]
    #[should_panic(expected = "outside 1..=3600")]
    fn backoff_check_refuses_silencing_a_source_for_hours() {
        check_backoff(&HeaderMap::new(), 7200);
    }

    #[test]
    #[should_panic(expected = "outside 1..=3600")]
    fn backoff_check_refuses_no_backoff() {
        check_backoff(&reset("retry-after", "0"), 0);
    }

    #[test]
    #[should_panic(expected = "lost from")]
    fn events_check_refuses_a_lost_reason() {
        let body = br#"{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}"#;
        check_events_reply(body, &(None, "Event object is invalid".into()));
    }

    #[test]
    #[should_panic(expected = "dedup key changed")]
    fn events_check_refuses_a_changed_dedup_key() {
        let body = br#"{"status":"success","message":"Event processed","dedup_key":"k-1"}"#;
        check_events_reply(body, &(Some("k-2".into()), "Event processed".into()));
    }

    fn config_error(line: Option<usize>, column: Option<usize>, key: &str) -> ConfigError {
        ConfigError {
            file: "config.toml".into(),
            line,
            column,
            table: None,
            key: Some(key.into()),
            message: "expected a number".into(),
        }
    }

    #[test]
    #[should_panic(expected = "error on line 3 of a 2-line file")]
    fn config_error_check_refuses_a_line_past_the_end() {
        check_config_error("[sim]\nseed = 1", &config_error(Some(3), None, "seed"));
    }

    #[test]
    #[should_panic(expected = "at column 10 of a 8-character line 2")]
    fn config_error_check_refuses_a_column_past_the_line() {
        check_config_error("[sim]\nseed = x", &config_error(Some(2), Some(10), "seed"));
    }

    /// The inert part of this check cannot be fed a violating `ConfigError` any more: its
    /// Display writes unsafe characters out (`\u{1b}`). It failed before that fix, on a
    /// quoted key holding an escape sequence (`keymap_and_theme_nasty_inputs`).
    #[test]
    #[should_panic(expected = "a column without a line")]
    fn config_error_check_refuses_a_column_without_a_line() {
        check_config_error("[sim]\nseed = x", &config_error(None, Some(3), "seed"));
    }

    #[test]
    #[should_panic(expected = "given keys but has none")]
    fn keymap_check_refuses_a_binding_that_did_not_take() {
        let k = Keymap::parse(
            "k.toml",
            "[global]\nquit = \"ctrl-c\"\n[normal]\nup = \"k\"",
        )
        .expect("parses");
        check_keymap("[normal]\nack = \"a\"", &k);
    }

    #[test]
    #[should_panic(expected = "accepted, names nothing")]
    fn keymap_check_refuses_a_name_that_does_not_round_trip() {
        let k = Keymap::parse("k.toml", "[global]\nquit = \"ctrl-c\"").expect("parses");
        check_keymap("[normal]\nAck = \"a\"", &k);
    }

    fn builtin_theme(name: &str) -> Theme {
        Theme::builtin(name)
            .and_then(|t| Theme::parse(name, t).ok())
            .expect("built-in theme parses")
    }

    #[test]
    #[should_panic(expected = "sev1 depends on the base theme")]
    fn theme_check_refuses_a_named_role_that_kept_the_base() {
        let pairs: Vec<(Theme, Theme)> = ["default", "high-contrast"]
            .into_iter()
            .map(|n| (builtin_theme(n), builtin_theme(n)))
            .collect();
        check_theme_overlays("sev1 = \"red\"", &pairs);
    }

    #[test]
    #[should_panic(expected = "border changed though the file does not name it")]
    fn theme_check_refuses_a_change_to_an_unnamed_role() {
        let base = builtin_theme("default");
        let over = Theme::overlay(&base, "t.toml", "border = \"red\"").expect("parses");
        check_theme_overlays("sev1 = \"red\"", &[(base, over)]);
    }

    #[test]
    #[should_panic(expected = "names no role")]
    fn theme_check_refuses_a_key_that_names_no_role() {
        let base = builtin_theme("default");
        check_theme_overlays("Sev1 = \"red\"", &[(base.clone(), base)]);
    }

    #[test]
    #[should_panic(expected = "reaches the screen with")]
    fn unleash_error_check_refuses_an_escape() {
        check_unleash_error("\u{1b}]0;pwned\u{7}not found");
    }

    #[test]
    #[should_panic(expected = "flag names changed")]
    fn unleash_list_check_refuses_a_renamed_flag() {
        let decoded = [unleash::FlagSummary {
            name: "support-bot.prompt".into(),
            archived: false,
        }];
        check_unleash_flag_list(br#"{"features":[{"name":"Support-Bot.prompt"}]}"#, &decoded);
    }

    #[test]
    #[should_panic(expected = "variants changed")]
    fn unleash_strategy_check_refuses_changed_variants() {
        let raw = serde_json::json!({"id":"s1","name":"flexibleRollout","variants":[
            {"name":"v13","weight":1000},{"name":"v12","weight":0}]});
        let mut st = unleash::decode_strategy(raw.to_string().as_bytes()).expect("decodes");
        st.variants.pop();
        check_unleash_strategy(&raw, &st);
    }

    #[test]
    #[should_panic(expected = "events dropped")]
    fn unleash_events_check_refuses_a_dropped_event() {
        let body = br#"{"events":[{"type":"feature-strategy-update","createdAt":"2026-11-23T01:00:00Z"}]}"#;
        check_unleash_events(body, &[]);
    }

    #[test]
    #[should_panic(expected = "legal values changed")]
    fn unleash_legal_values_check_refuses_a_changed_value() {
        check_unleash_legal_values(br#"{"legalValues":[{"value":"eu "}]}"#, &["eu".into()]);
    }
}
