//! The simulated fleet's settable levers, each pulled through `SimFlags::apply` and read back,
//! and the fleet's reaction measured from `SimMetrics::fetch` snapshots against the same seed
//! left alone. Every assertion holds on several seeds.

use chrono::{DateTime, Duration, Utc};
use cockpit_testkit::common::{origin, Drill};
use oncall_cockpit::backend::sim::{FleetSpec, LeverChange, Sim};
use oncall_cockpit::backend::{
    BackendError, FeatureFlags, FlagControl, FlagOp, MetricsSource, SampleSource,
};
use oncall_cockpit::domain::lever::LeverSetting;
use oncall_cockpit::domain::sample::{SampleQuery, Window, Worst};
use oncall_cockpit::domain::{IncidentType, Lever, Signal, SignalKind, SignalSet};

const SEEDS: [u64; 4] = [1, 2, 3, 4];

fn at(minute: i64) -> DateTime<Utc> {
    origin() + Duration::minutes(minute)
}

fn calm() -> FleetSpec {
    let mut spec = FleetSpec::builtin().expect("fleet");
    spec.scenario.clear();
    spec
}

fn drill() -> FleetSpec {
    FleetSpec::builtin().expect("fleet")
}

fn sim(spec: FleetSpec, seed: u64) -> Sim {
    Sim::new(spec, seed, origin()).expect("sim")
}

fn set(feature: &str, lever: Lever, segment: Option<&str>, variant: &str) -> FlagOp {
    FlagOp::SetLever {
        feature: feature.into(),
        lever,
        segment: segment.map(str::to_string),
        variant: variant.into(),
        undo: false,
    }
}

async fn pull(sim: &Sim, op: &FlagOp, minute: i64) -> Result<String, BackendError> {
    sim.flags().apply(op, "ana", at(minute)).await
}

async fn snap(sim: &Sim, minute: i64) -> SignalSet {
    sim.metrics()
        .fetch(at(minute))
        .await
        .expect("the fleet reads")
}

async fn lever(sim: &Sim, minute: i64, feature: &str, lever: Lever) -> LeverSetting {
    let flags: Vec<FeatureFlags> = sim.flags().read(at(minute)).await.expect("flags read");
    flags
        .into_iter()
        .find(|f| f.feature == feature)
        .and_then(|f| f.levers.into_iter().find(|l| l.lever == lever))
        .unwrap_or_else(|| panic!("{feature} reports no {lever:?}"))
}

fn signal<'a>(set: &'a SignalSet, feature: &str, kind: SignalKind) -> &'a Signal {
    set.signals
        .iter()
        .find(|s| s.feature == feature && s.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} for {feature}"))
}

/// Mean of the last `n` finite points.
fn mean_last(set: &SignalSet, feature: &str, kind: SignalKind, n: usize) -> f64 {
    let pts = &signal(set, feature, kind).points;
    let v: Vec<f64> = pts[pts.len() - n..]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    v.iter().sum::<f64>() / v.len() as f64
}

/// (events, trials) summed over the last `n` buckets of the feature's counts, or of one
/// segment's.
fn counts(
    set: &SignalSet,
    feature: &str,
    kind: SignalKind,
    segment: Option<&str>,
    n: usize,
) -> (f64, f64) {
    let sig = signal(set, feature, kind);
    let c = match segment {
        Some(seg) => {
            &sig.segments
                .iter()
                .find(|s| s.segment == seg)
                .unwrap_or_else(|| panic!("no segment {seg}"))
                .counts
        }
        None => sig.counts.as_ref().expect("counts"),
    };
    let sum = |v: &Vec<f64>| {
        v[v.len() - n..]
            .iter()
            .filter(|x| x.is_finite())
            .sum::<f64>()
    };
    (sum(&c.events), sum(&c.trials))
}

