//! Pure tests of `update`: every action, driven without a terminal or a backend.

use cockpit_testkit::common;
use common::drill_state;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use oncall_cockpit::action::Action;
use oncall_cockpit::config::keymap::Mode;
use oncall_cockpit::domain::command::{Command, CommandOutcome, FlagOp, IncidentOp};
use oncall_cockpit::domain::event::{BackendEvent, FeatureFlags};
use oncall_cockpit::domain::lever::{Lever, LeverSetting, LeverVariant};
use oncall_cockpit::domain::{Incident, IncidentType, SafeText, Sev, Status};
use oncall_cockpit::state::{
    update, ActionStatus, Effect, FlashLevel, Operation, Overlay, SourceRole, SourceStatus, State,
    TextPurpose,
};

const MINUTE: i64 = 15;

fn state() -> State {
    drill_state(MINUTE)
}

/// What the app does after each frame: measure how far the open view scrolls and tell
/// `update`, which knows no layout.
fn drawn(s: &mut State) {
    let limit = oncall_cockpit::ui::scroll_limit(s);
    if limit != s.scroll_limit {
        update(s, Action::ScrollLimit(limit));
    }
}

fn sent(effects: &[Effect]) -> Vec<Command> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(r.command.clone()),
            _ => None,
        })
        .collect()
}

fn audited(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(r) => Some((r.action.clone(), r.outcome.clone())),
            _ => None,
        })
        .collect()
}

fn flash(state: &State) -> String {
    state
        .flash
        .as_ref()
        .map(|f| f.text.clone())
        .unwrap_or_default()
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        update(
            state,
            Action::TextInput(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    }
}

/// Moves the cursor onto the first incident of `kind`.
fn select(state: &mut State, kind: IncidentType) {
    if !common::select_where(state, |i| i.kind == kind) {
        panic!("no {kind:?} incident in the drill at minute {MINUTE}");
    }
}

#[test]
fn drill_state_has_incidents_and_signals() {
    let s = state();
    assert!(s.incidents.all.len() >= 4, "{}", s.incidents.all.len());
    assert!(!s.signals.merged.features.is_empty());
    assert_eq!(s.incidents.shown.len(), s.incidents.all.len());
    // The worst, unacknowledged incident is on top.
    assert_eq!(
        s.selected().map(|i| i.kind),
        Some(IncidentType::GuardrailBypass)
    );
}

#[test]
fn quit_ends_from_any_overlay() {
    let mut s = state();
    update(&mut s, Action::Resolve);
    assert!(matches!(s.overlay, Overlay::Confirm(_)));
    assert_eq!(update(&mut s, Action::Quit), vec![Effect::Quit]);
    assert!(s.quit);
    let mut s = state();
    assert_eq!(
        update(&mut s, Action::Shutdown("SIGHUP".into())),
        vec![Effect::Quit]
    );
    assert!(s.quit);
}

#[test]
fn help_opens_and_closes() {
    let mut s = state();
    update(&mut s, Action::Help);
    assert!(matches!(s.overlay, Overlay::Help));
    update(&mut s, Action::Back);
    assert!(matches!(s.overlay, Overlay::None));
    update(&mut s, Action::Help);
    update(&mut s, Action::Help);
    assert!(matches!(s.overlay, Overlay::None));
}

#[test]
fn navigation_moves_and_clamps() {
    let mut s = state();
    let n = s.incidents.shown.len();
    update(&mut s, Action::Down);
    assert_eq!(s.incidents.cursor, 1);
    update(&mut s, Action::Up);
    update(&mut s, Action::Up);
    assert_eq!(s.incidents.cursor, 0);
    update(&mut s, Action::PageDown);
    assert_eq!(s.incidents.cursor, (n - 1).min(10));
    update(&mut s, Action::Bottom);
    assert_eq!(s.incidents.cursor, n - 1);
    update(&mut s, Action::PageUp);
    assert_eq!(s.incidents.cursor, (n - 1).saturating_sub(10));
    update(&mut s, Action::Top);
    assert_eq!(s.incidents.cursor, 0);
    assert_eq!(
        s.incidents.selected_id.as_deref(),
        s.selected().map(|i| i.id.as_str())
    );
}

#[test]
fn selection_stays_on_the_same_incident_when_the_list_reorders() {
    let mut s = state();
    update(&mut s, Action::Bottom);
    let id = s.incidents.selected_id.clone();
    // A new SEV1 arriving re-sorts the list under the responder's cursor.
    let mut incidents: Vec<_> = s.incidents.all.clone();
    let mut new = incidents[0].clone();
    new.id = "sim:INC-999".into();
    incidents.push(new);
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "sim".into(),
            at,
            incidents,
        }),
    );
    assert_eq!(s.incidents.selected_id, id);
    assert_eq!(s.selected().map(|i| i.id.clone()), id);
}

