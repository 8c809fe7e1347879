//! End-to-end tests: the real `oncall-cockpit` binary running in a pseudo-terminal.
//!
//! The other suites drive `State` and the renderer directly. These check what only a real
//! terminal shows: that keys reach the app through raw mode, that the screen a responder sees
//! is laid out at common sizes, and above all that the terminal is handed back in a usable state
//! however the process ends (`q`, ctrl-c, SIGHUP from an SSH drop, SIGTERM, a panic).
//!
//! Each test spawns the binary on the embedded simulated fleet (`--speed 60 --seed 7`, so the
//! first incidents appear within a few wall-clock seconds) through the shared harness in
//! `tests/pty/`. A drill at ×60 still takes a few seconds to raise an incident, so every wait
//! polls the screen with a generous deadline.

use cockpit_testkit::pty;
use pty::*;

/// The core loop of the job: the top incident is acknowledged from the keyboard, the table
/// says so, and the audit log holds both the request and the outcome.
#[test]
fn ack_top_incident_updates_table_and_audit_log() {
    let mut c = Cockpit::start("ack_flow", 100, 30, &[]);
    c.wait_for_trig_row();
    let target = c.select_top();

    c.send(b"a");
    c.wait_screen(
        &format!(
            "{} {} (was {} when acked) to show ACKED",
            target.kind, target.feature, target.sev
        ),
        TIMEOUT,
        |s| {
            table(s)?
                .rows
                .into_iter()
                .find(|r| r.same_incident(&target) && r.status == "ACKED")
        },
    );

    let (requested, succeeded) = c.wait_audit("ack requested + succeeded", |records| {
        let ack = |outcome: &str| {
            records
                .iter()
                .find(|r| r["action"] == "ack" && r["outcome"] == outcome)
                .cloned()
        };
        Some((ack("requested")?, ack("succeeded")?))
    });
    assert_eq!(requested["actor"], ACTOR, "{requested}");
    assert_eq!(requested["action_id"], succeeded["action_id"]);
    assert_eq!(requested["target"], succeeded["target"]);
    assert!(
        requested["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("sim:")),
        "{requested}"
    );

    c.quit_cleanly_with(b"q");
}

/// `x` writes the postmortem beside the audit log, and it already holds the ack sent just
/// before: the export is queued behind every audit record.
#[test]
fn export_writes_a_postmortem_with_the_actions_taken() {
    let mut c = Cockpit::start("export", 100, 30, &[]);
    c.wait_for_trig_row();
    c.select_top();
    c.send(b"a");
    c.send(b"x");
    c.wait_for("the export confirmation", |t| {
        t.contains("postmortem written")
    });
    let dir = c.data_dir().join("postmortems");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let md = std::fs::read_to_string(&files[0]).expect("readable");
    assert!(md.starts_with("# Postmortem draft: "), "{md}");
    assert!(md.contains(&format!("| {ACTOR} | ack sim:")), "{md}");
    assert!(md.contains("## Signals at detection"), "{md}");
    c.quit_cleanly_with(b"q");
}

/// On a shared bastion host every file the cockpit writes must be its owner's alone,
/// whatever umask the session has: the data directory, audit log, log file, postmortems.
#[test]
fn everything_written_is_private_under_a_permissive_umask() {
    use std::os::unix::fs::PermissionsExt;
    for (name, mask) in [("umask022", 0o022), ("umask002", 0o002)] {
        let mut launch = Launch::sim(name, 100, 30, &[]);
        launch.umask = Some(mask);
        let mut c = Cockpit::launch(launch);
        c.wait_for_trig_row();
        c.select_top();
        c.send(b"a");
        c.send(b"x");
        c.wait_for("the export confirmation", |t| {
            t.contains("postmortem written")
        });
        c.quit_cleanly_with(b"q");
        let data = c.data_dir();
        let postmortems = data.join("postmortems");
        let mut written = vec![
            (data.clone(), 0o700),
            (data.join("audit.jsonl"), 0o600),
            (data.join("cockpit.log"), 0o600),
            (postmortems.clone(), 0o700),
        ];
        for e in std::fs::read_dir(&postmortems)
            .expect("postmortems dir")
            .flatten()
        {
            written.push((e.path(), 0o600));
        }
        assert_eq!(written.len(), 5, "one postmortem: {written:?}");
        for (path, want) in written {
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(
                mode,
                want,
                "{} under umask {mask:03o}: {mode:03o}",
                path.display()
            );
        }
    }
}

/// A data directory others can read (made before this version, or by hand) is not silently
/// used: the cockpit says so at start, with the command that fixes it.
#[test]
fn an_exposed_data_directory_is_reported_with_its_fix() {
    use std::os::unix::fs::PermissionsExt;
    // Not the harness's own root for this test, which it empties before starting.
    let root = std::env::temp_dir().join(format!("oncall-shared-{}", std::process::id()));
    let data = root.join("shared-data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // At real speed: no new SEV1 arrives to take the footer before the warning is read.
    let mut launch = Launch::new("exposed", 160, 30, vec!["--seed".into(), "7".into()]);
    launch.data_dir = Some(data.clone());
    let mut c = Cockpit::launch(launch);
    c.wait_for("the exposure warning with its fix", |t| {
        t.contains("every user") && t.contains("chmod 700")
    });
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// The levers from the keyboard, on a flagd flag file: the rollback picker preselects the
/// last-known-good, `y` writes it, and the kill switch picker engages one segment. The file
/// is read back: the team's other flags and fields are still there.
#[test]
fn rollback_and_kill_switch_from_the_keyboard_land_in_the_flagd_file() {
    let dir = std::env::temp_dir().join(format!("cockpit-e2e-flagd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let flags = dir.join("flags.json");
    let original = serde_json::json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "support-bot.prompt": {"state": "ENABLED", "variants": {"v12": "a", "v13": "b", "v14": "c"},
                                   "defaultVariant": "v14", "metadata": {"lastKnownGood": "v12"}},
            "support-bot.kill-switch": {"state": "ENABLED", "variants": {"on": true, "off": false},
                                        "defaultVariant": "off", "metadata": {"segments": "free-tier"}},
            "unrelated": {"state": "DISABLED", "variants": {"x": 1}, "defaultVariant": "x"}
        }
    });
    std::fs::write(&flags, original.to_string()).expect("write flags");
    let toml = format!(
        "[[flagd]]\npath = \"{}\"\npoll_secs = 1.0\n",
        flags.display()
    );
    let mut c = Cockpit::launch(Launch::new("flagd", 100, 30, config_args(&dir, &toml)));
    c.wait_for("flagd healthy", |t| t.contains("● flagd"));
    let read = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&flags).expect("read")).expect("always whole JSON")
    };

    c.send(b"p");
    c.wait_for("the version picker", |t| {
        t.contains("Prompt rollback · support-bot runs v14") && t.contains("▶ v12  last-known-good")
    });
    c.send(b"\r");
    c.wait_for("the confirmation", |t| t.contains("v14 → v12"));
    c.send(b"y");
    c.wait_for("the outcome", |t| {
        t.contains("✓ support-bot prompt rolled back v14 → v12")
    });
    assert_eq!(
        read()["flags"]["support-bot.prompt"]["defaultVariant"],
        "v12"
    );

    c.send(b"K");
    c.wait_for("the scope picker", |t| {
        t.contains("ENGAGE segment free-tier")
    });
    c.send(b"\x1b[B\r");
    c.wait_for("the confirmation", |t| t.contains("ENGAGE kill switch?"));
    c.send(b"y");
    c.wait_for("the outcome", |t| {
        t.contains("✓ kill switch engaged for support-bot segment free-tier")
    });
    let after = read();
    assert_eq!(
        after["flags"]["support-bot.kill-switch"]["targeting"]["if"][0]["in"][1],
        serde_json::json!(["free-tier"])
    );
    assert_eq!(after["flags"]["unrelated"], original["flags"]["unrelated"]);
    assert_eq!(after["$schema"], original["$schema"]);

    let levers = c.audit_records();
    for action in ["prompt_rollback", "kill_switch_engage"] {
        assert!(
            levers
                .iter()
                .any(|r| r["action"] == action && r["outcome"] == "succeeded"),
            "{action} audited: {levers:?}"
        );
    }
    c.quit_cleanly_with(b"q");
}

