//! Hostile text: whatever a backend hands us (incident titles, notes, labels, annotations,
//! feature and model names, ids) is shown as data and never acts on the responder's
//! terminal: no clipboard write (OSC 52), no window title change, no cursor jump or screen
//! clear, no 8-bit control, no bidi reordering.
//!
//! End to end, the real binary in a PTY reads the payloads from a real Alertmanager and from
//! the PagerDuty contract server, and the raw bytes it writes are searched for them. At render
//! level, the panes the end-to-end runs cannot reach easily (signals title, pickers, runbook,
//! footer) are drawn on a TestBackend and every cell is checked. `SafeText` itself is unit
//! tested in src/domain/text.rs.

use chrono::Utc;
use cockpit_testkit::{common, pty, screen, servers};
use oncall_cockpit::action::Action;
use oncall_cockpit::backend::BackendEvent;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::Incident;
use oncall_cockpit::state::{update, State};
use pty::*;
use ratatui::buffer::Buffer;
use serde_json::json;
use servers::pagerduty::{LogEntry, PdIncident, PdServer, TOKEN};
use std::collections::BTreeMap;
use std::time::Instant;

// The payloads, each of a kind a terminal acts on.
const OSC52_BEL: &str = "\x1b]52;c;cm0gLXJmIH4=\x07";
const OSC52_ST: &str = "\x1b]52;c;ZXZpbA==\x1b\\";
const TITLE_BEL: &str = "\x1b]0;pwned-title\x07";
const TITLE_ST: &str = "\x1b]2;pwned-window\x1b\\";
/// Cursor and screen control. 77;3 is a position the cockpit never addresses in the terminal
/// sizes used here, so finding it in the output can only mean the payload got through.
const MOVES: &str = "\x1b[2J\x1b[H\x1b[77;3H\x1b7\x1b8";
/// 8-bit CSI (U+009B) moving the cursor, then a carriage return and a backspace.
const C1_AND_C0: &str = "\u{9b}77;3H\r\x08";
/// Right-to-left override and mark, and the isolates (LRI, RLI, FSI, PDI).
const BIDI: &str = "\u{202e}\u{200f}\u{2066}\u{2067}\u{2068}\u{2069}";

/// `visible` wrapped in and split by every payload. What must show on screen is `visible`
/// with its words intact; the payloads stand between words, where sanitising leaves a space.
fn hostile(visible: &str) -> String {
    let mut out = format!("{OSC52_BEL}{TITLE_BEL}");
    for (n, word) in visible.split(' ').enumerate() {
        if n > 0 {
            let payload = [MOVES, TITLE_ST, BIDI, OSC52_ST, C1_AND_C0][n % 5];
            out.push_str(&format!("{payload} "));
        }
        out.push_str(word);
    }
    out.push_str(&format!("{BIDI}{MOVES}{C1_AND_C0}{TITLE_ST}"));
    out
}

/// Byte sequences that must never reach the terminal, with what each would do.
const FORBIDDEN: &[(&[u8], &str)] = &[
    (b"\x1b]", "an OSC sequence (clipboard write, window title)"),
    (b"\x07", "BEL, which also ends an OSC sequence"),
    (b"\x08", "backspace"),
    (b"\x1b[77;3H", "the payload's cursor move"),
    (b"\x1b7", "save cursor"),
    (b"\x1b8", "restore cursor"),
    ("\u{9b}".as_bytes(), "8-bit CSI"),
    ("\u{202e}".as_bytes(), "right-to-left override"),
    ("\u{200f}".as_bytes(), "right-to-left mark"),
    ("\u{2066}".as_bytes(), "left-to-right isolate"),
    ("\u{2067}".as_bytes(), "right-to-left isolate"),
    ("\u{2068}".as_bytes(), "first strong isolate"),
    ("\u{2069}".as_bytes(), "pop directional isolate"),
];

