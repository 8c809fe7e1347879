//! The shipped Prometheus rules (rules/ai-detectors.rules.yml) under `cargo test`: promtool
//! checks them and runs their unit tests (rules/tests/*.yml). Two more checks tie the rules to
//! the cockpit: every alert has a unit test, and every severity and ai_incident_type label is
//! one the Alertmanager source maps.
//!
//! promtool comes with the Debian package prometheus, which tests/run installs. Without it
//! the tests fail with that instruction. They never skip.

use oncall_cockpit::domain::{IncidentType, Sev};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = "rules/ai-detectors.rules.yml";
const RULE_TESTS: &str = "rules/tests";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// promtool as tests/run finds it: on PATH (`command -v promtool`), wherever the package or
/// a tarball put it.
fn promtool_path() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("promtool not found on PATH: apt-get install prometheus (see tests/run)")
        })
}

/// Runs promtool from the repository root. Returns its output as the error when it fails.
fn promtool(args: &[&str]) -> Result<(), String> {
    let bin = promtool_path();
    let out = Command::new(&bin)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "promtool {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// rules/tests/*.yml, sorted, relative to the repository root.
fn rule_test_files() -> Vec<PathBuf> {
    let dir = root().join(RULE_TESTS);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the root")
                .to_path_buf()
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool unit tests in {RULE_TESTS}/");
    files
}

fn read(rel: &Path) -> String {
    std::fs::read_to_string(root().join(rel))
        .unwrap_or_else(|e| panic!("read {}: {e}", rel.display()))
}

/// Values of `key: value` lines (YAML block style, as the rules file is written). Quotes are
/// stripped, and a trailing `# comment` is ignored.
fn values_of<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches("- ");
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            let value = rest.split(" #").next().unwrap_or("").trim();
            Some(value.trim_matches(['"', '\'']))
        })
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn rules_pass_promtool_check() {
    if let Err(e) = promtool(&["check", "rules", RULES]) {
        panic!("{e}");
    }
}