/// ctrl-c arrives as byte 0x03 in raw mode and must quit like `q`, not kill the process.
#[test]
fn ctrl_c_quits_and_restores_terminal() {
    let mut c = Cockpit::start("ctrl_c", 100, 30, &[]);
    c.wait_for("the first frame", |t| t.contains("oncall-cockpit"));
    c.quit_cleanly_with(KEY_CTRL_C);
}

/// A panic must not leave the responder's terminal in raw mode on the alternate screen: the
/// panic hook restores it before the message prints.
#[test]
fn panic_restores_terminal_before_message() {
    let mut c = Cockpit::start("crash_test", 100, 30, &["--crash-test"]);
    let status = c.wait_exit(TIMEOUT);
    let raw = c.raw();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(!status.success(), "a panic exited with success");
    assert_eq!(
        status.exit_code(),
        101,
        "not a panic exit: {status:?}\n{text}"
    );
    let enter = find(&raw, ALT_SCREEN_ENTER).expect("never entered the alternate screen");
    let leave = rfind(&raw, ALT_SCREEN_LEAVE).expect("alternate screen not left after panic");
    assert!(
        leave > enter,
        "left the alternate screen before entering it"
    );
    let message = rfind(&raw, b"crash test requested")
        .unwrap_or_else(|| panic!("panic message missing from the output:\n{text}"));
    // Printed on the normal screen: after leaving the alternate one, or it would be wiped.
    assert!(
        message > leave,
        "panic message printed before the alternate screen was left:\n{text}"
    );
}

