//! What the responder's terminal shows when the screen is hostile to the layout: too small to
//! draw the cockpit, an alert title of 100,000 characters, emoji and CJK in titles. The real
//! binary in a pseudo-terminal (tests/pty), its output parsed by a vt100 emulator that, like
//! tmux, gives every code point its own width.

use cockpit_testkit::{pty, servers};
use pty::*;
use servers::pagerduty::{PdIncident, PdServer, TOKEN};

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Starts the cockpit on a PagerDuty contract server holding `titles`, one incident each.
fn pagerduty_cockpit(
    name: &str,
    cols: u16,
    rows: u16,
    titles: &[&str],
) -> (
    tokio::runtime::Runtime,
    PdServer,
    Cockpit,
    std::path::PathBuf,
) {
    let rt = tokio_runtime();
    let server = rt.block_on(PdServer::start());
    for (n, title) in titles.iter().enumerate() {
        server.add(PdIncident::new(
            &format!("PSCREEN{n:02}"),
            100 + n as u64,
            title,
        ));
    }
    let root = servers::temp_dir(name);
    let args = config_args(
        &root,
        &pagerduty_section(&root, "pagerduty", &server.url, TOKEN),
    );
    let c = Cockpit::launch(Launch::new(name, cols, rows, args));
    (rt, server, c, root)
}