#[tokio::test]
async fn a_faster_model_lowers_ttft_and_cost_and_shifts_eval_by_its_delta() {
    for seed in SEEDS {
        let (a, b) = (sim(calm(), seed), sim(calm(), seed));
        let op = set("support-bot", Lever::ModelSwitch, None, "frontier-mini");
        let done = pull(&b, &op, 1).await.expect("switched");
        assert_eq!(done, "support-bot model frontier-xl → frontier-mini");
        let l = lever(&b, 1, "support-bot", Lever::ModelSwitch).await;
        assert_eq!(l.current, "frontier-mini");
        assert_eq!(l.previous.as_deref(), Some("frontier-xl"));
        assert_eq!(l.changed_by.as_deref(), Some("ana"));
        assert_eq!(l.changed_at, Some(at(1)));
        let (sa, sb) = (snap(&a, 61).await, snap(&b, 61).await);
        let info = sb.features.iter().find(|f| f.name == "support-bot");
        assert_eq!(info.map(|f| f.model.as_str()), Some("frontier-mini"));
        assert_eq!(info.map(|f| f.levers.len()), Some(5));
        let ttft = |s| mean_last(s, "support-bot", SignalKind::TtftP99, 30);
        assert!(
            ttft(&sb) < 0.7 * ttft(&sa),
            "seed {seed}: {} vs {}",
            ttft(&sb),
            ttft(&sa)
        );
        let cost = |s| mean_last(s, "support-bot", SignalKind::CostPerMin, 30);
        assert!(cost(&sb) < 0.2 * cost(&sa), "seed {seed}");
        // The same traffic and the same evaluator noise: every eval since the switch is
        // frontier-mini's delta lower.
        let eval = |s| mean_last(s, "support-bot", SignalKind::EvalScore, 300);
        let shift = eval(&sb) - eval(&sa);
        assert!(
            (shift + 0.02).abs() < 1e-6,
            "seed {seed}: eval shift {shift}"
        );
    }
}

#[tokio::test]
async fn switching_away_from_the_slow_model_heals_the_latency_fault() {
    for seed in SEEDS {
        let (a, b) = (sim(drill(), seed), sim(drill(), seed));
        let calm = mean_last(
            &snap(&a, 0).await,
            "code-assistant",
            SignalKind::TtftP99,
            240,
        );
        let op = set("code-assistant", Lever::ModelSwitch, None, "frontier-mini");
        assert!(pull(&b, &op, 10).await.is_ok());
        let (sa, sb) = (snap(&a, 20).await, snap(&b, 20).await);
        let ttft = |s| mean_last(s, "code-assistant", SignalKind::TtftP99, 30);
        assert!(ttft(&sa) > 2.0 * calm, "seed {seed}: the fault is on");
        assert!(
            ttft(&sb) < calm,
            "seed {seed}: {} vs calm {calm}",
            ttft(&sb)
        );
    }
}

#[tokio::test]
async fn a_conservative_config_restores_refusals_only_partly_during_a_jailbreak() {
    for seed in SEEDS {
        let (a, b) = (sim(drill(), seed), sim(drill(), seed));
        let rate = |(e, t): (f64, f64)| e / t;
        let seg = Some("free-tier");
        let calm = rate(counts(
            &snap(&a, 0).await,
            "code-assistant",
            SignalKind::RefusalRate,
            seg,
            240,
        ));
        let op = set(
            "code-assistant",
            Lever::ConservativeConfig,
            None,
            "conservative",
        );
        assert!(pull(&b, &op, 6).await.is_ok());
        let (sa, sb) = (snap(&a, 26).await, snap(&b, 26).await);
        let r = |s| {
            rate(counts(
                s,
                "code-assistant",
                SignalKind::RefusalRate,
                seg,
                60,
            ))
        };
        let (jailbroken, conservative) = (r(&sa), r(&sb));
        assert!(
            conservative > 3.0 * jailbroken && conservative < 0.75 * calm,
            "seed {seed}: calm {calm}, jailbroken {jailbroken}, conservative {conservative}"
        );
        let info = sb.features.iter().find(|f| f.name == "code-assistant");
        assert_eq!(info.map(|f| f.temperature), Some(0.1));
    }
}

