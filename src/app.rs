//! The event loop: wait for something to happen, drain everything queued, run it through
//! `update`, carry out the effects, and draw once if anything visible changed.

use crate::action::Action;
use crate::atomic_file;
use crate::audit::{AuditLog, AuditRecord};
use crate::clock::Clock;
use crate::config::keymap::{Keymap, Mode};
use crate::config::theme::Theme;
use crate::domain::command::{Command, CommandOutcome, CommandRequest};
use crate::domain::event::BackendEvent;
use crate::domain::sample::SampleQuery;
use crate::domain::shadow::ShadowRequest;
use crate::runbook::postmortem::{self, Draft};
use crate::state::{update, Effect, Saving, State};
use crate::ui::{self, Ctx};
use chrono::Utc;
use crossterm::event::{Event, KeyEvent, KeyEventKind};
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Where commands go: one channel per incident source and per flag system.
#[derive(Default)]
pub struct Router {
    pub incidents: HashMap<String, UnboundedSender<CommandRequest>>,
    pub flags: HashMap<String, UnboundedSender<CommandRequest>>,
    pub pagers: HashMap<String, UnboundedSender<CommandRequest>>,
    pub samples: HashMap<String, UnboundedSender<SampleQuery>>,
    pub shadow: HashMap<String, UnboundedSender<ShadowRequest>>,
}

impl Router {
    /// Hands the command to its backend's task, or says why it cannot.
    fn route(&self, req: CommandRequest) -> Result<(), (u64, String)> {
        let id = req.action_id;
        let (map, kind) = match &req.command {
            Command::Incident { .. } => (&self.incidents, "incident source"),
            Command::Flag { .. } => (&self.flags, "flag system"),
            Command::Page { .. } => (&self.pagers, "pager"),
        };
        let source = req.command.source().to_string();
        match map.get(&source) {
            Some(tx) => tx
                .send(req)
                .map_err(|_| (id, format!("{kind} {source} has stopped"))),
            None => Err((id, format!("no {kind} named {source}"))),
        }
    }

    /// Hands a samples query to its source's task, or says why it cannot.
    fn ask(&self, source: &str, query: SampleQuery) -> Result<(), String> {
        match self.samples.get(source) {
            Some(tx) => tx
                .send(query)
                .map_err(|_| format!("samples source {source} has stopped")),
            None => Err(format!("no samples source named {source}")),
        }
    }

    /// Hands a shadow comparison to its metrics source's task, or says why it cannot.
    fn compare(&self, source: &str, request: ShadowRequest) -> Result<(), String> {
        match self.shadow.get(source) {
            Some(tx) => tx
                .send(request)
                .map_err(|_| format!("metrics source {source} has stopped")),
            None => Err(format!(
                "no metrics source named {source} takes comparisons"
            )),
        }
    }
}

/// Terminal input arrives on its own thread; crossterm's `read` blocks.
pub enum Input {
    Key(KeyEvent),
    Resize(u16, u16),
    /// The terminal went away (SSH drop) or input failed.
    Closed(String),
}

pub fn spawn_input_thread() -> UnboundedReceiver<Input> {
    let (tx, rx) = unbounded_channel();
    std::thread::spawn(move || loop {
        let msg = match crossterm::event::read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => Input::Key(k),
            Ok(Event::Resize(w, h)) => Input::Resize(w, h),
            Ok(_) => continue,
            Err(e) => {
                // Reading a dead terminal fails forever; report once and stop, never spin.
                let _ = tx.send(Input::Closed(format!("terminal input failed: {e}")));
                return;
            }
        };
        if tx.send(msg).is_err() {
            return;
        }
    });
    rx
}

/// What the audit thread is asked to do, in order: append a record, or write a postmortem
/// (which reads the log, so it must come after every record queued before it).
pub enum Journal {
    Record(AuditRecord),
    Export(Box<Draft>),
    /// Files to write under the data directory, owner-only and fsynced.
    Save {
        what: Saving,
        dir: String,
        files: Vec<(String, Vec<u8>)>,
    },
}

