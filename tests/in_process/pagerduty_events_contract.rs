//! Paging from the cockpit through PagerDuty's Events API v2, against a contract server that
//! refuses what the public docs refuse (tests/servers/pagerduty_events.rs). The commands come
//! out of `update` exactly as the responder's keys produce them.

use cockpit_testkit::{common, servers};
use common::{drill_state, select_where};
use oncall_cockpit::action::Action;
use oncall_cockpit::backend::pagerduty_events::PagerDutyEvents;
use oncall_cockpit::backend::pagerduty_events::PagerDutyEventsConfig;
use oncall_cockpit::backend::{BackendError, Command, CommandOutcome, FlagOp, PageOp, Pager};
use oncall_cockpit::config::secret::SecretSpec;
use oncall_cockpit::config::timing::TimeoutSecs;
use oncall_cockpit::domain::{IncidentType, Sev};
use oncall_cockpit::state::{update, Effect, FlashLevel, Overlay, State};
use servers::pagerduty_events::{EventsServer, ROUTING_KEY};

fn config(url: &str, test: &str, key: &str) -> PagerDutyEventsConfig {
    use std::os::unix::fs::PermissionsExt;
    let dir = servers::temp_dir(&format!("pd-events-{test}"));
    let path = dir.join("routing-key");
    std::fs::write(&path, key).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    PagerDutyEventsConfig {
        name: "pd-events".into(),
        url: url.into(),
        routing_key: SecretSpec {
            env: None,
            file: Some(path),
        },
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        max_reply_mib: 1,
        change_events: true,
        tls: None,
    }
}

fn cockpit() -> State {
    let mut s = drill_state(30);
    s.sources.pager_source = Some("pd-events".into());
    s.sources.change_events = true;
    s
}

/// The responder's keys: `key`, then `y` in the confirmation. Returns what was sent.
fn press_and_confirm(s: &mut State, key: Action) -> Vec<(u64, Command)> {
    update(s, key);
    assert!(
        matches!(s.overlay, Overlay::Confirm(_) | Overlay::Picker(_)),
        "asks first: {:?}",
        s.flash
    );
    if matches!(s.overlay, Overlay::Picker(_)) {
        update(s, Action::Select);
    }
    sends(&common::evidence_written(s, Action::Confirm))
}

fn sends(fx: &[Effect]) -> Vec<(u64, Command)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some((r.action_id, r.command.clone())),
            _ => None,
        })
        .collect()
}

async fn deliver(pager: &mut PagerDutyEvents, cmd: &Command) -> Result<String, BackendError> {
    let Command::Page { op, .. } = cmd else {
        panic!("not a page: {cmd:?}");
    };
    pager.send(op, chrono::Utc::now()).await
}

#[tokio::test]
async fn a_detection_pages_once_per_incident_with_its_sev_and_evidence() {
    let server = EventsServer::start().await;
    let mut pager = PagerDutyEvents::new(&config(&server.url, "page", ROUTING_KEY)).expect("pager");
    let mut s = cockpit();
    assert!(select_where(&mut s, |i| i.sev == Sev::Sev1));
    let inc = s.selected().expect("selected").clone();

    let sent = press_and_confirm(&mut s, Action::Page);
    assert_eq!(sent.len(), 1);
    let ok = deliver(&mut pager, &sent[0].1).await.expect("accepted");
    assert!(ok.contains("oncall-cockpit/"), "names the dedup key: {ok}");
    // Paging again (a second responder, or a retry) updates the same alert.
    let again = press_and_confirm(&mut s, Action::Page);
    deliver(&mut pager, &again[0].1).await.expect("accepted");

    let st = server.lock();
    assert_eq!(st.events.len(), 2);
    assert_eq!(st.dedup_keys(), vec![format!("oncall-cockpit/{}", inc.id)]);
    let e = &st.events[0];
    assert_eq!(e["event_action"], "trigger");
    assert_eq!(
        e["payload"]["severity"], "critical",
        "SEV1 pages as critical"
    );
    assert_eq!(e["payload"]["source"], inc.feature.as_str());
    assert_eq!(e["payload"]["class"], inc.kind.label());
    assert!(e["payload"]["summary"]
        .as_str()
        .is_some_and(|t| t.starts_with("[SEV1]")));
    assert_eq!(
        e["payload"]["custom_details"]["evidence_1"],
        inc.evidence[0].as_str(),
        "the responder who is woken sees why"
    );
    assert_eq!(e["payload"]["custom_details"]["paged_by"], "ana");
}

