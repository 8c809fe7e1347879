//! The Prometheus adapter against a real Prometheus (Debian package), backfilled with
//! history whose rates, prices and histogram buckets are chosen so every expected value can
//! be worked out by hand, including histogram_quantile's linear interpolation.

use chrono::{DateTime, TimeZone, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::prometheus::{Price, PrometheusConfig};
use oncall_cockpit::backend::MetricsSource;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::{Signal, SignalKind, SignalSet};
use servers::prometheus::start_backfilled;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Seconds between samples, like a 15 s scrape.
pub(crate) const SCRAPE: i64 = 15;
/// History length: the 2 h sparkline, the 5 m rate window before it, and room to spare.
pub(crate) const HISTORY: i64 = 9000;
/// Some series start one hour before `now`, to check NaN filling and grid alignment.
pub(crate) const LATE_START: i64 = 3600;
/// 2 h at one point a minute, both ends included.
pub(crate) const POINTS: usize = 121;

/// A minute-aligned instant ten minutes in the past: all samples are history to the server,
/// and query timestamps land exactly on sample timestamps.
pub(crate) fn test_now() -> DateTime<Utc> {
    let t = (Utc::now().timestamp() - 600) / 60 * 60;
    Utc.timestamp_opt(t, 0).single().expect("valid time")
}

/// OpenMetrics text: one `# TYPE` line per family, then its series, each series's samples
/// oldest first (what the TSDB appender needs), timestamps in seconds.
struct History {
    now: i64,
    text: String,
}

impl History {
    fn new(now: DateTime<Utc>) -> Self {
        History {
            now: now.timestamp(),
            text: String::new(),
        }
    }

    fn family(&mut self, name: &str, kind: &str) {
        writeln!(self.text, "# TYPE {name} {kind}").expect("write");
    }

    /// A counter growing by `per_scrape` every scrape, from `since` seconds before now.
    fn counter(&mut self, series: &str, per_scrape: f64, since: i64) {
        let start = self.now - since;
        for (k, t) in (start..=self.now).step_by(SCRAPE as usize).enumerate() {
            let v = per_scrape * k as f64;
            writeln!(self.text, "{series} {v} {t}").expect("write");
        }
    }

    /// Cumulative `_bucket` counters: bucket `i` grows by `per_scrape[i]` every scrape.
    fn buckets(
        &mut self,
        name: &str,
        labels: &str,
        bounds: &[&str],
        per_scrape: &[f64],
        since: i64,
    ) {
        for (le, inc) in bounds.iter().zip(per_scrape) {
            let series = format!("{name}_bucket{{{labels},le=\"{le}\"}}");
            self.counter(&series, *inc, since);
        }
    }

    fn finish(mut self) -> String {
        self.text.push_str("# EOF\n");
        self.text
    }
}

const TTFT_BOUNDS: [&str; 6] = ["0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/// Two features on OTel GenAI metrics. Per second: support-bot uses gpt-a for 1000 input
/// tokens (two instances, 600 + 400) and 200 output; summarizer uses gpt-a for 300 + 50 and,
/// for the last hour only, claude-b for 100 + 20.
pub(crate) fn otel_history(now: DateTime<Utc>) -> String {
    let mut h = History::new(now);
    let usage = "gen_ai_client_token_usage_sum";
    h.family("gen_ai_client_token_usage", "histogram");
    let tokens: [(&str, &str, &str, &str, f64, i64); 7] = [
        ("support-bot", "a", "gpt-a", "input", 600.0, HISTORY),
        ("support-bot", "b", "gpt-a", "input", 400.0, HISTORY),
        ("support-bot", "a", "gpt-a", "output", 200.0, HISTORY),
        ("summarizer", "a", "gpt-a", "input", 300.0, HISTORY),
        ("summarizer", "a", "gpt-a", "output", 50.0, HISTORY),
        ("summarizer", "a", "claude-b", "input", 100.0, LATE_START),
        ("summarizer", "a", "claude-b", "output", 20.0, LATE_START),
    ];
    for (job, instance, model, kind, per_sec, since) in tokens {
        let series = format!(
            "{usage}{{job=\"{job}\",instance=\"{instance}\",gen_ai_request_model=\"{model}\",gen_ai_token_type=\"{kind}\"}}"
        );
        h.counter(&series, per_sec * SCRAPE as f64, since);
    }

    // TTFT, cumulative per scrape. support-bot: 200 requests, 190 ≤ 0.5 s, 199 ≤ 1 s.
    // summarizer (both models summed): 100 requests, 80 ≤ 1 s, all ≤ 2.5 s.
    let ttft = "gen_ai_server_time_to_first_token_seconds";
    h.family(ttft, "histogram");
    let lbl = |job: &str, model: &str| format!("job=\"{job}\",gen_ai_request_model=\"{model}\"");
    let sb = [20.0, 120.0, 190.0, 199.0, 200.0, 200.0];
    h.buckets(
        ttft,
        &lbl("support-bot", "gpt-a"),
        &TTFT_BOUNDS,
        &sb,
        HISTORY,
    );
    let sum_a = [0.0, 0.0, 30.0, 50.0, 60.0, 60.0];
    h.buckets(
        ttft,
        &lbl("summarizer", "gpt-a"),
        &TTFT_BOUNDS,
        &sum_a,
        HISTORY,
    );
    let sum_b = [0.0, 0.0, 20.0, 30.0, 40.0, 40.0];
    h.buckets(
        ttft,
        &lbl("summarizer", "claude-b"),
        &TTFT_BOUNDS,
        &sum_b,
        LATE_START,
    );

    // TPOT for support-bot only: 200 tokens, 100 ≤ 25 ms, all ≤ 50 ms.
    let tpot = "gen_ai_server_time_per_output_token_seconds";
    h.family(tpot, "histogram");
    let bounds = ["0.01", "0.025", "0.05", "0.1", "+Inf"];
    let inc = [0.0, 100.0, 200.0, 200.0, 200.0];
    h.buckets(tpot, &lbl("support-bot", "gpt-a"), &bounds, &inc, HISTORY);

    // Operations: support-bot fails 4 in 100 (two error types); summarizer never fails and
    // has no error series at all.
    let ops = "gen_ai_client_operation_duration_seconds";
    h.family(ops, "histogram");
    let count = format!("{ops}_count");
    // Instances a and b are the segments of the split test: a serves 64 per scrape (its
    // own 60 and every failure), b 36.
    let sbl = lbl("support-bot", "gpt-a");
    h.counter(&format!("{count}{{{sbl},instance=\"a\"}}"), 60.0, HISTORY);
    h.counter(&format!("{count}{{{sbl},instance=\"b\"}}"), 36.0, HISTORY);
    h.counter(
        &format!("{count}{{{sbl},instance=\"a\",error_type=\"timeout\"}}"),
        3.0,
        HISTORY,
    );
    h.counter(
        &format!("{count}{{{sbl},instance=\"a\",error_type=\"500\"}}"),
        1.0,
        HISTORY,
    );
    let suml = lbl("summarizer", "gpt-a");
    h.counter(&format!("{count}{{{suml}}}"), 50.0, HISTORY);
    h.finish()
}

/// vLLM's own metrics for two models; mistral-7b only served the last hour.
pub(crate) fn vllm_history(now: DateTime<Utc>) -> String {
    let mut h = History::new(now);
    let models = [("llama-3-8b", HISTORY), ("mistral-7b", LATE_START)];
    let lbl = |m: &str| format!("job=\"vllm\",model_name=\"{m}\"");
    h.family("vllm:prompt_tokens", "counter");
    for ((m, since), per_sec) in models.iter().zip([500.0, 200.0]) {
        let series = format!("vllm:prompt_tokens_total{{{}}}", lbl(m));
        h.counter(&series, per_sec * SCRAPE as f64, *since);
    }
    h.family("vllm:generation_tokens", "counter");
    for ((m, since), per_sec) in models.iter().zip([100.0, 40.0]) {
        let series = format!("vllm:generation_tokens_total{{{}}}", lbl(m));
        h.counter(&series, per_sec * SCRAPE as f64, *since);
    }
    // llama: 100 requests per scrape, 60 ≤ 0.1 s, all ≤ 0.5 s.
    let ttft = "vllm:time_to_first_token_seconds";
    h.family(ttft, "histogram");
    let bounds = ["0.05", "0.1", "0.5", "+Inf"];
    let inc = [10.0, 60.0, 100.0, 100.0];
    h.buckets(ttft, &lbl("llama-3-8b"), &bounds, &inc, HISTORY);
    // llama: 90 stop, 8 length (truncated but answered), 2 abort per scrape; mistral: all stop.
    h.family("vllm:request_success", "counter");
    for (reason, n) in [("stop", 90.0), ("length", 8.0), ("abort", 2.0)] {
        let l = lbl("llama-3-8b");
        let series = format!("vllm:request_success_total{{{l},finished_reason=\"{reason}\"}}");
        h.counter(&series, n, HISTORY);
    }
    let l = lbl("mistral-7b");
    let series = format!("vllm:request_success_total{{{l},finished_reason=\"stop\"}}");
    h.counter(&series, 50.0, LATE_START);
    h.finish()
}

fn price(input: f64, output: f64) -> Price {
    Price { input, output }
}

pub(crate) fn config(url: &str, preset: &str, feature_label: &str) -> PrometheusConfig {
    let prices: BTreeMap<String, Price> = [
        ("gpt-a", price(2.0, 8.0)),
        ("claude-b", price(3.0, 15.0)),
        ("llama-3-8b", price(0.2, 0.6)),
        ("mistral-7b", price(0.1, 0.3)),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p))
    .collect();
    PrometheusConfig {
        name: "prom-test".into(),
        url: url.into(),
        preset: preset.into(),
        feature_label: feature_label.into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(10.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        range_secs: 7200,
        step_secs: 60,
        rate_window: "5m".into(),
        auth: None,
        segment_label: None,
        queries: BTreeMap::new(),
        prices,
        tls: None,
    }
}

pub(crate) async fn fetch(cfg: &PrometheusConfig, now: DateTime<Utc>) -> SignalSet {
    let mut source = Prometheus::new(cfg).expect("valid config");
    let set = source.fetch(now).await.expect("fetch succeeds");
    assert_eq!(set.at, Some(now));
    set
}

pub(crate) fn signal<'a>(set: &'a SignalSet, feature: &str, kind: SignalKind) -> &'a Signal {
    let found: Vec<&Signal> = set
        .signals
        .iter()
        .filter(|s| s.feature == feature && s.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind:?} for {feature}");
    found[0]
}

