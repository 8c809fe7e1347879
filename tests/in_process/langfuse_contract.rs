//! The Langfuse prompt-label lever against a contract server that imitates Langfuse's public
//! prompt API and refuses what it refuses (tests/support/src/servers/langfuse.rs).

use chrono::Utc;
use cockpit_testkit::servers::{
    self,
    langfuse::{Fault, LfServer, PUBLIC_KEY, SECRET_KEY},
};
use oncall_cockpit::backend::langfuse::{config::SCHEMA, Langfuse, LangfuseConfig};
use oncall_cockpit::backend::{BackendError, FeatureFlags, FlagControl, FlagOp};
use oncall_cockpit::config::settings::load_settings;
use serde_json::json;
use std::path::PathBuf;

/// A `[[langfuse]]` entry as a config file holds it, the secret key in a 0600 file; every
/// other key from the defaults.
fn config(url: &str, test: &str, secret: &str, extra: &str) -> (LangfuseConfig, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = servers::temp_dir(&format!("lf-{test}"));
    let key = dir.join("secret");
    std::fs::write(&key, secret).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[[langfuse]]\nurl = \"{url}\"\npublic_key = \"{PUBLIC_KEY}\"\nsecret_key = {{ file = \"{}\" }}\n{extra}\n",
            key.display()
        ),
    )
    .expect("write config");
    let settings = load_settings(&file, true, &oncall_cockpit::backend::registry::schemas())
        .unwrap_or_else(|e| panic!("config: {e:?}"));
    let cfg = SCHEMA.entries(&settings.sources).expect("read").remove(0);
    (cfg, dir.join("data"))
}

fn adapter(server: &LfServer, test: &str, extra: &str) -> (Langfuse, PathBuf) {
    let (cfg, data) = config(&server.url, test, SECRET_KEY, extra);
    (Langfuse::new(&cfg, &data).expect("adapter"), data)
}

fn rollback(feature: &str, to: &str) -> FlagOp {
    FlagOp::Rollback {
        feature: feature.into(),
        to_version: to.into(),
    }
}

async fn levers(lf: &mut Langfuse, feature: &str) -> FeatureFlags {
    lf.read(Utc::now())
        .await
        .expect("read")
        .into_iter()
        .find(|f| f.feature == feature)
        .unwrap_or_else(|| panic!("{feature} not reported"))
}

#[tokio::test]
async fn the_label_is_the_lever_moved_by_the_documented_patch_and_remembered() {
    let server = LfServer::start().await;
    server.prompt("support-bot", 3, Some(2));
    server.prompt("team/faq-bot", 2, Some(2));
    let (cfg, data) = config(&server.url, "move", SECRET_KEY, "");
    let mut lf = Langfuse::new(&cfg, &data).expect("adapter");

    let ff = levers(&mut lf, "support-bot").await;
    assert!(ff.prompt_only);
    assert_eq!(ff.prompt_versions, ["1", "2", "3"]);
    assert_eq!(ff.current_prompt.as_deref(), Some("2"));
    assert_eq!(ff.last_known_good, None);

    // Deployed in Langfuse's UI: the next poll sees it and records it.
    server
        .lock()
        .prompts
        .get_mut("support-bot")
        .map(|v| {
            v[1].retain(|l| l != "production");
            v[2].push("production".into());
        })
        .expect("prompt");
    let ff = levers(&mut lf, "support-bot").await;
    assert_eq!(ff.current_prompt.as_deref(), Some("3"));
    assert_eq!(ff.last_known_good.as_deref(), Some("2"));

    let msg = lf
        .apply(&rollback("support-bot", "2"), "ana", Utc::now())
        .await
        .expect("rolled back");
    assert_eq!(
        msg,
        "support-bot prompt rolled back 3 → 2 (Langfuse prompt support-bot, label production)"
    );
    assert_eq!(server.labelled("support-bot", "production"), Some(2));
    assert_eq!(
        server.labelled("support-bot", "latest"),
        Some(3),
        "Langfuse's own label is left alone"
    );
    let patches: Vec<_> = server
        .lock()
        .requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .cloned()
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].path,
        "/api/public/v2/prompts/support-bot/versions/2"
    );
    assert_eq!(
        patches[0].body,
        Some(json!({ "newLabels": ["production"] }))
    );

    // A prompt in a folder is one percent-encoded segment.
    lf.apply(&rollback("team/faq-bot", "1"), "ana", Utc::now())
        .await
        .expect("folder prompt");
    assert_eq!(server.labelled("team/faq-bot", "production"), Some(1));

    // After a restart: the last-known-good from the recorded moves.
    let mut again = Langfuse::new(&cfg, &data).expect("adapter");
    let ff = levers(&mut again, "support-bot").await;
    assert_eq!(ff.current_prompt.as_deref(), Some("2"));
    assert_eq!(ff.last_known_good.as_deref(), Some("2"));
    assert!(ff.prompt_changed_at.is_some());
}