#[tokio::test]
async fn a_budget_caps_the_looping_segment_and_leaves_the_others_alone() {
    for seed in SEEDS {
        let mut roomy = drill();
        let triage = roomy
            .features
            .iter_mut()
            .find(|f| f.name == "triage-agent")
            .expect("triage-agent");
        let budget = triage
            .levers
            .iter_mut()
            .find(|l| l.lever == "budget")
            .expect("a budget lever");
        let mut above = budget.variants[0].clone();
        above.name = "50M/min".into();
        above.value = serde_json::json!(50_000_000);
        budget.variants.push(above);
        let (a, b, c) = (sim(drill(), seed), sim(drill(), seed), sim(roomy, seed));
        let before = mean_last(
            &snap(&a, 0).await,
            "triage-agent",
            SignalKind::CostPerMin,
            360,
        );
        let seg = Some("enterprise");
        assert!(pull(
            &b,
            &set("triage-agent", Lever::TokenBudget, seg, "200k/min"),
            5
        )
        .await
        .is_ok());
        assert!(pull(
            &c,
            &set("triage-agent", Lever::TokenBudget, seg, "50M/min"),
            5
        )
        .await
        .is_ok());
        let l = lever(&b, 5, "triage-agent", Lever::TokenBudget).await;
        assert_eq!(l.current, "unlimited");
        assert_eq!(l.segments, vec![("enterprise".into(), "200k/min".into())]);
        assert_eq!(
            l.previous, None,
            "a segment's change is no previous setting of the whole feature"
        );
        let (sa, sb, sc) = (snap(&a, 15).await, snap(&b, 15).await, snap(&c, 15).await);
        // Five minutes of buckets.
        let cost = |s, seg| counts(s, "triage-agent", SignalKind::CostPerMin, seg, 30);
        let per_min = |(spent, _): (f64, f64)| spent / 5.0;
        let (looping, capped) = (per_min(cost(&sa, seg)), per_min(cost(&sb, seg)));
        // 200k tokens a minute at the loop's mix of input and output is about $0.66.
        assert!(looping > 10.0, "seed {seed}: the loop runs: {looping}");
        assert!(
            (0.4..0.8).contains(&capped),
            "seed {seed}: capped at {capped}/min"
        );
        // The excess is refused at the gateway: it never reaches the model, so it is no
        // model request (and no model error); what does reach it is answered as before.
        let (_, asked) = cost(&sb, seg);
        let (_, asked_before) = cost(&sa, seg);
        assert!(
            asked > 0.0 && asked < 0.2 * asked_before,
            "seed {seed}: {asked} model requests under the budget, {asked_before} before"
        );
        let (_, answered) = counts(&sb, "triage-agent", SignalKind::RefusalRate, seg, 30);
        assert!(
            answered <= asked && answered > 0.9 * asked,
            "seed {seed}: {answered} of {asked}"
        );
        // The other segment's traffic, tokens and spend are exactly what they were.
        let other = Some("self-serve");
        assert_eq!(cost(&sa, other), cost(&sb, other), "seed {seed}");
        // The feature's cost is back inside its band (the detector's exit line is 2x).
        let now = mean_last(&sb, "triage-agent", SignalKind::CostPerMin, 6);
        assert!(now < 2.0 * before, "seed {seed}: {now} vs {before}");
        // A budget above the looping rate changes nothing.
        assert_eq!(cost(&sa, seg), cost(&sc, seg), "seed {seed}");
    }
}

#[tokio::test]
async fn a_fallback_serves_its_scope_without_the_model() {
    for seed in SEEDS {
        let (a, b) = (sim(calm(), seed), sim(calm(), seed));
        let free = Some("free-tier");
        let op = set("support-bot", Lever::Fallback, free, "static answer");
        assert!(pull(&b, &op, 1).await.is_ok());
        let (sa, sb) = (snap(&a, 10).await, snap(&b, 10).await);
        let cost = |s, seg| counts(s, "support-bot", SignalKind::CostPerMin, seg, 30);
        assert_eq!(
            cost(&sb, free),
            (0.0, 0.0),
            "seed {seed}: no model requests"
        );
        let pro = Some("pro");
        assert_eq!(cost(&sa, pro), cost(&sb, pro), "seed {seed}");
        // Fallbacks are not refusals: the refusal rate of what the model answers holds.
        let r = |s| {
            let (e, t) = counts(s, "support-bot", SignalKind::RefusalRate, None, 30);
            e / t
        };
        assert!((r(&sb) - r(&sa)).abs() < 0.04, "seed {seed}");
        let op = set("support-bot", Lever::Fallback, None, "human handoff");
        assert!(pull(&b, &op, 10).await.is_ok());
        let l = lever(&b, 10, "support-bot", Lever::Fallback).await;
        assert_eq!(l.current, "human handoff");
        assert_eq!(l.served_to(Some("free-tier")), "static answer");
        let sb = snap(&b, 20).await;
        assert_eq!(
            signal(&sb, "support-bot", SignalKind::TokensPerMin).last(),
            Some(0.0)
        );
        assert_eq!(
            signal(&sb, "support-bot", SignalKind::CostPerMin).last(),
            Some(0.0)
        );
        // What a responder reads: handoffs and static answers, not refusals.
        let samples = b
            .samples()
            .samples(&SampleQuery {
                feature: "support-bot".into(),
                from: at(12),
                to: at(20),
                limit: 50,
                window: Window::Incident,
                worst: Worst::default(),
            })
            .await
            .expect("samples");
        assert!(!samples.samples.is_empty());
        for s in &samples.samples {
            let labels: Vec<&str> = s.labels.iter().map(|l| l.as_str()).collect();
            assert!(labels.contains(&"fallback"), "seed {seed}: {labels:?}");
            assert_eq!(s.output_tokens, Some(0));
        }
    }
}