/// The point at `now` (the last one), which must exist.
pub(crate) fn last(set: &SignalSet, feature: &str, kind: SignalKind) -> f64 {
    let s = signal(set, feature, kind);
    assert_eq!(s.points.len(), POINTS, "{kind:?} for {feature}");
    assert_eq!(s.step_secs, 60);
    s.points[POINTS - 1]
}

#[track_caller]
pub(crate) fn assert_close(actual: f64, expected: f64) {
    let tolerance = 1e-9 * expected.abs().max(1e-3);
    assert!(
        (actual - expected).abs() <= tolerance,
        "expected {expected}, got {actual}"
    );
}

pub(crate) fn feature_names(set: &SignalSet) -> Vec<(String, String)> {
    set.features
        .iter()
        .map(|f| (f.name.clone(), f.model.clone()))
        .collect()
}

/// The figures `otel_history` must read as, whichever PromQL engine answers.
pub(crate) fn assert_otel_figures(set: &SignalSet) {
    use SignalKind::*;
    assert_close(last(set, "support-bot", TokensPerMin), 1200.0 * 60.0);
    assert_close(last(set, "summarizer", TokensPerMin), 470.0 * 60.0);
    // support-bot: 60k input at $2/M + 12k output at $8/M per minute.
    assert_close(last(set, "support-bot", CostPerMin), 0.216);
    // summarizer: gpt-a 18k x 2 + 3k x 8, claude-b 6k x 3 + 1.2k x 15, all per 1M tokens.
    assert_close(last(set, "summarizer", CostPerMin), 0.096);
    // Rank 0.99 x 200 = 198 falls in the (0.5, 1] bucket holding 9: 8/9 of the way in.
    assert_close(last(set, "support-bot", TtftP99), 0.5 + 0.5 * 8.0 / 9.0);
    // Rank 99 of 100 falls in (1, 2.5] holding 20, 19 of them below the rank.
    assert_close(last(set, "summarizer", TtftP99), 1.0 + 1.5 * 19.0 / 20.0);
    // Rank 198 in (0.025, 0.05] holding 100, 98 below the rank.
    assert_close(
        last(set, "support-bot", TpotP99),
        0.025 + 0.025 * 98.0 / 100.0,
    );
    assert_close(last(set, "support-bot", ErrorRatio), 0.04);
    // No error series at all reads 0, not "no value".
    assert_close(last(set, "summarizer", ErrorRatio), 0.0);
}