#[tokio::test]
async fn refusals_name_what_and_change_nothing() {
    let server = LfServer::start().await;
    server.prompt("support-bot", 3, Some(3));
    let (mut lf, _) = adapter(&server, "refuse", "");
    for (to, expected) in [
        ("9", "no such prompt or version"),
        ("v2", "not a Langfuse prompt version"),
        ("3", "already runs prompt 3"),
    ] {
        let err = lf
            .apply(&rollback("support-bot", to), "ana", Utc::now())
            .await
            .expect_err(to);
        assert!(
            matches!(&err, BackendError::Rejected(m) if m.contains(expected)),
            "{to}: {err:?}"
        );
    }
    let err = lf
        .apply(&rollback("no-such-bot", "1"), "ana", Utc::now())
        .await
        .expect_err("unknown prompt");
    assert!(
        matches!(&err, BackendError::Rejected(m) if m.contains("no such prompt")),
        "{err:?}"
    );
    assert_eq!(server.labelled("support-bot", "production"), Some(3));
    let kill = lf
        .apply(
            &FlagOp::KillSwitch {
                feature: "support-bot".into(),
                segment: None,
                engage: true,
            },
            "ana",
            Utc::now(),
        )
        .await
        .expect_err("no kill switch");
    assert!(kill.to_string().contains("no kill switch"), "{kill}");
}

#[tokio::test]
async fn a_wrong_secret_key_is_a_401_that_never_shows_the_key() {
    let server = LfServer::start().await;
    server.prompt("support-bot", 2, Some(2));
    let (cfg, data) = config(&server.url, "auth", "sk-lf-WRONG-secret", "");
    let mut lf = Langfuse::new(&cfg, &data).expect("adapter");
    let err = lf.read(Utc::now()).await.expect_err("refused");
    match &err {
        BackendError::Http {
            status: 401,
            message,
        } => {
            assert!(message.contains("key pair"), "{message}");
            assert!(message.contains("list prompts"), "{message}");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    assert!(!err.to_string().contains("WRONG"), "{err}");
    assert!(!format!("{lf:?}").contains("WRONG"), "{lf:?}");
    assert_eq!(server.lock().unauthorized, 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_fail_retryably_and_the_retry_goes_through() {
    let server = LfServer::start().await;
    server.prompt("support-bot", 3, Some(3));
    let (mut lf, _) = adapter(&server, "retry", "");
    server.fault(Fault::Status {
        status: 429,
        body: json!({ "message": "Rate limit exceeded" }).to_string(),
        retry_after: Some(7),
    });
    let err = lf
        .apply(&rollback("support-bot", "2"), "ana", Utc::now())
        .await
        .expect_err("throttled");
    match &err {
        BackendError::Http {
            status: 429,
            message,
        } => {
            assert!(message.contains("retry after 7s"), "{message}")
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    // The PATCH itself fails with a 500: the label stays where it was.
    server.fault(Fault::Status {
        status: 200,
        body: json!({ "name": "support-bot", "version": 3, "labels": ["production"] }).to_string(),
        retry_after: None,
    });
    server.fault(Fault::Status {
        status: 500,
        body: json!({ "message": "Internal server error" }).to_string(),
        retry_after: None,
    });
    let err = lf
        .apply(&rollback("support-bot", "2"), "ana", Utc::now())
        .await
        .expect_err("server error");
    assert!(
        matches!(err, BackendError::Http { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(server.labelled("support-bot", "production"), Some(3));
    // The retry, once Langfuse answers again.
    lf.apply(&rollback("support-bot", "2"), "ana", Utc::now())
        .await
        .expect("retried");
    assert_eq!(server.labelled("support-bot", "production"), Some(2));
}

#[tokio::test]
async fn malformed_and_huge_replies_are_errors_of_the_source_not_crashes() {
    let server = LfServer::start().await;
    server.prompt("support-bot", 2, Some(2));
    let (mut lf, _) = adapter(&server, "bad", "max_reply_mib = 1");
    server.fault(Fault::Malformed);
    let err = lf.read(Utc::now()).await.expect_err("malformed");
    assert!(
        matches!(&err, BackendError::Malformed(m) if m.contains("Langfuse prompt list")),
        "{err:?}"
    );
    server.fault(Fault::Huge(3 << 20));
    let err = lf.read(Utc::now()).await.expect_err("huge");
    assert!(matches!(err, BackendError::TooLarge { .. }), "{err:?}");
    // And the next poll is whole again.
    assert_eq!(
        levers(&mut lf, "support-bot")
            .await
            .current_prompt
            .as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn a_mapped_feature_another_label_and_a_bounded_list() {
    let server = LfServer::start().await;
    for i in 0..7 {
        server.prompt(&format!("p{i}"), 30, Some(1));
    }
    server.prompt("support-bot-system", 2, Some(1));
    server
        .lock()
        .prompts
        .get_mut("support-bot-system")
        .map(|v| v[1].push("canary".into()))
        .expect("prompt");
    let (mut lf, _) = adapter(
        &server,
        "map",
        "label = \"canary\"\nprompts = { \"support-bot\" = \"support-bot-system\" }\nmax_prompt_versions = 5\nmax_prompts = 100",
    );
    let all = lf.read(Utc::now()).await.expect("read");
    assert_eq!(all.len(), 8);
    let bot = all
        .iter()
        .find(|f| f.feature == "support-bot")
        .expect("mapped");
    assert_eq!(bot.current_prompt.as_deref(), Some("2"));
    let p0 = all.iter().find(|f| f.feature == "p0").expect("p0");
    assert_eq!(
        p0.prompt_versions,
        ["26", "27", "28", "29", "30"],
        "the newest five"
    );
    assert_eq!(p0.current_prompt, None, "no version of p0 holds canary");

    let (mut small, _) = adapter(&server, "small", "max_prompts = 3");
    assert_eq!(small.read(Utc::now()).await.expect("read").len(), 3);
    let lists = server
        .lock()
        .requests
        .iter()
        .filter(|r| r.path == "/api/public/v2/prompts")
        .count();
    assert!(lists >= 2, "{lists}");
}
