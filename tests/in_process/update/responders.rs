//! The people side of a response, driven through the pure update: asking the failing layer's
//! owner in (by the runbook's answer, else the type), status updates on a cadence, roles.

use super::*;
use oncall_cockpit::config::alerts::Owner;
use oncall_cockpit::domain::responders::{Layer, ResponderTarget, Role};
use oncall_cockpit::state::responders::next_update_due;

fn owner(name: &str, target: Option<ResponderTarget>) -> Option<Owner> {
    Some(Owner {
        name: name.into(),
        pagerduty: target,
    })
}

fn confirm(s: &State) -> oncall_cockpit::state::Confirm {
    match &s.overlay {
        Overlay::Confirm(c) => (**c).clone(),
        other => panic!("expected a confirmation, got {other:?}"),
    }
}

/// The drift incident on support-bot, moved to a PagerDuty source that pages.
fn drift_on_pagerduty(s: &mut State) -> Incident {
    select(s, IncidentType::CapabilityDrift);
    let id = s.selected().map(|i| i.id.clone()).expect("selected");
    let inc = s
        .incidents
        .all
        .iter_mut()
        .find(|i| i.id == id)
        .expect("listed");
    inc.source = "pagerduty".into();
    inc.clone()
}

/// The selected incident's describe view, drawn wide, as text.
fn described(s: &mut State) -> String {
    update(s, Action::Describe);
    let text = cockpit_testkit::screen::screen(s, 140, 60);
    update(s, Action::Back);
    text
}

fn done(s: &mut State, effects: &[Effect], result: Result<String, String>) -> Vec<Effect> {
    let id = effects
        .iter()
        .find_map(|e| match e {
            Effect::Send(r) => Some(r.action_id),
            _ => None,
        })
        .expect("a command was sent");
    update(
        s,
        Action::CommandDone(CommandOutcome {
            action_id: id,
            result,
        }),
    )
}