#[tokio::test]
async fn otel_preset_reads_tokens_cost_latency_and_errors_per_feature() {
    let now = test_now();
    let prom = start_backfilled("otel", &otel_history(now));
    let set = fetch(&config(&prom.url, "otel", "job"), now).await;

    assert_otel_figures(&set);
    use SignalKind::*;

    // Only what the preset and the data provide: no TPOT for summarizer, nothing custom.
    let kinds = |f: &str| -> Vec<SignalKind> {
        let mut k: Vec<_> = set
            .signals
            .iter()
            .filter(|s| s.feature == f)
            .map(|s| s.kind)
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        kinds("support-bot"),
        vec![CostPerMin, TokensPerMin, TtftP99, TpotP99, ErrorRatio]
    );
    assert_eq!(
        kinds("summarizer"),
        vec![CostPerMin, TokensPerMin, TtftP99, ErrorRatio]
    );
    assert_eq!(
        feature_names(&set),
        vec![
            ("summarizer".to_string(), "claude-b,gpt-a".to_string()),
            ("support-bot".to_string(), "gpt-a".to_string()),
        ]
    );
    assert!(set
        .features
        .iter()
        .all(|f| !f.uses_retrieval && f.temperature.is_nan()));
    assert!(set.distributions.is_empty());
}

