//! The Prometheus adapter against a real VictoriaMetrics (Debian package victoria-metrics,
//! default query settings: response cache on, 30 s latency offset), fed the same planted
//! history as the Prometheus tests: the same signals, on the cockpit's grid, with the
//! newest point's age told; and vmalert loading the shipped rules.

use crate::prometheus_real::{
    assert_close, assert_otel_figures, config, last, otel_history, signal, test_now, vllm_history,
    POINTS,
};
use chrono::{DateTime, Duration, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::MetricsSource;
use oncall_cockpit::domain::{Freshness, SignalKind, SignalSet};
use servers::prometheus::start_backfilled;
use servers::victoria::{start_imported, vmalert};
use std::process::Command;

/// A poll 23.4 s past the minute after the history's end: not on any grid, like a real one.
fn poll_after(end: DateTime<Utc>) -> DateTime<Utc> {
    end + Duration::milliseconds(60_000 + 23_400)
}

async fn poll(url: &str, preset: &str, label: &str, at: DateTime<Utc>) -> SignalSet {
    let mut source = Prometheus::new(&config(url, preset, label)).expect("valid config");
    let set = source.fetch(at).await.expect("fetch succeeds");
    assert_eq!(set.at, Some(at));
    set
}

#[tokio::test]
async fn victoria_metrics_is_identified_and_answers_on_the_cockpits_grid() {
    let now = test_now();
    let vm = start_imported("grid", &otel_history(now));
    let at = poll_after(now);
    let set = poll(&vm.url, "otel", "job", at).await;

    assert_eq!(set.engine.as_deref(), Some("VictoriaMetrics"));
    assert!(
        set.notes.iter().any(|n| n.contains("extrapolate"))
            && set.notes.iter().any(|n| n.contains("latencyOffset")),
        "{:?}",
        set.notes
    );
    // 23.4 s past now + 1 min, less the 30 s latency offset, down to the minute: `now`.
    // Every signal ends there, whatever the engine's cache would have done with an
    // unaligned range, and every slot of the window holds a point: none was shifted off
    // the grid or left out at the newest end.
    assert!(!set.signals.is_empty());
    for s in &set.signals {
        assert_eq!(s.end, Some(now), "{} {:?}", s.feature, s.kind);
        if s.kind == SignalKind::TokensPerMin && s.feature == "support-bot" {
            assert_eq!(s.points.len(), POINTS);
            assert!(s.points.iter().all(|v| v.is_finite()), "{:?}", s.points);
        }
        // The newest point is a minute and 23.4 s old at the poll: within a step and a half
        // of it, so current.
        let newest = s.newest(at).expect("a newest point");
        assert_eq!(newest.at, now, "{} {:?}", s.feature, s.kind);
        assert!(matches!(s.freshness(at), Freshness::Current(_)));
    }
}

#[tokio::test]
async fn otel_preset_reads_the_same_signals_on_victoria_metrics() {
    let now = test_now();
    let vm = start_imported("otel", &otel_history(now));
    let set = poll(&vm.url, "otel", "job", poll_after(now)).await;

    // The same figures as against Prometheus (prometheus_real.rs): on series older than
    // the rate window, rate() agrees between the engines.
    assert_otel_figures(&set);
    use SignalKind::*;
    // The grid is the Prometheus tests' grid: point 66 (now - 54 min) has claude-b's whole
    // rate window, point 60 none of it.
    let tokens = &signal(&set, "summarizer", TokensPerMin).points;
    assert_close(tokens[60], 350.0 * 60.0);
    assert_close(tokens[66], 470.0 * 60.0);
}

#[tokio::test]
async fn vllm_preset_reads_the_same_signals_on_victoria_metrics() {
    let now = test_now();
    let vm = start_imported("vllm", &vllm_history(now));
    let set = poll(&vm.url, "vllm", "model_name", poll_after(now)).await;
    use SignalKind::*;
    assert_close(last(&set, "llama-3-8b", TokensPerMin), 600.0 * 60.0);
    assert_close(last(&set, "mistral-7b", TokensPerMin), 240.0 * 60.0);
    assert_close(
        last(&set, "llama-3-8b", CostPerMin),
        (30_000.0 * 0.2 + 6_000.0 * 0.6) / 1e6,
    );
    assert_close(last(&set, "llama-3-8b", TtftP99), 0.1 + 0.4 * 39.0 / 40.0);
    assert_close(last(&set, "llama-3-8b", ErrorRatio), 0.02);
    assert_close(last(&set, "mistral-7b", ErrorRatio), 0.0);
    let mistral = &signal(&set, "mistral-7b", TokensPerMin).points;
    assert!(mistral[..=59].iter().all(|v| v.is_nan()), "{mistral:?}");
    assert_close(mistral[66], 240.0 * 60.0);
}

#[tokio::test]
async fn data_that_stopped_arriving_is_shown_with_its_age_on_both_engines() {
    let now = test_now();
    let history = otel_history(now);
    let vm = start_imported("stopped", &history);
    let prom = start_backfilled("stopped", &history);
    // Ten minutes after the last sample: a 5 m rate window has long run dry.
    let at = now + Duration::minutes(10) + Duration::milliseconds(23_400);
    for url in [&vm.url, &prom.url] {
        let set = poll(url, "otel", "job", at).await;
        let s = signal(&set, "support-bot", SignalKind::TokensPerMin);
        // The newest slots are empty; the newest value is from before the data stopped
        // plus at most the rate window, never shown as current.
        assert!(s.points[POINTS - 1].is_nan(), "{url}: {:?}", s.points);
        let Freshness::Old(newest) = s.freshness(at) else {
            panic!("{url}: {:?} shown as current", s.freshness(at));
        };
        assert!(
            newest.at >= now && newest.at <= now + Duration::minutes(5),
            "{url}: newest at {}, data ended {now}",
            newest.at
        );
        // A window only partly covered by samples reads lower than the steady rate.
        assert!(
            newest.value > 0.0 && newest.value <= 72_000.0 + 1e-6,
            "{url}: {}",
            newest.value
        );
    }
}

#[tokio::test]
async fn young_series_read_higher_on_victoria_metrics_as_its_notes_say() {
    // claude-b starts one hour before now: at point 61 (now - 59 min) it has one minute of
    // samples in a five-minute window. Prometheus extrapolates that minute to the window's
    // edge only as far as half a scrape; VictoriaMetrics does not extrapolate at all, and
    // reads the minute's increase over the time it covers.
    let now = test_now();
    let history = otel_history(now);
    let vm = start_imported("young", &history);
    let prom = start_backfilled("young", &history);
    let at = poll_after(now);
    let on_vm = poll(&vm.url, "otel", "job", at).await;
    let on_prom = poll(&prom.url, "otel", "job", at).await;
    let young = |set: &SignalSet| signal(set, "summarizer", SignalKind::TokensPerMin).points[61];
    let (v, p) = (young(&on_vm), young(&on_prom));
    // Without claude-b the feature reads 350 tokens/s; with it fully in, 470.
    assert!(
        p > 350.0 * 60.0 && v > p,
        "VictoriaMetrics {v}, Prometheus {p}"
    );
    // Once the window holds only claude-b's own samples, both agree.
    assert_close(
        signal(&on_vm, "summarizer", SignalKind::TokensPerMin).points[66],
        signal(&on_prom, "summarizer", SignalKind::TokensPerMin).points[66],
    );
    eprintln!(
        "young series, tokens/min at one minute old: VictoriaMetrics {v:.0}, Prometheus {p:.0} \
         (claude-b's share {:.2}x)",
        (v - 350.0 * 60.0) / (p - 350.0 * 60.0)
    );
}

#[test]
fn vmalert_loads_the_shipped_rules() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/ai-detectors.rules.yml");
    let out = Command::new(vmalert())
        .arg("-dryRun")
        .arg(format!("-rule={rules}"))
        .output()
        .expect("run vmalert");
    assert!(
        out.status.success(),
        "vmalert -dryRun refused {rules}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_probe_names_each_sources_engine_and_what_differs() {
    let now = test_now();
    let history = otel_history(now);
    let vm = start_imported("probe", &history);
    let prom = start_backfilled("probe", &history);
    let dir = servers::temp_dir("probe-config");
    let config = dir.join("config.toml");
    let unreachable = format!("http://127.0.0.1:{}", servers::free_port());
    std::fs::write(
        &config,
        format!(
            "[[prometheus]]\nname = \"vm\"\nurl = \"{}\"\n\n\
             [[prometheus]]\nname = \"prom\"\nurl = \"{}\"\n\n\
             [[prometheus]]\nname = \"gone\"\nurl = \"{unreachable}\"\n",
            vm.url, prom.url
        ),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_oncall-cockpit"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("check-config")
        .arg("--probe")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run check-config");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A source this machine cannot reach is a warning: the config itself is right.
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("prometheus \"vm\": engine VictoriaMetrics\n"),
        "{stdout}"
    );
    assert!(stdout.contains("VictoriaMetrics: rate() and increase() do not extrapolate"));
    assert!(
        stdout.contains("prometheus \"prom\": engine Prometheus "),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: [[prometheus]] \"gone\": not reached"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