/// An SSH drop sends SIGHUP: the cockpit must exit by itself, cleanly.
#[test]
fn sighup_exits_cleanly() {
    signal_exits_cleanly("sighup", "-HUP");
}

/// `kill`, systemd, tmux kill-session… send SIGTERM: same expectations as SIGHUP.
#[test]
fn sigterm_exits_cleanly() {
    signal_exits_cleanly("sigterm", "-TERM");
}

/// `kill -INT` (in raw mode ctrl-c is a key, so SIGINT only comes from outside) must restore the
/// terminal like SIGTERM, not leave the alternate screen on and the cursor hidden.
#[test]
fn sigint_exits_cleanly() {
    signal_exits_cleanly("sigint", "-INT");
}

/// `kill -QUIT` likewise: its default action would also dump core over the responder's screen.
#[test]
fn sigquit_exits_cleanly() {
    signal_exits_cleanly("sigquit", "-QUIT");
}

fn signal_exits_cleanly(name: &str, sig: &str) {
    let mut c = Cockpit::start(name, 100, 30, &[]);
    c.wait_for("the first frame", |t| t.contains("oncall-cockpit"));
    c.signal(sig);
    let status = c.wait_exit(SIGNAL_EXIT);
    assert!(
        status.success(),
        "{sig}: exit status {status:?}\n{}",
        c.screen_dump()
    );
    assert_terminal_restored(&c.raw());
}

