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
