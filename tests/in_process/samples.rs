//! The samples view and the evidence kept before a lever, on the default drill: the fleet's
//! kept requests say what happened for the reasons the timetable gives, the view reads both
//! windows, and a kill switch waits for its evidence folder.

use cockpit_testkit::common::{cut_first_segment, drill_state, select_where, Drill};
use oncall_cockpit::action::Action;
use oncall_cockpit::domain::command::{Command, FlagOp};
use oncall_cockpit::domain::event::BackendEvent;
use oncall_cockpit::domain::sample::{SampleQuery, Window, Worst};
use oncall_cockpit::domain::split::split;
use oncall_cockpit::domain::{IncidentType, SourceRole};
use oncall_cockpit::state::samples::rows;
use oncall_cockpit::state::{update, Effect, FlashLevel, Overlay, Saving, SourceStatus, State};

const MINUTES: i64 = 15;

/// The drill's state with the fleet as its samples source, the guardrail bypass selected.
fn cockpit() -> State {
    let mut s = drill_state(MINUTES);
    s.sources.samples_source = Some("sim".into());
    s.sources
        .list
        .push(SourceStatus::new("sim", SourceRole::Samples, None));
    assert!(select_where(&mut s, |i| i.kind == IncidentType::GuardrailBypass));
    s
}

/// Answers every samples query in `fx` from the drill's own fleet, as its task would.
fn answer(s: &mut State, fx: &[Effect]) -> Vec<SampleQuery> {
    answer_noting(s, fx, None)
}

/// `answer`, each answer with `note` beside it, as from a source that could not do all it
/// was asked.
fn answer_noting(s: &mut State, fx: &[Effect], note: Option<&str>) -> Vec<SampleQuery> {
    let mut d = Drill::new(42);
    d.minutes(MINUTES);
    let mut asked = Vec::new();
    for e in fx {
        if let Effect::Samples { source, query } = e {
            let samples = d
                .run
                .world
                .samples(&query.feature, query.from, query.to, query.limit);
            update(
                s,
                Action::Backend(BackendEvent::Samples {
                    source: source.clone(),
                    at: s.now,
                    feature: query.feature.clone(),
                    window: query.window,
                    samples,
                    note: note.map(str::to_string),
                }),
            );
            asked.push(query.clone());
        }
    }
    asked
}

#[test]
fn the_jailbreak_reads_as_jailbroken_answers_from_one_segment_against_baseline_refusals() {
    let mut s = cockpit();
    let inc = s.selected().cloned().expect("the guardrail incident");
    let fx = update(&mut s, Action::Samples);
    let asked = answer(&mut s, &fx);
    assert_eq!(asked.len(), 2, "both windows are asked for: {fx:?}");
    let now_q = asked
        .iter()
        .find(|q| q.window == Window::Incident)
        .expect("now");
    let before_q = asked
        .iter()
        .find(|q| q.window == Window::Baseline)
        .expect("before");
    assert_eq!(now_q.from, inc.triggered_at);
    assert!(
        before_q.to < inc.triggered_at,
        "the baseline ends before the onset"
    );

    let Overlay::Samples(view) = &s.overlay else {
        panic!("the samples view is open");
    };
    let now = rows(&s.samples, view, Window::Incident);
    let before = rows(&s.samples, view, Window::Baseline);
    let jailbroken = |list: &[&oncall_cockpit::domain::sample::Sample]| {
        list.iter()
            .filter(|x| x.labels.iter().any(|l| l.as_str() == "jailbroken"))
            .count()
    };
    assert!(jailbroken(&now) > 0, "jailbroken answers during the bypass");
    assert_eq!(jailbroken(&before), 0, "none before it");
    assert!(
        before.iter().any(|x| s.samples.refused(x)),
        "the baseline shows the refusals the guardrail gave"
    );
    // Worst eval first: the first row is a bad answer, not an ordinary one.
    assert!(!now[0].labels.is_empty(), "{:?}", now[0]);
    // The bypass was injected on one segment: the split says which.
    let split = split(
        &s.signals.merged,
        s.samples.of(&view.feature, Window::Incident),
        |x| s.samples.refused(x),
        &view.feature,
        view.incident_window,
    );
    let flagged: Vec<&str> = split
        .rows
        .iter()
        .filter(|r| r.flagged > 0)
        .map(|r| r.segment.as_str())
        .collect();
    assert_eq!(flagged.len(), 1, "one segment: {split:?}");
    assert!(
        inc.title.as_str().contains(flagged[0]),
        "{} / {flagged:?}",
        inc.title
    );
    // The fleet's signals split the window too: the jailbroken segment refuses far less
    // than the others now.
    assert!(split.measured, "{split:?}");
    let refusal = |name: &str| {
        split
            .rows
            .iter()
            .find(|r| r.segment == name)
            .and_then(|r| r.refusal_rate)
            .unwrap_or(f64::NAN)
    };
    let others: Vec<f64> = split
        .rows
        .iter()
        .filter(|r| r.segment != flagged[0])
        .filter_map(|r| r.refusal_rate)
        .collect();
    assert!(!others.is_empty(), "{split:?}");
    assert!(
        others.iter().all(|o| refusal(flagged[0]) < o / 2.0),
        "{} refuses {} against {others:?}",
        flagged[0],
        refusal(flagged[0])
    );
}

