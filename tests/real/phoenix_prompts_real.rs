//! Phoenix's prompt registry as the prompt-rollback lever, against the real Phoenix the
//! samples tests use (one server per binary). Prompts, versions and tags are made through
//! Phoenix's REST API as a team's deploy script would; the cockpit reads them through
//! `driver::run_flags` into its state, a responder presses rollback, and Phoenix is asked
//! afterwards who holds the tag. Each test has its own prompt names.

use super::phoenix_real::{config, unique};
use chrono::{DateTime, Utc};
use cockpit_testkit::servers::{self, phoenix::PhoenixServer};
use oncall_cockpit::action::Action;
use oncall_cockpit::backend::driver::{run_flags, DriverConfig};
use oncall_cockpit::backend::phoenix::PhoenixPrompts;
use oncall_cockpit::backend::{BackendError, BackendEvent, FeatureFlags, FlagControl, FlagOp};
use oncall_cockpit::clock::Clock;
use oncall_cockpit::domain::command::{Command, CommandRequest};
use oncall_cockpit::domain::source::Registration;
use oncall_cockpit::state::{update, ActionStatus, Effect, Overlay, SourceRole, State};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Only bounds how long a broken run takes to fail; every wait is on a condition.
const PATIENCE: Duration = Duration::from_secs(60);
const SOURCE: &str = "phoenix-test";
const ANA: &str = "ana";

fn data_dir() -> PathBuf {
    let dir = servers::phoenix::shared()
        .dir
        .join(format!("data-{}", unique()));
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

/// The prompt lever with the server's API key, recording tag moves under `data`.
fn prompts(server: &PhoenixServer, url: &str, data: &Path, extra: &str) -> PhoenixPrompts {
    let key = server.key_file();
    let cfg = config(
        url,
        &format!(
            "auth = {{ bearer = {{ file = \"{}\" }} }}\nprompt_registry = true\n{extra}",
            key.display()
        ),
    );
    PhoenixPrompts::new(&cfg, data).expect("prompt registry")
}

/// The cockpit's state fed by the registry's driver task, with the commands it confirms
/// sent to it, as the app does.
struct Cockpit {
    commands: UnboundedSender<CommandRequest>,
    events: UnboundedReceiver<Action>,
    state: State,
}

impl Cockpit {
    fn start(adapter: PhoenixPrompts) -> Cockpit {
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (tx, events) = unbounded_channel();
        let cfg = DriverConfig {
            source: SOURCE.into(),
            poll: Duration::from_millis(200),
            timeout: Duration::from_secs(10),
        };
        tokio::spawn(run_flags(
            adapter,
            cfg,
            Clock::new(Utc::now(), 1.0),
            cmd_rx,
            oncall_cockpit::wiring::reporter(&tx),
        ));
        let mut state = State::new(Utc::now(), ANA, "phoenix");
        let mut reg = Registration::new(SOURCE, SourceRole::Flags, Some(0.2));
        reg.prompts_only = true;
        state.sources.register(reg, Utc::now());
        Cockpit {
            commands: cmd_tx,
            events,
            state,
        }
    }

    async fn next(&mut self, deadline: Instant) -> Action {
        let left = deadline.saturating_duration_since(Instant::now());
        let action = match tokio::time::timeout(left, self.events.recv()).await {
            Ok(Some(a)) => a,
            Ok(None) => panic!("driver stopped"),
            Err(_) => panic!("no event from the driver within {PATIENCE:?}"),
        };
        update(&mut self.state, action.clone());
        action
    }

    /// A key press: what it sends goes to the driver; returns every effect.
    fn press(&mut self, action: Action) -> Vec<Effect> {
        let fx = cockpit_testkit::common::evidence_written(&mut self.state, action);
        for e in &fx {
            if let Effect::Send(req) = e {
                self.commands.send(req.clone()).expect("driver running");
            }
        }
        fx
    }

    async fn settled(&mut self, id: u64) -> ActionStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Action::CommandDone(done) = self.next(deadline).await {
                if done.action_id == id {
                    let tracked = self.state.actions.tracked.iter().find(|a| a.id == id);
                    return tracked.map(|a| a.status.clone()).expect("tracked action");
                }
            }
        }
    }

    /// The feature's levers from the first poll where `ok` holds for them.
    async fn flags_where(
        &mut self,
        feature: &str,
        ok: impl Fn(&FeatureFlags) -> bool,
    ) -> FeatureFlags {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::from("no poll yet");
        while Instant::now() < deadline {
            match self.next(deadline).await {
                Action::Backend(BackendEvent::Flags { flags, .. }) => {
                    match flags.into_iter().find(|f| f.feature == feature) {
                        Some(f) if ok(&f) => return f,
                        Some(f) => last = format!("{f:?}"),
                        None => last = format!("{feature} not reported"),
                    }
                }
                Action::Backend(BackendEvent::Failed { error, .. }) => last = error,
                _ => {}
            }
        }
        panic!("{feature}: condition not met within {PATIENCE:?}; last: {last}");
    }
}

