//! The fuzz targets' inputs under the normal `cargo test`: every file in
//! `tests/fuzz_regressions/<target>/` (seeds, and every crash fuzzing found, named `crash-*`)
//! goes through the same driver as the fuzz target, and so through the same property checks
//! (`cockpit_testkit::fuzz_harness`: text bound for the screen inert, names unchanged or
//! round-tripping, errors located inside the file, numbers finite, backoffs bounded), which
//! panic on a violated property; then hand-written nasty inputs check what each decoder makes
//! of them, and each seed named below is checked for what it must decode to.

use cockpit_testkit::fuzz_harness;
use fuzz_harness as h;
use oncall_cockpit::backend::BackendError;
use oncall_cockpit::domain::{IncidentType, Sev, SignalKind, Status};
use std::path::Path;

/// Every input file of one target, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Each fuzz target (`fuzz/Cargo.toml`) and its driver, results dropped: the driver's checks
/// are the assertion.
type Driver = fn(&[u8]);

const TARGETS: [(&str, Driver); 12] = [
    ("prometheus_query_range", |d| drop(h::prometheus(d))),
    ("alertmanager_alerts", |d| drop(h::alertmanager(d))),
    ("pagerduty_incidents", |d| drop(h::pagerduty_incidents(d))),
    ("pagerduty_events_reply", |d| {
        drop(h::pagerduty_events_reply(d))
    }),
    ("pagerduty_errors", |d| drop(h::pagerduty_error(d))),
    ("pagerduty_rate_limit", |d| {
        h::pagerduty_rate_limit(d);
    }),
    ("config_file", |d| drop(h::config_file(d))),
    ("keymap", |d| drop(h::keymap(d))),
    ("theme", |d| drop(h::theme(d))),
    ("flagd_file", |d| drop(h::flagd_file(d))),
    ("unleash_responses", |d| drop(h::unleash(d))),
    ("phoenix_spans", |d| drop(h::phoenix(d))),
];

/// Every file of every target through its driver's property checks. The counts only guard
/// against a replay that quietly ran nothing: a renamed folder, a target without seeds, or a
/// fuzz target added without a driver here.
#[test]
fn every_input_of_every_target_holds_its_properties() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "oncall-cockpit-fuzz")
        .collect();
    let mut listed: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    listed.sort_unstable();
    let mut bins_sorted = bins.clone();
    bins_sorted.sort_unstable();
    assert_eq!(listed, bins_sorted, "every fuzz target replays here");
    for (target, driver) in TARGETS {
        let files = inputs(target);
        for (name, data) in &files {
            let replay = std::panic::catch_unwind(|| driver(data));
            assert!(replay.is_ok(), "{target}/{name} breaks a property (above)");
        }
        let seeds = files.iter().filter(|(n, _)| n.starts_with("seed-")).count();
        assert!(seeds >= 2, "{target}: {seeds} seeds");
    }
}

/// The shipped themes and keymaps as they are now, not as they were when seeds were copied.
#[test]
fn shipped_themes_and_keymaps_hold_their_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("themes")).expect("themes") {
        let path = entry.expect("entry").path();
        let text = std::fs::read(&path).expect("read");
        let r = h::theme(&text).expect("UTF-8");
        assert!(r.is_ok(), "{}: {r:?}", path.display());
        seen += 1;
    }
    for entry in std::fs::read_dir(root.join("keymaps")).expect("keymaps") {
        let path = entry.expect("entry").path();
        let text = std::fs::read(&path).expect("read");
        let r = h::keymap(&text).expect("UTF-8");
        assert!(r.is_ok(), "{}: {r:?}", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "{seen} shipped files");
}

fn is_malformed<T: std::fmt::Debug>(r: &Result<T, BackendError>) -> bool {
    matches!(r, Err(BackendError::Malformed(_)))
}

/// Nested JSON arrays `depth` deep: serde_json must refuse it, not overflow the stack.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

// ---- Prometheus --------------------------------------------------------------------------