/// The agent loop: the kill switch's chooser says which tenant carries the spend, and the
/// runbook's cost question names it instead of "not instrumented".
#[test]
fn the_kill_switch_names_the_segment_that_carries_the_spend() {
    let mut s = drill_state(MINUTES);
    assert!(select_where(&mut s, |i| i.kind == IncidentType::CostExplosion));
    update(&mut s, Action::KillSwitch);
    let Overlay::Picker(p) = &s.overlay else {
        panic!("the chooser: {:?}", s.overlay)
    };
    let item = |label: &str| {
        p.items
            .iter()
            .find(|i| i.label == label)
            .unwrap_or_else(|| panic!("{label}: {:?}", p.items))
    };
    let loop_scope = &item("ENGAGE segment enterprise").detail;
    let other = &item("ENGAGE segment self-serve").detail;
    let share = |detail: &str| -> f64 {
        let (_, after) = detail.split_once(" (").unwrap_or_default();
        let (pct, _) = after.split_once('%').unwrap_or_default();
        pct.parse().unwrap_or(f64::NAN)
    };
    assert!(
        share(loop_scope) > 80.0,
        "the looping tenant carries the spend: {loop_scope}"
    );
    assert!(share(other) < 20.0, "{other}");
    assert!(loop_scope.contains("req/min"), "{loop_scope}");

    let inc = s.selected().cloned().expect("selected");
    let answer = oncall_cockpit::runbook::prefill(
        "cost_driver",
        &inc,
        s.signals.feature(inc.feature.as_str()),
        &s.signals.merged,
    )
    .expect("an answer");
    assert!(answer.contains("segment enterprise: $"), "{answer}");
}