/// The raw output holds none of the payloads, the emulated terminal's title was never set,
/// and no payload text leaked onto the screen.
fn assert_inert(c: &Cockpit) {
    let raw = c.raw();
    for (bytes, what) in FORBIDDEN {
        if let Some(at) = find(&raw, bytes) {
            let from = at.saturating_sub(60);
            let around = String::from_utf8_lossy(&raw[from..(at + 60).min(raw.len())]);
            panic!("{what} reached the terminal at byte {at}: …{around:?}…");
        }
    }
    let out = c.out();
    let screen = out.parser.screen();
    assert_eq!(screen.title(), "", "the window title was set");
    assert_eq!(screen.icon_name(), "", "the icon name was set");
    let text = screen.contents();
    for residue in ["52;c;", "pwned", "77;3H"] {
        assert!(
            !text.contains(residue),
            "payload text {residue:?} on screen:\n{}",
            c.screen_dump()
        );
    }
}

/// Polls until every one of `words` is on screen, checking at every poll that nothing hostile
/// got through, so that a leak fails with what leaked rather than with a garbled screen.
fn wait_shown_inert(c: &mut Cockpit, words: &[&str]) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert_inert(c);
        let text = c.out().parser.screen().contents();
        let missing: Vec<&&str> = words.iter().filter(|w| !text.contains(*w)).collect();
        if missing.is_empty() {
            return;
        }
        if let Some(status) = c.poll_exit() {
            panic!("the cockpit exited ({status:?})\n{}", c.screen_dump());
        }
        assert!(
            Instant::now() < deadline,
            "{missing:?} not shown after {TIMEOUT:?}\n{}",
            c.screen_dump()
        );
        std::thread::sleep(POLL);
    }
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// PagerDuty: a hostile title, service (shown as the feature), incident key (evidence), and a
/// note in the log entries (the timeline in the detail pane, always shown at 160 columns).
#[test]
fn pagerduty_title_service_and_notes_render_inert() {
    let rt = tokio_runtime();
    let server = rt.block_on(PdServer::start());
    let mut inc = PdIncident::new("PEVIL01", 7, &hostile("Refund bot leaks policy"));
    inc.service = hostile("support bot");
    inc.key = hostile("dedup key");
    inc.log.push(LogEntry {
        kind: "annotate_log_entry".into(),
        at: Utc::now(),
        summary: "Note added by Ana Lima".into(),
        agent: Some("Ana Lima".into()),
        channel: Some(hostile("paged the vendor twice")),
    });
    server.add(inc);
    let root = servers::temp_dir("hostile-pd");
    let args = config_args(
        &root,
        &pagerduty_section(&root, "pagerduty", &server.url, TOKEN),
    );
    let mut c = Cockpit::launch(Launch::new("hostile_pd", 160, 48, args));
    wait_shown_inert(
        &mut c,
        &[
            "Refund bot leaks policy",
            "support bot",
            "dedup key",
            "paged the vendor twice",
        ],
    );
    // Acting on the incident puts its id and title into the footer and the audit log too.
    c.send(b"a");
    c.wait_screen("the ack done", TIMEOUT, |s| {
        table(s)?.rows.into_iter().find(|r| r.status == "ACKED")
    });
    assert_inert(&c);
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// Alertmanager: a hostile summary (title), description and runbook URL (evidence), feature
/// label and alert name, and a silence by someone else whose author and comment become the
/// acknowledgement and the timeline.
#[test]
fn alertmanager_annotations_labels_and_silence_render_inert() {
    let rt = tokio_runtime();
    let am = servers::alertmanager::start("hostile");
    let alertname = hostile("Evil Alert");
    let feature = hostile("rag api");
    let labels = BTreeMap::from([
        ("alertname", alertname.as_str()),
        ("severity", "sev2"),
        ("feature", feature.as_str()),
    ]);
    let summary = hostile("Cost spike on rag");
    let description = hostile("spend doubled since deploy");
    let runbook = hostile("https://runbooks.example/cost spike");
    let annotations = BTreeMap::from([
        ("summary", summary.as_str()),
        ("description", description.as_str()),
        ("runbook_url", runbook.as_str()),
    ]);
    let now = Utc::now();
    rt.block_on(am.post_alert(
        &labels,
        &annotations,
        now - chrono::Duration::minutes(2),
        now + chrono::Duration::hours(1),
    ));
    rt.block_on(am.post_silence(json!({
        "matchers": [{ "name": "alertname", "value": alertname, "isRegex": false, "isEqual": true }],
        "startsAt": now - chrono::Duration::minutes(1),
        "endsAt": now + chrono::Duration::hours(1),
        "createdBy": hostile("mallory ops"),
        "comment": hostile("looking into the spend"),
    })));
    let root = servers::temp_dir("hostile-am");
    let args = config_args(
        &root,
        &format!(
            "[[alertmanager]]\nname = \"am\"\nurl = \"{}\"\npoll_secs = 1.0\n",
            am.url
        ),
    );
    let mut c = Cockpit::launch(Launch::new("hostile_am", 160, 48, args));
    wait_shown_inert(
        &mut c,
        &[
            "Cost spike on rag",
            "rag api",
            "spend doubled since deploy",
            "runbooks.example/cost spike",
            "Evil Alert",
            "mallory ops",
            "looking into the spend",
        ],
    );
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// Prometheus label values name features and models: they reach the signals pane through the
/// adapter clean, so the pane shows them as plain words. A fake Prometheus answers every query
/// with one series labelled with payloads.
#[tokio::test]
async fn prometheus_feature_and_model_labels_arrive_clean() {
    use axum::routing::get;
    use oncall_cockpit::backend::prometheus::Prometheus;
    use oncall_cockpit::backend::prometheus::PrometheusConfig;
    use oncall_cockpit::backend::MetricsSource;
    use oncall_cockpit::state::{SourceRole, SourceStatus};

    let now = common::origin();
    let body = json!({
        "status": "success",
        "data": { "resultType": "matrix", "result": [{
            "metric": {
                "job": hostile("rag api"),
                "gen_ai_request_model": hostile("llama 70b"),
                "gen_ai_token_type": "input",
            },
            "values": [[now.timestamp() - 60, "1"], [now.timestamp(), "2"]],
        }]},
    })
    .to_string();
    let router = axum::Router::new().route(
        "/api/v1/query_range",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let (url, _server) = servers::serve_http(router).await;
    let cfg = PrometheusConfig {
        name: "prom".into(),
        url,
        preset: "otel".into(),
        feature_label: "job".into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        range_secs: 600,
        step_secs: 60,
        rate_window: "5m".into(),
        auth: None,
        segment_label: None,
        queries: BTreeMap::new(),
        prices: BTreeMap::new(),
        tls: None,
    };
    let set = Prometheus::new(&cfg)
        .expect("valid config")
        .fetch(now)
        .await
        .expect("fetch");
    let names: Vec<(&str, &str)> = set
        .features
        .iter()
        .map(|f| (f.name.as_str(), f.model.as_str()))
        .collect();
    assert_eq!(
        names,
        [("rag api ", "llama 70b ")],
        "sanitised label values"
    );
    assert!(set.signals.iter().all(|s| s.feature == "rag api "));

    let mut state = State::new(now, "ana", "prom");
    state.sources.list = vec![SourceStatus::new("prom", SourceRole::Metrics, Some(15.0))];
    update(
        &mut state,
        Action::Backend(BackendEvent::Signals {
            source: "prom".into(),
            at: now,
            set,
            detections: Vec::new(),
        }),
    );
    let buf = draw(&state, 160, 48);
    assert_cells_inert(&buf, "signals pane from Prometheus");
    let text = screen::text(&buf);
    assert!(
        text.contains("Signals · rag api") && text.contains("llama 70b"),
        "{text}"
    );
    for residue in ["52;c;", "pwned", "77;3H"] {
        assert!(!text.contains(residue), "{residue:?} on screen:\n{text}");
    }
}

// ---- render level ------------------------------------------------------------------------

fn draw(state: &State, w: u16, h: u16) -> Buffer {
    screen::render(state, w, h, &screen::theme("default"))
}

/// Every cell is printable: the crossterm backend writes cell symbols to the terminal as
/// they are, so a control or bidi character in a cell goes straight to the terminal.
fn assert_cells_inert(buf: &Buffer, pane: &str) {
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let symbol = buf[(x, y)].symbol();
            let bad = symbol.chars().find(|&c| {
                c.is_control()
                    || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                        | '\u{2066}'..='\u{2069}')
            });
            assert!(
                bad.is_none(),
                "{pane}: {bad:?} in cell ({x},{y}) {symbol:?}\n{}",
                screen::text(buf)
            );
        }
    }
}