#[test]
fn prometheus_inputs_replay() {
    for (name, data) in inputs("prometheus_query_range") {
        let result = h::prometheus(&data);
        match name.as_str() {
            "seed-matrix.json" => {
                let set = result.expect("matrix decodes");
                let errors = set
                    .signals
                    .iter()
                    .find(|s| s.feature == "support-bot" && s.kind == SignalKind::ErrorRatio)
                    .expect("support-bot errors");
                assert_eq!(errors.points.len(), 121);
                assert_eq!(errors.points[0], 1.5);
                assert!(errors.points[119].is_nan() && errors.points[120].is_nan());
                // One priced model and one without a price: cost is unknown, never $0.
                let cost = set
                    .signals
                    .iter()
                    .find(|s| s.kind == SignalKind::CostPerMin)
                    .expect("cost");
                assert!(cost.points[120].is_nan());
            }
            "seed-error-400.json" => assert!(
                matches!(&result, Err(BackendError::Http { status: 400, message })
                    if message.contains("bad_data: 1:5: parse error")),
                "{result:?}"
            ),
            "seed-proxy-503.html" => assert!(
                matches!(&result, Err(BackendError::Http { status: 503, message })
                    if message.ends_with(": <html><body> <h1>503 Service Unavailable</h1> </body></html>")),
                "{result:?}"
            ),
            "seed-vector.json" | "seed-real-vector.json" => {
                assert!(is_malformed(&result), "{result:?}")
            }
            "seed-real-bad-data-400.json" => assert!(
                matches!(&result, Err(BackendError::Http { status: 400, message })
                    if message.contains("unclosed left parenthesis")),
                "{result:?}"
            ),
            "seed-real-empty.json" => assert!(result.is_ok(), "{result:?}"),
            "seed-real-matrix.json" => {
                let set = result.expect("a real matrix decodes");
                let mut features: Vec<&str> =
                    set.signals.iter().map(|s| s.feature.as_str()).collect();
                features.dedup();
                // The exporter's escape sequence and bidi override are gone from the name.
                for f in ["evilbot", "summarizer", "support-bot", "triage-agent"] {
                    assert!(features.contains(&f), "{f} not in {features:?}");
                }
            }
            // Crashes found by fuzzing: the driver's properties hold; any clean outcome is fine.
            _ => {}
        }
    }
}

fn one_series(metric: &str, values: &str) -> Vec<u8> {
    format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{metric},"values":{values}}}]}}}}"#
    )
    .into_bytes()
}