#[tokio::test]
async fn a_shallower_or_cached_retrieval_path_trades_a_little_quality_for_speed() {
    for seed in SEEDS {
        let (a, b, c) = (sim(calm(), seed), sim(calm(), seed), sim(calm(), seed));
        assert!(pull(
            &b,
            &set("support-bot", Lever::RetrievalPath, None, "top-k 3"),
            1
        )
        .await
        .is_ok());
        assert!(pull(
            &c,
            &set("support-bot", Lever::RetrievalPath, None, "cached"),
            1
        )
        .await
        .is_ok());
        let (sa, sb, sc) = (snap(&a, 61).await, snap(&b, 61).await, snap(&c, 61).await);
        let ttft = |s| mean_last(s, "support-bot", SignalKind::TtftP99, 300);
        let ratio = ttft(&sb) / ttft(&sa);
        assert!(
            (0.6..0.95).contains(&ratio),
            "seed {seed}: top-k 3 TTFT x{ratio}"
        );
        let hit = |s| {
            let (e, t) = counts(s, "support-bot", SignalKind::RetrievalHit, None, 300);
            e / t
        };
        let ratio = hit(&sb) / hit(&sa);
        assert!(
            (0.88..0.99).contains(&ratio),
            "seed {seed}: top-k 3 hit x{ratio}"
        );
        let cost = |s| mean_last(s, "support-bot", SignalKind::CostPerMin, 300);
        assert!(
            cost(&sb) < 0.85 * cost(&sa),
            "seed {seed}: fewer input tokens"
        );
        assert!(
            cost(&sc) < 0.75 * cost(&sa),
            "seed {seed}: a third from the cache"
        );
        let eval = |s| mean_last(s, "support-bot", SignalKind::EvalScore, 300);
        let shift = eval(&sc) - eval(&sa);
        assert!(
            (shift + 0.014).abs() < 1e-6,
            "seed {seed}: cached eval shift {shift}"
        );
        let r = |s| {
            let (e, t) = counts(s, "support-bot", SignalKind::RefusalRate, None, 300);
            e / t
        };
        assert!(
            (r(&sc) / r(&sa) - 1.0).abs() < 0.25,
            "seed {seed}: no refusal dilution"
        );
    }
}

#[tokio::test]
async fn a_retrieval_fault_is_not_healed_by_depth() {
    for seed in SEEDS {
        let b = sim(drill(), seed);
        assert!(pull(
            &b,
            &set("support-bot", Lever::RetrievalPath, None, "top-k 3"),
            12
        )
        .await
        .is_ok());
        let (e, t) = counts(
            &snap(&b, 30).await,
            "support-bot",
            SignalKind::RetrievalHit,
            None,
            60,
        );
        assert!(
            e / t < 0.5,
            "seed {seed}: the index is still stale: {}",
            e / t
        );
    }
}