#[test]
fn toggle_detail_and_back() {
    let mut s = state();
    update(&mut s, Action::ToggleDetail);
    assert!(s.show_detail);
    update(&mut s, Action::Back);
    assert!(!s.show_detail);
}

#[test]
fn next_feature_cycles_through_every_feature() {
    let mut s = state();
    let first = s.shown_feature();
    let n = s.signals.merged.features.len();
    let mut seen = vec![];
    for _ in 0..n {
        update(&mut s, Action::NextFeature);
        seen.push(s.shown_feature().unwrap_or_default());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n);
    update(&mut s, Action::Back);
    assert_eq!(s.signals.pinned, None);
    assert_eq!(s.shown_feature(), first);
}

#[test]
fn filter_narrows_as_you_type_submit_keeps_cancel_clears() {
    let mut s = state();
    let all = s.incidents.shown.len();
    update(&mut s, Action::Filter);
    assert_eq!(s.input_mode(), Mode::Text);
    type_text(&mut s, "support");
    let shown = s.incidents.shown.len();
    assert!(shown > 0 && shown < all, "{shown} of {all}");
    assert!(s
        .incidents
        .shown
        .iter()
        .all(|&i| s.incidents.all[i].feature.as_str() == "support-bot"));
    update(&mut s, Action::Submit);
    assert!(matches!(s.overlay, Overlay::None));
    assert_eq!(s.incidents.filter, "support");
    assert_eq!(s.incidents.shown.len(), shown);
    // Several words must all match.
    update(&mut s, Action::Filter);
    type_text(&mut s, " sev2 drift");
    assert!(s
        .incidents
        .shown
        .iter()
        .all(|&i| s.incidents.all[i].kind == IncidentType::CapabilityDrift));
    update(&mut s, Action::Cancel);
    assert_eq!(s.incidents.filter, "");
    assert_eq!(s.incidents.shown.len(), all);
    update(&mut s, Action::Filter);
    type_text(&mut s, "zzz-no-match");
    assert!(s.incidents.shown.is_empty());
    assert!(s.selected().is_none());
    update(&mut s, Action::Submit);
    update(&mut s, Action::Back);
    assert_eq!(s.incidents.shown.len(), all);
}

/// Ids in the view, for comparing two ways of getting there.
fn view_ids(s: &State) -> Vec<String> {
    s.incidents
        .shown
        .iter()
        .map(|&i| s.incidents.all[i].id.clone())
        .collect()
}

/// Many incidents from several sources, as big backends send them.
fn incidents(source: &str, n: usize, at: chrono::DateTime<chrono::Utc>) -> Vec<Incident> {
    (0..n)
        .map(|i| {
            let sev = Sev::ALL[i % 4];
            let status = [Status::Triggered, Status::Acknowledged, Status::Resolved][i % 3];
            let triggered_at = at - chrono::Duration::seconds((i as i64 * 37) % 5000);
            Incident {
                id: format!("{source}:{i:05}"),
                source: source.into(),
                kind: IncidentType::ALL[i % IncidentType::ALL.len()],
                feature: SafeText::new(["support-bot", "triage-agent", "Über-Bot"][i % 3]),
                sev,
                title: SafeText::new(&format!("{source} alert {i}")),
                status,
                triggered_at,
                respond_by: triggered_at + sev.response_time(),
                acked_by: None,
                acked_at: None,
                escalation_level: 0,
                firing: true,
                evidence: vec![],
                timeline: vec![],
                on_call: None,
                last_status_update: None,
                snoozed_until: None,
                assignees: Vec::new(),
            }
        })
        .collect()
}

