//! The PTY harness shared by the end-to-end suites (e2e_pty, hostile, faults): the real
//! `oncall-cockpit` binary in its own pseudo-terminal, with its own HOME, config and data
//! directories. A reader thread keeps every byte the app writes (to check escape sequences)
//! and feeds a vt100 parser (to check the screen). Waiting is always by polling the parsed
//! screen (or a file, or the process) against a condition with a generous deadline, never by a
//! fixed sleep: CI machines are slow.

use portable_pty::{native_pty_system, Child, CommandBuilder, ExitStatus, MasterPty, PtySize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Deadline for anything the app has to do: generous, because CI machines are slow.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a condition is re-checked while waiting for it.
pub const POLL: Duration = Duration::from_millis(20);
/// SIGHUP / SIGTERM must end the process promptly: a hung cockpit after an SSH drop holds the
/// audit log and a terminal nobody can see.
pub const SIGNAL_EXIT: Duration = Duration::from_secs(10);

/// The actor recorded in the audit log (the app falls back to `$USER` without a config).
pub const ACTOR: &str = "e2e-responder";

pub const ALT_SCREEN_ENTER: &[u8] = b"\x1b[?1049h";
pub const ALT_SCREEN_LEAVE: &[u8] = b"\x1b[?1049l";
pub const CURSOR_HIDE: &[u8] = b"\x1b[?25l";
pub const CURSOR_SHOW: &[u8] = b"\x1b[?25h";

// Keys as a terminal sends them.
pub const KEY_HOME: &[u8] = b"\x1b[H";
pub const KEY_ESC: &[u8] = b"\x1b";
pub const KEY_CTRL_C: &[u8] = b"\x03";

/// Everything the app has written so far, both raw and as a parsed screen.
pub struct Output {
    pub raw: Vec<u8>,
    pub parser: vt100::Parser,
    /// The reader hit EOF or an error: the PTY's slave side is closed (the app exited).
    pub closed: bool,
}

/// How to start a cockpit. `Launch::sim` is the usual one; real-backend tests pass their own
/// `--config` and no simulator flags.
pub struct Launch {
    pub name: String,
    pub cols: u16,
    pub rows: u16,
    pub args: Vec<String>,
    /// Audit log and log file go here. Default: `data/` under the test's own root, removed
    /// with it; pass a directory to keep the audit log across two runs of the cockpit.
    pub data_dir: Option<PathBuf>,
    /// Whether the PTY becomes the process's controlling terminal, so that closing the master
    /// sends SIGHUP as the kernel does on an SSH drop. Without it, the process only sees its
    /// terminal fail (EIO/EOF), as under a supervisor that started it with `setsid`.
    pub controlling_tty: bool,
    /// Start the cockpit under this umask (through `/bin/sh`), with its data directory not
    /// yet created: what the cockpit creates is then only the umask's and its own doing.
    pub umask: Option<u32>,
}

impl Launch {
    /// The embedded simulated fleet at ×60 (`--seed 7`), so that the first incidents appear
    /// within a few wall-clock seconds. `extra` args come after the common ones.
    pub fn sim(name: &str, cols: u16, rows: u16, extra: &[&str]) -> Launch {
        let mut args: Vec<String> = ["--speed", "60", "--seed", "7"].map(String::from).into();
        args.extend(extra.iter().map(|a| a.to_string()));
        Launch::new(name, cols, rows, args)
    }

    pub fn new(name: &str, cols: u16, rows: u16, args: Vec<String>) -> Launch {
        Launch {
            name: name.to_string(),
            cols,
            rows,
            args,
            data_dir: None,
            controlling_tty: true,
            umask: None,
        }
    }
}

/// The cockpit binary cargo built for the test binary running now: it sits in the target
/// directory, one level above the test binary's `deps/`. `ONCALL_COCKPIT_BIN` overrides it.
pub fn cockpit_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ONCALL_COCKPIT_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps");
    let bin = target.join("oncall-cockpit");
    assert!(
        bin.is_file(),
        "{} not built: run the tests with cargo test (it builds the binary first)",
        bin.display()
    );
    bin
}