#[test]
fn the_view_sorts_filters_switches_window_and_opens_one_sample() {
    let mut s = cockpit();
    let fx = update(&mut s, Action::Samples);
    answer(&mut s, &fx);
    let view = |s: &State| match &s.overlay {
        Overlay::Samples(v) => (**v).clone(),
        other => panic!("samples view: {other:?}"),
    };
    update(&mut s, Action::SampleSort);
    assert_eq!(view(&s).sort.name(), "errors");
    update(&mut s, Action::SampleSort);
    let refusals_first = rows(&s.samples, &view(&s), Window::Incident);
    let refused = refusals_first
        .iter()
        .filter(|x| s.samples.refused(x))
        .count();
    assert!(refusals_first
        .iter()
        .take(refused)
        .all(|x| s.samples.refused(x)));

    update(&mut s, Action::Filter);
    assert!(matches!(s.overlay, Overlay::Text { .. }));
    for c in "jailbroken".chars() {
        update(
            &mut s,
            Action::TextInput(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(c),
            )),
        );
    }
    update(&mut s, Action::Submit);
    let v = view(&s);
    assert_eq!(v.filter, "jailbroken");
    let shown = rows(&s.samples, &v, Window::Incident);
    assert!(!shown.is_empty());
    assert!(shown
        .iter()
        .all(|x| x.labels.iter().any(|l| l.as_str() == "jailbroken")));

    update(&mut s, Action::SampleWindow);
    assert_eq!(view(&s).window, Window::Baseline);
    update(&mut s, Action::SampleWindow);
    update(&mut s, Action::ToggleDetail);
    assert_eq!(view(&s).open, Some(0), "enter opens the selected sample");
    let fx = update(&mut s, Action::WriteSample);
    assert!(
        matches!(fx.as_slice(), [Effect::Save { what: Saving::Sample, snapshot }]
            if snapshot.dir.starts_with("evidence/")
                && snapshot.files.iter().any(|(n, b)| n.starts_with("sample-")
                    && String::from_utf8_lossy(b).contains("\"reproduce\""))),
        "{fx:?}"
    );
    update(&mut s, Action::Back);
    assert_eq!(view(&s).open, None);
    update(&mut s, Action::Back);
    assert_eq!(view(&s).filter, "", "back clears the filter first");
    update(&mut s, Action::Back);
    assert!(matches!(s.overlay, Overlay::None));
}

#[test]
fn without_a_samples_source_the_view_says_so_and_asks_nobody() {
    let mut s = drill_state(MINUTES);
    assert!(select_where(&mut s, |i| i.kind == IncidentType::GuardrailBypass));
    let fx = update(&mut s, Action::Samples);
    assert!(fx.is_empty(), "{fx:?}");
    assert!(matches!(s.overlay, Overlay::Samples(_)));
    let flash = s.flash.as_ref().expect("says why");
    assert!(flash.text.contains("no samples source"), "{}", flash.text);
}

/// A kill switch pulled from the samples view: it waits for the evidence folder, whose
/// files hold the jailbroken answers; the audit names the folder; only then is it sent.
#[test]
fn a_kill_switch_waits_for_its_evidence_and_the_audit_names_the_folder() {
    let mut s = cockpit();
    let fx = update(&mut s, Action::Samples);
    answer(&mut s, &fx);
    let fx = cut_first_segment(&mut s);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Send(_))),
        "nothing sent before the evidence is written: {fx:?}"
    );
    let (snapshot, action_id) = fx
        .iter()
        .find_map(|e| match e {
            Effect::Save {
                what: Saving::Evidence(action_id),
                snapshot,
            } => Some((snapshot.clone(), *action_id)),
            _ => None,
        })
        .expect("an evidence snapshot");
    let audit = fx
        .iter()
        .find_map(|e| match e {
            Effect::Audit(r) if r.outcome == "requested" => Some(r.clone()),
            _ => None,
        })
        .expect("the request is audited");
    assert_eq!(audit.detail, format!("evidence: {}", snapshot.dir));
    let file = |name: &str| {
        snapshot
            .files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let json: serde_json::Value = serde_json::from_str(&file("evidence.json")).expect("JSON");
    let now = json["samples"]["incident"].as_array().expect("samples");
    assert!(now.iter().any(|x| x["labels"]
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v == "jailbroken"))));
    assert!(file("summary.md").contains("jailbroken"));

    let fx = update(
        &mut s,
        Action::Saved {
            what: Saving::Evidence(action_id),
            result: Ok(format!("/data/{}", snapshot.dir)),
        },
    );
    let sent: Vec<&Command> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(&r.command),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            sent.as_slice(),
            [Command::Flag {
                op: FlagOp::KillSwitch {
                    segment: Some(_),
                    engage: true,
                    ..
                },
                ..
            }]
        ),
        "{sent:?}"
    );
    // The postmortem quotes what the model said.
    let fx = update(&mut s, Action::Export);
    let Some(Effect::Export(draft)) = fx.first() else {
        panic!("{fx:?}");
    };
    let md = oncall_cockpit::runbook::postmortem::render(draft, &[], 0);
    assert!(
        md.contains("## What the model said") && md.contains("jailbroken"),
        "{md}"
    );
}