#[tokio::test]
async fn a_rollback_that_succeeds_becomes_a_change_event() {
    let server = EventsServer::start().await;
    let mut pager =
        PagerDutyEvents::new(&config(&server.url, "change", ROUTING_KEY)).expect("pager");
    let mut s = cockpit();
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CapabilityDrift));
    let sent = press_and_confirm(&mut s, Action::Rollback);
    let (id, Command::Flag { op, .. }) = &sent[0] else {
        panic!("a flag command: {sent:?}");
    };
    assert!(matches!(op, FlagOp::Rollback { .. }));
    // Nothing goes to the pager until the flag system says it worked.
    assert!(server.lock().changes.is_empty());
    let fx = update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: *id,
            result: Ok("support-bot prompt rolled back v13 → v12".into()),
        }),
    );
    let change = sends(&fx);
    assert_eq!(change.len(), 1, "one change event, tracked like any action");
    assert!(matches!(
        &change[0].1,
        Command::Page {
            op: PageOp::Change { .. },
            ..
        }
    ));
    deliver(&mut pager, &change[0].1).await.expect("accepted");
    let st = server.lock();
    let c = &st.changes[0];
    assert!(c["payload"]["summary"]
        .as_str()
        .is_some_and(|t| t.contains("rolled back v13 → v12") && t.contains("ana")));
    assert_eq!(c["payload"]["source"], "support-bot");
    assert_eq!(c["payload"]["custom_details"]["lever"], "prompt_rollback");
    drop(st);

    // A failed rollback is not news for the change timeline.
    let sent = press_and_confirm(&mut s, Action::Rollback);
    let fx = update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: sent[0].0,
            result: Err("flag system unreachable".into()),
        }),
    );
    assert!(sends(&fx).is_empty());
}

#[tokio::test]
async fn refusals_and_faults_fail_loudly_and_a_retry_goes_through() {
    let server = EventsServer::start().await;
    let mut s = cockpit();
    assert!(select_where(&mut s, |i| i.sev == Sev::Sev1));
    let sent = press_and_confirm(&mut s, Action::Page);
    let cmd = &sent[0].1;

    let mut wrong =
        PagerDutyEvents::new(&config(&server.url, "short", "short-key")).expect("pager");
    let err = deliver(&mut wrong, cmd).await.expect_err("bad key");
    assert!(
        matches!(&err, BackendError::Http { status: 400, message } if message.contains("routing_key") && message.contains("check the routing key")),
        "{err}"
    );

    let mut pager =
        PagerDutyEvents::new(&config(&server.url, "faults", ROUTING_KEY)).expect("pager");
    server.lock().throttle_next = 1;
    let err = deliver(&mut pager, cmd).await.expect_err("throttled");
    assert!(err.to_string().contains("429"), "{err}");
    server.lock().fail_next = 1;
    let err = deliver(&mut pager, cmd).await.expect_err("500");
    assert!(err.to_string().contains("500"), "{err}");

    // The failure reaches the responder, and `t` sends the same page again.
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: sent[0].0,
            result: Err(err.to_string()),
        }),
    );
    assert_eq!(s.flash.as_ref().map(|f| f.level), Some(FlashLevel::Error));
    let retried = sends(&update(&mut s, Action::Retry));
    assert_eq!(retried.len(), 1);
    assert_eq!(&retried[0].1, cmd, "the retry is the same page");
    deliver(&mut pager, &retried[0].1)
        .await
        .expect("accepted now");
    assert_eq!(server.lock().events.len(), 1);
}

#[test]
fn only_the_cockpits_own_detections_can_be_paged() {
    let mut s = cockpit();
    assert!(select_where(&mut s, |_| true));
    // The same incident as if it came from Alertmanager, which pages through its own routes.
    let mut inc = s.selected().expect("selected").clone();
    inc.source = "alertmanager".into();
    inc.id = format!("am-{}", inc.id);
    let now = s.now;
    update(
        &mut s,
        Action::Backend(oncall_cockpit::backend::BackendEvent::Incidents {
            source: "alertmanager".into(),
            at: now,
            incidents: vec![inc.clone()],
        }),
    );
    assert!(select_where(&mut s, |i| i.id == inc.id));
    update(&mut s, Action::Page);
    assert!(matches!(s.overlay, Overlay::None));
    let text = s.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default();
    assert!(text.contains("own routing"), "{text}");

    let mut unconfigured = drill_state(30);
    assert!(select_where(&mut unconfigured, |_| true));
    update(&mut unconfigured, Action::Page);
    let text = unconfigured
        .flash
        .as_ref()
        .map(|f| f.text.clone())
        .unwrap_or_default();
    assert!(text.contains("[[pagerduty_events]]"), "says how: {text}");
}