fn sent_ids(fx: &[Effect]) -> Vec<u64> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(r.action_id),
            _ => None,
        })
        .collect()
}

fn audits(fx: &[Effect]) -> Vec<(String, String, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Audit(r) => Some((r.action.clone(), r.target.clone(), r.outcome.clone())),
            _ => None,
        })
        .collect()
}

async fn read(adapter: &mut PhoenixPrompts, feature: &str) -> FeatureFlags {
    let all = adapter.read(Utc::now()).await.expect("read the registry");
    assert!(all.iter().all(|f| f.prompt_only), "{all:?}");
    all.into_iter()
        .find(|f| f.feature == feature)
        .unwrap_or_else(|| panic!("{feature} not reported"))
}

fn rollback(feature: &str, to: &str) -> FlagOp {
    FlagOp::Rollback {
        feature: feature.into(),
        to_version: to.into(),
    }
}

#[tokio::test]
async fn the_production_tag_is_the_lever_and_its_moves_outlive_a_restart() {
    let server = servers::phoenix::shared();
    let test_start = Utc::now();
    let v1 = server.prompt_version("tag-bot", "You are v1.").await;
    let v2 = server.prompt_version("tag-bot", "You are v2.").await;
    let v3 = server.prompt_version("tag-bot", "You are v3.").await;
    server.tag(&v2, "production").await;
    let data = data_dir();

    let mut cockpit = Cockpit::start(prompts(server, &server.url, &data, ""));
    let first = cockpit
        .flags_where("tag-bot", |f| {
            f.current_prompt.as_deref() == Some(v2.as_str())
        })
        .await;
    assert_eq!(
        first.prompt_versions,
        [v1.clone(), v2.clone(), v3.clone()],
        "oldest first"
    );
    assert_eq!(first.last_known_good, None, "no move seen yet");

    // A deploy done in Phoenix, not by the cockpit: seen and recorded, at the start of the
    // poll that saw it (which may have begun just before the tag moved).
    server.tag(&v3, "production").await;
    let deployed = cockpit
        .flags_where("tag-bot", |f| {
            f.current_prompt.as_deref() == Some(v3.as_str())
        })
        .await;
    assert_eq!(deployed.last_known_good.as_deref(), Some(v2.as_str()));
    let seen_at = deployed.prompt_changed_at.expect("when the tag moved");
    assert!(
        seen_at >= test_start && seen_at <= Utc::now(),
        "{seen_at} outside the test"
    );

    // Read-only: the key does nothing and says why.
    cockpit.state.signals.pinned = Some("tag-bot".into());
    cockpit.state.read_only = true;
    assert!(sent_ids(&cockpit.press(Action::Rollback)).is_empty());
    assert!(matches!(cockpit.state.overlay, Overlay::None));
    cockpit.state.read_only = false;

    // The responder rolls back: the last-known-good is preselected, confirmed, audited.
    cockpit.press(Action::Rollback);
    let Overlay::Picker(picker) = &cockpit.state.overlay else {
        panic!(
            "rollback opens a version picker: {:?}",
            cockpit.state.overlay
        );
    };
    assert_eq!(picker.items[picker.cursor].label, v2);
    assert!(picker.items[picker.cursor]
        .detail
        .contains("last-known-good"));
    cockpit.press(Action::Select);
    let fx = cockpit.press(Action::Confirm);
    let [id] = sent_ids(&fx)[..] else {
        panic!("one command sent: {fx:?}");
    };
    assert_eq!(
        audits(&fx),
        [(
            "prompt_rollback".to_string(),
            format!("tag-bot prompt → {v2}"),
            "requested".to_string()
        )]
    );
    match cockpit.settled(id).await {
        ActionStatus::Succeeded(msg) => {
            assert!(msg.contains(&format!("{v3} → {v2}")), "{msg}");
            assert!(msg.contains("tag production"), "{msg}");
        }
        other => panic!("rollback failed: {other:?}"),
    }
    assert_eq!(
        server.tagged("tag-bot", "production").await.as_deref(),
        Some(v2.as_str()),
        "Phoenix moved the tag"
    );
    let rolled = cockpit
        .flags_where("tag-bot", |f| {
            f.current_prompt.as_deref() == Some(v2.as_str())
        })
        .await;
    assert_eq!(rolled.last_known_good.as_deref(), Some(v2.as_str()));
    let rolled_at = rolled.prompt_changed_at.expect("rollback time");
    assert!(rolled_at >= seen_at);

    // The record: owner-only, one line per move, naming who moved the tag.
    use std::os::unix::fs::PermissionsExt;
    let file = data.join("prompt-tags").join(format!("{SOURCE}.jsonl"));
    let text = std::fs::read_to_string(&file).expect("history file");
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The Phoenix server is shared with the other tests of this file, whose prompts (fail-bot)
    // the adapter records too, moving at the same time: this prompt's lines are this test's.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"prompt\":\"tag-bot\""))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("\"by\":\"seen\"") && lines[0].contains(&v3),
        "{text}"
    );
    assert!(
        lines[1].contains("\"by\":\"ana\"") && lines[1].contains(&v2),
        "{text}"
    );

    // After a restart the last-known-good and the time of the move are still known, and the
    // rollback can be rolled back.
    let mut restarted = prompts(server, &server.url, &data, "");
    let again = read(&mut restarted, "tag-bot").await;
    assert_eq!(again.current_prompt.as_deref(), Some(v2.as_str()));
    assert_eq!(again.last_known_good.as_deref(), Some(v2.as_str()));
    assert_eq!(
        again
            .prompt_changed_at
            .map(|t: DateTime<Utc>| t.timestamp_micros()),
        Some(rolled_at.timestamp_micros())
    );
    let msg = restarted
        .apply(&rollback("tag-bot", &v3), ANA, Utc::now())
        .await
        .expect("roll back the rollback");
    assert!(msg.contains(&format!("{v2} → {v3}")), "{msg}");
    assert_eq!(
        server.tagged("tag-bot", "production").await.as_deref(),
        Some(v3.as_str())
    );
    let back = read(&mut restarted, "tag-bot").await;
    assert_eq!(back.current_prompt.as_deref(), Some(v3.as_str()));
    assert_eq!(back.last_known_good.as_deref(), Some(v2.as_str()));
}