/// The drill at minute 15 with the metadata of the selected incident's feature replaced by
/// hostile text, as a metrics source could report it (model and prompt versions come from
/// labels), and one more incident whose id is hostile (ids come from the backend as well).
fn hostile_state() -> (State, String) {
    let mut s = common::drill_state(15);
    update(&mut s, Action::Top);
    let feature = s.selected().expect("an incident").feature.to_string();
    let mut set = s.signals.merged.clone();
    let info = set
        .features
        .iter_mut()
        .find(|f| f.name == feature)
        .expect("feature info of the selected incident");
    info.model = hostile("llama 70b");
    info.segments = vec![hostile("quokka tier")];
    info.killed = vec![hostile("wombat trial")];
    let current = info.current_prompt.clone().unwrap_or_default();
    for v in info.prompt_versions.iter_mut().filter(|v| v.id != current) {
        v.id = hostile("v6 platypus");
    }
    let mut evil: Incident = {
        let mut j = serde_json::to_value(s.selected().expect("an incident")).expect("json");
        j["id"] = hostile("sim:INC 666").into();
        serde_json::from_value(j).expect("incident")
    };
    evil.feature = "other-bot".into();
    let mut incidents = s.incidents.all.clone();
    incidents.push(evil);
    let at = s.now;
    let detections = s.signals.detections.clone();
    update(
        &mut s,
        Action::Backend(BackendEvent::Signals {
            source: common::SOURCE.into(),
            at,
            set,
            detections,
        }),
    );
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: common::SOURCE.into(),
            at,
            incidents,
        }),
    );
    (s, feature)
}

