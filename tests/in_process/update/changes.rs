//! The change timeline: what the cockpit notices between polls (a flag system's served prompt
//! moving, a kill switch), what sources report of their own history (Unleash's event log,
//! PagerDuty's related change events) and the cockpit's own levers, drawn relative to an
//! incident's onset, and the runbook's layer question pre-filled from the last change before
//! it.

use super::*;
use chrono::{DateTime, Duration, Utc};
use oncall_cockpit::domain::change::{Change, ChangeLog, Layer, MAX_CHANGES_PER_SOURCE};
use oncall_cockpit::state::changes::MAX_OBSERVED;

fn flip(s: &mut State, at: DateTime<Utc>, prompt: &str, changed: DateTime<Utc>, killed: &[&str]) {
    update(
        s,
        Action::Backend(BackendEvent::Flags {
            source: "flagd".into(),
            at,
            flags: vec![FeatureFlags {
                feature: "support-bot".into(),
                prompt_versions: vec!["v7".into(), "v8".into()],
                current_prompt: Some(prompt.into()),
                prompt_changed_at: Some(changed),
                killed: killed.iter().map(|k| k.to_string()).collect(),
                ..FeatureFlags::default()
            }],
        }),
    );
}

fn drift_at(onset: DateTime<Utc>) -> Incident {
    let mut inc = incidents("sim", 1, onset).remove(0);
    inc.id = "sim:INC-9".into();
    inc.kind = IncidentType::CapabilityDrift;
    inc.feature = SafeText::new("support-bot");
    inc.status = Status::Triggered;
    inc.triggered_at = onset;
    inc.respond_by = onset + Duration::minutes(60);
    inc
}

fn reported(s: &mut State, source: &str, log: ChangeLog) {
    update(
        s,
        Action::Backend(BackendEvent::Changes {
            source: source.into(),
            log,
        }),
    );
}

/// A fresh cockpit at `onset` + 5 min whose flag system served v7 until 10 min before onset.
fn prompt_flipped_before(onset: DateTime<Utc>) -> State {
    let mut s = State::new(onset - Duration::minutes(30), "ana", "test");
    flip(
        &mut s,
        onset - Duration::minutes(30),
        "v7",
        onset - Duration::hours(5),
        &[],
    );
    flip(
        &mut s,
        onset - Duration::minutes(9),
        "v8",
        onset - Duration::minutes(10),
        &[],
    );
    update(&mut s, Action::Tick(onset + Duration::minutes(5)));
    poll_from(&mut s, "sim", vec![drift_at(onset)]);
    s
}

fn layer_answer(s: &State) -> String {
    let rb = s.runbooks.get("sim:INC-9").expect("runbook started");
    let i = rb
        .questions
        .iter()
        .position(|q| q.id == "layer")
        .expect("a layer question");
    rb.answers[i].text.clone()
}

#[test]
fn a_prompt_flip_ten_minutes_before_onset_is_on_the_timeline_and_suggests_the_prompt_layer() {
    let onset = common::origin();
    let mut s = prompt_flipped_before(onset);
    let inc = s.incidents.all[0].clone();
    let timeline = s.changes.around(&inc, s.now);
    let lines: Vec<String> = timeline
        .entries
        .iter()
        .map(|c| {
            format!(
                "{} {} ({})",
                oncall_cockpit::state::changes::relative(c.at, onset),
                c.what,
                c.origin
            )
        })
        .collect();
    assert_eq!(lines, ["−10m prompt support-bot v7→v8 (flagd)"]);

    update(&mut s, Action::Runbook);
    assert!(matches!(s.overlay, Overlay::Runbook(_)), "{}", flash(&s));
    assert_eq!(
        layer_answer(&s),
        "prompt, from the last change before onset: −10m prompt support-bot v7→v8 (flagd)"
    );
    let rb = &s.runbooks["sim:INC-9"];
    assert!(
        rb.answers.iter().all(|a| !a.confirmed),
        "a suggestion, never an answer: the responder confirms it"
    );
}

#[test]
fn the_last_change_before_onset_decides_and_a_change_after_it_does_not() {
    let onset = common::origin();
    let mut s = prompt_flipped_before(onset);
    // A deploy PagerDuty correlated with this incident, 4 minutes before onset: nearer.
    reported(
        &mut s,
        "pagerduty",
        ChangeLog {
            entries: vec![Change::new(
                onset - Duration::minutes(4),
                Layer::guess("rebuilt the vector index"),
                "deploy: rebuilt the vector index (ci) · recent change on its service",
                "pagerduty",
            )
            .on_incident("sim:INC-9")],
            read_at: Some(onset),
            error: None,
        },
    );
    // A kill switch engaged after onset.
    let now = s.now;
    flip(&mut s, now, "v8", onset - Duration::minutes(10), &["*"]);
    let inc = s.incidents.all[0].clone();
    let suggestion = s.changes.suggest(&inc, s.now).expect("a suggestion");
    assert_eq!(suggestion.layer, Layer::Data);
    let timeline = s.changes.around(&inc, s.now);
    let whats: Vec<&str> = timeline.entries.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        whats,
        [
            "prompt support-bot v7→v8",
            "deploy: rebuilt the vector index (ci) · recent change on its service",
            "kill switch support-bot: engaged (*)",
        ],
        "oldest first, the flip after onset shown but not suggested"
    );
}