/// With `segment_label`, each segment's spend and requests are read beside the feature's
/// totals, which stay what they were: the split a kill-switch scope is chosen from.
#[tokio::test]
async fn a_segment_label_splits_spend_and_requests_per_segment() {
    use oncall_cockpit::domain::split::split;
    let now = test_now();
    let prom = start_backfilled("otel", &otel_history(now));
    let mut cfg = config(&prom.url, "otel", "job");
    cfg.segment_label = Some("instance".into());
    let set = fetch(&cfg, now).await;
    // The totals do not move: the same figures as without a split.
    assert_otel_figures(&set);

    let cost = signal(&set, "support-bot", SignalKind::CostPerMin);
    let names: Vec<&str> = cost.segments.iter().map(|s| s.segment.as_str()).collect();
    assert_eq!(names, vec!["a", "b"]);
    let newest = |seg: usize| {
        let c = &cost.segments[seg].counts;
        (
            c.events.last().copied().unwrap_or(f64::NAN),
            c.trials.last().copied().unwrap_or(f64::NAN),
        )
    };
    // a: 600 input + 200 output tokens/s of gpt-a ($2 / $8 per 1M) = $0.168 a minute,
    // 64 requests a scrape = 256 a minute; b: 400 input tokens/s = $0.048, 144 a minute.
    let (spend_a, requests_a) = newest(0);
    assert_close(spend_a, (600.0 * 2.0 + 200.0 * 8.0) / 1e6 * 60.0);
    assert_close(requests_a, 256.0);
    let (spend_b, requests_b) = newest(1);
    assert_close(spend_b, 400.0 * 2.0 / 1e6 * 60.0);
    assert_close(requests_b, 144.0);

    // The summarizer's operations carry no instance: its segment's requests stay unknown
    // while its spend shows.
    let summarizer = signal(&set, "summarizer", SignalKind::CostPerMin);
    assert_eq!(summarizer.segments.len(), 1);
    assert!(summarizer.segments[0]
        .counts
        .trials
        .iter()
        .all(|t| t.is_nan()));

    // The last ten minutes as the kill switch's chooser reads them.
    let s = split(
        &set,
        &[],
        |_| false,
        "support-bot",
        (now - chrono::Duration::minutes(10), now),
    );
    assert!(s.measured);
    assert_eq!(s.rows[0].segment, "a", "the bigger spender first: {s:?}");
    assert_close(s.rows[0].cost_per_min.unwrap_or(f64::NAN), 0.168);
    assert_close(s.rows[0].spend_share.unwrap_or(f64::NAN), 0.168 / 0.216);
    assert_close(s.rows[0].requests_per_min.unwrap_or(f64::NAN), 256.0);
}