#[test]
fn signals_title_and_pickers_with_hostile_feature_metadata_render_inert() {
    let (mut s, feature) = hostile_state();
    assert!(common::select_where(&mut s, |i| i.feature.as_str() == feature));
    let main = draw(&s, 160, 48);
    assert_cells_inert(&main, "signals pane");
    let text = screen::text(&main);
    // Metadata that did not come through an adapter is not sanitised, so the payloads' inert
    // remains may sit between the words; the words are still there.
    assert!(
        text.contains("llama") && text.contains("70b"),
        "model not shown:\n{text}"
    );

    update(&mut s, Action::KillSwitch);
    let picker = draw(&s, 160, 48);
    assert_cells_inert(&picker, "kill switch picker");
    assert!(screen::text(&picker).contains("quokka"));
    update(&mut s, Action::Down);
    update(&mut s, Action::Select);
    assert_cells_inert(&draw(&s, 160, 48), "kill switch confirmation");
    update(&mut s, Action::Cancel);

    update(&mut s, Action::Rollback);
    let picker = draw(&s, 160, 48);
    assert_cells_inert(&picker, "rollback picker");
    assert!(screen::text(&picker).contains("platypus"));
    update(&mut s, Action::Select);
    assert_cells_inert(&draw(&s, 160, 48), "rollback confirmation");
}

#[test]
fn runbook_with_hostile_feature_metadata_renders_inert() {
    let (mut s, feature) = hostile_state();
    assert!(common::select_where(&mut s, |i| i.feature.as_str() == feature));
    update(&mut s, Action::Runbook);
    for _ in 0..4 {
        assert_cells_inert(&draw(&s, 100, 30), "runbook");
        update(&mut s, Action::Down);
    }
}

/// An id is shown in the detail pane's title and in every footer message about an action.
#[test]
fn hostile_incident_id_in_detail_title_and_footer_renders_inert() {
    let (mut s, _) = hostile_state();
    assert!(common::select_where(&mut s, |i| i.feature.as_str() == "other-bot"));
    update(&mut s, Action::ToggleDetail);
    update(&mut s, Action::Ack);
    let buf = draw(&s, 160, 48);
    assert_cells_inert(&buf, "detail title and footer");
    let text = screen::text(&buf);
    assert!(text.contains("INC"), "the id is not shown:\n{text}");
}