#[test]
fn a_failed_or_slow_snapshot_is_said_and_the_lever_goes_anyway() {
    for slow in [false, true] {
        let mut s = cockpit();
        update(&mut s, Action::KillSwitch);
        update(&mut s, Action::Down);
        update(&mut s, Action::Select);
        let fx = update(&mut s, Action::Confirm);
        let action_id = fx
            .iter()
            .find_map(|e| match e {
                Effect::Save {
                    what: Saving::Evidence(action_id),
                    ..
                } => Some(*action_id),
                _ => None,
            })
            .expect("an evidence snapshot");
        let fx = if slow {
            let mut fx = Vec::new();
            let start = s.now;
            for i in 0..8 {
                let at = start + chrono::Duration::milliseconds(500 * i);
                fx.extend(update(&mut s, Action::Tick(at)));
            }
            fx
        } else {
            update(
                &mut s,
                Action::Saved {
                    what: Saving::Evidence(action_id),
                    result: Err("disk full".into()),
                },
            )
        };
        let sends = fx.iter().filter(|e| matches!(e, Effect::Send(_))).count();
        assert_eq!(sends, 1, "slow={slow}: the lever goes, once: {fx:?}");
        let flash = s.flash.as_ref().expect("said");
        if slow {
            assert_eq!(flash.level, FlashLevel::Warn);
            assert!(flash.text.contains("still being written"), "{}", flash.text);
        } else {
            assert_eq!(flash.level, FlashLevel::Error);
            assert!(flash.text.contains("disk full"), "{}", flash.text);
            assert!(fx.iter().any(
                |e| matches!(e, Effect::Audit(r) if r.action == "evidence_snapshot" && r.outcome == "failed")
            ));
        }
        // A late answer after the lever went sends nothing twice.
        let late = update(
            &mut s,
            Action::Saved {
                what: Saving::Evidence(action_id),
                result: Ok("late".into()),
            },
        );
        assert!(!late.iter().any(|e| matches!(e, Effect::Send(_))));
    }
}

/// Opened the moment an incident fires, the incident's window holds seconds: while the view
/// is open it is asked for again every ten wall-clock seconds, up to now, the baseline not.
#[test]
fn the_open_view_asks_again_for_the_incident_window_as_it_grows() {
    let mut s = cockpit();
    let fx = update(&mut s, Action::Samples);
    answer(&mut s, &fx);
    let start = s.now;
    let mut asked = Vec::new();
    for i in 1..=(2 * oncall_cockpit::state::samples::REFRESH_TICKS) {
        let at = start + chrono::Duration::seconds(i as i64 * 30);
        let fx = update(&mut s, Action::Tick(at));
        asked.extend(answer(&mut s, &fx));
    }
    assert_eq!(asked.len(), 2, "once per refresh period: {asked:?}");
    assert!(asked.iter().all(|q| q.window == Window::Incident));
    assert!(
        asked[1].to > s.now - chrono::Duration::seconds(1),
        "{:?}",
        asked[1]
    );
    update(&mut s, Action::Back);
    let later = s.now + chrono::Duration::seconds(300);
    let fx = update(&mut s, Action::Tick(later));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Samples { .. })),
        "closed: {fx:?}"
    );
}

/// The queries among `fx`.
fn queries(fx: &[Effect]) -> Vec<&SampleQuery> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Samples { query, .. } => Some(query),
            _ => None,
        })
        .collect()
}