/// --read-only refuses every action with a visible reason and changes nothing.
#[test]
fn read_only_refuses_every_action() {
    let mut c = Cockpit::start("read_only", 100, 30, &["--read-only"]);
    c.wait_for_trig_row();
    c.wait_for("READ-ONLY in the header", |t| {
        t.lines().next().is_some_and(|l| l.contains("READ-ONLY"))
    });
    let target = c.select_top();

    c.send(b"a");
    // The refusal and the row are read from the same frame: had the ack been dispatched, that
    // frame would show the row as "ack…" (pending is set in the same update as the message).
    let row = c.wait_screen("the read-only refusal in the footer", TIMEOUT, |s| {
        let (rows, cols) = s.size();
        let footer = s.contents_between(rows - 2, 0, rows - 1, cols);
        if !footer.contains("read-only") {
            return None;
        }
        table(s)?
            .rows
            .into_iter()
            .find(|r| r.same_incident(&target))
    });
    assert_eq!(row.status, "TRIG", "{row:?}\n{}", c.screen_dump());

    // Every other lever, with `y` and enter after each in case a dialog opened anyway: escalate,
    // resolve, note, rollback, kill switch, page, retry. (No esc: one followed by a key reads
    // as alt+key.)
    for key in [b"e", b"R", b"n", b"p", b"K", b"P", b"t"] {
        c.send(key);
        c.send(b"y");
        c.send(b"\r");
    }
    c.wait_for("the read-only refusal still in the footer", |t| {
        t.lines().rev().take(2).any(|l| l.contains("read-only"))
    });
    c.quit_cleanly_with(b"q");
    let written: Vec<_> = c
        .audit_records()
        .into_iter()
        .filter(|r| r["outcome"] == "requested")
        .collect();
    assert!(
        written.is_empty(),
        "read-only requested actions: {written:#?}"
    );
}

/// 80x24 is the classic default terminal: header, the table with its deadline column, and the
/// key hints must all fit at once.
#[test]
fn layout_fits_80x24() {
    let mut c = Cockpit::start("small_80x24", 80, 24, &[]);
    c.wait_for_trig_row();
    c.wait_screen("header, table header and footer at once", TIMEOUT, |s| {
        let lines: Vec<String> = s.rows(0, 80).collect();
        let header = lines.first()?.contains("oncall-cockpit");
        let table = lines
            .iter()
            .any(|l| l.contains("SEV") && l.contains("RESPOND"));
        let footer = lines[lines.len() - 2..].iter().any(|l| l.contains("help"));
        (header && table && footer).then_some(())
    });
}

/// Shrinking below the minimum shows a message instead of a broken layout, and growing back
/// restores the cockpit.
#[test]
fn resize_too_small_and_back() {
    let mut c = Cockpit::start("resize", 100, 30, &[]);
    c.wait_for_trig_row();
    c.resize(50, 12);
    c.wait_for("the too-small message", |t| {
        t.contains("terminal too small")
    });
    c.resize(100, 30);
    c.wait_for_trig_row();
    c.wait_for("the too-small message gone", |t| {
        !t.contains("terminal too small")
    });
}

/// `?` opens the help generated from the keymap; esc closes it.
#[test]
fn help_overlay_opens_and_closes() {
    let mut c = Cockpit::start("help", 100, 30, &[]);
    c.wait_for("the first frame", |t| t.contains("oncall-cockpit"));
    c.send(b"?");
    c.wait_for("the help overlay", |t| {
        t.contains("Help") && t.lines().any(|l| l.contains("acknowledge"))
    });
    c.send(KEY_ESC);
    c.wait_for("the help overlay closed", |t| {
        !t.contains("Help") && !t.contains("acknowledge")
    });
}

/// Accepts connections and never answers: the backend that hangs during a SEV1.
fn hanging_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: enough connections for the test's polls, then stop accepting.
        for conn in listener.incoming().take(64) {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => return,
            }
        }
    });
    (port, handle)
}

