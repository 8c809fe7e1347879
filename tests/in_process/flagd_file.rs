//! The flagd flag file as the cockpit's flag system: levers pulled through the driver land in
//! the file with everything else in it intact, and the file is never seen half-written, even
//! when the writer is killed in the middle of a write.

use chrono::{TimeZone, Utc};
use oncall_cockpit::action::Action;
use oncall_cockpit::backend::driver::{self, DriverConfig};
use oncall_cockpit::backend::flagd::FlagdConfig;
use oncall_cockpit::backend::flagd::{self, Flagd};
use oncall_cockpit::backend::{
    BackendEvent, Command, CommandRequest, FeatureFlags, FlagControl, FlagOp,
};
use oncall_cockpit::clock::Clock;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::unbounded_channel;

const WRITER_ENV: &str = "COCKPIT_FLAGD_WRITER";

fn config(path: &Path) -> FlagdConfig {
    FlagdConfig {
        name: "flags".into(),
        path: path.to_path_buf(),
        prompt_flag: "{feature}.prompt".into(),
        kill_flag: "{feature}.kill-switch".into(),
        model_flag: "{feature}.model".into(),
        config_flag: "{feature}.config".into(),
        budget_flag: "{feature}.token-budget".into(),
        retrieval_flag: "{feature}.retrieval".into(),
        fallback_flag: "{feature}.fallback".into(),
        segment_field: "segment".into(),
        poll_secs: PollSecs::try_from(3600.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(10.0).expect("in range"),
        // The kill test below edits a file of more than 8 MiB.
        max_reply_mib: 64,
        answer_time_factor: 4.0,
    }
}

fn team_file(padding: usize) -> Value {
    json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "support-bot.prompt": {
                "state": "ENABLED",
                "variants": {"v12": {"file": "support/v12.md"}, "v14": {"file": "support/v14.md"}},
                "defaultVariant": "v14",
                "metadata": {"owner": "support-team", "lastKnownGood": "v12"}
            },
            "support-bot.kill-switch": {
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "metadata": {"segments": "free-tier,enterprise"}
            },
            "new-checkout": {"state": "DISABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
                             "x-rollout-ticket": "OPS-1234"}
        },
        "$evaluators": {"isStaff": {"ends_with": [{"var": "email"}, "@example.com"]}},
        "x-padding": "p".repeat(padding)
    })
}

fn temp_file(name: &str, doc: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cockpit-flagd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("flags.json");
    std::fs::write(&path, serde_json::to_vec_pretty(doc).expect("json")).expect("write");
    path
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).expect("flag file readable");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("flag file is not JSON ({e})"))
}