#[test]
fn prometheus_nasty_inputs() {
    let good = one_series(r#"{"job":"bot"}"#, r#"[[1795399200,"2"]]"#);
    for cut in [1, good.len() / 2, good.len() - 1] {
        assert!(is_malformed(&h::prometheus(&good[..cut])), "cut at {cut}");
    }
    // Values Prometheus may send, and ones it should not: none becomes an infinity.
    for v in ["NaN", "+Inf", "-Inf", "1e999", "-1e999"] {
        let set = h::prometheus(&one_series(
            r#"{"job":"bot"}"#,
            &format!(r#"[[1795399200,"{v}"]]"#),
        ))
        .expect(v);
        assert!(set.signals.iter().all(|s| s.points[120].is_nan()), "{v}");
    }
    for v in ["twelve", "0x10", ""] {
        let r = h::prometheus(&one_series(
            r#"{"job":"bot"}"#,
            &format!(r#"[[1795399200,"{v}"]]"#),
        ));
        assert!(is_malformed(&r), "{v}: {r:?}");
    }
    // Timestamps far off the grid, either way, are ignored rather than overflowing.
    for t in [
        "1e308",
        "-1e308",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
    ] {
        let set =
            h::prometheus(&one_series(r#"{"job":"bot"}"#, &format!(r#"[[{t},"1"]]"#))).expect(t);
        assert!(
            set.signals
                .iter()
                .all(|s| s.points.iter().all(|p| p.is_nan())),
            "{t} landed on the grid"
        );
    }
    let deep = one_series(r#"{"job":"bot"}"#, &nested(100_000));
    assert!(is_malformed(&h::prometheus(&deep)));
    let mut bad_utf8 = one_series(r#"{"job":"bot"}"#, r#"[[1795399200,"2"]]"#);
    let at = bad_utf8.iter().position(|b| *b == b'b').expect("b of bot");
    bad_utf8[at] = 0xC3;
    assert!(is_malformed(&h::prometheus(&bad_utf8)));
    // Label values name features on screen: escape sequences and bidi overrides are dropped.
    let set = h::prometheus(&one_series(
        r#"{"job":"evil\u001b]52;c;ZXZpbA==\u0007\u202ebot","gen_ai_request_model":"m\u001b[2Jx"}"#,
        r#"[[1795399200,"2"]]"#,
    ))
    .expect("decodes");
    assert!(set.signals.iter().all(|s| s.feature == "evilbot"));
    assert!(
        set.features.iter().any(|f| f.model == "mx"),
        "{:?}",
        set.features
    );
    let r = h::prometheus(br#"{"status":"success"}"#);
    assert!(is_malformed(&r), "{r:?}");
    let r = h::prometheus(br#"{"status":"error","error":"boom"}"#);
    assert!(is_malformed(&r), "{r:?}");
}

// ---- Alertmanager ------------------------------------------------------------------------

#[test]
fn alertmanager_inputs_replay() {
    for (name, data) in inputs("alertmanager_alerts") {
        let result = h::alertmanager(&data);
        if name == "seed-alerts-and-silence.json" {
            let incidents = result.clone().expect("seed decodes");
            assert_eq!(incidents.len(), 2);
            let cost = &incidents[0];
            assert_eq!(
                (cost.sev, cost.kind, cost.status),
                (Sev::Sev2, IncidentType::CostExplosion, Status::Acknowledged)
            );
            assert_eq!(cost.acked_by.as_ref().map(|a| a.as_str()), Some("ana"));
            assert_eq!(cost.timeline.len(), 3, "{:?}", cost.timeline);
            let bare = &incidents[1];
            assert_eq!((bare.sev, bare.feature.as_str()), (Sev::Sev3, "api"));
        }
        if name.starts_with("seed-real-") {
            let incidents = result.clone().unwrap_or_else(|e| panic!("{name}: {e}"));
            let guardrail = incidents
                .iter()
                .find(|i| i.feature.as_str() == "code-assistant")
                .expect("the guardrail alert");
            assert_eq!(guardrail.sev, Sev::Sev1);
            assert!(
                guardrail
                    .evidence
                    .iter()
                    .any(|e| e.as_str() == "model output: done"),
                "{:?}",
                guardrail.evidence
            );
            let cost = incidents
                .iter()
                .find(|i| i.feature.as_str() == "triage-agent");
            match name.as_str() {
                "seed-real-acked-by-silence.json" => {
                    let cost = cost.expect("the cost alert");
                    assert_eq!(cost.status, Status::Acknowledged);
                    assert_eq!(cost.acked_by.as_ref().map(|a| a.as_str()), Some("ana"));
                }
                "seed-real-firing-no-silence.json" => {
                    assert_eq!(cost.map(|c| c.status), Some(Status::Triggered))
                }
                _ => assert!(cost.is_none(), "the filter kept only code-assistant"),
            }
        }
    }
}

fn alert(fields: &str) -> Vec<u8> {
    format!(
        r#"[{{"labels":{{"alertname":"A"}},"startsAt":"2026-11-23T01:00:00Z","fingerprint":"f","status":{{}}{fields}}}]"#
    )
    .into_bytes()
}

#[test]
fn alertmanager_nasty_inputs() {
    let good = alert("");
    assert_eq!(h::alertmanager(&good).map(|i| i.len()), Ok(1));
    for cut in [1, good.len() / 2, good.len() - 1] {
        assert!(is_malformed(&h::alertmanager(&good[..cut])), "cut at {cut}");
    }
    assert!(is_malformed(&h::alertmanager(nested(100_000).as_bytes())));
    assert!(is_malformed(&h::alertmanager(b"[\xff\xfe]")));
    assert!(is_malformed(&h::alertmanager(
        b"[]\xff{\"not\":\"a list\"}"
    )));
    // The latest instant chrono can represent: the response deadline cannot go past it.
    for at in ["+262142-12-31T23:59:59Z", "-262143-01-01T00:00:00Z"] {
        let body = String::from_utf8_lossy(&alert("")).replace("2026-11-23T01:00:00Z", at);
        let r = h::alertmanager(body.as_bytes());
        assert!(r.is_ok() || is_malformed(&r), "{at}: {r:?}");
    }
    let sev = |raw: &str| {
        let body = String::from_utf8_lossy(&alert("")).replace(
            "\"alertname\":\"A\"",
            &format!("\"alertname\":\"A\",\"severity\":\"{raw}\""),
        );
        h::alertmanager(body.as_bytes()).expect(raw)[0].clone()
    };
    let huge = sev("sev99999999999999999999");
    assert_eq!(huge.sev, Sev::Sev3);
    assert!(huge
        .evidence
        .iter()
        .any(|e| e.as_str().contains("not recognised")));
    let hostile = alert(
        r#","annotations":{"summary":"\u001b]0;pwned\u0007ok\u202e","description":"a\nb\u0000c"}"#,
    );
    let inc = &h::alertmanager(&hostile).expect("decodes")[0];
    assert_eq!(inc.title.as_str(), "ok");
    assert_eq!(inc.evidence[0].as_str(), "a bc");
}

// ---- PagerDuty ---------------------------------------------------------------------------

#[test]
fn pagerduty_inputs_replay() {
    for (name, data) in inputs("pagerduty_incidents") {
        let result = h::pagerduty_incidents(&data);
        if name == "seed-page-and-log.json" {
            let (incidents, more) = result.clone().expect("seed decodes");
            assert!(more);
            assert_eq!(incidents.len(), 2);
            let eval = &incidents[0];
            assert_eq!(
                (eval.sev, eval.kind, eval.escalation_level),
                (Sev::Sev1, IncidentType::EvalRegression, 1)
            );
            assert_eq!(eval.acked_by.as_ref().map(|a| a.as_str()), Some("Ana"));
            // Newest-first log, oldest first on the timeline.
            assert!(eval.timeline[0].text.as_str().starts_with("Triggered"));
            assert_eq!(incidents[1].sev, Sev::Sev4);
        }
        if name == "seed-documented-page-and-log.json" {
            let (incidents, more) = result
                .clone()
                .expect("PagerDuty's documented shape decodes");
            assert!(more);
            let eval = &incidents[0];
            assert_eq!(
                (eval.sev, eval.kind, eval.status, eval.escalation_level),
                (
                    Sev::Sev1,
                    IncidentType::EvalRegression,
                    Status::Acknowledged,
                    1
                )
            );
            assert_eq!(eval.acked_by.as_ref().map(|a| a.as_str()), Some("Ana Lima"));
            let texts: Vec<&str> = eval.timeline.iter().map(|t| t.text.as_str()).collect();
            assert!(texts[0].starts_with("Triggered"), "{texts:?}");
            assert!(
                texts
                    .iter()
                    .any(|t| t.contains("rolled prompt back to v12")),
                "{texts:?}"
            );
            assert_eq!(incidents[1].sev, Sev::Sev4);
        }
    }
    for (name, data) in inputs("pagerduty_events_reply") {
        let r = h::pagerduty_events_reply(&data);
        match name.as_str() {
            "seed-accepted.json" => assert_eq!(
                r,
                Ok((
                    Some("oncall-cockpit/sim:INC-1".into()),
                    "Event processed".into()
                ))
            ),
            "seed-invalid.json" => assert!(
                r.as_ref()
                    .is_ok_and(|(_, t)| t.contains("summary' is missing")),
                "{r:?}"
            ),
            _ => assert!(r.is_ok(), "{name}: {r:?}"),
        }
    }
    for (name, data) in [
        ("truncated", &b"{\"status\":\"succ"[..]),
        ("html", b"<html>502</html>"),
        ("errors not a list", br#"{"errors": "x"}"#),
    ] {
        assert!(h::pagerduty_events_reply(data).is_err(), "{name}");
    }
    for (name, data) in inputs("pagerduty_errors") {
        let e = h::pagerduty_error(&data);
        match name.as_str() {
            "seed-conflict-400.json" => assert_eq!(
                e,
                BackendError::Rejected("Incident Already Resolved".into())
            ),
            "seed-unauthorized-401.json" => {
                assert!(e.to_string().contains("invalid API token"), "{e}")
            }
            "seed-not-found-404.json" => {
                assert_eq!(e, BackendError::Rejected("no incident pd:PD1".into()))
            }
            "seed-forbidden-403.json" => {
                assert!(e.to_string().contains("forbidden"), "{e}")
            }
            "seed-escalation-level-400.json" => assert!(
                matches!(&e, BackendError::Http { status: 400, message }
                    if message.contains("Escalation level is not valid")),
                "{e:?}"
            ),
            "seed-proxy-502.html" => assert_eq!(
                e,
                BackendError::Http {
                    status: 502,
                    message: "<html>Bad gateway</html>".into()
                }
            ),
            _ => {}
        }
    }
    for (name, data) in inputs("pagerduty_rate_limit") {
        let secs = h::pagerduty_rate_limit(&data);
        match name.as_str() {
            "seed-both.txt" => assert_eq!(secs, 30),
            "seed-none.txt" => assert_eq!(secs, 60),
            "seed-documented-429.txt" => assert_eq!(secs, 37),
            _ => {}
        }
    }
}

fn page(incident_fields: &str) -> String {
    format!(
        r#"{{"incidents":[{{"id":"P1","title":"t","status":"triggered","created_at":"2026-11-23T01:00:00Z"{incident_fields}}}]}}"#
    )
}

fn escalations(summaries: &[&str]) -> String {
    let entries: Vec<String> = summaries
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                r#"{{"type":"escalate_log_entry","created_at":"2026-11-23T01:0{i}:00Z","summary":"{s}"}}"#
            )
        })
        .collect();
    format!(r#"{{"log_entries":[{}]}}"#, entries.join(","))
}

fn with_log(page: &str, log: &str) -> Vec<u8> {
    let mut data = page.as_bytes().to_vec();
    data.push(0xFF);
    data.extend_from_slice(log.as_bytes());
    data
}

#[test]
fn pagerduty_nasty_inputs() {
    let good = page("");
    assert_eq!(
        h::pagerduty_incidents(good.as_bytes()).map(|(i, more)| (i.len(), more)),
        Ok((1, false))
    );
    for cut in [1, good.len() / 2, good.len() - 1] {
        let r = h::pagerduty_incidents(&good.as_bytes()[..cut]);
        assert!(is_malformed(&r), "cut at {cut}");
    }
    let deep = format!(r#"{{"incidents":{}}}"#, nested(100_000));
    assert!(is_malformed(&h::pagerduty_incidents(deep.as_bytes())));
    assert!(is_malformed(&h::pagerduty_incidents(
        b"{\"incidents\":[\xc3]}"
    )));
    let r = h::pagerduty_incidents(page(r#","incident_number":1e999"#).as_bytes());
    assert!(is_malformed(&r), "{r:?}");
    // An escalation past the largest level, then one more step, saturates.
    let log = escalations(&["Escalated to level 4294967295", "Escalated"]);
    let (incidents, _) = h::pagerduty_incidents(&with_log(&page(""), &log)).expect("decodes");
    assert_eq!(incidents[0].escalation_level, u8::MAX);
    let r = h::pagerduty_incidents(page(r#","escalation_level":4294967295"#).as_bytes());
    assert_eq!(r.map(|(i, _)| i[0].escalation_level), Ok(u8::MAX));
    for at in ["+262142-12-31T23:59:59Z", "-262143-01-01T00:00:00Z"] {
        let body = page("").replace("2026-11-23T01:00:00Z", at);
        let r = h::pagerduty_incidents(body.as_bytes());
        assert!(r.is_ok() || is_malformed(&r), "{at}: {r:?}");
    }
    let hostile = page(r#","service":{"summary":"s\tvc"}"#).replace(
        r#""title":"t""#,
        r#""title":"\u001b[2J\u001b]8;;http://evil\u0007click\u2066""#,
    );
    let (incidents, _) = h::pagerduty_incidents(hostile.as_bytes()).expect("decodes");
    assert_eq!(incidents[0].title.as_str(), "click");
    assert_eq!(incidents[0].feature.as_str(), "s vc");

    let e = h::pagerduty_error(
        b"409\n{\"error\":{\"message\":\"\\u001b]52;c;eA==\\u0007already acked\"}}",
    );
    assert_eq!(e, BackendError::Rejected("already acked".into()));
    // Raw control bytes make it invalid JSON: the body excerpt is shown, stripped.
    let e =
        h::pagerduty_error(b"409\n{\"error\":{\"message\":\"\x1b]52;c;eA==\x07already acked\"}}");
    assert_eq!(
        e,
        BackendError::Rejected("{\"error\":{\"message\":\"already acked\"}}".into())
    );
    let e = h::pagerduty_error(b"500\n\xff\xfe\x1b[31m");
    assert!(matches!(e, BackendError::Http { status: 500, .. }), "{e:?}");
    let e = h::pagerduty_error(b"404\n{\"error\":");
    assert_eq!(e, BackendError::Rejected("no incident pd:PD1".into()));

    // A reset hours or centuries away is a broken header, not a reason to stop polling
    // forever (or to overflow the clock).
    for reset in ["18446744073709551615", "99999999999"] {
        let secs = h::pagerduty_rate_limit(format!("ratelimit-reset: {reset}\n").as_bytes());
        assert!(secs <= 3600, "{reset}: {secs}");
    }
    assert_eq!(h::pagerduty_rate_limit(b"retry-after: 0\n"), 1);
    assert_eq!(h::pagerduty_rate_limit(b"retry-after: -5\n"), 60);
    assert_eq!(h::pagerduty_rate_limit(b"retry-after: \xff\xfe\n"), 60);
}

// ---- config files ------------------------------------------------------------------------

#[test]
fn config_inputs_replay() {
    for (name, data) in inputs("config_file") {
        let result = h::config_file(&data);
        if name.starts_with("seed-") {
            let s = result
                .expect("UTF-8")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if name == "seed-sources.toml" {
                use oncall_cockpit::backend::{alertmanager, pagerduty, prometheus};
                let p = prometheus::config::SCHEMA
                    .entries(&s.sources)
                    .expect("read");
                assert_eq!(p[0].preset, "vllm");
                let am = alertmanager::config::SCHEMA
                    .entries(&s.sources)
                    .expect("read");
                assert_eq!(am[0].timeout_secs.secs(), 3.5);
                let pd = pagerduty::config::SCHEMA.entries(&s.sources).expect("read");
                assert_eq!(pd[0].poll_secs.secs(), 15.0);
            }
        }
    }
    for (name, data) in inputs("keymap") {
        let r = h::keymap(&data).expect("UTF-8");
        // An overlay binds only some actions: alone it is rightly refused (no way to quit),
        // over the built-ins the driver has already checked it.
        let whole = name.starts_with("seed-") && !name.starts_with("seed-overlay-");
        assert!(!whole || r.is_ok(), "{name}: {r:?}");
    }
    for (name, data) in inputs("theme") {
        let r = h::theme(&data).expect("UTF-8");
        assert!(!name.starts_with("seed-") || r.is_ok(), "{name}: {r:?}");
    }
}

#[test]
fn config_nasty_inputs() {
    assert!(
        h::config_file(b"theme = \"\xff\"").is_none(),
        "invalid UTF-8 is refused"
    );
    let err = |text: &str| match h::config_file(text.as_bytes()) {
        Some(Err(e)) => e,
        other => panic!("{text:?} accepted: {other:?}"),
    };
    assert!(err("[sim\nseed = 1").contains("line 1"));
    assert!(err("[sim]\nseed = 99999999999999999999999").contains("line 2"));
    assert!(err("[sim]\nseed = -1").contains("seed"));
    assert!(err("[sim]\n\"\\u001b[2J\\u202e\" = 1").contains("line 2"));
    assert!(!err(&format!("x = {}", "[".repeat(100_000))).is_empty());
    assert!(!err(&format!("x = {}", "{a=".repeat(100_000))).is_empty());
    // Numbers TOML allows that no poll interval or timeout can be, and intervals past the
    // documented limits: refused with the key and its line, never clamped. NaN used to panic
    // at start-up turning into a Duration; 1e-6 was clamped to ten polls a second.
    for v in ["nan", "inf", "-inf", "-1.0", "0.0", "0.000001", "1e300"] {
        for (text, key) in [
            (format!("[sim]\npoll_secs = {v}\n"), "poll_secs"),
            (
                format!("[[alertmanager]]\nurl = \"http://am\"\npoll_secs = {v}\n"),
                "poll_secs",
            ),
            (
                format!("[[prometheus]]\nurl = \"http://p\"\ntimeout_secs = {v}\n"),
                "timeout_secs",
            ),
            (
                format!("[[flagd]]\npath = \"/tmp/f.json\"\ntimeout_secs = {v}\n"),
                "timeout_secs",
            ),
        ] {
            let e = err(&text);
            assert!(
                e.contains(&format!("line {}", text.lines().count()))
                    && e.contains(&format!("key `{key}`: expected "))
                    && e.contains(", found "),
                "{text}: {e}"
            );
        }
    }
    // A huge timeout used to panic in Alertmanager::new; now no config can hold one, so no
    // adapter ever sees it.
    let huge = oncall_cockpit::config::timing::TimeoutSecs::try_from(1e300);
    assert!(huge.is_err_and(|e| e.contains("found 1e300")));
}

#[test]
fn keymap_and_theme_nasty_inputs() {
    assert!(h::keymap(b"[normal]\nack = \"\xff\"").is_none());
    assert!(h::theme(b"sev1 = \"\xc3\"").is_none());
    let key_err = |text: &str| h::keymap(text.as_bytes()).expect("UTF-8").expect_err(text);
    assert!(key_err("[normal]\nack = [\"a\"").contains("line 2"));
    assert!(key_err("[normal]\nack = \"ctrl-alt-shift-super-hyper-\"").contains("ack"));
    assert!(key_err("[\u{1b}]52;c;x\u{7}]\nack = \"a\"").contains("line 1"));
    assert!(!key_err(&format!("[normal]\nack = {}", "[".repeat(100_000))).is_empty());
    let theme_err = |text: &str| h::theme(text.as_bytes()).expect("UTF-8").expect_err(text);
    assert!(theme_err("sev1 = \"redd\"").contains("unknown colour"));
    assert!(theme_err("sev1 = { fg = \"#12345\" }").contains("sev1"));
    assert!(theme_err("sev1 = { fg = 1e999 }").contains("line 1"));
    assert!(!theme_err(&format!("sev1 = {}", "{a=".repeat(100_000))).is_empty());
    // A quoted TOML key may hold any character: the error that names it must not replay an
    // escape sequence on the terminal that shows it (the drivers check every error is inert).
    let osc = r#""\u001b]52;c;eA==\u0007""#;
    assert!(key_err(&format!("[{osc}]\nack = \"a\"")).contains("unknown mode table"));
    assert!(key_err(&format!("[normal]\n{osc} = \"a\"")).contains("]52;c;eA=="));
    assert!(theme_err(&format!("{osc} = \"red\"")).contains("]52;c;eA=="));
}

// ---- flag systems ------------------------------------------------------------------------

#[test]
fn flagd_inputs_replay() {
    for (name, data) in inputs("flagd_file") {
        let result = h::flagd_file(&data);
        if name == "seed-flags.json" {
            let levers = result.as_ref().expect("seed decodes");
            assert_eq!(levers.len(), 1);
            assert_eq!(levers[0].current_prompt.as_deref(), Some("v14"));
        }
        if name == "seed-levers-chain-and-team-rule.json" {
            let features = result.as_ref().expect("seed decodes");
            let bot = &features[0];
            let model = &bot.levers[0];
            assert_eq!(model.served_to(Some("eu")), "\u{1b}[2J");
            assert_eq!(model.previous, None, "the last change was a segment's");
            assert!(bot.levers.iter().any(|l| l.segments_unknown));
            assert_eq!(features[1].levers[0].current, "off");
        }
    }
}

#[test]
fn flagd_nasty_inputs() {
    let good = br#"{"flags":{"a.prompt":{"state":"ENABLED","variants":{"v1":1,"v2":2},"defaultVariant":"v2"}}}"#;
    assert_eq!(h::flagd_file(good).map(|l| l.len()), Ok(1));
    for cut in [1, good.len() / 2, good.len() - 1] {
        assert!(h::flagd_file(&good[..cut]).is_err(), "cut at {cut}");
    }
    assert!(h::flagd_file(format!(r#"{{"flags":{}}}"#, nested(100_000)).as_bytes()).is_err());
    assert!(h::flagd_file(b"{\"flags\":{\"\xc3\":{}}}").is_err());
    assert!(h::flagd_file(br#"{"flags":[]}"#).is_err());
    // Numbers the cockpit does not own must survive a write unchanged, however odd.
    for n in [
        "1e308",
        "-0",
        "5e-324",
        "0.1",
        "9.9e40",
        "18446744073709551615",
        "-9223372036854775808",
    ] {
        let file = format!(
            r#"{{"flags":{{"a.prompt":{{"state":"ENABLED","variants":{{"v1":{n},"v2":2}},"defaultVariant":"v2","x":{n}}}}}}}"#
        );
        assert_eq!(
            h::flagd_file(file.as_bytes()).map(|l| l.len()),
            Ok(1),
            "{n}"
        );
    }
    assert!(h::flagd_file(br#"{"flags":{"a.prompt":{"variants":{"v1":1e999}}}}"#).is_err());
    // Control characters in names are carried as data; the state layer strips them for display.
    let levers = h::flagd_file(
        br#"{"flags":{"\u001b]52;c;x\u0007bot.prompt":{"state":"ENABLED","variants":{"v\u202e1":1,"v2":2},"defaultVariant":"v2","metadata":"not an object"}}}"#,
    )
    .expect("decodes");
    assert_eq!(levers[0].prompt_versions.len(), 2);
}

#[test]
fn unleash_inputs_replay() {
    for (name, data) in inputs("unleash_responses") {
        let decoded = h::unleash(&data);
        if name.starts_with("seed-") {
            assert_eq!(decoded, vec![true; 5], "{name}");
        }
    }
}

#[test]
fn unleash_nasty_inputs() {
    assert_eq!(h::unleash(b""), vec![false; 5]);
    let deep = nested(100_000);
    assert_eq!(h::unleash(deep.as_bytes()), vec![false; 5]);
    let all = |body: &str| {
        let mut data = Vec::new();
        for i in 0..6 {
            if i > 0 {
                data.push(0xFF);
            }
            data.extend_from_slice(body.as_bytes());
        }
        h::unleash(&data)
    };
    assert_eq!(all("\u{1b}[2J\n".repeat(1000).as_str()), vec![false; 5]);
    assert!(h::unleash(br#"{"features":[{"name":"a","archived":null}]}"#)[0]);
    assert!(!h::unleash(br#"{"features":[{"name":1e999}]}"#)[0]);
    let strategy = br#"{"id":"s","name":"default","sortOrder":1e999}"#;
    let mut data = vec![0xFF, 0xFF];
    data.extend_from_slice(strategy);
    assert!(!h::unleash(&data)[2], "1e999 is not a sort order");
}

// ---- Phoenix -----------------------------------------------------------------------------

#[test]
fn phoenix_inputs_replay() {
    for (name, data) in inputs("phoenix_spans") {
        let decoded = h::phoenix(&data);
        if name == "seed-spans.json" {
            let samples = decoded.expect("the seed decodes");
            assert_eq!(samples.len(), 2);
            assert_eq!(samples[0].eval_score, Some(0.25));
            assert_eq!(samples[0].retrieved.len(), 1, "from its trace's retriever");
            assert_eq!(
                samples[1].error.as_ref().map(|e| e.as_str()),
                Some("upstream 503")
            );
        }
    }
}

#[test]
fn phoenix_nasty_inputs() {
    let all = |spans: &str, annotations: &str| {
        let mut data = spans.as_bytes().to_vec();
        data.push(0xFF);
        data.extend_from_slice(annotations.as_bytes());
        data.push(0xFF);
        data.extend_from_slice(br#"{"data":[],"next_cursor":null}"#);
        h::phoenix(&data)
    };
    assert!(is_malformed(&h::phoenix(b"")));
    assert!(is_malformed(&h::phoenix(nested(100_000).as_bytes())));
    let empty = r#"{"data":[],"next_cursor":null}"#;
    let span = |attrs: &str| {
        format!(
            r#"{{"data":[{{"context":{{"trace_id":"t","span_id":"s"}},"start_time":"2026-12-01T02:00:00Z","end_time":"2026-12-01T01:00:00Z","status_code":"ERROR","attributes":{attrs},"events":[]}}],"next_cursor":null}}"#
        )
    };
    let odd = span(
        r#"{"llm.token_count.prompt":1e300,"llm.cost.total":"NaN","llm.invocation_parameters":"{\"temperature\":1e400}","retrieval.documents.0.document.score":-1e308,"metadata":"not json","user.id":{"a":1}}"#,
    );
    let samples = all(&odd, empty).expect("odd values are dropped, not fatal");
    // A number JSON cannot hold makes the whole reply malformed, as for every source.
    assert!(is_malformed(&all(&span(r#"{"x":1e999}"#), empty)));
    let s = &samples[0];
    assert_eq!((s.input_tokens, s.cost, s.latency_secs), (None, None, None));
    assert_eq!((s.segment.clone(), s.user.clone()), (None, None));
    assert_eq!(s.error.as_ref().map(|e| e.as_str()), Some("ERROR"));
    let annotations = r#"{"data":[{"span_id":"s","name":"correctness","result":{"score":1e999}}],"next_cursor":null}"#;
    assert!(
        is_malformed(&all(&span("{}"), annotations)),
        "1e999 is not a score"
    );
    let no_time = r#"{"data":[{"context":{"trace_id":"t","span_id":"s"},"start_time":"yesterday","end_time":"2026-12-01T01:00:00Z"}],"next_cursor":null}"#;
    assert!(is_malformed(&all(no_time, empty)));
}