#[tokio::test]
async fn a_lever_the_fleet_cannot_serve_is_refused_plainly() {
    let b = sim(calm(), 1);
    let refused = |r: Result<String, BackendError>| match r {
        Err(BackendError::Rejected(m)) => m,
        other => panic!("not refused: {other:?}"),
    };
    let op = set("support-bot", Lever::ModelSwitch, None, "gpt-9");
    assert_eq!(
        refused(pull(&b, &op, 1).await),
        "support-bot model has no variant gpt-9 (offers frontier-xl, frontier-mini)"
    );
    let op = set("summarizer", Lever::TokenBudget, None, "50k/min");
    assert_eq!(
        refused(pull(&b, &op, 1).await),
        "summarizer has no budget lever in the fleet"
    );
    let op = set("support-bot", Lever::Fallback, Some("vip"), "static answer");
    assert_eq!(
        refused(pull(&b, &op, 1).await),
        "support-bot has no user segment vip"
    );
    let op = set("support-bot", Lever::Fallback, None, "off");
    assert_eq!(
        refused(pull(&b, &op, 1).await),
        "support-bot is already served fallback off"
    );
    let op = set("nope", Lever::Fallback, None, "off");
    assert_eq!(
        refused(pull(&b, &op, 1).await),
        "no feature nope in the fleet"
    );
    // Nothing moved.
    let l = lever(&b, 2, "support-bot", Lever::ModelSwitch).await;
    assert_eq!((l.current.as_str(), l.previous), ("frontier-xl", None));
}

#[tokio::test]
async fn levers_at_their_start_settings_change_nothing() {
    let mut bare = drill();
    for f in &mut bare.features {
        f.levers.clear();
    }
    let (a, b) = (sim(drill(), 3), sim(bare, 3));
    let (sa, sb) = (snap(&a, 40).await, snap(&b, 40).await);
    assert_eq!(sa.signals, sb.signals);
    assert_eq!(sa.distributions, sb.distributions);
    let q = SampleQuery {
        feature: "code-assistant".into(),
        from: at(0),
        to: at(40),
        limit: 200,
        window: Window::Incident,
        worst: Worst::default(),
    };
    let (ka, kb) = (
        a.samples().samples(&q).await.expect("samples"),
        b.samples().samples(&q).await.expect("samples"),
    );
    assert_eq!(ka.samples, kb.samples);
}

/// What containment verification reads: the incident recovered, or its detector judging the
/// signal back inside the pre-incident band (`inside_since`) — "contained ✓".
fn contained(d: &Drill, feature: &str, kind: IncidentType) -> bool {
    let Some(inc) = d
        .run
        .store
        .incidents()
        .iter()
        .find(|i| i.feature.as_str() == feature && i.kind == kind)
    else {
        return false;
    };
    !inc.firing
        || d.run
            .eval
            .detections
            .iter()
            .any(|x| x.feature == feature && x.kind == kind && x.inside_since.is_some())
}

fn firing(d: &Drill, feature: &str, kind: IncidentType) -> bool {
    d.run
        .store
        .incidents()
        .iter()
        .any(|i| i.feature.as_str() == feature && i.kind == kind && i.firing)
}

/// Pulls `change` on the drill at `minute` with the incident firing, and returns the minutes
/// it took to be contained, within `deadline` minutes.
fn contain(
    seed: u64,
    minute: i64,
    kind: IncidentType,
    change: LeverChange<'_>,
    deadline: i64,
) -> i64 {
    let mut d = Drill::new(seed);
    d.minutes(minute);
    assert!(
        firing(&d, change.feature, kind),
        "seed {seed}: {kind:?} fires"
    );
    let feature = change.feature.to_string();
    assert!(d.run.world.set_lever(change).is_ok());
    for m in 1..=deadline {
        d.minutes(minute + m);
        if contained(&d, &feature, kind) {
            return m;
        }
    }
    panic!("seed {seed}: {kind:?} not contained {deadline}m after the lever");
}

#[test]
fn a_budget_contains_the_agent_loop_and_a_model_switch_the_latency_incident() {
    for seed in [42, 1, 2] {
        let budget = LeverChange {
            feature: "triage-agent",
            lever: Lever::TokenBudget,
            segment: Some("enterprise"),
            variant: "200k/min",
            author: "ana",
        };
        // Inside the cost incident's 10-minute deadline.
        let m = contain(seed, 6, IncidentType::CostExplosion, budget, 10);
        assert!(m <= 6, "seed {seed}: budget contained after {m}m");
        let switch = LeverChange {
            feature: "code-assistant",
            lever: Lever::ModelSwitch,
            segment: None,
            variant: "frontier-mini",
            author: "ana",
        };
        // Latency fires after its 15-minute hold (minute 23); its deadline is 20 minutes.
        let m = contain(seed, 25, IncidentType::LatencyDegradation, switch, 20);
        assert!(m <= 10, "seed {seed}: model switch contained after {m}m");
    }
}