#[tokio::test]
async fn levers_pulled_through_the_driver_land_in_the_file_and_nothing_else_moves() {
    let original = team_file(0);
    let path = temp_file("driver", &original);
    let control = Flagd::new(&config(&path)).expect("adapter");
    let (cmd_tx, cmd_rx) = unbounded_channel();
    let (tx, mut rx) = unbounded_channel();
    let clock = Clock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap(), 1.0);
    let cfg = DriverConfig {
        source: "flags".into(),
        poll: Duration::from_secs(3600),
        timeout: Duration::from_secs(10),
    };
    let reporter = oncall_cockpit::wiring::reporter(&tx);
    tokio::spawn(driver::run_flags(control, cfg, clock, cmd_rx, reporter));

    // The first poll reports the file's levers.
    let first = next_flags(&mut rx).await;
    assert_eq!(first[0].current_prompt.as_deref(), Some("v14"));
    assert_eq!(first[0].last_known_good.as_deref(), Some("v12"));

    let ops = [
        FlagOp::Rollback {
            feature: "support-bot".into(),
            to_version: "v12".into(),
        },
        FlagOp::KillSwitch {
            feature: "support-bot".into(),
            segment: Some("free-tier".into()),
            engage: true,
        },
    ];
    for (i, op) in ops.iter().enumerate() {
        cmd_tx
            .send(CommandRequest {
                action_id: i as u64,
                author: "ana".into(),
                command: Command::Flag {
                    source: "flags".into(),
                    op: op.clone(),
                },
            })
            .expect("driver alive");
        match next(&mut rx, |a| matches!(a, Action::CommandDone(_))).await {
            Action::CommandDone(o) => assert!(o.result.is_ok(), "{op:?}: {:?}", o.result),
            _ => unreachable!(),
        }
        // Every command is followed by a re-read, so the panes show the lever as it is now.
        next_flags(&mut rx).await;
    }

    let after = read_json(&path);
    let flag = &after["flags"]["support-bot.prompt"];
    assert_eq!(flag["defaultVariant"], "v12");
    assert_eq!(flag["metadata"]["changedBy"], "ana");
    let changed = flag["metadata"]["changedAt"].as_str().unwrap_or_default();
    assert!(changed.starts_with("2026-11-23T02:30:"), "{changed}");
    let kill = &after["flags"]["support-bot.kill-switch"];
    assert_eq!(
        kill["targeting"],
        json!({"if": [{"in": [{"var": "segment"}, ["free-tier"]]}, "on", null]})
    );
    // Everything the cockpit did not touch is exactly as the team wrote it.
    for key in ["$schema", "$evaluators", "x-padding"] {
        assert_eq!(after[key], original[key], "{key}");
    }
    assert_eq!(
        after["flags"]["new-checkout"],
        original["flags"]["new-checkout"]
    );
    assert_eq!(
        flag["variants"],
        original["flags"]["support-bot.prompt"]["variants"]
    );
    assert_eq!(flag["metadata"]["owner"], "support-team");
}

async fn next(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Action>,
    want: impl Fn(&Action) -> bool,
) -> Action {
    let deadline = Duration::from_secs(20);
    loop {
        let a = tokio::time::timeout(deadline, rx.recv())
            .await
            .expect("driver reported in time")
            .expect("driver alive");
        if want(&a) {
            return a;
        }
    }
}

