//! Performance figures of the cockpit: `cargo bench --bench cockpit`.
//!
//! Two kinds of measurement, printed as one table at the end:
//!
//! - In process, on ratatui's TestBackend: `update` + frame for 10,000 incidents and 24 series
//!   of 720 points, through `app::Screen::present`, the exact path the event loop uses.
//! - The real release binary (cargo builds it for benches, `CARGO_BIN_EXE_oncall-cockpit`) in a
//!   pseudo-terminal: time to the first frame, bytes written when nothing changes and per
//!   update, CPU used at 1 s polling, and key-to-frame latency while a backend hangs.
//!
//! The PTY side keeps a vt100 parser per cockpit on a reader thread. A waiter installs a
//! predicate on the parsed screen *before* it acts; the reader evaluates it after every chunk
//! of output and stamps the arrival time of the chunk that made it true, so latencies are
//! measured at the byte, not at the waiter's polling period.
//!
//! Nothing here asserts: figures are reported against the targets and judged by people.

use chrono::{DateTime, Duration as Span, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use oncall_cockpit::action::Action;
use oncall_cockpit::app::Screen;
use oncall_cockpit::config::keymap::Keymap;
use oncall_cockpit::config::theme::Theme;
use oncall_cockpit::domain::event::BackendEvent;
use oncall_cockpit::domain::{
    Bounds, FeatureInfo, Incident, IncidentType, SafeText, Sev, Signal, SignalKind, SignalSet,
    Status, TimelineEntry,
};
use oncall_cockpit::state::{update, Effect, SourceRole, SourceStatus, State};
use oncall_cockpit::ui::Ctx;
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

const INCIDENTS: usize = 10_000;
const FEATURES: [&str; 3] = ["support-bot", "code-assistant", "triage-agent"];
/// 3 features x 8 signals = 24 series; 720 points = 2 h at 10 s steps.
const KINDS: [SignalKind; 8] = [
    SignalKind::CostPerMin,
    SignalKind::TokensPerMin,
    SignalKind::RefusalRate,
    SignalKind::Drift,
    SignalKind::EvalScore,
    SignalKind::ErrorRatio,
    SignalKind::TtftP99,
    SignalKind::TpotP99,
];
const POINTS: usize = 720;

/// Deadline for anything the cockpit must do on the PTY.
const TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    // `cargo bench --bench cockpit -- frames` runs only the in-process frame figures, and
    // `-- binary` only the PTY ones; cargo itself adds `--bench`.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Err(e) = run(&only) {
        eprintln!("cockpit bench failed: {e}");
        std::process::exit(1);
    }
}