fn poll_from(s: &mut State, source: &str, list: Vec<Incident>) -> Vec<Effect> {
    let at = s.now;
    update(
        s,
        Action::Backend(BackendEvent::Incidents {
            source: source.into(),
            at,
            incidents: list,
        }),
    )
}

/// The view a filter gives from scratch: every incident that matches, sorted.
fn fresh_view(s: &State) -> Vec<String> {
    let mut fresh = State::new(s.now, "ana", "test");
    fresh.sources.list = s.sources.list.clone();
    fresh.incidents.filter = s.incidents.filter.clone();
    let list: Vec<Incident> = s.incidents.all.clone();
    poll_from(&mut fresh, "all", list);
    view_ids(&fresh)
}

/// A filter keystroke walks the sorted order or, when typing narrows it, the current view;
/// either way the view is exactly what filtering and sorting from scratch gives.
#[test]
fn filtering_as_you_type_matches_filtering_from_scratch() {
    let mut s = State::new(common::origin(), "ana", "test");
    for src in ["am", "pd"] {
        s.sources
            .list
            .push(SourceStatus::new(src, SourceRole::Incidents, Some(10.0)));
        let list = incidents(src, 300, s.now);
        poll_from(&mut s, src, list);
    }
    update(&mut s, Action::Filter);
    let typed = "sev1 SUPPORT über am:";
    for c in typed.chars() {
        type_text(&mut s, &c.to_string());
        assert_eq!(
            view_ids(&s),
            fresh_view(&s),
            "after typing to {:?}",
            s.incidents.filter
        );
    }
    for n in 0..typed.chars().count() {
        if n == 5 {
            // A poll while filtering: views of earlier filters are out of date.
            let list = incidents("pd", 200, s.now - chrono::Duration::minutes(3));
            poll_from(&mut s, "pd", list);
            assert_eq!(
                view_ids(&s),
                fresh_view(&s),
                "after a poll at {:?}",
                s.incidents.filter
            );
        }
        update(
            &mut s,
            Action::TextInput(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)),
        );
        assert_eq!(
            view_ids(&s),
            fresh_view(&s),
            "after deleting to {:?}",
            s.incidents.filter
        );
    }
    assert_eq!(s.incidents.shown.len(), 500);
}

/// A poll of one source replaces only that source's incidents, whether it brings fewer or
/// more, and hands the old ones back to be freed off the frame path.
#[test]
fn a_poll_replaces_only_its_own_sources_incidents() {
    let mut s = State::new(common::origin(), "ana", "test");
    for src in ["am", "pd", "prom"] {
        s.sources
            .list
            .push(SourceStatus::new(src, SourceRole::Incidents, Some(10.0)));
        let list = incidents(src, 50, s.now);
        poll_from(&mut s, src, list);
    }
    let count = |s: &State, src: &str| s.incidents.all.iter().filter(|i| i.source == src).count();
    for (n, expect_freed) in [(20, 50), (80, 20), (0, 80)] {
        let list = incidents("pd", n, s.now);
        let fx = poll_from(&mut s, "pd", list);
        let freed = fx
            .iter()
            .map(|e| match e {
                Effect::Discard(old) => {
                    assert!(old.iter().all(|i| i.source == "pd"));
                    old.len()
                }
                _ => 0,
            })
            .sum::<usize>();
        assert_eq!(freed, expect_freed);
        assert_eq!(
            (count(&s, "am"), count(&s, "pd"), count(&s, "prom")),
            (50, n, 50)
        );
        assert_eq!(view_ids(&s), fresh_view(&s));
    }
}