/// A fetch asks for the worst requests its order needs (a busy window's worst need not be
/// among its newest): the worst eval as the view opens, the slowest as well once it is
/// sorted by latency (both windows again), nothing new for orders already covered, and
/// every kind before a lever's evidence unless the fetched samples hold them.
#[test]
fn fetches_ask_for_the_worst_the_order_and_the_evidence_need() {
    let eval = Worst {
        eval: true,
        latency: false,
    };
    let mut s = cockpit();
    let fx = update(&mut s, Action::Samples);
    let asked = answer(&mut s, &fx);
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|q| q.worst == eval), "{asked:?}");
    let sort = |s: &State| match &s.overlay {
        Overlay::Samples(v) => v.sort.name(),
        other => panic!("samples view: {other:?}"),
    };
    for name in ["errors", "refusals", "cost"] {
        let fx = update(&mut s, Action::SampleSort);
        assert_eq!(sort(&s), name);
        assert!(queries(&fx).is_empty(), "{name}: {fx:?}");
    }
    let fx = update(&mut s, Action::SampleSort);
    assert_eq!(sort(&s), "latency");
    let asked = queries(&fx);
    assert_eq!(
        asked.iter().map(|q| q.window).collect::<Vec<_>>(),
        [Window::Incident, Window::Baseline]
    );
    assert!(asked.iter().all(|q| q.worst == Worst::ALL), "{asked:?}");
    // Back round to worst eval: the fetch on its way holds both kinds.
    for name in ["newest", "worst eval"] {
        let fx = update(&mut s, Action::SampleSort);
        assert_eq!(sort(&s), name);
        assert!(queries(&fx).is_empty(), "{name}: {fx:?}");
    }
    let again = update(&mut s, Action::Samples);
    assert!(
        queries(&again).is_empty(),
        "a refresh waits for the queries on their way: {again:?}"
    );
    answer(&mut s, &fx);
    let feature = s.selected().expect("the incident").feature.to_string();
    let held = |s: &State, w| s.samples.get(&feature, w).map(|f| f.worst);
    assert_eq!(held(&s, Window::Incident), Some(Worst::ALL));
    assert_eq!(held(&s, Window::Baseline), Some(Worst::ALL));
    let fx = update(&mut s, Action::KillSwitch);
    assert!(
        queries(&fx).is_empty(),
        "the evidence has what it needs: {fx:?}"
    );

    // A lever from the list, nobody having opened the view: every kind is fetched.
    let mut s = cockpit();
    let fx = update(&mut s, Action::KillSwitch);
    let asked = queries(&fx);
    assert_eq!(asked.len(), 2, "{fx:?}");
    assert!(asked.iter().all(|q| q.worst == Worst::ALL), "{asked:?}");
}

/// A source that could not fetch the worst (an older Phoenix refusing the query) answers with
/// the newest and a note: the view says it above the rows, sanitised, and the evidence
/// summary says its samples may not be the window's worst.
#[test]
fn a_note_from_the_source_shows_in_the_view_and_the_evidence() {
    use cockpit_testkit::screen::screen;
    let mut s = cockpit();
    let fx = update(&mut s, Action::Samples);
    let note = "worst-first off: Phoenix refused the worst-traces query (HTTP 400: bad\x1b[2J filter); showing the newest spans only";
    answer_noting(&mut s, &fx, Some(note));
    let feature = s.selected().expect("the incident").feature.to_string();
    let held = s
        .samples
        .get(&feature, Window::Incident)
        .and_then(|f| f.note.clone())
        .expect("the note is kept");
    assert!(!held.contains('\x1b'), "{held:?}");
    let drawn = screen(&s, 80, 24);
    assert!(
        drawn.contains("worst-first off: Phoenix refused"),
        "{drawn}"
    );
    assert!(
        drawn.contains("Samples") && !drawn.contains("fetching"),
        "{drawn}"
    );

    let fx = cut_first_segment(&mut s);
    let snapshot = fx
        .iter()
        .find_map(|e| match e {
            Effect::Save {
                what: Saving::Evidence(_),
                snapshot,
            } => Some(snapshot),
            _ => None,
        })
        .expect("an evidence snapshot");
    let summary = snapshot
        .files
        .iter()
        .find(|(n, _)| n == "summary.md")
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .expect("a summary");
    assert!(
        summary.contains("Note: worst-first off: Phoenix refused the worst-traces query"),
        "{summary}"
    );
}