#[test]
fn the_request_names_the_layer_and_who_then_asks_pagerduty() {
    let mut s = state();
    let inc = drift_on_pagerduty(&mut s);
    s.alerts.layers.prompt = owner(
        "Priya Shah (prompt on-call)",
        Some(ResponderTarget::User("PPRIYA1".into())),
    );
    update(&mut s, Action::RequestResponders);
    let c = confirm(&s);
    assert_eq!(
        c.title,
        "Request responder: Priya Shah (prompt on-call) (prompt layer)?"
    );
    assert!(c.danger, "it wakes someone");
    assert!(
        c.warnings[0].starts_with("Layer from the incident type (capability regression / drift)"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].contains("notifies Priya Shah (prompt on-call) (PagerDuty user PPRIYA1)"),
        "{:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    let sent = sent(&fx);
    let Some(Command::Incident {
        op:
            IncidentOp::RequestResponders {
                layer,
                target,
                message,
                ..
            },
        id,
        source,
    }) = sent.first()
    else {
        panic!("{sent:?}")
    };
    assert_eq!((id, source.as_str()), (&inc.id, "pagerduty"));
    assert_eq!(*layer, Layer::Prompt);
    assert_eq!(*target, ResponderTarget::User("PPRIYA1".into()));
    assert!(
        message.contains(&inc.id) && message.contains("needs the prompt layer's owner"),
        "{message}"
    );
    assert_eq!(
        audited(&fx),
        [("request_responders".to_string(), "requested".to_string())]
    );
    // A refusal is loud and retried with t.
    done(&mut s, &fx, Err("HTTP 500: Internal Server Error".into()));
    assert!(flash(&s).contains("FAILED") && flash(&s).ends_with("(t: retry)"));
    let again = update(&mut s, Action::Retry);
    assert!(matches!(
        sent_first(&again),
        Some(IncidentOp::RequestResponders { .. })
    ));
}

fn sent_first(fx: &[Effect]) -> Option<IncidentOp> {
    sent(fx).into_iter().find_map(|c| match c {
        Command::Incident { op, .. } => Some(op),
        _ => None,
    })
}

#[test]
fn a_confirmed_runbook_layer_answer_decides_over_the_type() {
    let mut s = state();
    drift_on_pagerduty(&mut s);
    s.alerts.layers.prompt = owner("Priya", Some(ResponderTarget::User("PPRIYA1".into())));
    s.alerts.layers.model = owner(
        "Jane Doe (ML)",
        Some(ResponderTarget::EscalationPolicy("PMLPOL1".into())),
    );
    update(&mut s, Action::Runbook);
    update(&mut s, Action::Back);
    let id = s.selected().map(|i| i.id.clone()).expect("selected");
    let rb = s.runbooks.get_mut(&id).expect("runbook opened");
    let q = rb
        .questions
        .iter()
        .position(|q| q.id == "layer")
        .expect("layer question");
    // Pre-filled but not confirmed: the type still decides.
    rb.answers[q].text = "model: gpt-4o updated 20m before detection".into();
    update(&mut s, Action::RequestResponders);
    assert!(confirm(&s).title.contains("(prompt layer)"));
    update(&mut s, Action::Cancel);
    s.runbooks.get_mut(&id).expect("runbook").answers[q].confirmed = true;
    update(&mut s, Action::RequestResponders);
    let c = confirm(&s);
    assert_eq!(c.title, "Request responder: Jane Doe (ML) (model layer)?");
    assert!(
        c.warnings[0]
            .contains("the runbook's answer \"model: gpt-4o updated 20m before detection\""),
        "{:?}",
        c.warnings
    );
    assert!(matches!(
        &c.command,
        Command::Incident {
            op: IncidentOp::RequestResponders {
                target: ResponderTarget::EscalationPolicy(p),
                ..
            },
            ..
        } if p == "PMLPOL1"
    ));
}

#[test]
fn a_source_that_cannot_page_says_so_and_records_the_request_on_the_timeline() {
    let mut s = state();
    select(&mut s, IncidentType::RetrievalDegradation);
    let inc = s.selected().cloned().expect("selected");
    s.sources.unsupported.insert(
        (inc.source.clone(), Operation::RequestResponders),
        "the cockpit's own detections page nobody; ask the owner directly".into(),
    );
    s.alerts.layers.data = owner(
        "Dana (data on-call)",
        Some(ResponderTarget::User("PDANA01".into())),
    );
    update(&mut s, Action::RequestResponders);
    let c = confirm(&s);
    assert_eq!(
        c.title,
        "Request responder: Dana (data on-call) (data layer)?"
    );
    assert!(!c.danger, "nobody is paged");
    assert!(
        c.warnings.iter().any(|w| w
            .starts_with("NOT PAGED from here: the cockpit's own detections page nobody")
            && w.contains("Call or message Dana (data on-call) yourself")),
        "{:?}",
        c.warnings
    );
    let fx = update(&mut s, Action::Confirm);
    match sent_first(&fx) {
        Some(IncidentOp::Note(text)) => assert!(
            text.starts_with("responder requested: Dana (data on-call) (data layer); not paged"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        audited(&fx),
        [("note".to_string(), "requested".to_string())]
    );

    // A paging source, an owner without a PagerDuty id: the same, saying what to add.
    let mut s = state();
    drift_on_pagerduty(&mut s);
    s.alerts.layers.prompt = owner("Priya", None);
    update(&mut s, Action::RequestResponders);
    assert!(
        confirm(&s).warnings.iter().any(|w| w.contains(
            "[alerts.layers.prompt] names no pagerduty_user or pagerduty_escalation_policy"
        )),
        "{:?}",
        confirm(&s).warnings
    );
}

#[test]
fn no_owner_no_layer_and_read_only_each_say_why_nothing_happened() {
    let mut s = state();
    drift_on_pagerduty(&mut s);
    assert!(update(&mut s, Action::RequestResponders).is_empty());
    assert!(matches!(s.overlay, Overlay::None));
    assert!(
        flash(&s).contains("nobody owns the prompt layer: add [alerts.layers.prompt]"),
        "{}",
        flash(&s)
    );
    let id = s.selected().map(|i| i.id.clone()).expect("selected");
    if let Some(i) = s.incidents.all.iter_mut().find(|i| i.id == id) {
        i.kind = IncidentType::Other;
    }
    update(&mut s, Action::RequestResponders);
    assert!(
        flash(&s).contains("which layer failed?") && flash(&s).contains("runbook's layer answer"),
        "{}",
        flash(&s)
    );
    s.read_only = true;
    for a in [
        Action::RequestResponders,
        Action::StatusUpdate,
        Action::Merge,
    ] {
        update(&mut s, a.clone());
        assert!(matches!(s.overlay, Overlay::None), "{a:?}");
        assert!(
            flash(&s).starts_with("read-only mode"),
            "{a:?}: {}",
            flash(&s)
        );
    }
    assert!(command_line(&mut s, "role commander Jane Doe").is_empty());
    assert_eq!(
        flash(&s),
        "read-only mode: role is disabled (started with --read-only)"
    );
}

#[test]
fn a_status_update_is_prefilled_sent_and_restarts_the_cadence() {
    let mut s = state();
    let inc = s.selected().cloned().expect("the SEV1 on top");
    assert_eq!(inc.sev, Sev::Sev1);
    // Before the first update, the cadence counts from the onset.
    assert_eq!(
        next_update_due(&s, &inc),
        Some(inc.triggered_at + chrono::Duration::minutes(30))
    );
    update(&mut s, Action::StatusUpdate);
    let draft = match &s.overlay {
        Overlay::Text {
            purpose: TextPurpose::StatusUpdate(id),
            editor,
        } => {
            assert_eq!(id, &inc.id);
            editor.lines().join("\n")
        }
        other => panic!("{other:?}"),
    };
    assert!(
        draft.starts_with(&format!("[SEV1] {} — guardrail bypass", inc.feature)),
        "{draft}"
    );
    assert!(draft.contains("\nImpact: "), "{draft}");
    assert!(
        draft.contains("\nContainment: no lever pulled yet; first lever: "),
        "{draft}"
    );
    assert!(draft.contains("\nNext update: by "), "{draft}");
    let fx = update(&mut s, Action::Submit);
    match sent_first(&fx) {
        Some(IncidentOp::StatusUpdate(text)) => assert_eq!(text, draft),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        audited(&fx),
        [("status_update".to_string(), "requested".to_string())]
    );
    // Only a confirmed update restarts the cadence.
    assert_eq!(
        next_update_due(&s, &inc),
        Some(inc.triggered_at + chrono::Duration::minutes(30))
    );
    let later = s.now + chrono::Duration::minutes(2);
    update(&mut s, Action::Tick(later));
    done(&mut s, &fx, Ok("status update sent by ana".into()));
    assert_eq!(
        next_update_due(&s, &inc),
        Some(later + chrono::Duration::minutes(30))
    );
    // Overdue, the detail pane says so loudly with the key that sends one.
    update(&mut s, Action::Tick(later + chrono::Duration::minutes(31)));
    let screen = described(&mut s);
    assert!(
        screen
            .contains("update    status update OVERDUE by 01:00 · last sent 31m ago · U sends one"),
        "{screen}"
    );
    // A SEV without a cadence counts nothing down.
    let mut quiet = inc.clone();
    quiet.sev = Sev::Sev3;
    assert_eq!(next_update_due(&s, &quiet), None);
}

#[test]
fn an_empty_or_discarded_status_update_sends_nothing() {
    let mut s = state();
    update(&mut s, Action::StatusUpdate);
    update(&mut s, Action::ClearText);
    assert!(update(&mut s, Action::Submit).is_empty());
    assert_eq!(flash(&s), "empty status update not sent");
    update(&mut s, Action::StatusUpdate);
    assert!(update(&mut s, Action::Cancel).is_empty());
    assert_eq!(flash(&s), "status update discarded: nothing sent");
}

fn command_line(s: &mut State, line: &str) -> Vec<Effect> {
    update(s, Action::CommandLine);
    type_text(s, line);
    update(s, Action::Submit)
}

#[test]
fn a_role_set_on_the_command_line_is_recorded_once_its_source_confirms() {
    let mut s = state();
    let inc = s.selected().cloned().expect("selected");
    let fx = command_line(&mut s, "role commander Jane Doe");
    match sent_first(&fx) {
        Some(IncidentOp::Role { role, name }) => {
            assert_eq!((role, name.as_str()), (Role::Commander, "Jane Doe"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        audited(&fx),
        [("role".to_string(), "requested".to_string())]
    );
    assert!(
        s.responders.roles_of(&inc.id).is_empty(),
        "not before it landed"
    );
    done(&mut s, &fx, Ok("commander: Jane Doe".into()));
    let fx = command_line(&mut s, "role scribe Bo");
    done(&mut s, &fx, Ok("scribe: Bo".into()));
    assert_eq!(
        s.responders.roles_of(&inc.id),
        [(Role::Commander, "Jane Doe"), (Role::Scribe, "Bo")]
    );
    let screen = described(&mut s);
    assert!(
        screen.contains("roles     commander Jane Doe · scribe Bo"),
        "{screen}"
    );

    assert!(command_line(&mut s, "role captain Jane").is_empty());
    assert!(flash(&s).contains(":role takes one of commander, comms, scribe"));
    assert!(command_line(&mut s, "role comms").is_empty());
    assert!(flash(&s).contains(":role comms needs a name"));
}