/// One running cockpit in a PTY. Dropping it kills the process if it is still running.
pub struct Cockpit {
    name: String,
    /// Root of this test's temp dirs: `home/` and, by default, `data/`.
    root: PathBuf,
    data: PathBuf,
    /// `None` once `hang_up` has closed the terminal.
    master: Option<Box<dyn MasterPty + Send>>,
    writer: Option<Box<dyn Write + Send>>,
    /// Tells the reader thread to close its copy of the master: the last one to go.
    hang_up: Arc<AtomicBool>,
    child: Box<dyn Child + Send + Sync>,
    out: Arc<Mutex<Output>>,
    reader: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Cockpit {
    /// Starts the cockpit on the simulated fleet in a `cols` x `rows` terminal. `extra` args
    /// come after the common ones.
    pub fn start(name: &str, cols: u16, rows: u16, extra: &[&str]) -> Cockpit {
        Cockpit::launch(Launch::sim(name, cols, rows, extra))
    }

    pub fn launch(launch: Launch) -> Cockpit {
        let Launch {
            name,
            cols,
            rows,
            args,
            data_dir,
            controlling_tty,
            umask,
        } = launch;
        // Test name + pid: tests run in parallel, and so may several `cargo test` runs.
        let root = std::env::temp_dir().join(format!("oncall-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let home = root.join("home");
        for dir in [&home.join(".config"), &home.join(".local/share")] {
            std::fs::create_dir_all(dir).expect("create temp dir");
        }
        // A test's own data dir is used as it is; the harness's is owner-only, as the
        // cockpit makes it (a wider one is reported at start), or left for the cockpit to
        // create when the test sets a umask.
        let data = match data_dir {
            Some(d) => d,
            None => {
                let d = root.join("data");
                if umask.is_none() {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::create_dir_all(&d).expect("create temp dir");
                    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                        .expect("chmod data dir");
                }
                d
            }
        };

        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open pty");
        let bin = cockpit_binary();
        let mut cmd = match umask {
            Some(mask) => {
                let mut c = CommandBuilder::new("/bin/sh");
                c.arg("-c");
                c.arg(format!("umask {mask:04o}; exec \"$0\" \"$@\""));
                c.arg(bin);
                c
            }
            None => CommandBuilder::new(bin),
        };
        cmd.arg("--data-dir");
        cmd.arg(&data);
        cmd.args(&args);
        cmd.cwd(&root);
        cmd.set_controlling_tty(controlling_tty);
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
        let hang_up = Arc::new(AtomicBool::new(false));
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let sink = Arc::clone(&out);
        let stop = Arc::clone(&hang_up);
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
                if stop.load(Ordering::SeqCst) {
                    // Returning drops `reader`, closing the last master descriptor.
                    out.closed = true;
                    return;
                }
            }
        });
        let writer = pty.master.take_writer().expect("pty writer");
        Cockpit {
            name,
            root,
            data,
            master: Some(pty.master),
            writer: Some(writer),
            hang_up,
            child,
            out,
            reader: Some(reader),
            status: None,
        }
    }