#[test]
fn an_edited_layer_answer_is_never_replaced_by_a_later_suggestion() {
    let onset = common::origin();
    let mut s = prompt_flipped_before(onset);
    update(&mut s, Action::Runbook);
    let rb = s.runbooks.get_mut("sim:INC-9").expect("started");
    let i = rb
        .questions
        .iter()
        .position(|q| q.id == "layer")
        .expect("layer");
    rb.answers[i].text = "model: the provider changed the snapshot".into();
    rb.answers[i].edited = true;
    update(&mut s, Action::Back);
    reported(
        &mut s,
        "pagerduty",
        ChangeLog {
            entries: vec![Change::new(
                onset - Duration::minutes(1),
                Layer::Infrastructure,
                "deploy: api 1.4",
                "pagerduty",
            )
            .on_incident("sim:INC-9")],
            read_at: Some(onset),
            error: None,
        },
    );
    update(&mut s, Action::Runbook);
    assert_eq!(layer_answer(&s), "model: the provider changed the snapshot");
}

#[test]
fn a_source_that_cannot_read_its_history_says_so_and_keeps_what_it_read() {
    let onset = common::origin();
    let mut s = prompt_flipped_before(onset);
    reported(
        &mut s,
        "unleash",
        ChangeLog {
            entries: vec![],
            read_at: None,
            error: Some("HTTP 403: read the event log of project default: \u{1b}[2Jno".into()),
        },
    );
    let inc = s.incidents.all[0].clone();
    let timeline = s.changes.around(&inc, s.now);
    assert_eq!(
        timeline.failures,
        [(
            "unleash",
            "HTTP 403: read the event log of project default: no"
        )]
    );
    // The describe view says it, at 80x24.
    s.size = (80, 24);
    update(&mut s, Action::Describe);
    let mut screen = String::new();
    for _ in 0..10 {
        screen.push_str(&cockpit_testkit::screen::screen(&s, 80, 24));
        update(&mut s, Action::PageDown);
        drawn(&mut s);
    }
    assert!(
        screen.contains("−10m prompt support-bot v7→v8 (flagd)"),
        "{screen}"
    );
    assert!(
        screen.contains("unleash: history not read: HTTP 403"),
        "{screen}"
    );
}

#[test]
fn histories_are_bounded_whatever_sources_send() {
    let onset = common::origin();
    let mut s = prompt_flipped_before(onset);
    let flood: Vec<Change> = (0..5_000)
        .map(|i| {
            Change::new(
                onset - Duration::seconds(i),
                Layer::Infrastructure,
                &format!("deploy {i}"),
                "pagerduty",
            )
            .on_feature("support-bot")
        })
        .collect();
    reported(
        &mut s,
        "pagerduty",
        ChangeLog {
            entries: flood,
            read_at: Some(onset),
            error: None,
        },
    );
    for i in 0..(MAX_OBSERVED as i64 + 100) {
        let v = if i % 2 == 0 { "v7" } else { "v8" };
        flip(
            &mut s,
            onset + Duration::seconds(i),
            v,
            onset + Duration::seconds(i),
            &[],
        );
    }
    assert!(
        s.changes.len() <= MAX_OBSERVED + MAX_CHANGES_PER_SOURCE,
        "{} entries kept",
        s.changes.len()
    );
}

#[test]
fn a_lever_the_cockpit_pulled_is_on_the_timeline_from_the_audit_but_never_suggested() {
    let mut s = state();
    select(&mut s, IncidentType::CapabilityDrift);
    update(&mut s, Action::Rollback);
    update(&mut s, Action::Select);
    let fx = common::evidence_written(&mut s, Action::Confirm);
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(r) => Some(r.action_id),
            _ => None,
        })
        .expect("the rollback is sent");
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: id,
            result: Ok("rolled back".into()),
        }),
    );
    let inc = s.selected().expect("selected").clone();
    let timeline = s.changes.around(&inc, s.now);
    let own: Vec<(&str, &str)> = timeline
        .entries
        .iter()
        .filter(|c| c.origin == "audit")
        .map(|c| (c.what.as_str(), c.origin.as_str()))
        .collect();
    assert_eq!(
        own,
        [("prompt support-bot rolled back to v12 by ana", "audit")]
    );
    let suggested = s
        .changes
        .suggest(&inc, s.now)
        .map(|c| c.change.origin.clone());
    assert_ne!(suggested.as_deref(), Some("audit"));
}