fn run(only: &[String]) -> Res<()> {
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    let mut report = Report::default();
    if wanted("frames") {
        eprintln!("frames: update + draw on TestBackend …");
        frames(&mut report, 160, 48)?;
        frames(&mut report, 80, 24)?;
    }
    if wanted("big") {
        eprintln!("big: 50,000 incidents from five sources …");
        big(&mut report, 160, 48)?;
        big(&mut report, 80, 24)?;
    }
    if !wanted("binary") && !wanted("memory") {
        report.print();
        return Ok(());
    }

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_oncall-cockpit"));
    eprintln!("binary: {}", bin.display());
    let scratch = std::env::temp_dir().join(format!("oncall-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = if wanted("binary") {
        binary_figures(&mut report, &bin, &scratch)
    } else {
        memory(&mut report, &bin, &scratch)
    };
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    report.print();
    Ok(())
}

fn binary_figures(report: &mut Report, bin: &Path, scratch: &Path) -> Res<()> {
    eprintln!("first frame: 10 starts on the simulated fleet …");
    first_frame(report, bin, scratch)?;
    eprintln!("key-to-frame while a backend hangs …");
    key_latency(report, bin, scratch)?;
    eprintln!("idle bytes and CPU: 60 s quiet backend alongside 30 s simulated fleet …");
    idle(report, bin, scratch)?;
    eprintln!("bytes per update …");
    update_bytes(report, bin, scratch)?;
    memory(report, bin, scratch)
}

// ------------------------------------------------------------------------------------------
// Report

#[derive(Default)]
struct Report {
    rows: Vec<(String, String, String)>,
}

impl Report {
    fn add(&mut self, what: impl Into<String>, figure: impl Into<String>, target: &str) {
        let (what, figure) = (what.into(), figure.into());
        eprintln!("  {what}: {figure}");
        self.rows.push((what, figure, target.to_string()));
    }

    fn print(&self) {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.0.chars().count())
            .max()
            .unwrap_or(0);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0);
        println!();
        println!(
            "oncall-cockpit performance ({} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        // Wall-clock tails depend on what else the machine runs; say how busy it was.
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average at the end (1, 5, 15 min): {}", load.join(" "));
        println!();
        println!("{:<w0$}  {:<w1$}  target", "measure", "figure");
        println!("{}", "-".repeat(w0 + w1 + 12));
        for (what, figure, target) in &self.rows {
            println!("{what:<w0$}  {figure:<w1$}  {target}");
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time this thread has used. Unlike wall time it leaves out the time other processes
/// held the core, which on a small shared machine is most of the tail.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec it is given, which lives on this stack.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// "median 0.412 ms  p99 0.901 ms".
fn med_p99(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "median {}  p99 {}  (n={})",
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        samples.len()
    )
}

// ------------------------------------------------------------------------------------------
// Frames on TestBackend

fn origin() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A large, plausible incident history: most resolved, some acknowledged, a few triggered.
/// `generation` changes one incident per poll, as a real source's next answer would.
fn incidents(now: DateTime<Utc>, generation: usize) -> Vec<Incident> {
    incidents_of("bench", INCIDENTS, now, generation)
}

fn incidents_of(source: &str, n: usize, now: DateTime<Utc>, generation: usize) -> Vec<Incident> {
    (0..n)
        .map(|i| {
            let sev = Sev::ALL[i % 4];
            let status = match i % 10 {
                0 => Status::Triggered,
                1 | 2 => Status::Acknowledged,
                _ => Status::Resolved,
            };
            let status = if i == generation % n {
                Status::Acknowledged
            } else {
                status
            };
            let kind = IncidentType::ALL[i % IncidentType::ALL.len()];
            let feature = FEATURES[i % FEATURES.len()];
            let triggered_at = now - Span::seconds(60 + (i as i64 * 37) % 86_400);
            Incident {
                id: format!("{source}:INC-{i:05}"),
                source: source.into(),
                kind,
                feature: SafeText::new(feature),
                sev,
                title: SafeText::new(&format!(
                    "{feature}: {} {} x trailing 1h average",
                    kind.short(),
                    i % 97
                )),
                status,
                triggered_at,
                respond_by: triggered_at + sev.response_time(),
                acked_by: (status != Status::Triggered).then(|| SafeText::new("ana")),
                acked_at: (status != Status::Triggered).then_some(triggered_at),
                escalation_level: (i % 3) as u8,
                firing: status != Status::Resolved,
                evidence: vec![
                    SafeText::new("cost $4.10/min = 42x trailing 1h avg $0.10/min"),
                    SafeText::new("tokens/min 1.2M vs 30k baseline"),
                ],
                timeline: vec![
                    TimelineEntry {
                        at: triggered_at,
                        text: SafeText::new("triggered by the cost detector"),
                    },
                    TimelineEntry {
                        at: triggered_at + Span::seconds(30),
                        text: SafeText::new("acknowledged by ana"),
                    },
                ],
                on_call: None,
                last_status_update: None,
                snoozed_until: None,
                assignees: Vec::new(),
            }
        })
        .collect()
}

/// 24 series of 720 points; `shift` slides the window like the next poll does.
fn signals(now: DateTime<Utc>, shift: usize) -> SignalSet {
    let mut set = SignalSet {
        at: Some(now),
        ..SignalSet::default()
    };
    for (f, feature) in FEATURES.iter().enumerate() {
        for (k, kind) in KINDS.iter().enumerate() {
            let points = (0..POINTS)
                .map(|p| {
                    let x = (p + shift) as f64 * 0.05 + (f * 8 + k) as f64;
                    1.0 + x.sin() * 0.4 + ((p + shift) % 17) as f64 * 0.01
                })
                .collect();
            let mut s = Signal::new(feature, *kind, 10, points);
            s.bounds = Some(Bounds {
                low: None,
                high: Some(1.3),
            });
            set.signals.push(s);
        }
        set.features
            .push(FeatureInfo::traffic_only(feature, "model-a"));
    }
    set
}

fn theme() -> Res<Theme> {
    let text = Theme::builtin("default").ok_or("no built-in default theme")?;
    Theme::parse("default", text).map_err(|e| e.to_string())
}

fn keymap() -> Res<Keymap> {
    let text = Keymap::builtin("default").ok_or("no built-in default keymap")?;
    Keymap::parse("default", text).map_err(|e| e.to_string())
}

/// One kind of frame: the action that precedes it.
#[derive(Clone, Copy, PartialEq)]
enum FrameKind {
    Cursor,
    Tick,
    Incidents,
    Signals,
}

fn frames(report: &mut Report, w: u16, h: u16) -> Res<()> {
    let theme = theme()?;
    let keymap = keymap()?;
    let mut now = origin();
    let mut state = State::new(now, "bench", "bench");
    state.sources.list = vec![
        SourceStatus::new("bench", SourceRole::Metrics, Some(1.0)),
        SourceStatus::new("bench", SourceRole::Incidents, Some(1.0)),
    ];
    update(&mut state, Action::Resize(w, h));
    let mut term = Terminal::new(TestBackend::new(w, h)).map_err(|e| e.to_string())?;
    let mut screen = Screen::default();

    // Poll data is built on another thread and only received here, as from a backend task in
    // the app: outside the timed frame, and allocated from another thread's malloc arena.
    const VARIANTS: usize = 4;
    let (request, requests) = std::sync::mpsc::channel::<(FrameKind, usize, DateTime<Utc>)>();
    let (deliver, delivered) = std::sync::mpsc::channel::<Action>();
    let backend = std::thread::spawn(move || {
        let start = origin();
        let incident_polls: Vec<Vec<Incident>> =
            (0..VARIANTS).map(|g| incidents(start, g)).collect();
        let signal_polls: Vec<SignalSet> = (0..VARIANTS).map(|g| signals(start, g)).collect();
        for (kind, n, at) in requests {
            let action = match kind {
                FrameKind::Incidents => Action::Backend(BackendEvent::Incidents {
                    source: "bench".into(),
                    at,
                    incidents: incident_polls[n % VARIANTS].clone(),
                }),
                _ => Action::Backend(BackendEvent::Signals {
                    source: "bench".into(),
                    at,
                    set: signal_polls[n % VARIANTS].clone(),
                    detections: Vec::new(),
                }),
            };
            if deliver.send(action).is_err() {
                return;
            }
        }
    });
    let poll = |kind: FrameKind, n: usize, at: DateTime<Utc>| -> Res<Action> {
        request
            .send((kind, n, at))
            .map_err(|_| "the backend thread stopped")?;
        delivered
            .recv()
            .map_err(|_| "the backend thread stopped".to_string())
    };

    // What the app hands to tokio's blocking pool (replaced incidents) goes to a thread that
    // drops it, as there.
    let (discard, pile) = std::sync::mpsc::channel::<Vec<Effect>>();
    let janitor = std::thread::spawn(move || {
        for fx in pile {
            drop(fx)
        }
    });

    let initial = [
        poll(FrameKind::Incidents, 0, now)?,
        poll(FrameKind::Signals, 0, now)?,
    ];
    let first = Instant::now();
    for action in initial {
        let _ = discard.send(update(&mut state, action));
    }
    screen
        .present(&mut term, &Ctx::new(&state, &theme, &keymap))
        .map_err(|e| e.to_string())?;
    let first = first.elapsed();

    // A session: mostly keys and clock ticks, a poll of each source now and then.
    let pattern = [
        FrameKind::Cursor,
        FrameKind::Cursor,
        FrameKind::Tick,
        FrameKind::Cursor,
        FrameKind::Incidents,
        FrameKind::Cursor,
        FrameKind::Tick,
        FrameKind::Cursor,
        FrameKind::Signals,
        FrameKind::Cursor,
    ];
    let rounds = 300;
    let mut by_kind: Vec<(FrameKind, Vec<Duration>, Vec<Duration>)> = [
        FrameKind::Cursor,
        FrameKind::Tick,
        FrameKind::Incidents,
        FrameKind::Signals,
    ]
    .into_iter()
    .map(|k| (k, Vec::new(), Vec::new()))
    .collect();
    let (mut all, mut all_cpu) = (Vec::new(), Vec::new());
    let mut drawn = 0usize;
    for n in 0..rounds * pattern.len() {
        let kind = pattern[n % pattern.len()];
        let action = match kind {
            // Walk down a screenful and back, so the list pages too.
            FrameKind::Cursor if (n / 60) % 2 == 0 => Action::Down,
            FrameKind::Cursor => Action::Up,
            FrameKind::Tick => {
                now += Span::seconds(1);
                Action::Tick(now)
            }
            FrameKind::Incidents | FrameKind::Signals => poll(kind, n, now)?,
        };
        let cpu = thread_cpu();
        let t = Instant::now();
        let fx = update(&mut state, action);
        let _ = discard.send(fx);
        let wrote = screen
            .present(&mut term, &Ctx::new(&state, &theme, &keymap))
            .map_err(|e| e.to_string())?;
        let d = t.elapsed();
        let c = thread_cpu().saturating_sub(cpu);
        drawn += usize::from(wrote);
        all.push(d);
        all_cpu.push(c);
        if let Some((_, wall, on_cpu)) = by_kind.iter_mut().find(|(k, ..)| *k == kind) {
            wall.push(d);
            on_cpu.push(c);
        }
    }
    drop(discard);
    let _ = janitor.join();
    drop(request);
    let _ = backend.join();
    let size = format!("{w}x{h}");
    report.add(
        format!("frame {size}: first (empty state + 10k incidents + 24x720 series)"),
        ms(first),
        "",
    );
    report.add(
        format!(
            "frame {size}: all frames, wall ({drawn} of {} changed the screen)",
            all.len()
        ),
        med_p99(all),
        "p99 < 2 ms",
    );
    report.add(
        format!("frame {size}: all frames, on-CPU"),
        med_p99(all_cpu),
        "p99 < 2 ms",
    );
    for (kind, wall, on_cpu) in by_kind {
        let label = match kind {
            FrameKind::Cursor => "cursor move",
            FrameKind::Tick => "clock tick",
            FrameKind::Incidents => "poll: 10,000 incidents",
            FrameKind::Signals => "poll: 24 series x 720 points",
        };
        report.add(format!("frame {size}:   {label}, wall"), med_p99(wall), "");
        report.add(
            format!("frame {size}:   {label}, on-CPU"),
            med_p99(on_cpu),
            "",
        );
    }
    Ok(())
}

/// 50,000 incidents, five sources of 10,000 (the most the default cap holds from each is
/// 5,000; a team that raises it, or watches ten sources, gets here): a poll of one source,
/// filter keystrokes (typing "sev1 support" and deleting it), and cursor moves, each as
/// `update` + frame.
fn big(report: &mut Report, w: u16, h: u16) -> Res<()> {
    const SOURCES: [&str; 5] = ["am-eu", "am-us", "am-ap", "pd-core", "pd-edge"];
    let theme = theme()?;
    let keymap = keymap()?;
    let now = origin();
    let mut state = State::new(now, "bench", "bench");
    state.sources.list = SOURCES
        .iter()
        .map(|s| SourceStatus::new(s, SourceRole::Incidents, Some(10.0)))
        .collect();
    update(&mut state, Action::Resize(w, h));
    let mut term = Terminal::new(TestBackend::new(w, h)).map_err(|e| e.to_string())?;
    let mut screen = Screen::default();
    let polls: Vec<Vec<Incident>> = SOURCES
        .iter()
        .map(|s| incidents_of(s, 10_000, now, 0))
        .collect();
    let poll = |n: usize| {
        Action::Backend(BackendEvent::Incidents {
            source: SOURCES[n % SOURCES.len()].into(),
            at: now,
            incidents: polls[n % SOURCES.len()].clone(),
        })
    };
    for n in 0..SOURCES.len() {
        drop(update(&mut state, poll(n)));
    }
    screen
        .present(&mut term, &Ctx::new(&state, &theme, &keymap))
        .map_err(|e| e.to_string())?;
    let mut timed = |action: Action, state: &mut State| -> Res<(Duration, Duration)> {
        let cpu = thread_cpu();
        let t = Instant::now();
        let fx = update(state, action);
        screen
            .present(&mut term, &Ctx::new(state, &theme, &keymap))
            .map_err(|e| e.to_string())?;
        let d = (t.elapsed(), thread_cpu().saturating_sub(cpu));
        // Freed outside the measure, as the app frees on its blocking pool.
        drop(fx);
        Ok(d)
    };
    let (mut poll_wall, mut poll_cpu) = (Vec::new(), Vec::new());
    let (mut key_wall, mut key_cpu) = (Vec::new(), Vec::new());
    let (mut move_wall, mut move_cpu) = (Vec::new(), Vec::new());
    let typed = "sev1 support";
    for round in 0..20 {
        let (w, c) = timed(poll(round), &mut state)?;
        poll_wall.push(w);
        poll_cpu.push(c);
        drop(update(&mut state, Action::Filter));
        let keys = typed
            .chars()
            .map(|ch| KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE))
            .chain((0..typed.len()).map(|_| KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)));
        for key in keys {
            let (w, c) = timed(Action::TextInput(key), &mut state)?;
            key_wall.push(w);
            key_cpu.push(c);
        }
        drop(update(&mut state, Action::Cancel));
        for n in 0..20 {
            let step = if n < 10 { Action::Down } else { Action::Up };
            let (w, c) = timed(step, &mut state)?;
            move_wall.push(w);
            move_cpu.push(c);
        }
    }
    let size = format!("{w}x{h}");
    let shown = state.incidents.all.len();
    for (what, wall, cpu) in [
        (
            "poll of one source (view of 50,000 rebuilt)",
            poll_wall,
            poll_cpu,
        ),
        ("filter keystroke", key_wall, key_cpu),
        ("cursor move", move_wall, move_cpu),
    ] {
        report.add(
            format!("{shown} incidents {size}: {what}, wall"),
            med_p99(wall),
            "",
        );
        report.add(
            format!("{shown} incidents {size}: {what}, on-CPU"),
            med_p99(cpu),
            "< 16 ms",
        );
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The binary on a PTY

struct Watch {
    pred: Box<dyn Fn(&vt100::Screen) -> bool + Send>,
    hit: Option<Instant>,
}

struct Output {
    parser: vt100::Parser,
    bytes: u64,
    closed: bool,
    watch: Option<Watch>,
}

struct Shared {
    out: Mutex<Output>,
    changed: Condvar,
}

struct Cockpit {
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    shared: Arc<Shared>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Cockpit {
    /// Starts the binary in a `cols` x `rows` PTY with its own HOME and data directory, and
    /// returns with the spawn instant.
    fn start(
        bin: &Path,
        dir: &Path,
        cols: u16,
        rows: u16,
        args: &[&str],
    ) -> Res<(Cockpit, Instant)> {
        let home = dir.join("home");
        let data = dir.join("data");
        for d in [&data, &home.join(".config"), &home.join(".local/share")] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| format!("openpty: {e}"))?;
        let mut cmd = CommandBuilder::new(bin);
        cmd.arg("--data-dir");
        cmd.arg(&data);
        cmd.args(args);
        cmd.cwd(dir);
        cmd.env("TERM", "xterm-256color");
        cmd.env("HOME", &home);
        cmd.env("XDG_CONFIG_HOME", home.join(".config"));
        cmd.env("XDG_DATA_HOME", home.join(".local/share"));
        cmd.env("USER", "bench");
        for var in ["NO_COLOR", "ONCALL_COCKPIT_LOG", "COLUMNS", "LINES"] {
            cmd.env_remove(var);
        }
        let shared = Arc::new(Shared {
            out: Mutex::new(Output {
                parser: vt100::Parser::new(rows, cols, 0),
                bytes: 0,
                closed: false,
                watch: None,
            }),
            changed: Condvar::new(),
        });
        let mut reader = pty
            .master
            .try_clone_reader()
            .map_err(|e| format!("pty reader: {e}"))?;
        let writer = pty
            .master
            .take_writer()
            .map_err(|e| format!("pty writer: {e}"))?;
        let started = Instant::now();
        let child = pty
            .slave
            .spawn_command(cmd)
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        drop(pty.slave);
        let sink = Arc::clone(&shared);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let at = Instant::now();
                let mut out = sink.out.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    out.closed = true;
                    sink.changed.notify_all();
                    return;
                }
                out.bytes += n as u64;
                out.parser.process(&buf[..n]);
                let Output { parser, watch, .. } = &mut *out;
                if let Some(w) = watch.as_mut().filter(|w| w.hit.is_none()) {
                    if (w.pred)(parser.screen()) {
                        w.hit = Some(at);
                        sink.changed.notify_all();
                    }
                }
            }
        });
        Ok((
            Cockpit {
                child,
                _master: pty.master,
                writer,
                shared,
                reader: Some(reader),
            },
            started,
        ))
    }

    fn out(&self) -> MutexGuard<'_, Output> {
        self.shared.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes(&self) -> u64 {
        self.out().bytes
    }

    fn pid(&self) -> Res<u32> {
        self.child.process_id().ok_or_else(|| "no pid".to_string())
    }

    fn send(&mut self, bytes: &[u8]) -> Res<()> {
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .map_err(|e| format!("write to pty: {e}"))
    }

    /// Arms `pred`; `act` then runs, and the return is when the output that first satisfied
    /// `pred` arrived (the present instant if it already holds before `act`).
    fn when(
        &mut self,
        what: &str,
        pred: impl Fn(&vt100::Screen) -> bool + Send + 'static,
        act: impl FnOnce(&mut Cockpit) -> Res<()>,
    ) -> Res<Instant> {
        {
            let mut out = self.out();
            let hit = pred(out.parser.screen()).then(Instant::now);
            out.watch = Some(Watch {
                pred: Box::new(pred),
                hit,
            });
        }
        act(self)?;
        let deadline = Instant::now() + TIMEOUT;
        let mut out = self.out();
        loop {
            if let Some(at) = out.watch.as_ref().and_then(|w| w.hit) {
                out.watch = None;
                return Ok(at);
            }
            if out.closed {
                return Err(format!("the cockpit exited while waiting for {what}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let screen = out.parser.screen().contents();
                return Err(format!("timed out waiting for {what}; screen:\n{screen}"));
            }
            out = self
                .shared
                .changed
                .wait_timeout(out, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn wait(
        &mut self,
        what: &str,
        pred: impl Fn(&vt100::Screen) -> bool + Send + 'static,
    ) -> Res<Instant> {
        self.when(what, pred, |_| Ok(()))
    }

    /// Waits until no output has arrived for `quiet`; returns the bytes seen meanwhile.
    fn settle(&self, quiet: Duration) -> u64 {
        let start = self.bytes();
        let mut last = start;
        let mut since = Instant::now();
        let deadline = Instant::now() + TIMEOUT;
        while since.elapsed() < quiet && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            let now = self.bytes();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        last - start
    }
}

impl Drop for Cockpit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The full cockpit is on screen: header, and the footer's key hints.
fn full_frame(s: &vt100::Screen) -> bool {
    let (rows, cols) = s.size();
    let head = s.contents_between(0, 0, 0, cols);
    let foot = s.contents_between(rows.saturating_sub(2), 0, rows - 1, cols);
    head.contains("oncall-cockpit") && foot.contains("help")
}

fn first_frame(report: &mut Report, bin: &Path, scratch: &Path) -> Res<()> {
    let mut frame = Vec::new();
    let mut data = Vec::new();
    for n in 0..10 {
        let dir = scratch.join(format!("first-{n}"));
        let (mut c, started) = Cockpit::start(bin, &dir, 160, 48, &[])?;
        frame.push(c.wait("the first full frame", full_frame)? - started);
        // The simulated fleet's first poll: signal values on screen.
        data.push(c.wait("the first signals", |s| s.contents().contains("cost $/min"))? - started);
    }
    report.add(
        "first frame: spawn → full frame, sim fleet, 160x48",
        med_p99(frame),
        "",
    );
    report.add("first data: spawn → first signals shown", med_p99(data), "");
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Backends for the binary: a constant Alertmanager and one that hangs.

/// Serves Alertmanager's API from `alerts` (the JSON the next poll gets) and no silences.
fn alertmanager(alerts: Arc<Mutex<String>>) -> Res<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let alerts = Arc::clone(&alerts);
            std::thread::spawn(move || serve(conn, &alerts));
        }
    });
    Ok(port)
}

fn serve(conn: TcpStream, alerts: &Mutex<String>) {
    let Ok(mut write) = conn.try_clone() else {
        return;
    };
    let mut read = BufReader::new(conn);
    loop {
        let mut request = String::new();
        if read.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        // Headers: nothing to read from them; GETs carry no body.
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("");
        let (status, body) = if path.starts_with("/api/v2/alerts") {
            (
                "200 OK",
                alerts.lock().map(|a| a.clone()).unwrap_or_default(),
            )
        } else if path.starts_with("/api/v2/silences") {
            ("200 OK", "[]".to_string())
        } else {
            ("404 Not Found", String::new())
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if write.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Accepts connections and never answers.
fn hanging() -> Res<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => return,
            }
        }
    });
    Ok(port)
}