#[test]
fn rules_pass_their_promtool_unit_tests() {
    // One promtool run per file, in parallel, so a failure names its file and the slowest
    // file sets the time. Every file runs, and every failure is reported together.
    let files = rule_test_files();
    let failures: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = files
            .iter()
            .map(|f| s.spawn(move || promtool(&["test", "rules", &f.to_string_lossy()])))
            .collect();
        runs.into_iter()
            .filter_map(|run| run.join().expect("promtool thread").err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_alert_has_a_promtool_unit_test() {
    let rules = read(Path::new(RULES));
    let alerts: BTreeSet<&str> = values_of(&rules, "alert").into_iter().collect();
    assert!(!alerts.is_empty(), "no alerting rules found in {RULES}");
    let tests: Vec<String> = rule_test_files().iter().map(|f| read(f)).collect();
    let tested: BTreeSet<&str> = tests
        .iter()
        .flat_map(|t| values_of(t, "alertname"))
        .collect();
    let untested: Vec<&str> = alerts.difference(&tested).copied().collect();
    assert!(
        untested.is_empty(),
        "alerts without a promtool unit test in {RULE_TESTS}/: {untested:?}"
    );
}

#[test]
fn alert_labels_are_ones_the_cockpit_maps() {
    let rules = read(Path::new(RULES));
    // Each alert's own block: from its `- alert:` line to the next rule or group.
    let blocks: Vec<&str> = rules
        .split("- alert:")
        .skip(1)
        .map(|b| b.split("- record:").next().unwrap_or(b))
        .map(|b| b.split("- name:").next().unwrap_or(b))
        .collect();
    assert!(!blocks.is_empty(), "no alerting rules found in {RULES}");
    for block in blocks {
        let name = block.lines().next().unwrap_or("").trim();
        let severity = values_of(block, "severity");
        let kind = values_of(block, "ai_incident_type");
        assert_eq!(severity.len(), 1, "{name}: want one severity label");
        assert_eq!(kind.len(), 1, "{name}: want one ai_incident_type label");
        let sev = severity[0]
            .strip_prefix("sev")
            .and_then(|n| n.parse::<u8>().ok())
            .and_then(Sev::from_number);
        assert!(
            sev.is_some(),
            "{name}: severity {:?} is not sev1..sev4",
            severity[0]
        );
        let parsed: IncidentType =
            serde_json::from_value(serde_json::Value::String(kind[0].to_string()))
                .unwrap_or(IncidentType::Other);
        assert_ne!(
            parsed,
            IncidentType::Other,
            "{name}: ai_incident_type {:?} is not a type the cockpit knows",
            kind[0]
        );
    }
}

/// What one GenAI instrumentation library exported on /metrics, captured from the real
/// library by the instrumentation tier (tests/instrumentation/, `curl …/metrics`), and what
/// the rules must make of it: the rules' side of the README's compatibility table.
struct Captured {
    lib: &'static str,
    ttft: bool,
    tpot: bool,
    /// Latency judged on operation duration because neither TTFT nor TPOT is there.
    fallback: bool,
}

const CAPTURED: [Captured; 3] = [
    // Official OTel: tokens and operation duration only.
    Captured {
        lib: "otel",
        ttft: false,
        tpot: false,
        fallback: true,
    },
    // OpenLIT: server TTFT/TPOT histograms with sub-second buckets.
    Captured {
        lib: "openlit",
        ttft: true,
        tpot: true,
        fallback: false,
    },
    // Traceloop: tokens under `…_token_sum`; TTFT and duration in the SDK's default buckets
    // (0, 5, 10 s …), which cannot resolve a sub-second p99: no latency at all, never a
    // pinned 4.95 s.
    Captured {
        lib: "traceloop",
        ttft: false,
        tpot: false,
        fallback: false,
    },
];

/// One sample line of exposition text: the series as written and its value. Label values
/// may hold spaces (`error_type="<class '…'>"`), so the value is what follows the last space.
fn sample_lines(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn name_of(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

/// The series with the scrape's labels added, as Prometheus stores it.
fn scraped(series: &str, job: &str) -> String {
    let extra = format!("job=\"{job}\",instance=\"127.0.0.1:9464\"");
    match series.strip_suffix('}') {
        Some(open) if open.ends_with('{') => format!("{open}{extra}}}"),
        Some(open) => format!("{open},{extra}}}"),
        None => format!("{series}{{{extra}}}"),
    }
}

fn is_tokens(name: &str) -> bool {
    name.starts_with("gen_ai_client_token_usage")
}

const MINUTES: u32 = 130;
const SPIKE_FROM: u32 = 91;
const SPIKE: f64 = 5.0;

/// promtool input series from a capture: every counter and histogram part grows each minute
/// by its captured value (so its rate per minute is that value), gauges hold theirs, and the
/// token histograms grow 5x faster from minute 91: a cost spike on real names and labels.
fn input_series(lib: &str, text: &str) -> String {
    let gauges: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" gauge"))
        .collect();
    let mut out = String::new();
    for (series, v) in sample_lines(text) {
        let name = name_of(&series);
        let values = if gauges.contains(name) {
            format!("{v}x{MINUTES}")
        } else if is_tokens(name) {
            let at = v * f64::from(SPIKE_FROM - 1);
            format!(
                "0+{v}x{} {}+{}x{}",
                SPIKE_FROM - 1,
                at + SPIKE * v,
                SPIKE * v,
                MINUTES - SPIKE_FROM
            )
        } else {
            format!("0+{v}x{MINUTES}")
        };
        // YAML single quotes: a quote inside is written twice.
        let quoted = scraped(&series, lib).replace('\'', "''");
        out.push_str(&format!(
            "      - series: '{quoted}'\n        values: '{values}'\n"
        ));
    }
    out
}

fn expect(expr: &str, at: u32, value: Option<f64>) -> String {
    let samples = match value {
        Some(v) => format!("\n          - labels: '{{}}'\n            value: {v}"),
        None => " []".to_string(),
    };
    format!(
        "      - expr: '{}'\n        eval_time: {at}m\n        exp_samples:{samples}\n",
        expr.replace('\'', "''")
    )
}

#[test]
fn the_rules_read_what_each_real_instrumentation_exports() {
    let dir = cockpit_testkit::servers::temp_dir("rules-exposition");
    let rules = root().join(RULES);
    let mut failures = Vec::new();
    for c in &CAPTURED {
        let path = root().join(format!("rules/tests/exposition/{}.prom", c.lib));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let samples = sample_lines(&text);
        let sum = |keep: &dyn Fn(&str) -> bool| -> f64 {
            samples
                .iter()
                .filter(|(s, _)| keep(s))
                .map(|(_, v)| v)
                .sum()
        };
        // What the capture says, computed here, independently of the rules.
        let tokens = sum(&|s| {
            let n = name_of(s);
            is_tokens(n) && n.ends_with("_sum")
        });
        let calls = sum(&|s| name_of(s) == "gen_ai_client_operation_duration_seconds_count");
        let failed = sum(&|s| {
            name_of(s) == "gen_ai_client_operation_duration_seconds_count"
                && s.contains("error_type=\"")
                && !s.contains("error_type=\"\"")
        });
        assert!(
            tokens > 0.0 && calls > 0.0 && failed > 0.0,
            "{}: a thin capture",
            c.lib
        );
        let f = format!("feature=\"{}\"", c.lib);
        let one = |present: bool| present.then_some(1.0);
        let mut tests = String::new();
        tests.push_str(&expect(
            &format!("round(sum(ai:tokens_per_minute:rate5m{{{f}}}))"),
            60,
            Some(tokens.round()),
        ));
        tests.push_str(&expect(
            &format!("round(1000 * sum(ai:error_ratio:rate5m{{{f}}}))"),
            60,
            Some((1000.0 * failed / calls).round()),
        ));
        tests.push_str(&expect(
            &format!("count(ai:ttft_seconds:p99_5m{{{f}}})"),
            60,
            one(c.ttft),
        ));
        tests.push_str(&expect(
            &format!("count(ai:tpot_seconds:p99_5m{{{f}}})"),
            60,
            one(c.tpot),
        ));
        tests.push_str(&expect(
            &format!(
                "count(ai:operation_duration_seconds:p99_5m{{{f}}} \
                 unless on (feature) ai:ttft_seconds:p99_5m unless on (feature) ai:tpot_seconds:p99_5m)"
            ),
            60,
            one(c.fallback),
        ));
        // The spike: 5x the trailing hour, a SEV3 cost explosion.
        tests.push_str(&expect(
            &format!("round(sum(ai:tokens_per_minute:rate5m_vs_baseline1h{{{f}}}))"),
            95,
            Some(SPIKE),
        ));
        tests.push_str(&expect(
            &format!(
                "count(ALERTS{{alertname=\"AITokenSpendExplosion\", alertstate=\"firing\", severity=\"sev3\", {f}}})"
            ),
            95,
            Some(1.0),
        ));
        let file = dir.join(format!("{}.yml", c.lib));
        let yaml = format!(
            "# Generated by tests/real/rules_promtool.rs from rules/tests/exposition/{}.prom\n\
             rule_files:\n  - {}\n\nevaluation_interval: 1m\n\ntests:\n  - interval: 1m\n    \
             input_series:\n{}\n    promql_expr_test:\n{}",
            c.lib,
            rules.display(),
            input_series(c.lib, &text),
            tests
        );
        std::fs::write(&file, yaml).expect("write the generated test");
        if let Err(e) = promtool(&["test", "rules", &file.to_string_lossy()]) {
            failures.push(format!("{}:\n{e}", c.lib));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