#[test]
fn real_backends_down_hanging_or_misconfigured_keep_the_cockpit_responsive() {
    let (hang_port, _hang) = hanging_server();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = std::env::temp_dir().join(format!("oncall-e2e-faultcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[prometheus]]
name = "prom-dead"
url = "http://127.0.0.1:{dead_port}"
poll_secs = 1.0

[[alertmanager]]
name = "am-hung"
url = "http://127.0.0.1:{hang_port}"
poll_secs = 1.0
timeout_secs = 1.0

[[pagerduty]]
name = "pd"
token = {{ env = "OC_E2E_PD_TOKEN_NEVER_SET" }}
from = "ana@example.com"
"#
        ),
    )
    .expect("write config");
    let config_arg = config.to_string_lossy().to_string();
    let mut c = Cockpit::start("faults", 200, 40, &["--config", &config_arg]);
    c.wait_for("the dead Prometheus reported as unreachable", |s| {
        s.contains("✗ prom-dead: unreachable")
    });
    c.wait_for("the misconfigured PagerDuty named with its reason", |s| {
        s.contains("✗ pd: token: environment variable OC_E2E_PD_TOKEN_NEVER_SET is not set")
    });
    // While Alertmanager hangs, keys still work at once.
    c.send(b"?");
    c.wait_for("help opens while a backend hangs", |s| s.contains("Help"));
    c.send(KEY_ESC);
    c.wait_for("help closes", |s| !s.contains("Help · esc closes"));
    c.wait_for("the hung Alertmanager reported as timed out", |s| {
        s.contains("✗ am-hung: timed out")
    });
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The drill's jailbreak at 80x24, as a responder works it: the samples show jailbroken
/// answers now and refusals before, the segment split names the segment, the kill switch on
/// that segment waits for its evidence folder, and the postmortem quotes the samples.
#[test]
fn a_jailbreak_is_read_in_its_samples_contained_on_its_segment_and_kept_as_evidence() {
    let mut c = Cockpit::start("samples", 80, 24, &[]);
    c.wait_for("the guardrail bypass", |t| t.contains("guardrail"));
    c.send(b"/guardrail\r");
    c.wait_for("the list filtered to it", |t| t.contains("1 shown"));
    c.send(b"o");
    c.wait_for("jailbroken answers in the incident's window", |t| {
        t.contains("[incident]") && t.contains("jailbroken") && t.contains("segment free-tier · ")
    });
    c.send(b"\t");
    c.wait_for("refusals in the baseline", |t| {
        t.contains("[baseline]") && t.contains(" ref ") && !t.contains("jailbroken")
    });
    c.send(b"\t");
    c.wait_for("the incident's window again", |t| t.contains("[incident]"));
    c.send(b"K");
    c.wait_for("the scope picker", |t| {
        t.contains("ENGAGE segment free-tier")
    });
    c.send(b"\x1b[B\r");
    c.wait_for("the confirmation", |t| t.contains("ENGAGE kill switch?"));
    c.send(b"y");
    c.wait_for("the outcome", |t| {
        t.contains("✓ kill switch engaged for code-assistant segment free-tier")
    });
    let requested = c
        .audit_records()
        .into_iter()
        .find(|r| r["action"] == "kill_switch_engage" && r["outcome"] == "requested")
        .expect("the lever's request is audited");
    let folder = requested["detail"]
        .as_str()
        .and_then(|d| d.strip_prefix("evidence: "))
        .expect("the audit names the evidence folder")
        .to_string();
    let summary = std::fs::read_to_string(c.data_dir().join(&folder).join("summary.md"))
        .expect("the evidence was written before the lever");
    assert!(summary.contains("jailbroken"), "{summary}");

    c.send(b"x");
    c.wait_for("the export", |t| t.contains("postmortem written"));
    let dir = c.data_dir().join("postmortems");
    let md: String = std::fs::read_dir(&dir)
        .expect("postmortems")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert!(
        md.contains("## What the model said") && md.contains("jailbroken"),
        "{md}"
    );
    c.quit_cleanly_with(b"q");
}