/// At 40x10 the cockpit cannot be drawn, so no key may act: `a` and `K enter y` typed blind
/// once acknowledged an incident and killed a whole feature. Help still opens (it is drawn
/// even then), quit still quits, and a key pressed once the terminal is big again does act.
#[test]
fn too_small_keys_do_nothing_but_quit_and_help() {
    let mut c = Cockpit::start("too_small_keys", 100, 30, &[]);
    c.wait_for_trig_row();
    let target = c.select_top();
    c.resize(40, 10);
    c.wait_for("the too-small message", |t| {
        t.contains("terminal too small")
    });
    for keys in [
        &b"a"[..],
        b"K",
        b"\r",
        b"y",
        b"e",
        b"y",
        b"R",
        b"y",
        b"x",
        b"K\x1b[B\ry",
    ] {
        c.send(keys);
    }
    c.send(b"?");
    c.wait_for("help, drawn even at 40x10", |t| t.contains("Help"));
    c.send(KEY_ESC);
    c.wait_for("the too-small message again", |t| {
        t.contains("terminal too small")
    });

    c.resize(100, 30);
    c.wait_for_trig_row();
    let row = c.wait_screen("the target row again", TIMEOUT, |s| {
        table(s)?
            .rows
            .into_iter()
            .find(|r| r.same_incident(&target))
    });
    assert_eq!(row.status, "TRIG", "{}", c.screen_dump());
    // A key at full size acts, and lands in the audit log behind anything typed before it.
    c.select_top();
    c.send(b"a");
    let records = c.wait_audit("the ack pressed at full size", |r| {
        r.iter()
            .any(|r| r["action"] == "ack" && r["outcome"] == "succeeded")
            .then(|| r.to_vec())
    });
    let acted: Vec<String> = records
        .iter()
        .filter(|r| r["outcome"] == "requested")
        .map(|r| r["action"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(acted, ["ack"], "only the full-size ack acted: {records:#?}");
    let exports = c.data_dir().join("postmortems");
    assert!(!exports.exists(), "x exported while too small");

    c.resize(40, 10);
    c.wait_for("too small once more", |t| t.contains("terminal too small"));
    c.quit_cleanly_with(b"q");
}

/// A 100,000-character alert title: the resolve and escalate dialogs keep their warnings and
/// their yes / cancel line on screen, the title scrolls inside them, and the full view (`d`)
/// reaches the end of the incident.
#[test]
fn dialogs_with_a_100k_character_title_keep_their_hints() {
    let title = format!("{} END-OF-TITLE", "payments degraded ".repeat(5_556));
    assert!(title.len() > 100_000);
    let (_rt, _server, mut c, root) = pagerduty_cockpit("huge_title", 80, 24, &[&title]);
    c.wait_screen("the incident row", TIMEOUT, |s| {
        table(s)?.rows.into_iter().find(|r| r.status == "TRIG")
    });
    let hints_shown = |t: &str| t.contains("y yes, do it") && t.contains("n cancel");

    c.send(b"R");
    c.wait_for(
        "the resolve dialog with its hints and scroll position",
        |t| t.contains("Resolve pagerduty:") && hints_shown(t) && t.contains("lines 1–"),
    );
    c.send(b"j");
    c.wait_for("the title scrolled one line", |t| {
        t.contains("lines 2–") && hints_shown(t)
    });
    c.send(b"n");
    c.wait_for("cancelled", |t| {
        t.contains("cancelled: nothing was changed")
    });

    c.send(b"e");
    c.wait_for("the escalate dialog with who is next and its hints", |t| {
        t.contains("Escalate pagerduty:")
            && t.contains("Next: level 2")
            && t.contains("countdown restarts")
            && hints_shown(t)
    });
    c.send(b"n");
    c.wait_for("cancelled", |t| {
        t.contains("cancelled: nothing was changed")
    });

    c.send(b"d");
    c.wait_for("the full view", |t| {
        t.contains("esc back") && t.contains("lines 1–")
    });
    c.send(b"\x1b[F"); // end
    c.wait_for(
        "the end of the incident: its title's end and the timeline",
        |t| t.contains("END-OF-TITLE") && t.contains("timeline"),
    );
    c.send(KEY_ESC);
    c.wait_for("the list again", |t| t.contains("SEV  TYPE"));
    assert!(
        c.audit_records().is_empty(),
        "cancelled dialogs sent nothing: {:#?}",
        c.audit_records()
    );
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// Emoji with VS16, skin tones, CJK, tag characters and a Hangul filler in titles: the
/// terminal draws every row exactly as wide as the layout counted (each pane's right border
/// where it belongs), across redraws that only send what changed.
#[test]
fn emoji_and_cjk_titles_draw_as_wide_as_the_layout_counts() {
    let titles = [
        "\u{26a0}\u{fe0f} disk full \u{2764}\u{fe0f} on the \u{1f525} path",
        "日本語のタイトルは二列ずつ数えます、とても長い題名です、まだ続きます",
        "hidden\u{e0041}\u{e0042}\u{115f}text \u{1f44d}\u{1f3fd} ok",
    ];
    let (_rt, _server, mut c, root) = pagerduty_cockpit("emoji_cjk", 100, 30, &titles);
    c.wait_for("every title", |t| {
        t.contains("\u{26a0} disk full \u{2764}")
            && t.contains("日本語のタイトル")
            && t.contains("hiddentext \u{1f44d} ok")
    });
    // Moving the selection redraws rows by difference: where widths disagree, stale cells and
    // shifted borders show up exactly then.
    for keys in [&b"j"[..], b"j", b"k", b"\r", b"j", b"\r"] {
        c.send(keys);
        let (rows, cols) = (30u16, 100u16);
        c.wait_screen("the frame drawn", TIMEOUT, |s| {
            s.contents().contains("SEV  TYPE").then_some(())
        });
        let out = c.out();
        let screen = out.parser.screen();
        // Below 120 columns every pane spans the width: between the header and the footer,
        // every row ends with a pane's right border.
        let lines: Vec<String> = screen.rows(0, cols).collect();
        for r in 1..usize::from(rows) - 2 {
            let edge = screen
                .cell(r as u16, cols - 1)
                .map(|c| c.contents())
                .unwrap_or_default();
            assert!(
                ["┐", "│", "┘"].contains(&edge.as_str()),
                "row {r} ends with {edge:?}, not the border: a width was miscounted\n{}",
                lines.join("\n")
            );
        }
        let text = screen.contents();
        assert!(
            !text.contains(['\u{fe0f}', '\u{e0041}', '\u{115f}', '\u{1f3fd}']),
            "an invisible or width-changing character reached the screen"
        );
    }
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// A backend's error body is logged (the footer has room for little of it), but the log goes
/// through the screen's sanitiser: `tail -f cockpit.log` must not run a clipboard write, a
/// window title change or a screen clear a hostile server put in its 500.
#[test]
fn a_hostile_error_body_reaches_neither_the_screen_nor_the_log() {
    use axum::http::StatusCode;
    use axum::routing::get;
    let rt = tokio_runtime();
    let body = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}upstream \u{1b}]0;pwned\u{1b}\\exploded\u{1b}[2J\u{1b}[H here";
    let app = axum::Router::new().route(
        "/api/v2/alerts",
        get(move || async move { (StatusCode::INTERNAL_SERVER_ERROR, body) }),
    );
    let (url, _task) = rt.block_on(servers::serve_http(app));
    let root = servers::temp_dir("hostile-log");
    let toml = format!("[[alertmanager]]\nname = \"am\"\nurl = \"{url}\"\npoll_secs = 1.0\n");
    let mut c = Cockpit::launch(Launch::new(
        "hostile_log",
        100,
        30,
        config_args(&root, &toml),
    ));
    c.wait_for("the source failing with the error's text", |t| {
        t.contains("✗ am:") && t.contains("upstream exploded")
    });
    let log = c.data_dir().join("cockpit.log");
    let text = c.wait_screen("the failure in the log", TIMEOUT, |_| {
        std::fs::read(&log)
            .ok()
            .filter(|b| String::from_utf8_lossy(b).contains("upstream"))
    });
    for (bytes, what) in [
        (&b"\x1b"[..], "ESC"),
        (b"\x07", "BEL"),
        ("\u{9b}".as_bytes(), "8-bit CSI"),
    ] {
        assert!(
            find(&text, bytes).is_none(),
            "{what} reached cockpit.log: {:?}",
            String::from_utf8_lossy(&text)
        );
    }
    assert!(
        String::from_utf8_lossy(&text).contains("upstream exploded"),
        "the message itself is kept"
    );
    assert!(
        find(&c.raw(), b"\x1b]").is_none(),
        "an OSC reached the terminal"
    );
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// The drill raises its SEV1 a few seconds in (×60): the terminal bell rings (a responder on
/// another window hears it) and the row flashes; `[alerts] bell_on_sev1 = false` silences it.
#[test]
fn a_new_sev1_rings_the_bell_unless_configured_off() {
    let mut c = Cockpit::start("bell", 100, 30, &[]);
    c.wait_screen("the SEV1 arriving", TIMEOUT, |s| {
        table(s)?.rows.into_iter().find(|r| r.sev == "SEV1")
    });
    c.wait_for("the footer naming it", |t| t.contains("NEW SEV1"));
    let raw = c.raw();
    let first_frame = find(&raw, CURSOR_HIDE).expect("a frame");
    assert!(
        find(&raw[first_frame..], b"\x07").is_some(),
        "no bell for the new SEV1"
    );
    c.quit_cleanly_with(b"q");

    let root = servers::temp_dir("bell-off");
    let mut args = config_args(&root, "[alerts]\nbell_on_sev1 = false\n");
    args.extend(["--speed", "60", "--seed", "7"].map(String::from));
    let mut c = Cockpit::launch(Launch::new("bell_off", 100, 30, args));
    c.wait_for("the footer naming the new SEV1", |t| t.contains("NEW SEV1"));
    assert!(
        find(&c.raw(), b"\x07").is_none(),
        "the bell rang though configured off"
    );
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// `--speed -1` is a value to refuse with a reason, not an unknown flag.
#[test]
fn a_negative_speed_is_refused_as_a_value() {
    let root = servers::temp_dir("negative-speed");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oncall-cockpit"))
        .args(["--speed", "-1", "--data-dir"])
        .arg(root.join("data"))
        .env("HOME", &root)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .output()
        .expect("run the cockpit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--speed must be between 0 and 1000, got -1"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
