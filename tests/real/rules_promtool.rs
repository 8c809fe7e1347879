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
