//! `update` continued: the guards (read-only, a screen too small, what a source cannot do),
//! the runbook, sources failing and merging, incidents arriving, and the scrolled views.

use super::*;

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
        rb.answers[layer]
            .text
            .starts_with("prompt, from the last change before onset: ")
            && rb.answers[layer]
                .text
                .contains("prompt support-bot →v13 (sim)"),
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

/// The drill's state with 60 more timeline entries on the top incident, which is selected:
/// more than the describe view shows at once.
fn top_with_a_long_timeline() -> State {
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
    s
}

/// The describe view scrolls within its content and acts like the list on its incident.
#[test]
fn describe_scrolls_within_bounds_and_closes() {
    let mut s = top_with_a_long_timeline();
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
    let mut s = top_with_a_long_timeline();
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