async fn next_flags(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Action>) -> Vec<FeatureFlags> {
    match next(rx, |a| {
        matches!(
            a,
            Action::Backend(BackendEvent::Flags { .. } | BackendEvent::Failed { .. })
        )
    })
    .await
    {
        Action::Backend(BackendEvent::Flags { flags, .. }) => flags,
        other => panic!("flag read failed: {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_flag_file_fails_loudly_and_is_left_alone() {
    let path = temp_file("broken", &json!({"flags": {}}));
    std::fs::write(&path, b"{\"flags\": {\"support-bot.prompt\": ").expect("write");
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let now = Utc::now();
    let err = control.read(now).await.expect_err("truncated file");
    assert!(
        err.to_string().contains("flags.json"),
        "names the file: {err}"
    );
    let op = FlagOp::KillSwitch {
        feature: "support-bot".into(),
        segment: None,
        engage: true,
    };
    assert!(control.apply(&op, "ana", now).await.is_err());
    assert_eq!(
        std::fs::read(&path).expect("read"),
        b"{\"flags\": {\"support-bot.prompt\": ",
        "a broken file is never replaced by a guess"
    );
    let gone = path.with_file_name("missing.json");
    let err = Flagd::new(&config(&gone))
        .expect("adapter")
        .read(now)
        .await
        .expect_err("missing file");
    assert!(err.to_string().contains("missing.json"), "{err}");
}

/// A flag file bigger than the source's cap is refused before it is held in memory.
#[tokio::test]
async fn a_flag_file_past_the_cap_is_refused() {
    let path = temp_file("huge", &team_file(2 << 20));
    let mut cfg = config(&path);
    cfg.max_reply_mib = 1;
    let err = Flagd::new(&cfg)
        .expect("adapter")
        .read(Utc::now())
        .await
        .expect_err("over the cap");
    assert!(err.to_string().starts_with("reply too large ("), "{err}");
    assert!(err.to_string().contains("> cap 1 MiB"), "{err}");
}

/// Not a test on its own: the child process of the test below, which flips the kill switch
/// forever until it is killed.
#[test]
#[ignore = "run as a child by a_writer_killed_mid_write_never_leaves_a_half_written_file"]
fn flagd_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut control = Flagd::new(&config(Path::new(&path))).expect("adapter");
    let mut engage = true;
    loop {
        let op = FlagOp::KillSwitch {
            feature: "support-bot".into(),
            segment: None,
            engage,
        };
        // A previous writer may have been killed after engaging: "already engaged" is fine.
        let _ = rt.block_on(control.apply(&op, "writer", Utc::now()));
        engage = !engage;
    }
}

#[test]
fn a_writer_killed_mid_write_never_leaves_a_half_written_file() {
    // Big enough that a write takes a while, so kills land inside writes.
    let original = team_file(8 << 20);
    let path = temp_file("kill", &original);
    let exe = std::env::current_exe().expect("test binary");
    let mut saw_change = 0;
    for round in 0..12 {
        let before = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut child = Process::new(&exe)
            // The child test by its full path in this binary (`flagd_file::…`).
            .args([
                "--exact",
                &format!(
                    "{}::flagd_writer_child",
                    module_path!().split_once("::").map_or("", |(_, m)| m)
                ),
                "--ignored",
                "--nocapture",
            ])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        // Kill at a different moment each round: after the writer has replaced the file a few
        // times, or while it is still writing its first temp file.
        let deadline = Instant::now() + Duration::from_secs(60);
        let tmp = path.with_file_name(".flags.json.cockpit-tmp");
        loop {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            let writing = std::fs::metadata(&tmp)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
            if (round % 2 == 0 && modified != before) || (round % 2 == 1 && writing) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: writer never wrote; exit: {:?}",
                child.try_wait()
            );
            std::thread::yield_now();
        }
        let _ = child.kill();
        let _ = child.wait();

        let now = read_json(&path);
        let kill = &now["flags"]["support-bot.kill-switch"];
        let default = kill["defaultVariant"].as_str().expect("defaultVariant");
        assert!(
            default == "on" || default == "off",
            "round {round}: {default}"
        );
        if default == "on" {
            saw_change += 1;
        }
        assert_eq!(now["x-padding"], original["x-padding"], "round {round}");
        assert_eq!(now["$evaluators"], original["$evaluators"], "round {round}");
        let levers = flagd::decode(&std::fs::read(&path).expect("read"))
            .expect("decodes")
            .levers(&flagd::FlagNames::from_config(&config(&path)).expect("names"));
        assert_eq!(levers.len(), 1, "round {round}");
    }
    assert!(saw_change > 0, "the writer really changed the file");
}

