//! End-to-end tests: the real `oncall-cockpit` binary running in a pseudo-terminal.
//!
//! The other suites drive `State` and the renderer directly. These check what only a real
//! terminal shows: that keys reach the app through raw mode, that the screen a responder sees
//! is laid out at common sizes, and above all that the terminal is handed back in a usable state
//! however the process ends (`q`, ctrl-c, SIGHUP from an SSH drop, SIGTERM, a panic).
//!
//! Each test spawns the binary on the embedded simulated fleet (`--speed 60 --seed 7`, so the
//! first incidents appear within a few wall-clock seconds), in its own PTY, with its own HOME,
//! config and data directories. A reader thread keeps every byte the app writes (to check escape
//! sequences) and feeds a vt100 parser (to check the screen). Waiting is always by polling the
//! parsed screen against a condition with a generous deadline, never by a fixed sleep: CI
//! machines are slow and a drill at ×60 still takes a few seconds to raise an incident.

use portable_pty::{native_pty_system, Child, CommandBuilder, ExitStatus, MasterPty, PtySize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Deadline for anything the app has to do: generous, because CI machines are slow.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a condition is re-checked while waiting for it.
const POLL: Duration = Duration::from_millis(20);
/// SIGHUP / SIGTERM must end the process promptly: a hung cockpit after an SSH drop holds the
/// audit log and a terminal nobody can see.
const SIGNAL_EXIT: Duration = Duration::from_secs(10);

/// The actor recorded in the audit log (the app falls back to `$USER` without a config).
const ACTOR: &str = "e2e-responder";

const ALT_SCREEN_ENTER: &[u8] = b"\x1b[?1049h";
const ALT_SCREEN_LEAVE: &[u8] = b"\x1b[?1049l";
const CURSOR_HIDE: &[u8] = b"\x1b[?25l";
const CURSOR_SHOW: &[u8] = b"\x1b[?25h";

// Keys as a terminal sends them.
const KEY_HOME: &[u8] = b"\x1b[H";
const KEY_ESC: &[u8] = b"\x1b";
const KEY_CTRL_C: &[u8] = b"\x03";

/// Everything the app has written so far, both raw and as a parsed screen.
struct Output {
    raw: Vec<u8>,
    parser: vt100::Parser,
    /// The reader hit EOF or an error: the PTY's slave side is closed (the app exited).
    closed: bool,
}

/// One running cockpit in a PTY. Dropping it kills the process if it is still running.
struct Cockpit {
    name: String,
    /// Root of this test's temp dirs: `data/` (audit log, log file) and `home/`.
    root: PathBuf,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    out: Arc<Mutex<Output>>,
    reader: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Cockpit {
    /// Starts the cockpit on the simulated fleet in a `cols` x `rows` terminal. `extra` args
    /// come after the common ones.
    fn start(name: &str, cols: u16, rows: u16, extra: &[&str]) -> Cockpit {
        // Test name + pid: tests run in parallel, and so may several `cargo test` runs.
        let root = std::env::temp_dir().join(format!("oncall-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        let home = root.join("home");
        for dir in [&data, &home.join(".config"), &home.join(".local/share")] {
            std::fs::create_dir_all(dir).expect("create temp dir");
        }

        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_oncall-cockpit"));
        cmd.args(["--speed", "60", "--seed", "7", "--data-dir"]);
        cmd.arg(&data);
        cmd.args(extra);
        cmd.cwd(&root);
        // The inherited environment is the developer's or CI's: pin everything the app reads so
        // that neither their config nor their terminal settings change what the tests see.
        cmd.env("TERM", "xterm-256color");
        cmd.env("HOME", &home);
        cmd.env("XDG_CONFIG_HOME", home.join(".config"));
        cmd.env("XDG_DATA_HOME", home.join(".local/share"));
        cmd.env("USER", ACTOR);
        for var in [
            "NO_COLOR",
            "ONCALL_COCKPIT_LOG",
            "COLUMNS",
            "LINES",
            "USERNAME",
        ] {
            cmd.env_remove(var);
        }
        let child = pty.slave.spawn_command(cmd).expect("spawn oncall-cockpit");
        // Only the child may hold the slave side: once it exits, reads on the master end with
        // EOF/EIO and the reader thread knows all output has arrived.
        drop(pty.slave);

        let out = Arc::new(Mutex::new(Output {
            raw: Vec::new(),
            parser: vt100::Parser::new(rows, cols, 0),
            closed: false,
        }));
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let sink = Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut out = sink.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    out.closed = true;
                    return;
                }
                out.raw.extend_from_slice(&buf[..n]);
                out.parser.process(&buf[..n]);
            }
        });
        let writer = pty.master.take_writer().expect("pty writer");
        Cockpit {
            name: name.to_string(),
            root,
            master: pty.master,
            writer,
            child,
            out,
            reader: Some(reader),
            status: None,
        }
    }

    fn out(&self) -> MutexGuard<'_, Output> {
        // A panic while the lock was held is already failing the test; keep reading the output.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn audit_log(&self) -> PathBuf {
        self.data_dir().join("audit.jsonl")
    }

    /// The screen as text, for failure messages.
    fn screen_dump(&self) -> String {
        let out = self.out();
        let screen = out.parser.screen();
        let (rows, cols) = screen.size();
        let mut dump = format!("--- screen of {} ({cols}x{rows}) ---\n", self.name);
        for line in screen.rows(0, cols) {
            dump.push_str(line.trim_end());
            dump.push('\n');
        }
        dump.push_str("--- end of screen ---");
        dump
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to pty");
        self.writer.flush().expect("flush pty");
    }

    /// Polls the parsed screen until `check` returns something, and returns it. Fails with the
    /// screen printed if the deadline passes or the app exits first.
    fn wait_screen<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&vt100::Screen) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let closed = {
                let out = self.out();
                if let Some(found) = check(out.parser.screen()) {
                    return found;
                }
                out.closed
            };
            if closed || self.poll_exit().is_some() {
                panic!(
                    "{}: the app exited ({:?}) while waiting for {what}\n{}",
                    self.name,
                    self.status,
                    self.screen_dump()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: timed out after {timeout:?} waiting for {what}\n{}",
                    self.name,
                    self.screen_dump()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls the screen's text until `pred` holds.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        self.wait_screen(what, TIMEOUT, |s| pred(&s.contents()).then_some(()));
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status.clone()
    }

    /// Waits for the process to exit and for the reader to collect all its output.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.poll_exit() {
                break status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: still running {timeout:?} after it should have exited\n{}",
                    self.name,
                    self.screen_dump()
                );
            }
            std::thread::sleep(POLL);
        };
        // The last bytes (leaving the alternate screen) may still be in the PTY buffer.
        while !self.out().closed {
            if Instant::now() >= deadline + TIMEOUT {
                panic!("{}: the PTY never reported end of output", self.name);
            }
            std::thread::sleep(POLL);
        }
        status
    }

    fn resize(&mut self, cols: u16, rows: u16) {
        // The parser first, so that the redraw the app does on SIGWINCH lands on the new size.
        self.out().parser.set_size(rows, cols);
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize pty");
    }

    fn pid(&self) -> String {
        self.child.process_id().expect("child pid").to_string()
    }

    fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} failed: {status}");
    }

    fn raw(&self) -> Vec<u8> {
        self.out().raw.clone()
    }

    /// The audit log's records, parsed. Missing file = no records.
    fn audit_records(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.audit_log()).unwrap_or_default();
        text.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}"))
            })
            .collect()
    }

    /// The common first wait: the cockpit is up and the drill has raised an incident.
    fn wait_for_trig_row(&mut self) {
        self.wait_screen("an incident row with TRIG", TIMEOUT, |s| {
            table(s)?.rows.into_iter().find(|r| r.status == "TRIG")
        });
    }

    /// Moves the selection to the top row and returns it once the screen shows that row
    /// highlighted (the selection follows an incident across re-sorts, so reading the top row
    /// without checking the highlight could name a different incident than the one selected).
    fn select_top(&mut self) -> IncidentRow {
        self.send(KEY_HOME);
        self.wait_screen("the top row selected after Home", TIMEOUT, |s| {
            let top = table(s)?.rows.into_iter().next()?;
            (top.selected && top.status == "TRIG").then_some(top)
        })
    }

    /// Ends the session with the given key and checks a clean exit with the terminal restored.
    fn quit_cleanly_with(&mut self, key: &[u8]) {
        self.send(key);
        let status = self.wait_exit(TIMEOUT);
        assert!(
            status.success(),
            "{}: exit status {status:?}\n{}",
            self.name,
            self.screen_dump()
        );
        assert_terminal_restored(&self.raw());
    }
}