#[tokio::test]
async fn a_mapped_feature_and_another_tag_name_read_their_own_prompt() {
    let server = servers::phoenix::shared();
    let a = server.prompt_version("map-bot-system", "A").await;
    let b = server.prompt_version("map-bot-system", "B").await;
    server.tag(&a, "live").await;
    server.tag(&b, "production").await;
    let mut adapter = prompts(
        server,
        &server.url,
        &data_dir(),
        "prompt_tag = \"live\"\nprompts = { \"map-bot\" = \"map-bot-system\" }",
    );
    let ff = read(&mut adapter, "map-bot").await;
    assert_eq!(ff.current_prompt.as_deref(), Some(a.as_str()));
    let msg = adapter
        .apply(&rollback("map-bot", &b), ANA, Utc::now())
        .await
        .expect("moves the live tag");
    assert!(
        msg.contains("Phoenix prompt map-bot-system, tag live"),
        "{msg}"
    );
    assert_eq!(
        server.tagged("map-bot-system", "live").await,
        Some(b.clone())
    );
    assert_eq!(
        server.tagged("map-bot-system", "production").await,
        Some(b),
        "the other tag is left alone"
    );
}

#[tokio::test]
async fn rollback_failures_are_loud_leave_the_tag_and_a_dead_server_can_be_retried() {
    let server = servers::phoenix::shared();
    let v1 = server.prompt_version("fail-bot", "one").await;
    let v2 = server.prompt_version("fail-bot", "two").await;
    let elsewhere = server.prompt_version("fail-bot-other", "other").await;
    server.tag(&v2, "production").await;
    let mut adapter = prompts(server, &server.url, &data_dir(), "");

    for (to, expected) in [
        // Another prompt's version would move that prompt's tag: refused before any write.
        (elsewhere.as_str(), "has no version"),
        ("not-a-version", "has no version"),
        (v2.as_str(), "already runs prompt"),
    ] {
        let err = adapter
            .apply(&rollback("fail-bot", to), ANA, Utc::now())
            .await
            .expect_err(to);
        assert!(
            matches!(&err, BackendError::Rejected(m) if m.contains(expected)),
            "{to}: {err:?}"
        );
    }
    assert_eq!(
        server.tagged("fail-bot", "production").await,
        Some(v2.clone())
    );
    assert_eq!(server.tagged("fail-bot-other", "production").await, None);
    let kill = adapter
        .apply(
            &FlagOp::KillSwitch {
                feature: "fail-bot".into(),
                segment: None,
                engage: true,
            },
            ANA,
            Utc::now(),
        )
        .await
        .expect_err("no kill switch in a prompt registry");
    assert!(kill.to_string().contains("no kill switch"), "{kill}");

    // A Phoenix that is down: the cockpit's action fails naming where, and its retry
    // (once Phoenix answers again, here: the same command to a live adapter) goes through.
    let port = servers::free_port();
    let dead_url = format!("http://127.0.0.1:{port}");
    let mut dead = prompts(server, &dead_url, &data_dir(), "");
    let err = dead.read(Utc::now()).await.expect_err("nobody listens");
    assert_eq!(err, BackendError::Unreachable(dead_url.clone()));
    let mut cockpit = Cockpit::start(dead);
    // What the live registry reported before Phoenix went away.
    update(
        &mut cockpit.state,
        Action::Backend(BackendEvent::Flags {
            source: SOURCE.into(),
            at: Utc::now(),
            flags: vec![FeatureFlags {
                feature: "fail-bot".into(),
                prompt_versions: vec![v1.clone(), v2.clone()],
                current_prompt: Some(v2.clone()),
                prompt_only: true,
                ..FeatureFlags::default()
            }],
        }),
    );
    cockpit.state.signals.pinned = Some("fail-bot".into());
    cockpit.press(Action::Rollback);
    cockpit.press(Action::Select);
    let fx = cockpit.press(Action::Confirm);
    let [id] = sent_ids(&fx)[..] else {
        panic!("one command sent: {fx:?}");
    };
    match cockpit.settled(id).await {
        ActionStatus::Failed(msg) => assert!(msg.contains(&dead_url), "{msg}"),
        other => panic!("a dead Phoenix cannot succeed: {other:?}"),
    }
    let failed = cockpit
        .state
        .actions
        .last_failed()
        .cloned()
        .expect("kept for retry");
    let Command::Flag { op, .. } = failed.command else {
        panic!("{failed:?}");
    };
    assert_eq!(op, rollback("fail-bot", &v1));
    let msg = adapter.apply(&op, ANA, Utc::now()).await.expect("retried");
    assert!(msg.contains(&format!("{v2} → {v1}")), "{msg}");
    assert_eq!(server.tagged("fail-bot", "production").await, Some(v1));
}
