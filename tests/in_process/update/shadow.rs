//! Shadow comparison in the drill's rollback dialog: asked of the fleet when the
//! confirmation opens, answered from its shadow traffic (v12 beside v13), drawn from state
//! each frame; a failed comparison says so and is asked again with the retry key.

use super::*;
use cockpit_testkit::common::Drill;
use cockpit_testkit::screen::screen;
use oncall_cockpit::domain::shadow::{Axis, ShadowAnswer, ShadowRequest};

/// The drill at `minutes`, the eval incident of support-bot selected.
fn drill_at(minutes: i64) -> (Drill, State) {
    let mut d = Drill::new(42);
    d.minutes(minutes);
    let mut s = d.state();
    assert!(
        common::select_where(&mut s, |i| i.feature.as_str() == "support-bot"
            && matches!(
                i.kind,
                IncidentType::EvalRegression | IncidentType::CapabilityDrift
            )),
        "no drift or eval incident on support-bot at minute {minutes}"
    );
    (d, s)
}

/// `p`, then the version under the cursor (`downs` rows below the preselected
/// last-known-good): the confirmation's effects.
fn open_rollback(s: &mut State, downs: usize) -> Vec<Effect> {
    update(s, Action::Rollback);
    for _ in 0..downs {
        update(s, Action::Down);
    }
    update(s, Action::Select)
}

fn asked(effects: &[Effect]) -> ShadowRequest {
    let asks: Vec<&ShadowRequest> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Shadow { source, request } => {
                assert_eq!(source, "sim");
                Some(request)
            }
            _ => None,
        })
        .collect();
    assert_eq!(asks.len(), 1, "{effects:?}");
    asks[0].clone()
}

fn answer(s: &mut State, request: ShadowRequest, answer: Result<ShadowAnswer, String>) {
    let at = s.now;
    update(
        s,
        Action::Backend(BackendEvent::Shadow {
            source: "sim".into(),
            at,
            request: Box::new(request),
            answer: answer.map(Box::new),
        }),
    );
    drawn(s);
}

#[test]
fn the_rollback_dialog_shows_v12_shadow_beside_v13_live_with_counts() {
    let (d, mut s) = drill_at(15);
    let request = asked(&open_rollback(&mut s, 0));
    assert_eq!(
        request,
        ShadowRequest {
            feature: "support-bot".into(),
            axis: Axis::Prompt,
            label: "prompt_version".into(),
            current: "v13".into(),
            target: "v12".into(),
            shadow_matcher: None,
            window_secs: 1800,
        }
    );
    let before = screen(&s, 80, 24);
    assert!(before.contains("comparing… asked of sim"), "{before}");

    let compared = d.run.world.compare(&request);
    answer(&mut s, request, compared);
    let out = screen(&s, 80, 24);
    for needle in [
        "support-bot prompt v13 vs v12 · the last 30 min",
        "v13 live (n)",
        "v12 shadow (n)",
        "eval ",
        "refusals ",
        "drift JS ",
        "$/request ",
        "TTFT p95 ",
        "y yes, do it",
    ] {
        assert!(out.contains(needle), "{needle:?} not on screen:\n{out}");
    }
    // Each figure beside its count, both variants: "0.64 (2.9k)   0.88 (151)".
    let eval_row = out
        .lines()
        .find(|l| l.contains("│eval "))
        .unwrap_or_else(|| panic!("no eval row:\n{out}"));
    assert_eq!(eval_row.matches(" (").count(), 2, "{eval_row}");
    // Nothing was sent: the comparison only informs the decision.
    assert!(matches!(s.overlay, Overlay::Confirm(_)));
    insta::assert_snapshot!(out);
}

#[test]
fn without_shadow_traffic_the_dialog_says_so() {
    let (d, mut s) = drill_at(15);
    // v11, below the preselected v12: nothing shadows it.
    let request = asked(&open_rollback(&mut s, 1));
    assert_eq!(request.target, "v11");
    let compared = d.run.world.compare(&request);
    answer(&mut s, request, compared);
    let out = screen(&s, 80, 24);
    assert!(
        out.contains("no shadow traffic for v11 in the last 30 min (label"),
        "{out}"
    );
    assert!(out.contains("no data"), "{out}");
}

#[test]
fn a_failed_comparison_shows_its_error_and_is_asked_again() {
    let (_, mut s) = drill_at(15);
    let request = asked(&open_rollback(&mut s, 0));
    answer(&mut s, request.clone(), Err("timed out after 10s".into()));
    let out = screen(&s, 80, 24);
    assert!(
        out.contains("comparison FAILED: timed out after 10s (t: ask again)"),
        "{out}"
    );
    // The retry key asks again and the dialog stays open, waiting.
    let again = update(&mut s, Action::Retry);
    assert_eq!(asked(&again), request);
    assert!(matches!(s.overlay, Overlay::Confirm(_)));
    drawn(&mut s);
    assert!(screen(&s, 80, 24).contains("comparing…"));
    // Confirming still rolls back: the comparison never holds the lever.
    let fx = common::evidence_written(&mut s, Action::Confirm);
    assert!(matches!(
        sent(&fx).as_slice(),
        [Command::Flag {
            op: FlagOp::Rollback { .. },
            ..
        }]
    ));
}

#[test]
fn a_model_switch_request_compares_models_on_the_model_label() {
    let s = state();
    let r = oncall_cockpit::state::shadow::request_for(
        &s,
        "support-bot",
        Lever::ModelSwitch,
        "frontier-xl",
        "frontier-mini",
    )
    .expect("a model switch compares");
    assert_eq!(r.axis, Axis::Model);
    assert_eq!(r.label, "gen_ai_request_model");
    // Levers that serve no other variant compare nothing.
    assert!(oncall_cockpit::state::shadow::request_for(
        &s,
        "support-bot",
        Lever::TokenBudget,
        "a",
        "b"
    )
    .is_none());
}