#[tokio::test]
async fn points_sit_on_the_step_grid_ending_at_now() {
    let now = test_now();
    let prom = start_backfilled("grid", &otel_history(now));
    let set = fetch(&config(&prom.url, "otel", "job"), now).await;

    // claude-b starts one hour before now. Point i is at now - (120 - i) minutes, so point 60
    // (now - 1 h) still has a 5 m window without claude-b, and from point 66 (now - 54 m)
    // its window is fully covered. Off by one step either way and these numbers change.
    let tokens = &signal(&set, "summarizer", SignalKind::TokensPerMin).points;
    assert_eq!(tokens.len(), POINTS);
    assert_close(tokens[0], 350.0 * 60.0);
    assert_close(tokens[60], 350.0 * 60.0);
    assert!(
        tokens[61] > 350.0 * 60.0 && tokens[61] < 470.0 * 60.0,
        "{}",
        tokens[61]
    );
    assert_close(tokens[66], 470.0 * 60.0);
    let cost = &signal(&set, "summarizer", SignalKind::CostPerMin).points;
    assert_close(cost[60], 0.06);
    assert_close(cost[66], 0.096);
    // A poll between two instants of the grid asks for the last one before it (aligned to the
    // step, as caching engines need): 23.4 s after `now` the series still ends at `now`,
    // the poll's own time stays `set.at`, and Prometheus answers on every slot.
    assert_eq!(
        set.engine.as_deref().map(|e| e.starts_with("Prometheus ")),
        Some(true),
        "{:?}",
        set.engine
    );
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    let later = now + chrono::Duration::milliseconds(23_400);
    let mut source = Prometheus::new(&config(&prom.url, "otel", "job")).expect("config");
    let set = source.fetch(later).await.expect("fetch");
    assert_eq!(set.at, Some(later));
    let s = signal(&set, "support-bot", SignalKind::TokensPerMin);
    assert_eq!(s.end, Some(now));
    assert_eq!(s.points.len(), POINTS);
    assert!(
        s.points.iter().all(|v| (v - 72_000.0).abs() < 1e-6),
        "{:?}",
        s.points
    );
    assert_eq!(
        s.freshness(later),
        oncall_cockpit::domain::Freshness::Current(72_000.0)
    );
}

#[tokio::test]
async fn a_model_without_a_price_makes_cost_unknown_not_zero() {
    let now = test_now();
    let prom = start_backfilled("noprice", &otel_history(now));
    let mut cfg = config(&prom.url, "otel", "job");
    cfg.prices.remove("claude-b");
    let set = fetch(&cfg, now).await;
    let summarizer = &signal(&set, "summarizer", SignalKind::CostPerMin).points;
    // Before claude-b served anything, the cost is known; once it did, it is not.
    assert_close(summarizer[60], 0.06);
    assert!(
        summarizer[61..].iter().all(|v| v.is_nan()),
        "{summarizer:?}"
    );
    assert_close(last(&set, "support-bot", SignalKind::CostPerMin), 0.216);
    // Tokens do not depend on prices.
    assert_close(
        last(&set, "summarizer", SignalKind::TokensPerMin),
        470.0 * 60.0,
    );
}

