//! Pure tests of `update`: every action, driven without a terminal or a backend.

use cockpit_testkit::common;
use common::drill_state;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use oncall_cockpit::action::Action;
use oncall_cockpit::config::keymap::Mode;
use oncall_cockpit::domain::command::{Command, CommandOutcome, FlagOp, IncidentOp};
use oncall_cockpit::domain::event::{BackendEvent, FeatureFlags};
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
    let fx = update(&mut s, Action::Confirm);
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
    let fx = update(&mut s, Action::Confirm);
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
    let fx = update(&mut s, Action::Confirm);
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
    let fx = update(&mut s, Action::Confirm);
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
            }],
        }),
    );
    let info = s.feature_info("support-bot").expect("feature");
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
    let fx = update(&mut s, Action::Confirm);
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

#[test]
fn read_only_disables_every_action() {
    let mut s = state();
    // Somewhere to page, and a failed ack a retry would send again: each action has what it
    // needs, so only read-only mode can stop it.
    s.sources.pager_source = Some("pd-events".into());
    update(&mut s, Action::Ack);
    let first = s.actions.tracked[0].id;
    update(
        &mut s,
        Action::CommandDone(CommandOutcome {
            action_id: first,
            result: Err("timed out after 10s".into()),
        }),
    );
    s.read_only = true;
    for a in [
        Action::Ack,
        Action::Escalate,
        Action::Resolve,
        Action::Note,
        Action::Rollback,
        Action::KillSwitch,
        Action::Page,
        Action::Retry,
    ] {
        let fx = update(&mut s, a.clone());
        assert!(fx.is_empty(), "{a:?} produced {fx:?}");
        assert!(matches!(s.overlay, Overlay::None), "{a:?} opened a dialog");
        assert!(flash(&s).contains("read-only"), "{a:?}: {}", flash(&s));
    }
}

#[test]
fn no_flag_system_means_a_clear_message() {
    let mut s = state();
    s.sources.flag_source = None;
    update(&mut s, Action::KillSwitch);
    assert!(matches!(s.overlay, Overlay::None));
    assert!(flash(&s).contains("no flag system"), "{}", flash(&s));
}

#[test]
fn runbook_prefills_confirms_and_edits() {
    let mut s = state();
    select(&mut s, IncidentType::CapabilityDrift);
    update(&mut s, Action::Runbook);
    assert_eq!(s.input_mode(), Mode::Runbook);
    let id = s.incidents.selected_id.clone().unwrap_or_default();
    let rb = s.runbooks.get(&id).cloned().expect("session");
    let layer = rb
        .questions
        .iter()
        .position(|q| q.id == "layer")
        .expect("layer question");
    assert!(rb.answers[layer].prefilled);
    assert!(
        rb.answers[layer].text.starts_with("prompt: v13"),
        "{}",
        rb.answers[layer].text
    );
    let lkg = rb
        .questions
        .iter()
        .position(|q| q.id == "last_known_good")
        .expect("lkg");
    assert_eq!(rb.answers[lkg].text, "v12 (running v13)");
    assert_eq!(rb.progress(), (0, rb.answers.len()));

    let fx = update(&mut s, Action::ConfirmAnswer);
    assert_eq!(
        audited(&fx),
        vec![("runbook_answer".into(), "confirmed".into())]
    );
    assert_eq!(s.runbooks[&id].progress().0, 1);
    assert_eq!(s.runbooks[&id].cursor, 1);

    update(&mut s, Action::EditAnswer);
    assert_eq!(s.input_mode(), Mode::Text);
    // The editor starts with the current answer; replace it.
    for _ in 0..200 {
        update(
            &mut s,
            Action::TextInput(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)),
        );
    }
    type_text(&mut s, "refund-policy answers doubled");
    update(&mut s, Action::Submit);
    assert_eq!(s.input_mode(), Mode::Runbook);
    let a = &s.runbooks[&id].answers[1];
    assert_eq!(a.text, "refund-policy answers doubled");
    assert!(a.confirmed && a.edited);
    update(&mut s, Action::Back);
    assert!(matches!(s.overlay, Overlay::None));
    // Progress survives closing and reopening.
    update(&mut s, Action::Runbook);
    assert_eq!(s.runbooks[&id].progress().0, 2);
}