/// Writes `files` into `<data dir>/<dir>/`, each owner-only and fsynced, and returns the
/// folder. `dir` is built by the state from cleaned names; a `..` in it is refused all the
/// same.
fn save_files(data_dir: &Path, dir: &str, files: &[(String, Vec<u8>)]) -> Result<String, String> {
    let rel = Path::new(dir);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "refusing to write outside the data directory: {dir}"
        ));
    }
    let folder = data_dir.join(rel);
    crate::private::create_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    for (name, bytes) in files {
        let path = folder.join(name);
        atomic_file::write_private(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(folder.display().to_string())
}

/// The audit log's last `AUDIT_TAIL` bytes, parsed, for the change timeline's levers of
/// earlier sessions: read once at start-up, before the first frame. A log that cannot be
/// read leaves the timeline without them (the postmortem export says why, if it fails too).
pub fn audit_tail(path: &Path) -> Vec<postmortem::AuditLine> {
    use std::io::{Read, Seek, SeekFrom};
    const AUDIT_TAIL: u64 = 1 << 20;
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(AUDIT_TAIL);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err()
        || file.take(AUDIT_TAIL).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    // Past the cut, the first line is a piece of one: dropped, not counted as torn.
    let text = match (from > 0, text.split_once('\n')) {
        (true, Some((_, rest))) => rest,
        _ => &text,
    };
    postmortem::parse_audit(text).0
}

/// Reads the audit log and writes the postmortem beside it, atomically.
fn write_postmortem(audit_path: &Path, draft: &Draft) -> Result<String, String> {
    let text = match std::fs::read(audit_path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", audit_path.display())),
    };
    let (lines, unreadable) = postmortem::parse_audit(&text);
    let markdown = postmortem::render(draft, &lines, unreadable);
    let dir = audit_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("postmortems");
    crate::private::create_dir(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let at = draft.exported_at_real.unwrap_or(draft.exported_at);
    let path = dir.join(postmortem::file_name(&draft.incident.id, at));
    atomic_file::write_private(&path, markdown.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// The audit log is written on its own thread: an fsync must never stall a frame.
/// The thread ends once every sender is dropped and the queue is written; join it at exit.
pub fn spawn_audit_writer(
    path: PathBuf,
    report: UnboundedSender<Action>,
) -> (
    std::sync::mpsc::Sender<Journal>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel::<Journal>();
    let handle = std::thread::spawn(move || {
        let mut log = match AuditLog::open(&path) {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = report.send(Action::AuditFailed(format!("{}: {e}", path.display())));
                None
            }
        };
        for msg in rx {
            let rec = match msg {
                Journal::Record(rec) => rec,
                Journal::Export(draft) => {
                    let _ = report.send(Action::Exported(write_postmortem(&path, &draft)));
                    continue;
                }
                Journal::Save { what, dir, files } => {
                    let data_dir = path.parent().unwrap_or(Path::new("."));
                    let result = save_files(data_dir, &dir, &files);
                    let _ = report.send(Action::Saved { what, result });
                    continue;
                }
            };
            let result = match log.as_mut() {
                Some(l) => l.append(&rec),
                None => AuditLog::open(&path).and_then(|mut l| {
                    let r = l.append(&rec);
                    log = Some(l);
                    r
                }),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "audit append failed");
                let _ = report.send(Action::AuditFailed(format!(
                    "{}: {e} ({} {})",
                    path.display(),
                    rec.action,
                    rec.target
                )));
            }
        }
    });
    (tx, handle)
}

/// Frees garbage (runs `free`) on tokio's blocking pool, so the next frame does not wait
/// for it.
fn discard(free: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(free);
        }
        Err(_) => free(),
    }
}

/// BEL on the terminal, between frames: a responder looking at another window hears it (and
/// tmux marks the window). A dead terminal is noticed by the next frame, not here.
fn ring_bell() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x07").and_then(|()| out.flush());
}

pub fn map_key(keymap: &Keymap, mode: Mode, key: &KeyEvent) -> Option<Action> {
    match keymap.action_for(mode, key) {
        Some(name) => Some(Action::from(name)),
        None if mode == Mode::Text => Some(Action::TextInput(*key)),
        None => None,
    }
}

/// Decides whether a frame reaches the terminal. Every loop turn renders off-screen (cheap,
/// and pure: the renderer reads only `State`), but the terminal is written only when the
/// cells differ from what it already shows. ratatui alone writes a cursor-hide and attribute
/// resets on every `draw`, even an unchanged one; with a 2 Hz tick that is a steady trickle of
/// output over SSH and a tmux window that always looks active. Comparing whole frames, rather
/// than having `update` set dirty flags, cannot miss a change: whatever the renderer derives
/// from the clock (countdowns, ages, staleness, expiring messages) redraws the moment its text
/// changes, and nothing else does.
#[derive(Default)]
pub struct Screen {
    /// The last frame handed to the terminal; None forces a full redraw.
    shown: Option<Buffer>,
    /// Set on resize: the terminal emulator may have reflowed or dropped what it showed, so
    /// the next frame clears and repaints everything instead of sending a diff.
    repaint: bool,
    /// The size of the last frame drawn: the terminal's own, which may be news before the
    /// resize event arrives.
    size: Option<(u16, u16)>,
}