#[tokio::test]
async fn configured_queries_add_and_replace_preset_queries() {
    let now = test_now();
    let prom = start_backfilled("overrides", &otel_history(now));
    let mut cfg = config(&prom.url, "otel", "job");
    let constant =
        |v: f64, job: &str| format!(r#"label_replace(vector({v}), "{{by}}", "{job}", "", "")"#);
    cfg.queries
        .insert(SignalKind::RefusalRate, constant(0.05, "support-bot"));
    cfg.queries
        .insert(SignalKind::RetrievalHit, constant(0.75, "summarizer"));
    // A cost override is USD per minute as it stands; the price table is not applied.
    cfg.queries
        .insert(SignalKind::CostPerMin, constant(1.5, "support-bot"));
    // Daily cost is one point per day: the past 7 days and today.
    cfg.queries
        .insert(SignalKind::DailyCost, constant(300.0, "support-bot"));
    let set = fetch(&cfg, now).await;

    let refusals = signal(&set, "support-bot", SignalKind::RefusalRate);
    assert_eq!(refusals.points.len(), POINTS);
    assert!(refusals.points.iter().all(|v| (v - 0.05).abs() < 1e-12));
    assert_close(last(&set, "summarizer", SignalKind::RetrievalHit), 0.75);
    assert_close(last(&set, "support-bot", SignalKind::CostPerMin), 1.5);
    let summarizer_cost = set
        .signals
        .iter()
        .any(|s| s.feature == "summarizer" && s.kind == SignalKind::CostPerMin);
    assert!(!summarizer_cost, "the priced cost query must not run");
    let daily = signal(&set, "support-bot", SignalKind::DailyCost);
    assert_eq!((daily.step_secs, daily.points.len()), (86_400, 8));
    assert!(
        daily.points.iter().all(|v| *v == 300.0),
        "{:?}",
        daily.points
    );
    // Preset queries that were not overridden still run.
    assert_close(
        last(&set, "support-bot", SignalKind::TokensPerMin),
        72_000.0,
    );
    assert!(set.features.iter().all(|f| f.uses_retrieval));
}

#[tokio::test]
async fn vllm_preset_reads_vllm_series_by_model_name() {
    let now = test_now();
    let prom = start_backfilled("vllm", &vllm_history(now));
    let set = fetch(&config(&prom.url, "vllm", "model_name"), now).await;

    use SignalKind::*;
    assert_close(last(&set, "llama-3-8b", TokensPerMin), 600.0 * 60.0);
    assert_close(last(&set, "mistral-7b", TokensPerMin), 240.0 * 60.0);
    // Prompt tokens priced as input, generation tokens as output.
    assert_close(
        last(&set, "llama-3-8b", CostPerMin),
        (30_000.0 * 0.2 + 6_000.0 * 0.6) / 1e6,
    );
    assert_close(
        last(&set, "mistral-7b", CostPerMin),
        (12_000.0 * 0.1 + 2_400.0 * 0.3) / 1e6,
    );
    // Rank 99 of 100 in (0.1, 0.5] holding 40, 39 below the rank.
    assert_close(last(&set, "llama-3-8b", TtftP99), 0.1 + 0.4 * 39.0 / 40.0);
    // Aborted over finished; truncated ("length") answers are not errors.
    assert_close(last(&set, "llama-3-8b", ErrorRatio), 0.02);
    assert_close(last(&set, "mistral-7b", ErrorRatio), 0.0);
    // mistral-7b has no history before the last hour: those steps are NaN, not dropped.
    let mistral = &signal(&set, "mistral-7b", TokensPerMin).points;
    assert!(mistral[..=60].iter().all(|v| v.is_nan()), "{mistral:?}");
    assert_close(mistral[66], 240.0 * 60.0);
    assert_eq!(
        feature_names(&set),
        vec![
            ("llama-3-8b".to_string(), "llama-3-8b".to_string()),
            ("mistral-7b".to_string(), "mistral-7b".to_string()),
        ]
    );
}