/// The change timeline from the flag file: a team's edit that moves the served prompt (its
/// `changedAt` metadata saying when) and a kill switch turned on, seen by the adapter between
/// two reads, are dated changes of the feature, and the prompt move is the layer suggested
/// for an incident that starts after it.
#[tokio::test]
async fn a_file_edit_between_reads_is_on_the_change_timeline_dated_by_its_metadata() {
    use oncall_cockpit::state::{update, State};
    let mut doc = team_file(0);
    let path = temp_file("changes", &doc);
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let t0 = Utc
        .with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
        .single()
        .expect("time");
    let mut state = State::new(t0, "ana", "flagd");
    let feed = |state: &mut State, flags: Vec<FeatureFlags>, at| {
        update(
            state,
            Action::Backend(BackendEvent::Flags {
                source: "flags".into(),
                at,
                flags,
            }),
        );
    };
    let first = control.read(t0).await.expect("read");
    feed(&mut state, first, t0);

    // The team deploys v15 at 09:20 and, a minute later, someone turns the kill switch on.
    let deployed = Utc
        .with_ymd_and_hms(2026, 12, 1, 9, 20, 0)
        .single()
        .expect("time");
    doc["flags"]["support-bot.prompt"]["variants"]["v15"] = json!({"file": "support/v15.md"});
    doc["flags"]["support-bot.prompt"]["defaultVariant"] = json!("v15");
    doc["flags"]["support-bot.prompt"]["metadata"]["changedAt"] = json!("2026-12-01T09:20:00Z");
    doc["flags"]["support-bot.kill-switch"]["defaultVariant"] = json!("on");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let t1 = deployed + chrono::Duration::minutes(1);
    let second = control.read(t1).await.expect("read");
    feed(&mut state, second, t1);

    let mut inc = cockpit_testkit::common::drill_state(15).incidents.all[0].clone();
    inc.feature = oncall_cockpit::domain::SafeText::new("support-bot");
    inc.triggered_at = deployed + chrono::Duration::minutes(5);
    let timeline = state.changes.around(&inc, t1);
    let lines: Vec<String> = timeline
        .entries
        .iter()
        .map(|c| {
            format!(
                "{} {} ({})",
                oncall_cockpit::state::changes::relative(c.at, inc.triggered_at),
                c.what,
                c.origin
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "−5m prompt support-bot v14→v15 (flags)",
            "−4m kill switch support-bot: engaged (*) (flags)",
        ]
    );
    let suggestion = state.changes.suggest(&inc, t1).expect("suggested");
    assert_eq!(
        suggestion.layer.name(),
        "infrastructure",
        "the nearest change"
    );
}

// ---- the settable levers ------------------------------------------------------------------

use oncall_cockpit::domain::lever::{Lever, LeverSetting};

/// A team's file with a flag per settable lever for support-bot (strings, objects, numbers,
/// booleans as values), triage-agent's token budget alone under the team's own targeting, and
/// flags and fields the cockpit has no business with.
fn lever_file() -> Value {
    json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "support-bot.model": {
                "state": "ENABLED",
                "variants": {"frontier-xl": "gpt-4o", "frontier-mini": "gpt-4o-mini"},
                "defaultVariant": "frontier-xl",
                "metadata": {"owner": "ml-platform"}
            },
            "support-bot.config": {
                "state": "ENABLED",
                "variants": {
                    "standard": {"temperature": 0.7, "prompt": "default"},
                    "conservative": {"temperature": 0.2, "prompt": "strict"}
                },
                "defaultVariant": "standard"
            },
            "support-bot.token-budget": {
                "state": "ENABLED",
                "variants": {"unlimited": 0, "20k": 20000, "5k": 5000},
                "defaultVariant": "unlimited",
                "x-ticket": "FIN-77"
            },
            "support-bot.retrieval": {
                "state": "ENABLED",
                "variants": {"top-k-8": {"topK": 8}, "top-k-3": {"topK": 3}, "cached": {"cached": true}},
                "defaultVariant": "top-k-8"
            },
            "support-bot.fallback": {
                "state": "ENABLED",
                "variants": {"model": false, "human": true},
                "defaultVariant": "model"
            },
            "triage-agent.token-budget": {
                "state": "ENABLED",
                "variants": {"unlimited": 0, "5k": 5000},
                "defaultVariant": "unlimited",
                "targeting": {"if": [{"ends_with": [{"var": "email"}, "@bigcorp.com"]}, "5k", null]}
            },
            "new-checkout": {"state": "DISABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
                             "x-rollout-ticket": "OPS-1234"}
        },
        "$evaluators": {"isStaff": {"ends_with": [{"var": "email"}, "@example.com"]}}
    })
}

fn at(min: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 3, min, 0).unwrap()
}

fn set(lever: Lever, segment: Option<&str>, variant: &str) -> FlagOp {
    FlagOp::SetLever {
        feature: "support-bot".into(),
        lever,
        segment: segment.map(str::to_string),
        variant: variant.into(),
        undo: false,
    }
}