#[test]
fn tick_moves_time_and_fades_info_messages() {
    let mut s = state();
    update(&mut s, Action::Escalate);
    update(&mut s, Action::Confirm);
    assert!(s.flash.is_some());
    let later = s.now + chrono::Duration::minutes(1);
    update(&mut s, Action::Tick(later));
    assert_eq!(s.now, later);
    assert!(s.flash.is_some(), "one tick is not enough to fade");
    for _ in 0..40 {
        update(&mut s, Action::Tick(later));
    }
    assert!(s.flash.is_none());
}

#[test]
fn backend_failure_marks_the_source_without_losing_data() {
    let mut s = state();
    let incidents = s.incidents.all.len();
    let at = s.now + chrono::Duration::seconds(5);
    update(
        &mut s,
        Action::Backend(BackendEvent::Failed {
            source: "sim".into(),
            at,
            error: "HTTP 500: \u{1b}]0;owned\u{7}boom".into(),
        }),
    );
    assert_eq!(
        s.incidents.all.len(),
        incidents,
        "data from before the failure stays"
    );
    let m = &s.sources.list[0];
    assert!(m.failing());
    assert_eq!(
        m.last_error.as_ref().map(|e| e.1.as_str()),
        Some("HTTP 500: boom")
    );
    let later = s.now + chrono::Duration::minutes(5);
    update(&mut s, Action::Tick(later));
    assert!(s.sources.list[0].is_stale(s.now));
}

#[test]
fn resize_and_audit_failure() {
    let mut s = state();
    update(&mut s, Action::Resize(80, 24));
    assert_eq!(s.size, (80, 24));
    update(&mut s, Action::AuditFailed("disk full".into()));
    let f = s.flash.clone().expect("flash");
    assert_eq!(f.level, FlashLevel::Error);
    assert!(f.text.contains("AUDIT LOG NOT WRITTEN: disk full"));
}

#[test]
fn commands_without_a_selection_warn() {
    let mut s = state();
    update(&mut s, Action::Filter);
    type_text(&mut s, "nothing-matches");
    update(&mut s, Action::Submit);
    for a in [
        Action::Ack,
        Action::Escalate,
        Action::Resolve,
        Action::Runbook,
    ] {
        assert!(update(&mut s, a.clone()).is_empty());
        assert!(flash(&s).contains("no incident selected"), "{a:?}");
    }
}

#[test]
fn confirming_a_blank_runbook_answer_asks_for_one() {
    let mut s = state();
    select(&mut s, IncidentType::GuardrailBypass);
    update(&mut s, Action::Runbook);
    let id = s.incidents.selected_id.clone().unwrap_or_default();
    let first = &s.runbooks[&id].answers[0];
    assert_eq!(s.runbooks[&id].questions[0].id, "exposure");
    assert!(
        first.text.is_empty(),
        "nobody instruments what leaked: {}",
        first.text
    );
    let fx = update(&mut s, Action::ConfirmAnswer);
    assert!(fx.is_empty());
    assert_eq!(s.input_mode(), Mode::Text, "blank answers open the editor");
    assert_eq!(s.runbooks[&id].progress().0, 0);
}

#[test]
fn an_operation_the_source_cannot_do_is_refused_with_its_reason() {
    let mut s = state();
    let source = s.selected().map(|i| i.source.clone()).unwrap_or_default();
    s.sources.unsupported.insert(
        (source, Operation::Escalate),
        "Alertmanager has no escalation levels".into(),
    );
    assert!(update(&mut s, Action::Escalate).is_empty());
    assert_eq!(
        flash(&s),
        "escalate unavailable: Alertmanager has no escalation levels"
    );
    assert_eq!(
        sent(&update(&mut s, Action::Ack)).len(),
        1,
        "other operations still work"
    );
}