#[test]
fn ack_is_tracked_audited_and_confirmed() {
    let mut s = state();
    let id = s.incidents.selected_id.clone().unwrap_or_default();
    let fx = update(&mut s, Action::Ack);
    assert_eq!(
        sent(&fx),
        vec![Command::Incident {
            source: "sim".into(),
            id: id.clone(),
            op: IncidentOp::Ack
        }]
    );
    assert_eq!(audited(&fx), vec![("ack".into(), "requested".into())]);
    assert_eq!(s.actions.pending_count(), 1);
    let action_id = s.actions.tracked[0].id;
    let fx = update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id,
            result: Ok("acknowledged by ana".into()),
        }),
    );
    assert_eq!(audited(&fx), vec![("ack".into(), "succeeded".into())]);
    assert_eq!(
        s.actions.tracked[0].status,
        ActionStatus::Succeeded("acknowledged by ana".into())
    );
    assert!(flash(&s).contains("acknowledged by ana"));
    assert_eq!(s.actions.pending_count(), 0);
}

#[test]
fn failed_action_is_loud_and_retry_sends_it_again() {
    let mut s = state();
    update(&mut s, Action::Ack);
    let first = s.actions.tracked[0].id;
    let fx = update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: first,
            result: Err("timed out after 10s".into()),
        }),
    );
    assert_eq!(audited(&fx), vec![("ack".into(), "failed".into())]);
    let f = s.flash.clone().expect("flash");
    assert_eq!(f.level, FlashLevel::Error);
    assert!(
        f.text.contains("FAILED") && f.text.contains("timed out"),
        "{}",
        f.text
    );
    // Errors do not fade on their own.
    let now = s.now;
    for _ in 0..100 {
        update(&mut s, Action::Tick(now));
    }
    assert!(s.flash.is_some());
    let fx = update(&mut s, Action::Retry);
    assert_eq!(sent(&fx).len(), 1);
    assert_eq!(
        s.actions.tracked.len(),
        1,
        "the failed attempt is replaced by the retry"
    );
    assert_ne!(s.actions.tracked[0].id, first);
    assert_eq!(s.actions.tracked[0].status, ActionStatus::Pending);
    let fx = update(&mut s, Action::Retry);
    assert!(sent(&fx).is_empty(), "nothing failed any more");
}

#[test]
fn unknown_outcome_ids_are_ignored() {
    let mut s = state();
    let fx = update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: 4242,
            result: Ok("?".into()),
        }),
    );
    assert!(fx.is_empty());
}

#[test]
fn ack_of_an_acknowledged_incident_is_refused_locally() {
    let mut s = state();
    let i = s.incidents.shown[0];
    s.incidents.all[i].status = Status::Acknowledged;
    s.incidents.all[i].acked_by = Some("bo".into());
    let fx = update(&mut s, Action::Ack);
    assert!(fx.is_empty());
    assert!(
        flash(&s).contains("already acknowledged by bo"),
        "{}",
        flash(&s)
    );
}

/// Escalating pages the next level and undoes the ack: it asks first, names who is next and
/// says what it undoes.
#[test]
fn escalate_asks_first_names_the_next_level_and_says_the_ack_is_undone() {
    let mut s = state();
    let i = s.incidents.shown[0];
    s.incidents.all[i].status = Status::Acknowledged;
    s.incidents.all[i].acked_by = Some("bo".into());
    let fx = update(&mut s, Action::Escalate);
    assert!(fx.is_empty(), "nothing is sent before yes: {fx:?}");
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("escalate must confirm: {:?}", s.overlay);
    };
    assert!(c.title.contains("to level 2"), "{}", c.title);
    assert!(
        c.warnings
            .iter()
            .any(|l| l.contains("level 2 — secondary on-call")),
        "who is next, from [alerts] escalation_levels: {c:?}"
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("acknowledgement by bo is UNDONE")),
        "{c:?}"
    );
    assert!(update(&mut s, Action::Cancel).is_empty());
    update(&mut s, Action::Escalate);
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert!(matches!(
        sent(&fx).as_slice(),
        [Command::Incident {
            op: IncidentOp::Escalate,
            ..
        }]
    ));
    assert_eq!(audited(&fx), vec![("escalate".into(), "requested".into())]);
}