async fn lever_of(control: &mut Flagd, feature: &str, lever: Lever) -> LeverSetting {
    let flags = control.read(at(59)).await.expect("read");
    let ff = flags
        .iter()
        .find(|f| f.feature == feature)
        .unwrap_or_else(|| panic!("{feature} reported: {flags:?}"));
    ff.levers
        .iter()
        .find(|l| l.lever == lever)
        .unwrap_or_else(|| panic!("{lever:?} reported: {:?}", ff.levers))
        .clone()
}

#[tokio::test]
async fn every_lever_flag_reads_with_its_variants_values_and_served_setting() {
    let path = temp_file("lever-read", &lever_file());
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let flags = control.read(at(0)).await.expect("read");
    let names: Vec<&str> = flags.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(
        names,
        ["support-bot", "triage-agent"],
        "a feature with only lever flags is still a feature"
    );
    let bot = &flags[0];
    let levers: Vec<Lever> = bot.levers.iter().map(|l| l.lever).collect();
    assert_eq!(levers, Lever::SETTABLE, "every lever, in the panel's order");
    let shown = |l: &LeverSetting| {
        l.variants
            .iter()
            .map(|v| format!("{}={}", v.name, v.value))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let expect = [
        ("support-bot.model", "frontier-xl", "frontier-xl=\"gpt-4o\" frontier-mini=\"gpt-4o-mini\""),
        (
            "support-bot.config",
            "standard",
            "standard={\"temperature\":0.7,\"prompt\":\"default\"} conservative={\"temperature\":0.2,\"prompt\":\"strict\"}",
        ),
        ("support-bot.token-budget", "unlimited", "unlimited=0 20k=20000 5k=5000"),
        (
            "support-bot.retrieval",
            "top-k-8",
            "top-k-8={\"topK\":8} top-k-3={\"topK\":3} cached={\"cached\":true}",
        ),
        ("support-bot.fallback", "model", "model=false human=true"),
    ];
    for (l, (flag, current, variants)) in bot.levers.iter().zip(expect) {
        assert_eq!(l.flag, flag);
        assert_eq!(l.current, current, "{flag}");
        assert_eq!(shown(l), variants, "{flag}: variants in file order");
        assert!(l.segments.is_empty() && !l.segments_unknown, "{flag}");
        assert_eq!(
            (&l.previous, &l.changed_at, &l.changed_by),
            (&None, &None, &None)
        );
    }
    assert_eq!(
        bot.levers[2].variants[1].value,
        json!(20000),
        "a number stays a number"
    );
    let triage = &flags[1].levers[0];
    assert_eq!(triage.lever, Lever::TokenBudget);
    assert_eq!(triage.current, "unlimited");
    assert!(
        triage.segments_unknown && triage.segments.is_empty(),
        "the team's own targeting is not guessed at: {triage:?}"
    );
}

#[tokio::test]
async fn each_lever_sets_for_the_feature_and_for_a_segment_and_records_who_and_when() {
    let path = temp_file("lever-set", &lever_file());
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let cases = [
        (
            Lever::ModelSwitch,
            "support-bot.model",
            "frontier-xl",
            "frontier-mini",
        ),
        (
            Lever::ConservativeConfig,
            "support-bot.config",
            "standard",
            "conservative",
        ),
        (
            Lever::TokenBudget,
            "support-bot.token-budget",
            "unlimited",
            "20k",
        ),
        (
            Lever::RetrievalPath,
            "support-bot.retrieval",
            "top-k-8",
            "cached",
        ),
        (Lever::Fallback, "support-bot.fallback", "model", "human"),
    ];
    for (i, (lever, key, was, to)) in cases.into_iter().enumerate() {
        let t = at(i as u32 * 2);
        // One segment first, then the whole feature.
        let msg = control
            .apply(&set(lever, Some("free-tier"), to), "ana", t)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            msg,
            format!(
                "support-bot {} set for segment free-tier: {was} → {to}",
                lever.short()
            )
        );
        let file = read_json(&path);
        let flag = &file["flags"][key];
        assert_eq!(
            flag["defaultVariant"], was,
            "{key}: the feature is untouched"
        );
        assert_eq!(
            flag["targeting"],
            json!({"if": [{"in": [{"var": "segment"}, ["free-tier"]]}, to, null]}),
            "{key}"
        );
        assert_eq!(flag["metadata"]["changedSegment"], "free-tier", "{key}");
        let l = lever_of(&mut control, "support-bot", lever).await;
        assert_eq!(l.current, was);
        assert_eq!(l.segments, [("free-tier".to_string(), to.to_string())]);
        assert_eq!(l.served_to(Some("free-tier")), to);
        assert_eq!(
            l.previous, None,
            "a segment's change is no feature setting to revert to"
        );
        assert_eq!(
            (l.changed_by.as_deref(), l.changed_at),
            (Some("ana"), Some(t))
        );

        let t = at(i as u32 * 2 + 1);
        let msg = control
            .apply(&set(lever, None, to), "bo", t)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(
            msg.starts_with(&format!("support-bot {} set: {was} → {to}", lever.short())),
            "{msg}"
        );
        let file = read_json(&path);
        let flag = &file["flags"][key];
        assert_eq!(flag["defaultVariant"], to, "{key}");
        assert_eq!(flag["metadata"]["previousVariant"], was, "{key}");
        assert_eq!(flag["metadata"]["changedBy"], "bo", "{key}");
        assert!(flag["metadata"].get("changedSegment").is_none(), "{key}");
        let l = lever_of(&mut control, "support-bot", lever).await;
        assert_eq!(l.current, to);
        assert_eq!(l.previous.as_deref(), Some(was));
        assert_eq!(
            (l.changed_by.as_deref(), l.changed_at),
            (Some("bo"), Some(t))
        );
    }
    let file = read_json(&path);
    assert_eq!(
        file["flags"]["support-bot.model"]["metadata"]["owner"],
        "ml-platform"
    );
    assert_eq!(
        file["flags"]["support-bot.token-budget"]["x-ticket"],
        "FIN-77"
    );
}