#[test]
fn signals_from_two_sources_merge_and_one_failing_keeps_the_other() {
    let mut s = state();
    let before = s.signals.merged.signals.len();
    let mut other = s.signals.merged.clone();
    for sig in &mut other.signals {
        sig.feature = format!("prom-{}", sig.feature);
    }
    for f in &mut other.features {
        f.name = format!("prom-{}", f.name);
    }
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Signals {
            source: "prometheus".into(),
            at,
            set: other,
            detections: vec![],
        }),
    );
    assert_eq!(s.signals.merged.signals.len(), before * 2);
    assert!(s.feature_info("prom-support-bot").is_some());
    assert!(s.feature_info("support-bot").is_some());
    update(
        &mut s,
        Action::Backend(BackendEvent::Failed {
            source: "prometheus".into(),
            at,
            error: "unreachable: http://127.0.0.1:9".into(),
        }),
    );
    assert_eq!(
        s.signals.merged.signals.len(),
        before * 2,
        "last good data stays on screen"
    );
    let prom = s
        .sources
        .list
        .iter()
        .find(|h| h.name == "prometheus")
        .expect("health");
    assert!(prom.failing());
    let sim = s
        .sources
        .list
        .iter()
        .find(|h| h.name == "sim")
        .expect("health");
    assert!(!sim.failing());
}

/// Incidents of two sources: each poll replaces only its own source's incidents and hands the
/// replaced ones back to be freed, and the view follows the ladder whatever the arrival order.
#[test]
fn a_poll_replaces_only_its_sources_incidents_and_the_view_follows_the_ladder() {
    use oncall_cockpit::domain::Sev;
    let base = state();
    let now = base.now;
    let template = base.incidents.all[0].clone();
    let make = |source: &str, id: &str, sev: Sev, status: Status, respond_in_min: i64| {
        let mut i = template.clone();
        i.source = source.into();
        i.id = format!("{source}:{id}");
        i.sev = sev;
        i.status = status;
        i.respond_by = now + chrono::Duration::minutes(respond_in_min);
        i
    };
    let poll = |source: &str, incidents| {
        Action::Backend(BackendEvent::Incidents {
            source: source.into(),
            at: now,
            incidents,
        })
    };
    let order = |s: &State| -> Vec<String> {
        s.incidents
            .shown
            .iter()
            .map(|&i| s.incidents.all[i].id.clone())
            .collect()
    };
    let discarded = |fx: &[Effect]| -> Vec<String> {
        let mut ids: Vec<String> = fx
            .iter()
            .flat_map(|e| match e {
                Effect::Discard(v) => v.iter().map(|i| i.id.clone()).collect(),
                _ => Vec::new(),
            })
            .collect();
        ids.sort();
        ids
    };

    let mut s = State::new(now, "ana", "two sources");
    let fx = update(
        &mut s,
        poll(
            "am",
            vec![
                make("am", "a1", Sev::Sev3, Status::Triggered, 30),
                make("am", "a2", Sev::Sev1, Status::Resolved, 1),
                make("am", "a0", Sev::Sev3, Status::Triggered, 30),
            ],
        ),
    );
    assert!(discarded(&fx).is_empty());
    let fx = update(
        &mut s,
        poll(
            "pd",
            vec![
                make("pd", "p1", Sev::Sev3, Status::Acknowledged, 5),
                make("pd", "p2", Sev::Sev3, Status::Triggered, 60),
                make("pd", "p3", Sev::Sev1, Status::Triggered, 10),
            ],
        ),
    );
    assert!(discarded(&fx).is_empty(), "{:?}", discarded(&fx));
    // Open first; SEV1 first; unacknowledged before acknowledged; nearest deadline; then id.
    assert_eq!(
        order(&s),
        ["pd:p3", "am:a0", "am:a1", "pd:p2", "pd:p1", "am:a2"]
    );
    assert_eq!(s.incidents.open_by_sev, [1, 0, 4, 0]);

    let fx = update(
        &mut s,
        poll(
            "pd",
            vec![make("pd", "p2", Sev::Sev3, Status::Triggered, 60)],
        ),
    );
    assert_eq!(discarded(&fx), ["pd:p1", "pd:p2", "pd:p3"]);
    assert_eq!(order(&s), ["am:a0", "am:a1", "pd:p2", "am:a2"]);
    assert_eq!(s.incidents.open_by_sev, [0, 0, 3, 0]);
}

