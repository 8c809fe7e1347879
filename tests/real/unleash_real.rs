//! The Unleash flag adapter against a real Unleash (npm `unleash-server` 7.5.1 on a throwaway
//! PostgreSQL, both on 127.0.0.1). Flags are created through Unleash's admin API as a team
//! would have them; the adapter is driven the way the cockpit drives it (`driver::run_flags`
//! over channels, every event through `update`, levers pulled with the cockpit's own actions
//! where it matters); every result is read back through Unleash's own API.
//!
//! The tests share one server (see tests/servers/unleash.rs) and keep apart by flag names.

use chrono::{DateTime, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::action::Action;
use oncall_cockpit::backend::driver::{run_flags, DriverConfig};
use oncall_cockpit::backend::unleash::Unleash;
use oncall_cockpit::backend::unleash::UnleashConfig;
use oncall_cockpit::backend::{
    BackendError, BackendEvent, Command, CommandRequest, FeatureFlags, FlagControl, FlagOp,
};
use oncall_cockpit::clock::Clock;
use oncall_cockpit::config::secret::SecretSpec;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::lever::Lever;
use oncall_cockpit::state::{
    update, ActionStatus, Effect, Overlay, SourceRole, SourceStatus, State,
};
use serde_json::{json, Value};
use servers::unleash::{shared, UnleashServer};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Every wait polls; this only bounds how long a broken run takes to fail.
const PATIENCE: Duration = Duration::from_secs(30);
const ANA: &str = "ana@example.com";

fn config(server: &UnleashServer, url: &str, token: &str, name: &str) -> UnleashConfig {
    UnleashConfig {
        name: "unleash".into(),
        url: url.into(),
        token: SecretSpec {
            env: None,
            file: Some(server.token_file(name, token)),
        },
        project: "default".into(),
        environment: "production".into(),
        prompt_flag: "{feature}.prompt".into(),
        kill_flag: "{feature}.kill-switch".into(),
        model_flag: "{feature}.model".into(),
        config_flag: "{feature}.config".into(),
        budget_flag: "{feature}.token-budget".into(),
        retrieval_flag: "{feature}.retrieval".into(),
        fallback_flag: "{feature}.fallback".into(),
        segment_field: "segment".into(),
        poll_secs: PollSecs::try_from(1.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(10.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        tls: None,
    }
}

fn adapter(server: &UnleashServer, name: &str) -> Unleash {
    Unleash::new(&config(server, &server.url, &server.token, name)).expect("adapter")
}

/// The adapter in a driver task, as the cockpit runs it, both ends of its channels, and the
/// cockpit's state, which sees every event the driver sends.
struct Cockpit {
    commands: UnboundedSender<CommandRequest>,
    events: UnboundedReceiver<Action>,
    next_id: u64,
    state: State,
}

impl Cockpit {
    fn start(adapter: Unleash) -> Cockpit {
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (tx, events) = unbounded_channel();
        let cfg = DriverConfig {
            source: "unleash".into(),
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        };
        tokio::spawn(run_flags(
            adapter,
            cfg,
            Clock::new(Utc::now(), 1.0),
            cmd_rx,
            oncall_cockpit::wiring::reporter(&tx),
        ));
        let mut state = State::new(Utc::now(), ANA, "unleash");
        state
            .sources
            .list
            .push(SourceStatus::new("unleash", SourceRole::Flags, Some(0.5)));
        state.sources.flag_source = Some("unleash".into());
        Cockpit {
            commands: cmd_tx,
            events,
            // Far from the ids `update` hands out, so the two never meet.
            next_id: 1_000_000,
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

    /// A key press in the cockpit: commands it confirms go to the driver, as the app does.
    /// Presses `action` as the app would, its journal thread writing any evidence snapshot a
    /// lever waits for, and hands what is sent to the driver.
    fn press(&mut self, action: Action) -> Option<u64> {
        let mut sent = None;
        for effect in cockpit_testkit::common::evidence_written(&mut self.state, action) {
            if let Effect::Send(req) = effect {
                sent = Some(req.action_id);
                self.commands.send(req).expect("driver running");
            }
        }
        sent
    }

    /// Opens the picker `action` opens, picks the item labelled `label` and confirms it.
    fn pick(&mut self, action: Action, label: &str) -> u64 {
        self.press(action);
        let Overlay::Picker(picker) = &self.state.overlay else {
            panic!("no picker: {:?}", self.state.overlay);
        };
        let labels: Vec<String> = picker.items.iter().map(|i| i.label.clone()).collect();
        let at = labels
            .iter()
            .position(|l| l == label)
            .unwrap_or_else(|| panic!("{label:?} not offered: {labels:?}"));
        let moves = at as i64 - picker.cursor as i64;
        let key = if moves < 0 { Action::Up } else { Action::Down };
        for _ in 0..moves.unsigned_abs() {
            self.press(key.clone());
        }
        self.press(Action::Select);
        self.press(Action::Confirm)
            .expect("confirmed command is sent")
    }

    /// Waits until the cockpit's record of action `id` is settled, and returns it.
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

    /// Sends a flag command as the cockpit does after confirmation and waits for its outcome.
    async fn apply(&mut self, op: FlagOp) -> Result<String, String> {
        let action_id = self.next_id;
        self.next_id += 1;
        self.commands
            .send(CommandRequest {
                action_id,
                author: ANA.into(),
                command: Command::Flag {
                    source: "unleash".into(),
                    op,
                },
            })
            .expect("driver running");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Action::CommandDone(done) = self.next(deadline).await {
                if done.action_id == action_id {
                    return done.result;
                }
            }
        }
    }
}

fn variant(name: &str, weight: u32, fixed: bool) -> Value {
    json!({
        "name": name,
        "weight": weight,
        "weightType": if fixed { "fix" } else { "variable" },
        "stickiness": "default",
    })
}

fn rollout(flag: &str, constraints: Value, variants: Value) -> Value {
    json!({
        "name": "flexibleRollout",
        "parameters": { "rollout": "100", "stickiness": "default", "groupId": flag },
        "constraints": constraints,
        "variants": variants,
    })
}

fn segment_constraint(values: &[&str]) -> Value {
    json!([{ "contextName": "segment", "operator": "IN", "values": values,
             "inverted": false, "caseInsensitive": false }])
}

/// name → (weight, weightType) of the strategy's variants, as Unleash stores them.
fn weights(strategy: &Value) -> Vec<(String, u64, String)> {
    strategy["variants"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap_or_default().to_string(),
                        v["weight"].as_u64().unwrap_or(u64::MAX),
                        v["weightType"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The production strategies of a flag: (title or name, disabled, segment values or None).
async fn strategies(
    server: &UnleashServer,
    flag: &str,
) -> (bool, Vec<(bool, Option<Vec<String>>)>) {
    let env = server.production(flag).await;
    let list = env["strategies"]
        .as_array()
        .map(|ss| {
            ss.iter()
                .map(|s| {
                    let values = s["constraints"].as_array().and_then(|cs| {
                        cs.iter().find(|c| c["contextName"] == "segment").map(|c| {
                            c["values"]
                                .as_array()
                                .map(|vs| {
                                    vs.iter()
                                        .filter_map(Value::as_str)
                                        .map(str::to_string)
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                    });
                    (s["disabled"].as_bool().unwrap_or(false), values)
                })
                .collect()
        })
        .unwrap_or_default();
    (env["enabled"].as_bool().unwrap_or(false), list)
}

fn time_of(server_time: &Value) -> DateTime<Utc> {
    server_time
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {server_time}"))
}

#[tokio::test]
async fn prompt_rollback_rewrites_the_strategy_variants_and_history_gives_last_known_good() {
    let server = shared();
    eprintln!("unleash ready after {:?}", server.started_in);
    let flag = "rb-bot.prompt";
    server.create_flag(flag, "release").await;
    // v12 in production, then a deploy of v14, both done in Unleash as a team would.
    let st = server
        .add_strategy(
            flag,
            rollout(flag, json!([]), json!([variant("v12", 1000, false)])),
        )
        .await;
    let strategy_id = st["id"].as_str().expect("strategy id").to_string();
    server.switch(flag, true).await;
    let path = format!(
        "/projects/default/features/{flag}/environments/production/strategies/{strategy_id}"
    );
    let mut deploy = st.clone();
    deploy["variants"] = json!([variant("v12", 0, true), variant("v14", 1000, false)]);
    server.put(&path, deploy).await;
    let events = server
        .get(&format!(
            "/search/events?feature=IS:{flag}&type=IS:feature-strategy-update"
        ))
        .await;
    let deployed_at = time_of(&events["events"][0]["createdAt"]);

    let mut cockpit = Cockpit::start(adapter(server, "rollback"));
    let before = cockpit
        .flags_where("rb-bot", |f| f.current_prompt.as_deref() == Some("v14"))
        .await;
    assert_eq!(before.prompt_versions, ["v12", "v14"]);
    assert_eq!(before.last_known_good.as_deref(), Some("v12"));
    assert_eq!(before.prompt_changed_at, Some(deployed_at));
    assert!(before.killed.is_empty() && before.segments.is_empty());

    // The responder on rb-bot presses rollback: the picker offers the last-known-good first.
    cockpit.state.signals.pinned = Some("rb-bot".into());
    assert_eq!(cockpit.press(Action::Rollback), None);
    let Overlay::Picker(picker) = &cockpit.state.overlay else {
        panic!(
            "rollback opens a version picker: {:?}",
            cockpit.state.overlay
        );
    };
    let offered = &picker.items[picker.cursor];
    assert_eq!(offered.label, "v12");
    assert!(
        offered.detail.contains("last-known-good"),
        "{}",
        offered.detail
    );
    cockpit.press(Action::Select);
    let id = cockpit
        .press(Action::Confirm)
        .expect("confirmed rollback is sent");
    match cockpit.settled(id).await {
        ActionStatus::Succeeded(msg) => {
            assert!(msg.contains("rb-bot prompt rolled back v14 → v12"), "{msg}")
        }
        other => panic!("rollback: {other:?}"),
    }

    // Unleash's own view: v12 takes all the traffic, v14 stays listed at a fixed zero.
    let env = server.production(flag).await;
    let strategy = &env["strategies"][0];
    assert_eq!(
        strategy["id"],
        strategy_id.as_str(),
        "the same strategy was updated"
    );
    assert_eq!(
        weights(strategy),
        [
            ("v12".to_string(), 1000, "variable".to_string()),
            ("v14".to_string(), 0, "fix".to_string()),
        ]
    );
    let events = server
        .get(&format!(
            "/search/events?feature=IS:{flag}&type=IS:feature-strategy-update"
        ))
        .await;
    let rolled_back_at = time_of(&events["events"][0]["createdAt"]);
    assert!(rolled_back_at > deployed_at);

    let after = cockpit
        .flags_where("rb-bot", |f| f.current_prompt.as_deref() == Some("v12"))
        .await;
    assert_eq!(after.prompt_versions, ["v12", "v14"]);
    let shown = cockpit.state.feature_info("rb-bot").expect("feature shown");
    assert_eq!(shown.current_prompt.as_deref(), Some("v12"));
    assert_eq!(shown.prompt_changed_at, after.prompt_changed_at);
    // A rollback does not make the version rolled back from "good".
    assert_eq!(after.last_known_good.as_deref(), Some("v12"));
    assert_eq!(after.prompt_changed_at, Some(rolled_back_at));

    let again = cockpit
        .apply(FlagOp::Rollback {
            feature: "rb-bot".into(),
            to_version: "v12".into(),
        })
        .await;
    assert_eq!(again, Err("rb-bot already runs prompt v12".into()));
    let missing = cockpit
        .apply(FlagOp::Rollback {
            feature: "rb-bot".into(),
            to_version: "v99".into(),
        })
        .await
        .expect_err("no such version");
    assert!(
        missing.contains("no prompt version v99") && missing.contains("v12, v14"),
        "{missing}"
    );

    // The other version stayed choosable.
    cockpit
        .apply(FlagOp::Rollback {
            feature: "rb-bot".into(),
            to_version: "v14".into(),
        })
        .await
        .expect("forward again");
    let env = server.production(flag).await;
    assert_eq!(
        weights(&env["strategies"][0]),
        [
            ("v12".to_string(), 0, "fix".to_string()),
            ("v14".to_string(), 1000, "variable".to_string()),
        ]
    );
}

#[tokio::test]
async fn whole_feature_kill_switch_is_the_environment_toggle() {
    let server = shared();
    // As a team sets up a kill switch: one unconstrained strategy, off in production.
    let flag = "wk-bot.kill-switch";
    server.create_flag(flag, "kill-switch").await;
    server
        .add_strategy(flag, rollout(flag, json!([]), json!([])))
        .await;
    // And one created bare, with no strategy at all.
    let bare = "wk2-bot.kill-switch";
    server.create_flag(bare, "kill-switch").await;

    let mut cockpit = Cockpit::start(adapter(server, "whole"));
    let f = cockpit.flags_where("wk-bot", |_| true).await;
    assert!(f.killed.is_empty(), "{f:?}");

    let engage = |feature: &str, engage: bool| FlagOp::KillSwitch {
        feature: feature.into(),
        segment: None,
        engage,
    };
    let msg = cockpit.apply(engage("wk-bot", true)).await.expect("engage");
    assert!(
        msg.contains("kill switch engaged for wk-bot (whole feature)"),
        "{msg}"
    );
    assert_eq!(strategies(server, flag).await, (true, vec![(false, None)]));
    cockpit.flags_where("wk-bot", |f| f.killed == ["*"]).await;

    let twice = cockpit.apply(engage("wk-bot", true)).await;
    assert_eq!(
        twice,
        Err("kill switch already engaged for wk-bot (whole feature)".into())
    );

    cockpit
        .apply(engage("wk-bot", false))
        .await
        .expect("release");
    assert_eq!(strategies(server, flag).await, (false, vec![(false, None)]));
    cockpit.flags_where("wk-bot", |f| f.killed.is_empty()).await;

    // With no strategy, the adapter adds the unconstrained one before switching on.
    cockpit
        .apply(engage("wk2-bot", true))
        .await
        .expect("engage bare");
    assert_eq!(strategies(server, bare).await, (true, vec![(false, None)]));
    cockpit.flags_where("wk2-bot", |f| f.killed == ["*"]).await;
}

#[tokio::test]
async fn segment_kill_switches_leave_other_scopes_alone() {
    let server = shared();
    server
        .ensure_segment_field(&["eu-free", "enterprise", "internal"])
        .await;
    // The team had already killed enterprise traffic with a constrained strategy.
    let flag = "sk-bot.kill-switch";
    server.create_flag(flag, "kill-switch").await;
    server
        .add_strategy(
            flag,
            rollout(flag, segment_constraint(&["enterprise"]), json!([])),
        )
        .await;
    server.switch(flag, true).await;

    let mut cockpit = Cockpit::start(adapter(server, "segments"));
    let f = cockpit
        .flags_where("sk-bot", |f| !f.killed.is_empty())
        .await;
    assert_eq!(f.killed, ["enterprise"]);
    assert_eq!(
        cockpit
            .state
            .feature_info("sk-bot")
            .map(|i| i.killed.clone()),
        Some(vec!["enterprise".to_string()])
    );
    for s in ["eu-free", "enterprise", "internal"] {
        assert!(f.segments.iter().any(|x| x == s), "{f:?}");
    }

    let op = |segment: Option<&str>, engage: bool| FlagOp::KillSwitch {
        feature: "sk-bot".into(),
        segment: segment.map(str::to_string),
        engage,
    };
    // Engaged from the cockpit's own picker, where enterprise shows as engaged already.
    cockpit.state.signals.pinned = Some("sk-bot".into());
    let id = cockpit.pick(Action::KillSwitch, "ENGAGE segment eu-free");
    match cockpit.settled(id).await {
        ActionStatus::Succeeded(msg) => {
            assert!(
                msg.contains("kill switch engaged for sk-bot segment eu-free"),
                "{msg}"
            )
        }
        other => panic!("engage eu-free: {other:?}"),
    }
    let seg = |v: &str| Some(vec![v.to_string()]);
    assert_eq!(
        strategies(server, flag).await,
        (
            true,
            vec![(false, seg("enterprise")), (false, seg("eu-free"))]
        )
    );

    cockpit.apply(op(None, true)).await.expect("engage whole");
    assert_eq!(
        strategies(server, flag).await,
        (
            true,
            vec![
                (false, seg("enterprise")),
                (false, seg("eu-free")),
                (false, None)
            ]
        )
    );
    cockpit
        .flags_where("sk-bot", |f| f.killed == ["*", "enterprise", "eu-free"])
        .await;

    // Releasing one segment parks its strategy; the whole-feature kill and enterprise stay.
    cockpit
        .apply(op(Some("eu-free"), false))
        .await
        .expect("release eu-free");
    assert_eq!(
        strategies(server, flag).await,
        (
            true,
            vec![
                (false, seg("enterprise")),
                (true, seg("eu-free")),
                (false, None)
            ]
        )
    );
    let f = cockpit
        .flags_where("sk-bot", |f| f.killed == ["*", "enterprise"])
        .await;
    assert!(f.segments.iter().any(|s| s == "eu-free"));

    // Releasing the whole feature must not release enterprise: the environment stays on.
    cockpit.apply(op(None, false)).await.expect("release whole");
    assert_eq!(
        strategies(server, flag).await,
        (
            true,
            vec![
                (false, seg("enterprise")),
                (true, seg("eu-free")),
                (true, None)
            ]
        )
    );
    cockpit
        .flags_where("sk-bot", |f| f.killed == ["enterprise"])
        .await;

    // Engaging a parked segment re-enables its strategy instead of adding another.
    cockpit
        .apply(op(Some("eu-free"), true))
        .await
        .expect("engage eu-free again");
    assert_eq!(
        strategies(server, flag).await,
        (
            true,
            vec![
                (false, seg("enterprise")),
                (false, seg("eu-free")),
                (true, None)
            ]
        )
    );

    let unknown = cockpit
        .apply(op(Some("mars"), true))
        .await
        .expect_err("not a legal segment");
    assert!(
        unknown.contains("no user segment mars") && unknown.contains("eu-free"),
        "{unknown}"
    );
    let not_engaged = cockpit.apply(op(Some("internal"), false)).await;
    assert_eq!(
        not_engaged,
        Err("kill switch is not engaged for sk-bot segment internal".into())
    );

    // The last scope released switches the flag off.
    cockpit
        .apply(op(Some("eu-free"), false))
        .await
        .expect("release eu-free");
    cockpit
        .apply(op(Some("enterprise"), false))
        .await
        .expect("release enterprise");
    let (enabled, _) = strategies(server, flag).await;
    assert!(!enabled);
    cockpit.flags_where("sk-bot", |f| f.killed.is_empty()).await;
}

#[tokio::test]
async fn a_bad_token_is_named_with_its_status() {
    let server = shared();
    let cfg = config(server, &server.url, "*:*.not-a-real-token", "bad");
    let mut bad = Unleash::new(&cfg).expect("adapter");
    let err = bad.read(Utc::now()).await.expect_err("refused");
    match &err {
        BackendError::Http { status, message } => {
            assert!(matches!(status, 401 | 403), "{err}");
            assert!(message.contains("API token"), "{message}");
            assert!(
                message.contains("list flags of project default"),
                "{message}"
            );
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("401") || text.contains("403"), "{text}");
    assert!(
        !text.contains("not-a-real-token"),
        "the token leaked: {text}"
    );
    let write = bad
        .apply(
            &FlagOp::KillSwitch {
                feature: "rb-bot".into(),
                segment: None,
                engage: true,
            },
            ANA,
            Utc::now(),
        )
        .await
        .expect_err("refused");
    assert!(write.to_string().contains("401"), "{write}");
}

#[tokio::test]
async fn a_token_without_admin_rights_is_named_with_its_status() {
    let server = shared();
    let cfg = config(server, &server.url, &server.backend_token, "backend");
    let err = Unleash::new(&cfg)
        .expect("adapter")
        .read(Utc::now())
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("an admin token is needed"), "{text}");
    assert!(
        !text.contains(&server.backend_token),
        "the token leaked: {text}"
    );
}

#[tokio::test]
async fn unknown_features_are_rejected_with_the_flag_they_lack() {
    let server = shared();
    let mut unleash = adapter(server, "unknown");
    let now = Utc::now();
    let rollback = unleash
        .apply(
            &FlagOp::Rollback {
                feature: "ghost-bot".into(),
                to_version: "v1".into(),
            },
            ANA,
            now,
        )
        .await;
    assert_eq!(
        rollback,
        Err(BackendError::Rejected(
            "no prompt flag ghost-bot.prompt in Unleash project default".into()
        ))
    );
    let kill = unleash
        .apply(
            &FlagOp::KillSwitch {
                feature: "ghost-bot".into(),
                segment: Some("eu-free".into()),
                engage: true,
            },
            ANA,
            now,
        )
        .await;
    assert_eq!(
        kill,
        Err(BackendError::Rejected(
            "no kill-switch flag ghost-bot.kill-switch in Unleash project default".into()
        ))
    );
    let odd = unleash
        .apply(
            &FlagOp::Rollback {
                feature: "../admin".into(),
                to_version: "v1".into(),
            },
            ANA,
            now,
        )
        .await
        .expect_err("not a flag name");
    assert!(matches!(odd, BackendError::Rejected(_)), "{odd:?}");
}

#[tokio::test]
async fn an_unreachable_server_names_where() {
    let server = shared();
    let port = servers::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut unleash = Unleash::new(&config(server, &url, &server.token, "down")).expect("adapter");
    let err = unleash.read(Utc::now()).await.expect_err("nobody listens");
    assert_eq!(err, BackendError::Unreachable(url));
}

/// The change timeline from Unleash's own event log: a kill switch switched on and a prompt
/// deploy, done in Unleash as a team would, reach the cockpit as dated changes of the feature
/// (`BackendEvent::Changes`), and the deploy, the last change before an incident that starts
/// right after it, is the layer the runbook suggests.
#[tokio::test]
async fn the_event_log_gives_the_timeline_its_flag_flips_and_the_prompt_deploy_its_layer() {
    let server = shared();
    let prompt = "ch-bot.prompt";
    let kill = "ch-bot.kill-switch";
    server.create_flag(kill, "kill-switch").await;
    server
        .add_strategy(kill, rollout(kill, json!([]), json!([])))
        .await;
    server.switch(kill, true).await;
    server.create_flag(prompt, "release").await;
    let st = server
        .add_strategy(
            prompt,
            rollout(prompt, json!([]), json!([variant("v7", 1000, false)])),
        )
        .await;
    let strategy_id = st["id"].as_str().expect("strategy id").to_string();
    server.switch(prompt, true).await;
    let mut deploy = st.clone();
    deploy["variants"] = json!([variant("v7", 0, true), variant("v8", 1000, false)]);
    server
        .put(
            &format!(
                "/projects/default/features/{prompt}/environments/production/strategies/{strategy_id}"
            ),
            deploy,
        )
        .await;
    let events = server
        .get(&format!(
            "/search/events?feature=IS:{prompt}&type=IS:feature-strategy-update"
        ))
        .await;
    let deployed_at = time_of(&events["events"][0]["createdAt"]);

    let mut cockpit = Cockpit::start(adapter(server, "changes"));
    cockpit
        .flags_where("ch-bot", |f| f.current_prompt.as_deref() == Some("v8"))
        .await;
    // An incident on ch-bot that starts a second after the deploy.
    let mut inc = cockpit_testkit::common::drill_state(15).incidents.all[0].clone();
    inc.id = "sim:INC-ch".into();
    inc.feature = oncall_cockpit::domain::SafeText::new("ch-bot");
    inc.triggered_at = deployed_at + chrono::Duration::seconds(1);
    let deadline = Instant::now() + PATIENCE;
    let now = Utc::now();
    while cockpit.state.changes.around(&inc, now).entries.len() < 3 {
        if Instant::now() + Duration::from_secs(2) > deadline {
            panic!(
                "timeline incomplete: {:?}",
                cockpit.state.changes.around(&inc, now)
            );
        }
        cockpit.next(deadline).await;
    }
    let timeline = cockpit.state.changes.around(&inc, now);
    assert!(timeline.failures.is_empty(), "{:?}", timeline.failures);
    let whats: Vec<String> = timeline
        .entries
        .iter()
        .map(|c| format!("{} ({})", c.what, c.origin))
        .collect();
    assert!(
        whats
            .iter()
            .any(|w| w.starts_with("kill switch ch-bot: environment enabled")),
        "{whats:?}"
    );
    let deployed = timeline
        .entries
        .iter()
        .find(|c| c.what.as_str().starts_with("prompt ch-bot v7→v8"))
        .unwrap_or_else(|| panic!("no deploy on the timeline: {whats:?}"));
    assert_eq!(deployed.at, deployed_at, "dated by Unleash's event");
    assert_eq!(deployed.origin, "unleash");
    let suggestion = cockpit
        .state
        .changes
        .suggest(&inc, now)
        .expect("a suggestion");
    assert_eq!(
        suggestion.layer,
        oncall_cockpit::domain::change::Layer::Prompt
    );
    assert!(
        suggestion
            .change
            .what
            .as_str()
            .starts_with("prompt ch-bot v7→v8"),
        "{:?}",
        suggestion.change
    );
}

fn setting(name: &str, weight: u32, kind: &str, value: &str) -> Value {
    let mut v = variant(name, weight, weight == 0);
    v["payload"] = json!({ "type": kind, "value": value });
    v
}

/// Unleash's own view of a lever toggle in production, in evaluation order: each enabled
/// strategy's segment values (None: unconstrained) and the variant with the traffic.
async fn served_by(server: &UnleashServer, flag: &str) -> Vec<(Option<Vec<String>>, String)> {
    let env = server.production(flag).await;
    let mut list: Vec<Value> = env["strategies"].as_array().cloned().unwrap_or_default();
    list.sort_by(|a, b| {
        let o = |s: &Value| s["sortOrder"].as_f64().unwrap_or(0.0);
        o(a).total_cmp(&o(b))
    });
    list.iter()
        .filter(|s| !s["disabled"].as_bool().unwrap_or(false))
        .map(|s| {
            let values = s["constraints"][0]["values"].as_array().map(|vs| {
                vs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            });
            let top = weights(s)
                .into_iter()
                .max_by_key(|(_, w, _)| *w)
                .map(|(n, _, _)| n)
                .unwrap_or_default();
            (values, top)
        })
        .collect()
}

/// The five settable levers as a team sets them up in Unleash: one toggle each, its settings
/// strategy variants with string, number and JSON payloads, the first one served.
#[tokio::test]
async fn every_lever_is_read_set_for_the_feature_and_a_segment_and_reverted() {
    let server = shared();
    server
        .ensure_segment_field(&["eu-free", "enterprise", "internal"])
        .await;
    let toggles: [(&str, Vec<Value>); 5] = [
        (
            "lv-bot.model",
            vec![
                setting("full", 1000, "string", "gpt-4o"),
                setting("mini", 0, "string", "gpt-4o-mini"),
                setting("safe", 0, "string", "gpt-4o-guarded"),
            ],
        ),
        (
            "lv-bot.config",
            vec![
                setting("normal", 1000, "json", r#"{"temperature":0.7}"#),
                setting(
                    "strict",
                    0,
                    "json",
                    r#"{"temperature":0.2,"prompt":"strict"}"#,
                ),
                setting("frozen", 0, "json", r#"{"temperature":0}"#),
            ],
        ),
        (
            "lv-bot.token-budget",
            vec![
                setting("open", 1000, "number", "100000"),
                setting("tight", 0, "number", "20000"),
                setting("trickle", 0, "number", "2500.5"),
            ],
        ),
        (
            "lv-bot.retrieval",
            vec![
                setting("deep", 1000, "json", r#"{"topK":20}"#),
                setting("shallow", 0, "json", r#"{"topK":5}"#),
                setting("cached", 0, "string", "cache-only"),
            ],
        ),
        (
            "lv-bot.fallback",
            vec![
                setting("none", 1000, "string", "model"),
                setting("human", 0, "string", "human"),
                setting("static", 0, "string", "static-answer"),
            ],
        ),
    ];
    for (flag, variants) in &toggles {
        server.create_flag(flag, "operational").await;
        server
            .add_strategy(flag, rollout(flag, json!([]), json!(variants)))
            .await;
        server.switch(flag, true).await;
    }
    // Someone moved the model in Unleash before the incident: the event log says who and when.
    let model = server.production("lv-bot.model").await;
    let strategy = model["strategies"][0].clone();
    let mut moved = strategy.clone();
    moved["variants"] = json!([
        setting("full", 0, "string", "gpt-4o"),
        setting("mini", 1000, "string", "gpt-4o-mini"),
        setting("safe", 0, "string", "gpt-4o-guarded"),
    ]);
    let path = format!(
        "/projects/default/features/lv-bot.model/environments/production/strategies/{}",
        strategy["id"].as_str().expect("strategy id")
    );
    server.put(&path, moved).await;
    let events = server
        .get("/search/events?feature=IS:lv-bot.model&type=IS:feature-strategy-update")
        .await;
    let moved_at = time_of(&events["events"][0]["createdAt"]);
    let moved_by = events["events"][0]["createdBy"]
        .as_str()
        .expect("who")
        .to_string();

    let mut cockpit = Cockpit::start(adapter(server, "levers"));
    let f = cockpit.flags_where("lv-bot", |f| f.levers.len() == 5).await;
    let levers: Vec<(Lever, &str, &str)> = f
        .levers
        .iter()
        .map(|l| (l.lever, l.flag.as_str(), l.current.as_str()))
        .collect();
    assert_eq!(
        levers,
        [
            (Lever::ModelSwitch, "lv-bot.model", "mini"),
            (Lever::ConservativeConfig, "lv-bot.config", "normal"),
            (Lever::TokenBudget, "lv-bot.token-budget", "open"),
            (Lever::RetrievalPath, "lv-bot.retrieval", "deep"),
            (Lever::Fallback, "lv-bot.fallback", "none"),
        ]
    );
    let value = |lever: Lever, name: &str| {
        f.levers
            .iter()
            .find(|l| l.lever == lever)
            .and_then(|l| l.variant(name))
            .map(|v| v.value.clone())
    };
    assert_eq!(
        value(Lever::ModelSwitch, "safe"),
        Some(json!("gpt-4o-guarded"))
    );
    assert_eq!(
        value(Lever::ConservativeConfig, "strict"),
        Some(json!({"temperature": 0.2, "prompt": "strict"}))
    );
    assert_eq!(value(Lever::TokenBudget, "tight"), Some(json!(20000)));
    assert_eq!(value(Lever::TokenBudget, "trickle"), Some(json!(2500.5)));
    assert_eq!(
        value(Lever::RetrievalPath, "shallow"),
        Some(json!({"topK": 5}))
    );
    assert_eq!(
        value(Lever::RetrievalPath, "cached"),
        Some(json!("cache-only"))
    );
    let model = &f.levers[0];
    assert_eq!(model.previous.as_deref(), Some("full"));
    assert_eq!(model.changed_at, Some(moved_at));
    assert_eq!(model.changed_by.as_deref(), Some(moved_by.as_str()));
    assert!(f.levers[1..].iter().all(|l| l.previous.is_none()), "{f:?}");
    let shown = cockpit.state.feature_info("lv-bot").expect("feature shown");
    assert_eq!(shown.levers.len(), 5);

    let set = |lever: Lever, segment: Option<&str>, variant: &str, undo: bool| FlagOp::SetLever {
        feature: "lv-bot".into(),
        lever,
        segment: segment.map(str::to_string),
        variant: variant.into(),
        undo,
    };
    let seg = |s: &str| Some(vec![s.to_string()]);
    // (lever, toggle, served, feature set to, segment eu-free set to)
    let plan = [
        (Lever::ModelSwitch, "lv-bot.model", "mini", "safe", "full"),
        (
            Lever::ConservativeConfig,
            "lv-bot.config",
            "normal",
            "strict",
            "frozen",
        ),
        (
            Lever::TokenBudget,
            "lv-bot.token-budget",
            "open",
            "tight",
            "trickle",
        ),
        (
            Lever::RetrievalPath,
            "lv-bot.retrieval",
            "deep",
            "shallow",
            "cached",
        ),
        (
            Lever::Fallback,
            "lv-bot.fallback",
            "none",
            "static",
            "human",
        ),
    ];
    for (lever, flag, was, to, segment_to) in plan {
        let msg = cockpit
            .apply(set(lever, None, to, false))
            .await
            .unwrap_or_else(|e| panic!("{flag} → {to}: {e}"));
        assert_eq!(
            msg,
            format!(
                "lv-bot {} set to {to} (Unleash {flag}, production)",
                lever.short()
            )
        );
        assert_eq!(served_by(server, flag).await, [(None, to.to_string())]);

        let msg = cockpit
            .apply(set(lever, Some("eu-free"), segment_to, false))
            .await
            .unwrap_or_else(|e| panic!("{flag} eu-free → {segment_to}: {e}"));
        assert!(
            msg.starts_with(&format!(
                "lv-bot segment eu-free {} set to {segment_to}",
                lever.short()
            )),
            "{msg}"
        );
        // The segment's rule comes first, so its traffic never reaches the feature's.
        assert_eq!(
            served_by(server, flag).await,
            [
                (seg("eu-free"), segment_to.to_string()),
                (None, to.to_string())
            ]
        );

        let l = cockpit
            .flags_where("lv-bot", |f| {
                f.levers
                    .iter()
                    .any(|l| l.lever == lever && l.current == to && !l.segments.is_empty())
            })
            .await
            .levers
            .into_iter()
            .find(|l| l.lever == lever)
            .expect("lever");
        assert_eq!(
            l.segments,
            [("eu-free".to_string(), segment_to.to_string())]
        );
        assert_eq!(l.previous.as_deref(), Some(was));
        assert_eq!(
            l.changed_by.as_deref(),
            Some(ANA),
            "the cockpit knows who pulled it"
        );
        let events = server
            .get(&format!(
                "/search/events?feature=IS:{flag}&type=IS:feature-strategy-update"
            ))
            .await;
        let updates: Vec<&Value> = events["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| {
                e["data"]["constraints"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
            })
            .collect();
        assert_eq!(l.changed_at, Some(time_of(&updates[0]["createdAt"])));
    }

    // An unknown variant is refused and nothing in Unleash moves.
    let before = server.production("lv-bot.model").await;
    let err = cockpit
        .apply(set(Lever::ModelSwitch, None, "o3", false))
        .await
        .expect_err("no such variant");
    assert_eq!(
        err,
        "lv-bot has no model switch variant o3 (variants of lv-bot.model in production: full, mini, safe)"
    );
    let err = cockpit
        .apply(set(Lever::TokenBudget, Some("eu-free"), "unlimited", false))
        .await
        .expect_err("no such variant");
    assert!(err.contains("no token budget variant unlimited"), "{err}");
    assert_eq!(server.production("lv-bot.model").await, before);
    let twice = cockpit
        .apply(set(Lever::ModelSwitch, None, "safe", false))
        .await;
    assert_eq!(twice, Err("lv-bot's model switch is already safe".into()));

    // A revert writes the previous setting like any other, and says so.
    let msg = cockpit
        .apply(set(Lever::ModelSwitch, None, "mini", true))
        .await
        .expect("revert");
    assert_eq!(
        msg,
        "lv-bot model switch reverted to mini (Unleash lv-bot.model, production)"
    );
    assert_eq!(
        served_by(server, "lv-bot.model").await,
        [
            (seg("eu-free"), "full".to_string()),
            (None, "mini".to_string())
        ]
    );
    // The segment set back to the feature's setting loses its own rule.
    cockpit
        .apply(set(Lever::ModelSwitch, Some("eu-free"), "mini", false))
        .await
        .expect("segment back to the feature's");
    assert_eq!(
        served_by(server, "lv-bot.model").await,
        [(None, "mini".to_string())]
    );
    let l = cockpit
        .flags_where("lv-bot", |f| {
            f.levers.iter().any(|l| {
                l.lever == Lever::ModelSwitch && l.current == "mini" && l.segments.is_empty()
            })
        })
        .await
        .levers
        .remove(0);
    assert_eq!(l.previous.as_deref(), Some("safe"));
    let unknown_segment = cockpit
        .apply(set(Lever::Fallback, Some("mars"), "human", false))
        .await
        .expect_err("not a legal segment");
    assert!(
        unknown_segment.contains("no user segment mars"),
        "{unknown_segment}"
    );
}