/// Segments on different variants make one chain, a group per variant; a segment set back to
/// the feature's variant drops out of it, and the last one out removes the rule.
#[tokio::test]
async fn segment_rules_group_per_variant_and_drop_out_when_set_back() {
    let path = temp_file("lever-chain", &lever_file());
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let budget = |seg, v| set(Lever::TokenBudget, Some(seg), v);
    for op in [
        budget("free", "5k"),
        budget("trial", "20k"),
        budget("loop-tenant", "5k"),
    ] {
        control.apply(&op, "ana", at(1)).await.expect("set");
    }
    let rule = |file: &Value| file["flags"]["support-bot.token-budget"]["targeting"].clone();
    assert_eq!(
        rule(&read_json(&path)),
        json!({"if": [
            {"in": [{"var": "segment"}, ["free", "loop-tenant"]]}, "5k",
            {"in": [{"var": "segment"}, ["trial"]]}, "20k",
            null
        ]})
    );
    // A segment moved to another variant leaves its old group.
    control
        .apply(&budget("free", "20k"), "ana", at(2))
        .await
        .expect("move");
    let l = lever_of(&mut control, "support-bot", Lever::TokenBudget).await;
    assert_eq!(l.served_to(Some("free")), "20k");
    assert_eq!(l.served_to(Some("loop-tenant")), "5k");
    assert_eq!(l.served_to(Some("anyone-else")), "unlimited");
    let err = control
        .apply(&budget("free", "20k"), "ana", at(3))
        .await
        .expect_err("no change");
    assert!(
        err.to_string().contains("already serves token budget 20k"),
        "{err}"
    );
    for seg in ["free", "trial", "loop-tenant"] {
        control
            .apply(&budget(seg, "unlimited"), "ana", at(4))
            .await
            .expect("back to the feature's");
    }
    let file = read_json(&path);
    let flag = &file["flags"]["support-bot.token-budget"];
    assert!(
        flag.get("targeting").is_none(),
        "no segment left, no rule: {flag}"
    );
    let keys: Vec<&String> = flag.as_object().expect("flag").keys().collect();
    assert_eq!(
        keys,
        [
            "state",
            "variants",
            "defaultVariant",
            "x-ticket",
            "metadata"
        ],
        "the flag's own keys keep their order"
    );
}