/// At 40x10 nothing can be seen, so nothing may act: an `a`, or `K enter y` typed blind,
/// once acknowledged an incident and engaged a whole-feature kill switch. Quit and help work.
#[test]
fn a_terminal_too_small_takes_no_action_but_quit_and_help() {
    let mut s = state();
    update(&mut s, Action::Resize(40, 10));
    assert_eq!(s.input_mode(), Mode::Normal);
    for a in [
        Action::Ack,
        Action::Escalate,
        Action::Resolve,
        Action::KillSwitch,
        Action::Select,
        Action::Confirm,
        Action::Rollback,
        Action::Note,
        Action::Page,
        Action::Export,
        Action::Retry,
        Action::Runbook,
        Action::Filter,
        Action::Down,
    ] {
        let before = (s.incidents.cursor, s.flash.clone());
        let fx = update(&mut s, a.clone());
        assert!(fx.is_empty(), "{a:?} acted while too small: {fx:?}");
        assert!(matches!(s.overlay, Overlay::None), "{a:?}: {:?}", s.overlay);
        assert_eq!(
            (s.incidents.cursor, s.flash.clone()),
            before,
            "{a:?} changed the state"
        );
    }
    update(&mut s, Action::Help);
    assert!(matches!(s.overlay, Overlay::Help));
    update(&mut s, Action::Back);
    assert!(matches!(s.overlay, Overlay::None));

    // A dialog open when the terminal shrank stays, and `y` does nothing until it grows back.
    update(&mut s, Action::Resize(80, 24));
    update(&mut s, Action::Resolve);
    update(&mut s, Action::Resize(40, 10));
    assert!(update(&mut s, Action::Confirm).is_empty());
    assert!(matches!(s.overlay, Overlay::Confirm(_)));
    update(&mut s, Action::Resize(80, 24));
    assert_eq!(s.input_mode(), Mode::Dialog);
    assert_eq!(update(&mut s, Action::Quit), vec![Effect::Quit]);
}

/// --read-only disables every action, and confirming a runbook answer is one: it writes the
/// audit log.
#[test]
fn read_only_runbook_can_be_read_but_records_nothing() {
    let mut s = state();
    s.read_only = true;
    select(&mut s, IncidentType::CapabilityDrift);
    update(&mut s, Action::Runbook);
    assert_eq!(s.input_mode(), Mode::Runbook, "the walkthrough can be read");
    for a in [Action::ConfirmAnswer, Action::EditAnswer] {
        let fx = update(&mut s, a.clone());
        assert!(fx.is_empty(), "{a:?}: {fx:?}");
        assert_eq!(s.input_mode(), Mode::Runbook, "{a:?} opened an editor");
        assert!(flash(&s).contains("read-only"), "{}", flash(&s));
    }
    let id = s.incidents.selected_id.clone().unwrap_or_default();
    assert_eq!(s.runbooks[&id].progress().0, 0);
}

/// Editing a pre-filled answer replaces it (it starts selected), and ctrl-u clears the box.
#[test]
fn an_edited_answer_replaces_the_prefill_and_ctrl_u_clears() {
    let mut s = state();
    select(&mut s, IncidentType::CapabilityDrift);
    update(&mut s, Action::Runbook);
    update(&mut s, Action::EditAnswer);
    type_text(&mut s, "prompt v13");
    update(&mut s, Action::Submit);
    let id = s.incidents.selected_id.clone().unwrap_or_default();
    assert_eq!(s.runbooks[&id].answers[0].text, "prompt v13");

    update(&mut s, Action::EditAnswer);
    type_text(&mut s, "x");
    update(&mut s, Action::ClearText);
    type_text(&mut s, "model");
    update(&mut s, Action::Submit);
    assert_eq!(s.runbooks[&id].answers[1].text, "model");
}