/// `n` SEV4 alerts that started two hours ago: their age and countdown change once a minute,
/// so the screen is as still as real data allows.
fn alerts_json(n: usize, started: DateTime<Utc>) -> String {
    let started = started.to_rfc3339();
    let alerts: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "labels": {
                    "alertname": format!("BenchAlert{i}"),
                    "severity": "sev4",
                    "feature": FEATURES[i % FEATURES.len()],
                    "ai_incident_type": "errors",
                },
                "annotations": { "summary": format!("bench alert {i}: error ratio 6%") },
                "startsAt": started,
                "fingerprint": format!("fp{i:04}"),
                "status": { "state": "active", "silencedBy": [], "inhibitedBy": [] },
            })
        })
        .collect();
    serde_json::Value::Array(alerts).to_string()
}

fn write_config(dir: &Path, text: &str) -> Res<String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("config.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.to_string_lossy().into_owned())
}

/// The screen row (0-based, within the table) drawn with the selection style.
fn selected_row(s: &vt100::Screen) -> Option<u16> {
    let (rows, cols) = s.size();
    let header = (0..rows).find(|&r| s.contents_between(r, 0, r, cols).contains("SEV  TYPE"))?;
    let line = s.contents_between(header, 0, header, cols);
    let probe = line.find("FEATURE")? as u16;
    (header + 1..rows)
        .find(|&r| {
            s.cell(r, probe)
                .is_some_and(|c| c.inverse() || c.bgcolor() != vt100::Color::Default)
        })
        .map(|r| r - header - 1)
}