#[test]
fn resolve_confirms_first_and_cancel_sends_nothing() {
    let mut s = state();
    let fx = update(&mut s, Action::Resolve);
    assert!(fx.is_empty());
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("resolve must confirm");
    };
    assert!(c.danger);
    assert!(
        c.warnings.iter().any(|l| l.contains("STILL FIRING")),
        "a warning, drawn whatever the title's length: {c:?}"
    );
    assert_eq!(s.input_mode(), Mode::Dialog);
    let fx = update(&mut s, Action::Cancel);
    assert!(fx.is_empty());
    assert!(matches!(s.overlay, Overlay::None));
    update(&mut s, Action::Resolve);
    // Only the explicit yes confirms; select (enter) in a confirm dialog does nothing.
    assert!(update(&mut s, Action::Select).is_empty());
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert!(matches!(
        sent(&fx).as_slice(),
        [Command::Incident {
            op: IncidentOp::Resolve,
            ..
        }]
    ));
}

#[test]
fn note_opens_an_editor_and_sends_the_text() {
    let mut s = state();
    update(&mut s, Action::Note);
    assert!(matches!(
        s.overlay,
        Overlay::Text {
            purpose: TextPurpose::Note(_),
            ..
        }
    ));
    type_text(&mut s, "paged vendor\u{1b}[2J");
    let fx = update(&mut s, Action::Submit);
    let cmds = sent(&fx);
    let [Command::Incident {
        op: IncidentOp::Note(text),
        ..
    }] = cmds.as_slice()
    else {
        panic!("expected a note, got {cmds:?}");
    };
    assert_eq!(
        text, "paged vendor",
        "escape sequences never leave the cockpit"
    );
    update(&mut s, Action::Note);
    assert!(
        sent(&update(&mut s, Action::Submit)).is_empty(),
        "empty notes are not sent"
    );
    update(&mut s, Action::Note);
    type_text(&mut s, "draft");
    assert!(update(&mut s, Action::Cancel).is_empty());
}

#[test]
fn rollback_preselects_last_known_good_and_confirms() {
    let mut s = state();
    select(&mut s, IncidentType::CapabilityDrift);
    update(&mut s, Action::Rollback);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("rollback opens a version picker");
    };
    assert_eq!(p.items[p.cursor].label, "v12");
    assert!(p.items[p.cursor].detail.contains("last-known-good"));
    assert!(
        !p.items.iter().any(|i| i.label == "v13"),
        "current version is not offered"
    );
    update(&mut s, Action::Down);
    update(&mut s, Action::Up);
    update(&mut s, Action::Select);
    assert!(matches!(s.overlay, Overlay::Confirm(_)));
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        vec![Command::Flag {
            source: "sim".into(),
            op: FlagOp::Rollback {
                feature: "support-bot".into(),
                to_version: "v12".into()
            }
        }]
    );
    assert_eq!(
        audited(&fx),
        vec![("prompt_rollback".into(), "requested".into())]
    );
}

#[test]
fn kill_switch_offers_feature_and_segments() {
    let mut s = state();
    select(&mut s, IncidentType::GuardrailBypass);
    update(&mut s, Action::KillSwitch);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("kill switch opens a scope picker");
    };
    let labels: Vec<&str> = p.items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "keep serving",
            "ENGAGE segment free-tier",
            "ENGAGE segment enterprise",
            "ENGAGE whole feature",
        ],
        "the harmless choice first, the whole feature last"
    );
    assert_eq!(p.cursor, 0, "nothing dangerous is preselected");
    update(&mut s, Action::Down);
    update(&mut s, Action::Select);
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        vec![Command::Flag {
            source: "sim".into(),
            op: FlagOp::KillSwitch {
                feature: "code-assistant".into(),
                segment: Some("free-tier".into()),
                engage: true
            }
        }]
    );
    update(&mut s, Action::KillSwitch);
    assert!(update(&mut s, Action::Cancel).is_empty());
    assert!(matches!(s.overlay, Overlay::None));
    // Habit keys change nothing: `K y y` and `K enter y` land on "keep serving".
    for keys in [
        [Action::KillSwitch, Action::Confirm, Action::Confirm],
        [Action::KillSwitch, Action::Select, Action::Confirm],
    ] {
        for k in keys {
            assert!(sent(&update(&mut s, k)).is_empty());
        }
        assert!(matches!(s.overlay, Overlay::None), "{:?}", s.overlay);
    }
}