impl Screen {
    /// The size the last frame was drawn at.
    pub fn drawn_size(&self) -> Option<(u16, u16)> {
        self.size
    }

    /// The next frame clears the terminal and redraws every cell.
    pub fn invalidate(&mut self) {
        self.shown = None;
        self.repaint = true;
    }

    /// Renders `state` and writes it to the terminal if it differs from what is on screen.
    /// Returns whether anything was written.
    pub fn present<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        ctx: &Ctx,
    ) -> std::io::Result<bool> {
        if std::mem::take(&mut self.repaint) {
            // `Terminal::clear` asks the terminal where its cursor is and waits for the answer
            // on stdin, which the input task owns: the answer never comes and the frame fails.
            // A resize to the current size clears and forgets the back buffer without asking.
            let size = terminal.size().map_err(io_error)?;
            terminal
                .resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
                .map_err(io_error)?;
        }
        // The same steps as `Terminal::draw`, split so the frame can be dropped unseen. The
        // renderer never places the terminal cursor (text boxes draw their own), so the cells
        // are the whole frame.
        terminal.autoresize().map_err(io_error)?;
        let mut frame = terminal.get_frame();
        self.size = Some((frame.area().width, frame.area().height));
        ui::draw(&mut frame, ctx);
        let cells = terminal.current_buffer_mut();
        if self.shown.as_ref() == Some(&*cells) {
            // Left as is, the next frame would be drawn over these cells.
            cells.reset();
            return Ok(false);
        }
        let drawn = cells.clone();
        terminal.flush().map_err(io_error)?;
        terminal.hide_cursor().map_err(io_error)?;
        terminal.swap_buffers();
        terminal.backend_mut().flush().map_err(io_error)?;
        self.shown = Some(drawn);
        Ok(true)
    }
}

pub struct App<'a> {
    pub state: State,
    /// The cockpit's clock, to stamp audit records and exports when they happen.
    pub clock: Clock,
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub router: Router,
    pub audit: std::sync::mpsc::Sender<Journal>,
    /// For errors found while executing effects (no route for a command).
    pub feedback: UnboundedSender<Action>,
    pub screen: Screen,
}