impl Drop for Cockpit {
    fn drop(&mut self) {
        // Never leave a cockpit running behind a failed test. No unwrap here: a panic in drop
        // while unwinding would abort the whole test binary.
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.poll_exit().is_none() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        // The reader ends once the child is gone; do not hang a test run if it somehow doesn't.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.out().closed && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        if self.out().closed {
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
        }
        if std::thread::panicking() {
            // Keep the audit log and cockpit.log of a failed test for a look.
            eprintln!("{}: test files kept in {}", self.name, self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// One data row of the incident table, cut by the header's column positions.
#[derive(Clone, Debug)]
struct IncidentRow {
    sev: String,
    kind: String,
    feature: String,
    status: String,
    /// Drawn with the selection style (a background colour or reversed video).
    selected: bool,
}

impl IncidentRow {
    /// The table shows no incident id, but there is at most one open incident per feature and
    /// type. Not the SEV: an open incident's SEV rises when its signal gets worse.
    fn same_incident(&self, other: &IncidentRow) -> bool {
        self.kind == other.kind && self.feature == other.feature
    }
}

struct Table {
    rows: Vec<IncidentRow>,
}

/// The screen row as one string per terminal column (a wide character's continuation cell
/// gives an empty string), so column positions index it directly.
fn cells(screen: &vt100::Screen, row: u16) -> Vec<String> {
    let (_, cols) = screen.size();
    (0..cols)
        .map(|c| match screen.cell(row, c) {
            Some(cell) if cell.is_wide_continuation() => String::new(),
            Some(cell) if cell.has_contents() => cell.contents(),
            _ => " ".to_string(),
        })
        .collect()
}

/// Finds the incident table by its header line and reads the rows below it.
fn table(screen: &vt100::Screen) -> Option<Table> {
    let (rows, cols) = screen.size();
    let lines: Vec<String> = screen.rows(0, cols).collect();
    let header = lines.iter().position(|l| l.contains("SEV  TYPE"))? as u16;
    let head = cells(screen, header);
    let col_of = |label: &str| -> Option<usize> {
        let joined: Vec<char> = head
            .iter()
            .map(|c| c.chars().next().unwrap_or(' '))
            .collect();
        let label: Vec<char> = label.chars().collect();
        joined
            .windows(label.len())
            .position(|w| w == label.as_slice())
    };
    let starts = [
        col_of("SEV")?,
        col_of("TYPE")?,
        col_of("FEATURE")?,
        col_of("STATUS")?,
        col_of("AGE")?,
    ];
    let mut found = Vec::new();
    for r in header + 1..rows {
        let line = cells(screen, r);
        let field = |i: usize| line[starts[i]..starts[i + 1]].concat().trim().to_string();
        let sev = field(0);
        if !sev.starts_with("SEV") {
            break;
        }
        let probe = screen.cell(r, starts[2] as u16);
        let selected = probe.is_some_and(|c| c.inverse() || c.bgcolor() != vt100::Color::Default);
        found.push(IncidentRow {
            sev,
            kind: field(1),
            feature: field(2),
            status: field(3),
            selected,
        });
    }
    Some(Table { rows: found })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The alternate screen was entered and then left, and the cursor shown again after the last
/// frame (every ratatui frame hides it). Raw mode itself cannot be seen from the master side,
/// so these are the observable traces of `ratatui::restore`.
fn assert_terminal_restored(raw: &[u8]) {
    let tail = String::from_utf8_lossy(&raw[raw.len().saturating_sub(400)..]).into_owned();
    let enter = rfind(raw, ALT_SCREEN_ENTER)
        .unwrap_or_else(|| panic!("never entered the alternate screen; output ends {tail:?}"));
    let leave = rfind(raw, ALT_SCREEN_LEAVE)
        .unwrap_or_else(|| panic!("never left the alternate screen; output ends {tail:?}"));
    assert!(
        leave > enter,
        "alternate screen left at byte {leave} but re-entered at {enter}; output ends {tail:?}"
    );
    let last_frame = rfind(raw, CURSOR_HIDE).unwrap_or(0);
    let shown = rfind(raw, CURSOR_SHOW)
        .unwrap_or_else(|| panic!("cursor never shown again; output ends {tail:?}"));
    assert!(
        shown > last_frame,
        "cursor hidden at byte {last_frame} and not shown after it; output ends {tail:?}"
    );
}

// ---------------------------------------------------------------------------------------------

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

    // The audit writer is its own thread: poll for both records rather than read once.
    let deadline = Instant::now() + TIMEOUT;
    let (requested, succeeded) = loop {
        let records = c.audit_records();
        let ack = |outcome: &str| {
            records
                .iter()
                .find(|r| r["action"] == "ack" && r["outcome"] == outcome)
                .cloned()
        };
        if let (Some(req), Some(done)) = (ack("requested"), ack("succeeded")) {
            break (req, done);
        }
        assert!(
            Instant::now() < deadline,
            "audit log {} lacks ack requested + succeeded: {records:#?}",
            c.audit_log().display()
        );
        std::thread::sleep(POLL);
    };
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

/// --read-only refuses actions with a visible reason and changes nothing.
#[test]
fn read_only_refuses_ack() {
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

    c.quit_cleanly_with(b"q");
    let acks: Vec<_> = c
        .audit_records()
        .into_iter()
        .filter(|r| r["action"] == "ack")
        .collect();
    assert!(acks.is_empty(), "read-only wrote ack records: {acks:#?}");
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