#[test]
fn a_flag_system_report_overrides_what_metrics_saw_and_takes_the_levers() {
    let mut s = state();
    select(&mut s, IncidentType::CapabilityDrift);
    let now = s.now;
    let changed = now - chrono::Duration::minutes(3);
    update(
        &mut s,
        Action::Backend(BackendEvent::Flags {
            source: "flagd".into(),
            at: now,
            flags: vec![FeatureFlags {
                feature: "support-bot".into(),
                prompt_versions: vec![
                    "v12".into(),
                    "v13".into(),
                    "v15\u{1b}]52;c;eA==\u{7}".into(),
                ],
                current_prompt: Some("v13".into()),
                last_known_good: Some("v12".into()),
                prompt_changed_at: Some(changed),
                killed: vec!["vip".into()],
                segments: vec!["vip".into()],
                prompt_only: false,
                levers: vec![LeverSetting {
                    lever: Lever::ModelSwitch,
                    flag: "support-bot.model".into(),
                    variants: vec![LeverVariant {
                        name: "mini\u{1b}[2J".into(),
                        value: serde_json::json!({"model\u{7}": "gpt-4o-mini\u{1b}]0;x\u{7}"}),
                    }],
                    current: "mini\u{1b}[2J".into(),
                    segments: vec![],
                    previous: None,
                    changed_at: None,
                    changed_by: Some("ops\u{1b}[31m".into()),
                    segments_unknown: false,
                }],
            }],
        }),
    );
    let info = s.feature_info("support-bot").expect("feature");
    let lever = &info.levers[0];
    let drawn = format!(
        "{} {} {} {:?}",
        lever.current,
        lever.variants[0].name,
        lever.variants[0].describe(),
        lever.changed_by
    );
    assert!(
        !drawn.contains('\u{1b}') && !drawn.contains('\u{7}'),
        "lever names, values and authors are sanitised: {drawn:?}"
    );
    assert_eq!(info.flag_source.as_deref(), Some("flagd"));
    assert_eq!(info.prompt_changed_at, Some(changed));
    assert_eq!(info.killed, ["vip"]);
    assert!(info.segments.contains(&"vip".to_string()));
    assert!(
        info.prompt_versions.iter().any(|v| v.id == "v15"),
        "flag text is sanitised like any outside text: {:?}",
        info.prompt_versions
    );
    update(&mut s, Action::Rollback);
    update(&mut s, Action::Select);
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert_eq!(
        sent(&fx),
        vec![Command::Flag {
            source: "flagd".into(),
            op: FlagOp::Rollback {
                feature: "support-bot".into(),
                to_version: "v12".into()
            }
        }],
        "the rollback goes to the flag system that holds the feature"
    );
    // A feature only the flag system knows still gets its levers.
    update(
        &mut s,
        Action::Backend(BackendEvent::Flags {
            source: "flagd".into(),
            at: now,
            flags: vec![FeatureFlags {
                feature: "billing-agent".into(),
                killed: vec!["*".into()],
                ..FeatureFlags::default()
            }],
        }),
    );
    let billing = s.feature_info("billing-agent").expect("flag-only feature");
    assert_eq!(billing.killed, ["*"]);
    assert!(
        s.feature_info("support-bot")
            .and_then(|i| i.flag_source.clone())
            .is_none(),
        "the newest report replaces the source's previous one"
    );
}

mod changes;
mod containment;
mod guards_views_and_feeds;
mod lever_panel;
mod oncall;
mod prompt_registry;
mod respond;
mod responders;
mod shadow;
mod snooze;