    /// What sshd does when the connection drops: closes the master side of the terminal.
    /// Every master descriptor must go before the kernel hangs up the slave, including the
    /// reader thread's copy; that one closes after the next output it reads (the cockpit
    /// redraws at least every tick). Dropping the writer types a newline and EOF first
    /// (portable-pty does that on drop); the cockpit takes them as two keys, which is harmless.
    /// Returns once the last descriptor is closed.
    pub fn hang_up(&mut self) {
        self.hang_up.store(true, Ordering::SeqCst);
        self.writer = None;
        self.master = None;
        let deadline = Instant::now() + TIMEOUT;
        while !self.out().closed {
            assert!(
                Instant::now() < deadline,
                "{}: the reader never saw output after the hang-up request",
                self.name
            );
            std::thread::sleep(POLL);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// CPU time the process has used so far, user + system, in clock ticks
    /// (/proc/<pid>/stat fields 14 and 15). `None` once the process is reaped.
    pub fn cpu_ticks(&self) -> Option<u64> {
        let pid = self.child.process_id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may contain spaces.
        let after_comm = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // after_comm starts at field 3.
        let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
        let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
        Some(utime + stime)
    }

    /// A `kB` field of /proc/<pid>/status (`VmRSS`, `VmHWM` for the peak), in KiB. `None` once
    /// the process is reaped.
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let pid = self.child.process_id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    pub fn out(&self) -> MutexGuard<'_, Output> {
        // A panic while the lock was held is already failing the test; keep reading the output.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    pub fn audit_log(&self) -> PathBuf {
        self.data_dir().join("audit.jsonl")
    }

    /// The screen as text, for failure messages.
    pub fn screen_dump(&self) -> String {
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

    pub fn send(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().expect("the terminal was hung up");
        writer.write_all(bytes).expect("write to pty");
        writer.flush().expect("flush pty");
    }

    /// Polls the parsed screen until `check` returns something, and returns it. Fails with the
    /// screen printed if the deadline passes or the app exits first.
    pub fn wait_screen<T>(
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
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        self.wait_screen(what, TIMEOUT, |s| pred(&s.contents()).then_some(()));
    }

    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status.clone()
    }

    /// Waits for the process to exit and for the reader to collect all its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
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

    pub fn resize(&mut self, cols: u16, rows: u16) {
        // The parser first, so that the redraw the app does on SIGWINCH lands on the new size.
        self.out().parser.set_size(rows, cols);
        self.master
            .as_ref()
            .expect("the terminal was hung up")
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize pty");
    }

    pub fn pid(&self) -> String {
        self.child.process_id().expect("child pid").to_string()
    }

    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} failed: {status}");
    }

    pub fn raw(&self) -> Vec<u8> {
        self.out().raw.clone()
    }

    /// The audit log's records, parsed. Missing file = no records.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.audit_log()).unwrap_or_default();
        text.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}"))
            })
            .collect()
    }

    /// Polls the audit log until `check` finds what it wants in the records, and returns it.
    /// The audit writer is its own thread, so a record lands some time after the screen shows
    /// the action.
    pub fn wait_audit<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&[serde_json::Value]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let records = self.audit_records();
            if let Some(found) = check(&records) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{}: audit log {} never showed {what}: {records:#?}",
                self.name,
                self.audit_log().display()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The common first wait: the cockpit is up and the drill has raised an incident.
    pub fn wait_for_trig_row(&mut self) {
        self.wait_screen("an incident row with TRIG", TIMEOUT, |s| {
            table(s)?.rows.into_iter().find(|r| r.status == "TRIG")
        });
    }

    /// Moves the selection to the top row and returns it once the screen shows that row
    /// highlighted (the selection follows an incident across re-sorts, so reading the top row
    /// without checking the highlight could name a different incident than the one selected).
    pub fn select_top(&mut self) -> IncidentRow {
        self.send(KEY_HOME);
        self.wait_screen("the top row selected after Home", TIMEOUT, |s| {
            let top = table(s)?.rows.into_iter().next()?;
            (top.selected && top.status == "TRIG").then_some(top)
        })
    }

    /// Ends the session with the given key and checks a clean exit with the terminal restored.
    pub fn quit_cleanly_with(&mut self, key: &[u8]) {
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
pub struct IncidentRow {
    pub sev: String,
    pub kind: String,
    pub feature: String,
    pub status: String,
    /// Drawn with the selection style (a background colour or reversed video).
    pub selected: bool,
}

impl IncidentRow {
    /// The table shows no incident id, but there is at most one open incident per feature and
    /// type. Not the SEV: an open incident's SEV rises when its signal gets worse.
    pub fn same_incident(&self, other: &IncidentRow) -> bool {
        self.kind == other.kind && self.feature == other.feature
    }
}

pub struct Table {
    pub rows: Vec<IncidentRow>,
}

/// The screen row as one string per terminal column (a wide character's continuation cell
/// gives an empty string), so column positions index it directly.
pub fn cells(screen: &vt100::Screen, row: u16) -> Vec<String> {
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
pub fn table(screen: &vt100::Screen) -> Option<Table> {
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

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The alternate screen was entered and then left, and the cursor shown again after the last
/// frame (every ratatui frame hides it). Raw mode itself cannot be seen from the master side,
/// so these are the observable traces of `ratatui::restore`.
pub fn assert_terminal_restored(raw: &[u8]) {
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

/// The two footer lines: the last action's outcome and the health of every source.
pub fn footer(screen: &vt100::Screen) -> String {
    let (rows, cols) = screen.size();
    screen.contents_between(rows.saturating_sub(2), 0, rows - 1, cols)
}

/// Writes `config.toml` into `dir` for a real-backend run and returns the `--config` args.
pub fn config_args(dir: &Path, toml: &str) -> Vec<String> {
    std::fs::create_dir_all(dir).expect("config dir");
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).expect("write config");
    vec!["--config".into(), path.to_string_lossy().into_owned()]
}

/// A `[[pagerduty]]` section for a contract server at `url`, its token in a chmod-600 file in
/// `dir` (the cockpit refuses a token file others can read). Polls every second.
pub fn pagerduty_section(dir: &Path, name: &str, url: &str, token: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("config dir");
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, token).expect("write token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    format!(
        r#"
[[pagerduty]]
name = "{name}"
url = "{url}"
token = {{ file = "{}" }}
from = "ana@example.com"
poll_secs = 1.0
timeout_secs = 5.0
"#,
        path.display()
    )
}
