//! Missing is visible: a signal its source cannot show as a number (not measured, unreliable)
//! keeps its row with the reason, a fallback is labelled as one, and a feature a metrics
//! source knows no model or prompt for has no empty fields in the pane's title.

use chrono::{DateTime, TimeZone, Utc};
use cockpit_testkit::screen::{row, screen, signals_state};
use oncall_cockpit::action::Action;
use oncall_cockpit::domain::{Coverage, CoverageState, FeatureInfo, Signal, SignalKind, SignalSet};
use oncall_cockpit::state::{update, State};

const SOURCE: &str = "prom";

fn poll() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 2, 15, 0)
        .single()
        .expect("valid")
}

fn cover(kind: SignalKind, state: CoverageState) -> Coverage {
    Coverage {
        feature: "summarizer".into(),
        kind,
        state,
    }
}

fn state() -> State {
    let at = poll();
    let set = SignalSet {
        at: Some(at),
        signals: vec![
            Signal::new(
                "summarizer",
                SignalKind::TokensPerMin,
                60,
                vec![1000.0; 121],
            )
            .ending_at(at),
            Signal::new("summarizer", SignalKind::TtftP99, 60, vec![0.9; 121]).ending_at(at),
        ],
        // No token series names a model: a metrics source knows no prompt either.
        features: vec![FeatureInfo::traffic_only("summarizer", "")],
        coverage: vec![
            cover(
                SignalKind::TtftP99,
                CoverageState::Fallback("operation duration p99, not TTFT".into()),
            ),
            cover(
                SignalKind::TpotP99,
                CoverageState::Unreliable("coarse buckets — fix: explicit boundaries".into()),
            ),
            cover(
                SignalKind::RefusalRate,
                CoverageState::Missing("gen_ai_answers_total absent — emit it".into()),
            ),
        ],
        ..SignalSet::default()
    };
    signals_state(SOURCE, at, set)
}

#[test]
fn every_signal_is_a_value_or_says_why_not() {
    let mut state = state();
    for (w, h) in [(80, 24), (160, 48)] {
        update(&mut state, Action::Resize(w, h));
        let s = screen(&state, w, h);
        assert!(row(&s, "≈TTFT p99").contains("0.90s"), "{s}");
        assert!(
            row(&s, "TPOT p99").contains("unreliable: coarse buckets"),
            "{s}"
        );
        assert!(
            row(&s, "refusals").contains("not measured: gen_ai_answers_total"),
            "{s}"
        );
        let title = row(&s, "Signals · summarizer");
        assert!(
            !title.contains("prompt ?") && !title.contains("·  ·"),
            "{title}"
        );
    }
}