#[tokio::test]
async fn an_unknown_variant_is_refused_and_the_file_is_unchanged() {
    let path = temp_file("lever-unknown", &lever_file());
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let before = std::fs::read(&path).expect("read");
    for segment in [None, Some("free")] {
        let err = control
            .apply(
                &set(Lever::ModelSwitch, segment, "frontier-nano"),
                "ana",
                at(1),
            )
            .await
            .expect_err("no such variant");
        let msg = err.to_string();
        assert!(
            msg.contains("support-bot.model has no variant \"frontier-nano\"")
                && msg.contains("frontier-xl, frontier-mini"),
            "says what there is: {msg}"
        );
    }
    let missing = FlagOp::SetLever {
        feature: "summarizer".into(),
        lever: Lever::Fallback,
        segment: None,
        variant: "human".into(),
        undo: false,
    };
    let err = control
        .apply(&missing, "ana", at(1))
        .await
        .expect_err("no flag");
    assert!(
        err.to_string()
            .contains("no fallback flag summarizer.fallback for summarizer"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "not a byte moved"
    );
}

#[tokio::test]
async fn the_teams_own_targeting_is_never_rewritten_but_the_feature_can_still_be_set() {
    let original = lever_file();
    let path = temp_file("lever-team-rule", &original);
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let budget = |segment: Option<&str>| FlagOp::SetLever {
        feature: "triage-agent".into(),
        lever: Lever::TokenBudget,
        segment: segment.map(str::to_string),
        variant: "5k".into(),
        undo: false,
    };
    let before = std::fs::read(&path).expect("read");
    let err = control
        .apply(&budget(Some("free")), "ana", at(1))
        .await
        .expect_err("team rule");
    let msg = err.to_string();
    assert!(
        msg.contains("has its own targeting rule") && msg.contains("by hand"),
        "says why: {msg}"
    );
    assert_eq!(std::fs::read(&path).expect("read"), before);
    let msg = control
        .apply(&budget(None), "ana", at(2))
        .await
        .expect("feature");
    assert!(
        msg.contains("segments with their own rule keep it"),
        "{msg}"
    );
    let file = read_json(&path);
    let flag = &file["flags"]["triage-agent.token-budget"];
    assert_eq!(flag["defaultVariant"], "5k");
    assert_eq!(
        flag["targeting"],
        original["flags"]["triage-agent.token-budget"]["targeting"]
    );
    let l = lever_of(&mut control, "triage-agent", Lever::TokenBudget).await;
    assert!(l.segments_unknown);
}

#[tokio::test]
async fn a_revert_goes_back_to_the_previous_setting() {
    let path = temp_file("lever-revert", &lever_file());
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    control
        .apply(
            &set(Lever::ConservativeConfig, None, "conservative"),
            "ana",
            at(1),
        )
        .await
        .expect("set");
    let l = lever_of(&mut control, "support-bot", Lever::ConservativeConfig).await;
    let previous = l.previous.expect("previous recorded");
    assert_eq!(previous, "standard");
    let revert = FlagOp::SetLever {
        feature: "support-bot".into(),
        lever: Lever::ConservativeConfig,
        segment: None,
        variant: previous,
        undo: true,
    };
    let msg = control.apply(&revert, "bo", at(9)).await.expect("revert");
    assert_eq!(
        msg,
        "support-bot conservative config reverted: conservative → standard"
    );
    let l = lever_of(&mut control, "support-bot", Lever::ConservativeConfig).await;
    assert_eq!(l.current, "standard");
    assert_eq!(l.previous.as_deref(), Some("conservative"));
    assert_eq!(
        (l.changed_by.as_deref(), l.changed_at),
        (Some("bo"), Some(at(9)))
    );
}

/// Setting every lever for the feature and a segment, then back, leaves every flag, field
/// and key order the cockpit did not own exactly as it was.
#[tokio::test]
async fn other_flags_and_unknown_fields_round_trip_through_lever_writes() {
    let original = lever_file();
    let path = temp_file("lever-round-trip", &original);
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    for lever in Lever::SETTABLE {
        let l = lever_of(&mut control, "support-bot", lever).await;
        let other = l.variants[1].name.clone();
        for (segment, variant) in [
            (Some("free"), &other),
            (None, &other),
            (None, &l.current),
            (Some("free"), &l.current),
        ] {
            control
                .apply(&set(lever, segment, variant), "ana", at(1))
                .await
                .unwrap_or_else(|e| panic!("{lever:?} {segment:?} {variant}: {e}"));
        }
    }
    let mut after = read_json(&path);
    for (key, flag) in after["flags"].as_object_mut().expect("flags") {
        if key.starts_with("support-bot.") {
            let meta = flag["metadata"].as_object_mut().expect("metadata recorded");
            for k in [
                "previousVariant",
                "changedAt",
                "changedBy",
                "changedSegment",
            ] {
                meta.shift_remove(k);
            }
            if meta.is_empty() {
                flag.as_object_mut().expect("flag").shift_remove("metadata");
            }
        }
    }
    assert_eq!(after, original, "only the cockpit's metadata is new");
    let order = |v: &Value| -> Vec<String> {
        v["flags"]
            .as_object()
            .expect("flags")
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(order(&after), order(&original));
    assert_eq!(
        serde_json::to_string(&after).expect("json"),
        serde_json::to_string(&original).expect("json"),
        "key order inside every flag too"
    );
}

/// Variant names and values are whatever the file says, escape sequences included: the
/// decoder reports them as data (the state's sanitiser makes them safe to draw) and they can
/// be set like any other.
#[tokio::test]
async fn hostile_variant_names_are_reported_as_data_and_can_be_set() {
    let nasty = "mini\u{1b}[2J\u{1b}]52;c;eA==\u{7}";
    let mut doc = lever_file();
    doc["flags"]["support-bot.model"]["variants"] = json!({
        "frontier-xl": "gpt-4o",
        nasty: {"model": "\u{1b}[31mred", "\u{202e}rtl": [1, null, "\u{0}"]},
        "": "empty name",
        "😀 \"quoted\" \\ back": 1e-7
    });
    let path = temp_file("lever-hostile", &doc);
    let mut control = Flagd::new(&config(&path)).expect("adapter");
    let l = lever_of(&mut control, "support-bot", Lever::ModelSwitch).await;
    let names: Vec<&str> = l.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["frontier-xl", nasty, "", "😀 \"quoted\" \\ back"]);
    assert_eq!(l.variants[1].value["model"], "\u{1b}[31mred");
    control
        .apply(
            &set(Lever::ModelSwitch, Some("eu\u{1b}[0m"), nasty),
            "ana",
            at(1),
        )
        .await
        .expect("a hostile name is still a name");
    let l = lever_of(&mut control, "support-bot", Lever::ModelSwitch).await;
    assert_eq!(l.served_to(Some("eu\u{1b}[0m")), nasty);
    assert_eq!(
        read_json(&path)["flags"]["support-bot.model"]["variants"],
        doc["flags"]["support-bot.model"]["variants"]
    );
}