/// Levers of earlier sessions, from the audit log's tail as the session starts: the
/// succeeded ones are on the timeline at the cockpit time they landed, the rest are not.
#[test]
fn levers_of_earlier_sessions_come_from_the_audit_log() {
    use oncall_cockpit::action::Startup;
    use oncall_cockpit::runbook::postmortem::parse_audit;
    let onset = common::origin();
    let mut s = prompt_flipped_before(onset);
    let at = |mins: i64| (onset - Duration::minutes(mins)).to_rfc3339();
    let log = [
        format!(r#"{{"at":"{}","actor":"bo","action":"kill_switch_engage","target":"support-bot segment free-tier","outcome":"succeeded","detail":"ok"}}"#, at(30)),
        format!(r#"{{"at":"{}","actor":"bo","action":"prompt_rollback","target":"support-bot prompt → v6","outcome":"failed","detail":"refused"}}"#, at(20)),
        format!(r#"{{"at":"{}","actor":"bo","action":"ack","target":"sim:INC-1","outcome":"succeeded"}}"#, at(15)),
        format!(r#"{{"at":"{}","actor":"cy","action":"model_switch","target":"support-bot model segment free-tier → mini","outcome":"succeeded","detail":"ok"}}"#, at(10)),
        "{\"torn".to_string(),
    ]
    .join("\n");
    let (audit, torn) = parse_audit(&log);
    assert_eq!(torn, 1);
    update(
        &mut s,
        Action::Started(Box::new(Startup {
            read_only: false,
            speed: 1.0,
            alerts: Default::default(),
            samples: Default::default(),
            shadow: Default::default(),
            containment: Default::default(),
            cost: Default::default(),
            grouping: Default::default(),
            respond: Default::default(),
            audit,
            sources: vec![],
            warnings: vec![],
        })),
    );
    let inc = s.incidents.all[0].clone();
    let timeline = s.changes.around(&inc, s.now);
    let own: Vec<&str> = timeline
        .entries
        .iter()
        .filter(|c| c.origin == "audit")
        .map(|c| c.what.as_str())
        .collect();
    assert_eq!(
        own,
        [
            "kill switch support-bot (free-tier) engaged by bo",
            "model switch support-bot (free-tier) set to mini by cy"
        ]
    );
}

/// Only the audit log's last MiB is read at start-up: the newest records, never the whole
/// history of a long-lived log.
#[test]
fn the_audit_tail_is_bounded_and_keeps_the_newest_lines() {
    let dir = std::env::temp_dir().join(format!("oc-audit-tail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("audit.jsonl");
    let line = r#"{"at":"2026-12-01T09:00:00Z","actor":"ana","action":"note","target":"sim:INC-1","outcome":"succeeded","detail":"padding padding padding padding padding"}"#;
    let mut text = String::new();
    while text.len() < 3 << 20 {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(r#"{"at":"2026-12-01T09:30:00Z","actor":"bo","action":"prompt_rollback","target":"support-bot prompt → v7","outcome":"succeeded"}"#);
    text.push('\n');
    std::fs::write(&path, &text).expect("write");
    let tail = oncall_cockpit::app::audit_tail(&path);
    assert!(
        tail.len() < text.len() / line.len() / 2,
        "{} of {} lines read",
        tail.len(),
        text.len() / line.len()
    );
    assert_eq!(tail.last().map(|a| a.actor.as_str()), Some("bo"));
    assert!(tail.iter().all(|a| a.action == "note" || a.actor == "bo"));
    assert!(oncall_cockpit::app::audit_tail(&dir.join("missing.jsonl")).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A settable lever moved by someone else (another responder, a deploy) between two reads of
/// the flag system is on the timeline: the feature's setting and each segment's own rule.
#[test]
fn a_lever_moved_between_reads_is_on_the_timeline_at_its_layer() {
    use oncall_cockpit::domain::lever::{Lever, LeverSetting};
    let onset = common::origin();
    let mut s = State::new(onset - Duration::minutes(30), "ana", "test");
    s.incidents.all = vec![drift_at(onset)];
    let read = |s: &mut State, at, current: &str, segments: Vec<(String, String)>| {
        update(
            s,
            Action::Backend(BackendEvent::Flags {
                source: "flagd".into(),
                at,
                flags: vec![FeatureFlags {
                    feature: "support-bot".into(),
                    levers: vec![LeverSetting {
                        lever: Lever::ModelSwitch,
                        flag: "support-bot.model".into(),
                        variants: vec![],
                        current: current.into(),
                        segments,
                        previous: None,
                        changed_at: None,
                        changed_by: None,
                        segments_unknown: false,
                    }],
                    ..FeatureFlags::default()
                }],
            }),
        )
    };
    read(&mut s, onset - Duration::minutes(20), "full", vec![]);
    read(
        &mut s,
        onset - Duration::minutes(10),
        "full",
        vec![("free".into(), "mini".into())],
    );
    read(&mut s, onset - Duration::minutes(5), "mini", vec![]);
    let inc = s.incidents.all[0].clone();
    let seen: Vec<(Layer, String)> = s
        .changes
        .around(&inc, onset)
        .entries
        .iter()
        .map(|c| (c.layer, c.what.to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Layer::Model,
                "model switch support-bot (free) feature's→mini".to_string()
            ),
            (
                Layer::Model,
                "model switch support-bot full→mini, (free) mini→feature's".to_string()
            ),
        ]
    );
}