/// A poll of the drill's source bringing `incidents`.
fn poll(s: &mut State, incidents: Vec<oncall_cockpit::domain::Incident>) -> Vec<Effect> {
    let at = s.now;
    update(
        s,
        Action::Backend(BackendEvent::Incidents {
            source: "sim".into(),
            at,
            incidents,
        }),
    )
}

/// A SEV1 arriving (or an open incident raised to SEV1) rings the bell and flashes; what was
/// already open at start-up does not, and `bell_on_sev1 = false` keeps only the flash.
#[test]
fn a_new_sev1_rings_the_bell_and_flashes_its_row() {
    use oncall_cockpit::domain::Sev;
    let mut s = state();
    let mut incidents = s.incidents.all.clone();
    let drift = incidents
        .iter()
        .position(|i| i.kind == IncidentType::CapabilityDrift)
        .expect("drift");
    incidents[drift].sev = Sev::Sev1;
    let id = incidents[drift].id.clone();
    let fx = poll(&mut s, incidents.clone());
    assert!(fx.contains(&Effect::Bell), "{fx:?}");
    assert_eq!(
        s.incidents.new_sev1.as_ref().map(|(i, _)| i.clone()),
        Some(id.clone())
    );
    assert!(flash(&s).contains("NEW SEV1"), "{}", flash(&s));
    // The next poll with the same SEV1 is not news.
    let fx = poll(&mut s, incidents.clone());
    assert!(!fx.contains(&Effect::Bell));
    // The flash stops after a few seconds of ticks.
    for _ in 0..20 {
        let now = s.now;
        update(&mut s, Action::Tick(now));
    }
    assert!(s.incidents.new_sev1.is_none());

    let mut quiet = state();
    quiet.alerts.bell_on_sev1 = false;
    let fx = poll(&mut quiet, incidents);
    assert!(!fx.contains(&Effect::Bell));
    assert!(quiet.incidents.new_sev1.is_some());

    // Already open when the cockpit starts: the drill's own SEV1 rang no bell.
    let mut fresh = State::new(s.now, "ana", "sim");
    let fx = poll(&mut fresh, s.incidents.all.clone());
    assert!(!fx.contains(&Effect::Bell));
}

/// A recovered incident (signal back within its threshold, not yet resolved) sorts below
/// every firing one, whatever its SEV.
#[test]
fn recovered_incidents_sort_below_firing_ones() {
    let mut s = state();
    let mut incidents = s.incidents.all.clone();
    let top = s.incidents.shown[0];
    incidents[top].firing = false;
    let id = incidents[top].id.clone();
    poll(&mut s, incidents);
    let order: Vec<&str> = s
        .incidents
        .shown
        .iter()
        .map(|&i| s.incidents.all[i].id.as_str())
        .collect();
    assert_eq!(order.last().copied(), Some(id.as_str()), "{order:?}");
}

/// The describe view scrolls within its content and acts like the list on its incident.
#[test]
fn describe_scrolls_within_bounds_and_closes() {
    let mut s = state();
    let mut incidents = s.incidents.all.clone();
    let top = s.incidents.shown[0];
    let at = s.now;
    for n in 0..60 {
        incidents[top]
            .timeline
            .push(oncall_cockpit::domain::TimelineEntry {
                at,
                text: format!("entry {n}").as_str().into(),
            });
    }
    poll(&mut s, incidents);
    update(&mut s, Action::Top);
    let id = s.incidents.selected_id.clone().unwrap_or_default();
    update(&mut s, Action::Describe);
    assert!(matches!(&s.overlay, Overlay::Describe { id: d, scroll: 0 } if *d == id));
    drawn(&mut s);
    for _ in 0..500 {
        update(&mut s, Action::Down);
        drawn(&mut s);
    }
    let Overlay::Describe { scroll, .. } = s.overlay else {
        panic!("still describing");
    };
    update(&mut s, Action::Up);
    drawn(&mut s);
    let Overlay::Describe { scroll: up, .. } = s.overlay else {
        panic!("still describing");
    };
    assert_eq!(up + 1, scroll, "one key up moves one line up from the end");
    assert!(
        (50..100).contains(&scroll),
        "bounded by the content: {scroll}"
    );
    update(&mut s, Action::Back);
    assert!(matches!(s.overlay, Overlay::None));
    assert_eq!(s.incidents.selected_id.as_deref(), Some(id.as_str()));
}