impl App<'_> {
    fn apply(&mut self, action: Action) {
        let effects = update(&mut self.state, action);
        for effect in effects {
            match effect {
                Effect::Send(req) => {
                    if let Err((action_id, error)) = self.router.route(req) {
                        let outcome = CommandOutcome {
                            action_id,
                            result: Err(error),
                        };
                        let _ = self.feedback.send(Action::CommandDone(outcome));
                    }
                }
                Effect::Export(mut draft) => {
                    draft.exported_at_real = Some(Utc::now());
                    if self.audit.send(Journal::Export(draft)).is_err() {
                        let _ = self
                            .feedback
                            .send(Action::Exported(Err("the audit writer has stopped".into())));
                    }
                }
                Effect::Audit(mut rec) => {
                    // `update` has no clock and its `now` is the last tick's: an outcome that
                    // arrives before the next tick would carry its request's time.
                    let drill = (self.clock.speed() != 1.0).then(|| self.clock.now());
                    rec.stamp(Utc::now(), drill);
                    if self.audit.send(Journal::Record(rec)).is_err() {
                        let _ = self
                            .feedback
                            .send(Action::AuditFailed("audit writer stopped".into()));
                    }
                }
                Effect::Discard(garbage) => {
                    let big = garbage.len() >= crate::memory::TRIM_AFTER;
                    discard(move || {
                        drop(garbage);
                        if big {
                            crate::memory::release_freed();
                        }
                    })
                }
                Effect::Samples { source, query } => {
                    let (feature, window) = (query.feature.clone(), query.window);
                    if let Err(e) = self.router.ask(&source, query) {
                        let _ = self.feedback.send(Action::Backend(BackendEvent::Samples {
                            source,
                            at: self.clock.now(),
                            feature,
                            window,
                            samples: Err(e),
                            note: None,
                        }));
                    }
                }
                Effect::Shadow { source, request } => {
                    if let Err(e) = self.router.compare(&source, request.clone()) {
                        let _ = self.feedback.send(Action::Backend(BackendEvent::Shadow {
                            source,
                            at: self.clock.now(),
                            request: Box::new(request),
                            answer: Err(e),
                        }));
                    }
                }
                Effect::Save { what, snapshot } => {
                    let job = Journal::Save {
                        what,
                        dir: snapshot.dir,
                        files: snapshot.files,
                    };
                    if self.audit.send(job).is_err() {
                        let _ = self.feedback.send(Action::Saved {
                            what,
                            result: Err("the journal writer has stopped".into()),
                        });
                    }
                }
                Effect::Bell => ring_bell(),
                Effect::Quit => {}
            }
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Key(k) => {
                if let Some(a) = map_key(self.keymap, self.state.input_mode(), &k) {
                    self.apply(a);
                }
            }
            Input::Resize(w, h) => {
                self.screen.invalidate();
                self.apply(Action::Resize(w, h));
            }
            Input::Closed(why) => self.apply(Action::Shutdown(why)),
        }
    }

    fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> std::io::Result<()> {
        // A frame can show `update` something it had not heard of; the frame drawn after it
        // describes what the state now knows. Twice at most: the second teaches nothing new.
        for _ in 0..2 {
            let ctx = Ctx {
                state: &self.state,
                theme: self.theme,
                keymap: self.keymap,
            };
            self.screen.present(terminal, &ctx)?;
            if !self.learn_from_frame() {
                break;
            }
        }
        Ok(())
    }

    /// Tells `update` what only the frame just drawn knows. Returns whether anything changed.
    fn learn_from_frame(&mut self) -> bool {
        let mut changed = false;
        // A frame drawn at a size `update` has not heard of (crossterm's resize event can
        // arrive after keys typed at the new size): the state learns it now, so no key is
        // taken by a screen it no longer describes — at 40x10 the frame says "too small"
        // and `update` must refuse what the responder types blind.
        if let Some((w, h)) = self.screen.drawn_size().filter(|s| *s != self.state.size) {
            self.apply(Action::Resize(w, h));
            changed = true;
        }
        // Layout is the renderer's: how far the open view can scroll is measured on the frame
        // and handed to `update`, which keeps the position within it.
        let limit = crate::ui::scroll_limit(&self.state);
        if limit != self.state.scroll_limit {
            self.apply(Action::ScrollLimit(limit));
            changed = true;
        }
        changed
    }

    /// Runs until quit. Returns the reason the loop ended.
    pub async fn run<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        mut actions: UnboundedReceiver<Action>,
        mut inputs: UnboundedReceiver<Input>,
    ) -> std::io::Result<()> {
        // Configuration, like --read-only: how long the help generated from the keymap is, so
        // `update` can keep its scrolling within it.
        self.state.help_shape = ui::help_shape(self.keymap);
        self.draw(terminal)?;
        while !self.state.quit {
            tokio::select! {
                Some(a) = actions.recv() => self.apply(a),
                Some(i) = inputs.recv() => self.input(i),
                else => break,
            }
            // Handle everything already queued before paying for a frame.
            while let Ok(i) = inputs.try_recv() {
                self.input(i);
            }
            while let Ok(a) = actions.try_recv() {
                self.apply(a);
            }
            if self.state.quit {
                break;
            }
            if let Err(e) = self.draw(terminal) {
                // The terminal is gone (an SSH drop that sent no SIGHUP): end the session as
                // when input fails, rather than as an error nobody is left to read.
                tracing::warn!(error = %e, "cannot write to the terminal");
                self.apply(Action::Shutdown(format!("terminal write failed: {e}")));
            }
        }
        Ok(())
    }
}

/// A backend's own error type (the test backend's cannot fail) as the I/O error the terminal
/// loop reports.
fn io_error<E: std::fmt::Display>(e: E) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_files_are_owner_only_and_stay_inside_the_data_directory() {
        let data = std::env::temp_dir().join(format!("oc-save-{}", std::process::id()));
        let files = vec![("evidence.json".to_string(), b"{}".to_vec())];
        let folder = save_files(&data, "evidence/INC-1/20261201T000000Z", &files).expect("saved");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(Path::new(&folder)), 0o700);
        assert_eq!(mode(&Path::new(&folder).join("evidence.json")), 0o600);
        for bad in ["../outside", "/etc/x", "evidence/../../x"] {
            let err = save_files(&data, bad, &files).expect_err(bad);
            assert!(err.contains("outside the data directory"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&data);
    }
}