fn key_latency(report: &mut Report, bin: &Path, scratch: &Path) -> Res<()> {
    let am = alertmanager(Arc::new(Mutex::new(alerts_json(
        30,
        Utc::now() - Span::hours(2),
    ))))?;
    let hung = hanging()?;
    let dir = scratch.join("hang");
    let config = write_config(
        &dir,
        &format!(
            r#"
[[alertmanager]]
name = "am"
url = "http://127.0.0.1:{am}"
poll_secs = 1.0

[[alertmanager]]
name = "am-hung"
url = "http://127.0.0.1:{hung}"
poll_secs = 1.0
timeout_secs = 5.0

[[prometheus]]
name = "prom-hung"
url = "http://127.0.0.1:{hung}"
poll_secs = 1.0
timeout_secs = 5.0
"#
        ),
    )?;
    let (mut c, _) = Cockpit::start(bin, &dir, 160, 48, &["--config", &config])?;
    c.wait("30 alerts listed with the top one selected", |s| {
        s.contents().contains("SEV4 30") && selected_row(s) == Some(0)
    })?;
    // Every sample is taken while both hung sources have a request outstanding.
    let mut samples = Vec::new();
    for n in 0..200 {
        let (key, row): (&[u8], u16) = if n % 2 == 0 { (b"j", 1) } else { (b"k", 0) };
        let mut sent = Instant::now();
        let at = c.when(
            "the selection to move",
            move |s| selected_row(s) == Some(row),
            |c| {
                sent = Instant::now();
                c.send(key)
            },
        )?;
        samples.push(at.saturating_duration_since(sent));
    }
    let hung_shown = c.out().parser.screen().contents().contains("am-hung");
    report.add(
        format!(
            "key-to-frame, j/k, two sources hanging{}",
            if hung_shown {
                ""
            } else {
                " (not yet timed out)"
            }
        ),
        med_p99(samples),
        "< 20 ms",
    );
    Ok(())
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name is in parentheses and may contain spaces; fields count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Res<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat field {i}"))
    };
    // utime and stime are fields 14 and 15 of the whole line; 11 and 12 after the name.
    Ok((field(11)? + field(12)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn idle(report: &mut Report, bin: &Path, scratch: &Path) -> Res<()> {
    // Quiet: an Alertmanager with nothing firing, polled every second, and nothing else.
    let am = alertmanager(Arc::new(Mutex::new("[]".into())))?;
    let quiet_dir = scratch.join("quiet");
    let quiet_cfg = write_config(
        &quiet_dir,
        &format!(
            "[[alertmanager]]\nname = \"am\"\nurl = \"http://127.0.0.1:{am}\"\npoll_secs = 1.0\n"
        ),
    )?;
    let sim_dir = scratch.join("sim");
    let sim_cfg = write_config(&sim_dir, "[sim]\npoll_secs = 1.0\n")?;

    let (mut quiet, _) = Cockpit::start(bin, &quiet_dir, 160, 48, &["--config", &quiet_cfg])?;
    let (mut sim, _) = Cockpit::start(bin, &sim_dir, 160, 48, &["--config", &sim_cfg])?;
    quiet.wait("the quiet cockpit polled", |s| {
        s.contents().contains("● am ok")
    })?;
    sim.wait("the fleet's first signals", |s| {
        s.contents().contains("cost $/min")
    })?;
    // Let start-up work (history, first detections, the first flash message) finish.
    std::thread::sleep(Duration::from_secs(10));

    let window = Duration::from_secs(60);
    let cpu_window = Duration::from_secs(30);
    let (qpid, spid) = (quiet.pid()?, sim.pid()?);
    let (q0, qc0, s0, sc0) = (quiet.bytes(), cpu_secs(qpid)?, sim.bytes(), cpu_secs(spid)?);
    let t0 = Instant::now();
    std::thread::sleep(cpu_window);
    let (s1, sc1) = (sim.bytes(), cpu_secs(spid)?);
    let sim_elapsed = t0.elapsed().as_secs_f64();
    drop(sim);
    std::thread::sleep(window.saturating_sub(t0.elapsed()));
    let (q1, qc1) = (quiet.bytes(), cpu_secs(qpid)?);
    let quiet_elapsed = t0.elapsed().as_secs_f64();
    let pct = |cpu: f64, secs: f64| format!("{:.2}% of a core", cpu / secs * 100.0);
    report.add(
        format!("idle bytes/min: Alertmanager, no alerts, 1 s polls ({quiet_elapsed:.0} s)"),
        format!("{:.0} B/min", (q1 - q0) as f64 * 60.0 / quiet_elapsed),
        "0",
    );
    report.add(
        format!("idle CPU: sim fleet, [sim] poll_secs = 1 ({sim_elapsed:.0} s)"),
        pct(sc1 - sc0, sim_elapsed),
        "< 1%",
    );
    report.add(
        format!("idle CPU: Alertmanager, no alerts, 1 s polls ({quiet_elapsed:.0} s)"),
        pct(qc1 - qc0, quiet_elapsed),
        "< 1%",
    );
    report.add(
        "bytes/s: sim fleet at 1 s polls (every poll new data)",
        format!("{:.0} B/s", (s1 - s0) as f64 / sim_elapsed),
        "",
    );
    drop(quiet);
    Ok(())
}

/// A `kB` field of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, field: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

/// RSS of the cockpit watching an Alertmanager with `n` alerts (caps raised to hold them all,
/// 1 s polls): sampled every 250 ms for 20 s once the list shows them, as (median, max, peak)
/// in KiB.
fn rss_with_alerts(bin: &Path, scratch: &Path, n: usize) -> Res<(u64, u64, u64)> {
    let body = alerts_json(n, Utc::now() - Span::hours(2));
    let json_bytes = body.len();
    let am = alertmanager(Arc::new(Mutex::new(body)))?;
    let dir = scratch.join(format!("memory-{n}"));
    let config = write_config(
        &dir,
        &format!(
            "[[alertmanager]]\nname = \"am\"\nurl = \"http://127.0.0.1:{am}\"\npoll_secs = 1.0\n\
             timeout_secs = 30.0\nmax_reply_mib = 256\nmax_incidents = 100000\n"
        ),
    )?;
    let (mut c, _) = Cockpit::start(bin, &dir, 160, 48, &["--config", &config])?;
    let want = format!("Incidents {n} open");
    c.wait(&want.clone(), move |s| s.contents().contains(&want))?;
    let pid = c.pid()?;
    let mut samples = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        samples.push(status_kib(pid, "VmRSS")?);
        std::thread::sleep(Duration::from_millis(250));
    }
    samples.sort_unstable();
    let peak = status_kib(pid, "VmHWM")?;
    eprintln!("{n} alerts ({json_bytes} B of JSON): RSS samples {samples:?}");
    Ok((samples[samples.len() / 2], samples[samples.len() - 1], peak))
}

fn memory(report: &mut Report, bin: &Path, scratch: &Path) -> Res<()> {
    const N: usize = 50_000;
    eprintln!("memory: Alertmanager with none and with {N} alerts, 1 s polls …");
    let (base, _, _) = rss_with_alerts(bin, scratch, 0)?;
    let (median, max, peak) = rss_with_alerts(bin, scratch, N)?;
    let json = alerts_json(N, Utc::now()).len() as f64 / N as f64;
    let per = |kib: u64| kib.saturating_sub(base) as f64 * 1024.0 / N as f64;
    report.add(
        "RSS: Alertmanager, no alerts",
        format!("{} MiB", base / 1024),
        "",
    );
    report.add(
        format!("RSS: {N} alerts at 1 s polls, median / max / peak"),
        format!("{} / {} / {} MiB", median / 1024, max / 1024, peak / 1024),
        "",
    );
    report.add(
        format!("memory per incident (median RSS over none, / {N}; JSON {json:.0} B each)"),
        format!("{:.0} B (max {:.0} B)", per(median), per(max)),
        "well under 5.7 KB",
    );
    Ok(())
}

fn update_bytes(report: &mut Report, bin: &Path, scratch: &Path) -> Res<()> {
    let started = Utc::now() - Span::hours(2);
    let alerts = Arc::new(Mutex::new(alerts_json(10, started)));
    let am = alertmanager(Arc::clone(&alerts))?;
    let dir = scratch.join("update");
    let config = write_config(
        &dir,
        &format!(
            "[[alertmanager]]\nname = \"am\"\nurl = \"http://127.0.0.1:{am}\"\npoll_secs = 1.0\n"
        ),
    )?;
    let (mut c, _) = Cockpit::start(bin, &dir, 160, 48, &["--config", &config])?;
    c.wait("10 alerts listed", |s| {
        s.contents().contains("bench alert 9")
    })?;
    c.settle(Duration::from_millis(1500));
    // Each poll after the switch brings one alert more or one fewer.
    let mut samples = Vec::new();
    for n in 0..10 {
        let count = if n % 2 == 0 { 11 } else { 10 };
        let before = c.bytes();
        let text = alerts_json(count, started);
        c.when(
            "the list to change",
            move |s| s.contents().contains("bench alert 10") == (count == 11),
            |_| {
                *alerts.lock().map_err(|_| "alerts lock poisoned")? = text;
                Ok(())
            },
        )?;
        // The frame may arrive in more than one read.
        c.settle(Duration::from_millis(200));
        samples.push(c.bytes() - before);
    }
    samples.sort();
    report.add(
        "bytes per update: one poll adds/removes an alert (160x48)",
        format!(
            "median {} B  max {} B  (n={})",
            samples[samples.len() / 2],
            samples[samples.len() - 1],
            samples.len()
        ),
        "",
    );
    Ok(())
}