/// Keys that arrive in one batch, before the frame that measures a newly opened view, may
/// run past its end; the measure of the next frame brings the view back within its content,
/// and one key up then moves one line up from the end.
#[test]
fn a_burst_of_keys_before_the_first_measure_is_brought_back_within_bounds() {
    let mut s = state();
    let mut incidents = s.incidents.all.clone();
    let top = s.incidents.shown[0];
    let at = s.now;
    for n in 0..60 {
        incidents[top]
            .timeline
            .push(oncall_cockpit::domain::TimelineEntry {
                at,
                text: format!("entry {n}").as_str().into(),
            });
    }
    poll(&mut s, incidents);
    update(&mut s, Action::Top);
    update(&mut s, Action::Sources);
    drawn(&mut s);
    assert!(s.scroll_limit.is_some(), "the sources view was measured");
    update(&mut s, Action::Back);
    update(&mut s, Action::Describe);
    assert_eq!(s.scroll_limit, None, "a new view starts unmeasured");
    for _ in 0..500 {
        update(&mut s, Action::Down);
    }
    let scroll = |s: &State| match s.overlay {
        Overlay::Describe { scroll, .. } => scroll,
        _ => panic!("still describing"),
    };
    assert_eq!(scroll(&s), 500, "nothing held it back before the measure");
    drawn(&mut s);
    let end = s.scroll_limit.expect("measured");
    assert!((50..100).contains(&end), "the content's end: {end}");
    assert_eq!(scroll(&s), end, "brought back to the end of the content");
    update(&mut s, Action::Up);
    assert_eq!(scroll(&s), end - 1);
}

/// A 100,000-character title scrolls inside the resolve dialog, within bounds.
#[test]
fn a_huge_title_scrolls_inside_the_dialog() {
    let mut s = state();
    let mut incidents = s.incidents.all.clone();
    let top = s.incidents.shown[0];
    incidents[top].title = "word ".repeat(20_000).as_str().into();
    poll(&mut s, incidents);
    update(&mut s, Action::Top);
    update(&mut s, Action::Resolve);
    drawn(&mut s);
    for _ in 0..3000 {
        update(&mut s, Action::PageDown);
        drawn(&mut s);
    }
    let Overlay::Confirm(c) = &s.overlay else {
        panic!("resolve confirms");
    };
    // 100,000 characters in 66-column lines, less the lines shown.
    assert!((1400..1600).contains(&c.scroll), "{}", c.scroll);
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(sent(&fx).len(), 1);
}

/// A page is evidence exported to another system: an id kept verbatim on screen is sanitised
/// on its way out, in the dedup key as in the details.
#[test]
fn a_page_carries_no_control_sequences() {
    use oncall_cockpit::domain::command::PageOp;
    let mut s = state();
    s.sources.pager_source = Some("pd-events".into());
    let mut incidents = s.incidents.all.clone();
    let top = s.incidents.shown[0];
    incidents[top].id = "sim:INC-4\u{1b}]52;c;ZXZpbA==\u{7}\u{202e}".into();
    poll(&mut s, incidents);
    update(&mut s, Action::Top);
    update(&mut s, Action::Page);
    let fx = update(&mut s, Action::Confirm);
    let commands = sent(&fx);
    let [Command::Page {
        op: PageOp::Trigger {
            dedup_key, details, ..
        },
        ..
    }] = commands.as_slice()
    else {
        panic!("a page is sent: {fx:?}");
    };
    assert_eq!(dedup_key, "oncall-cockpit/sim:INC-4");
    for (k, v) in details {
        assert!(!v.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{k}: {v:?}");
    }
}
