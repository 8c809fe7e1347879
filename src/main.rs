//! oncall-cockpit: CLI, logging to a file, terminal set-up and restore, and wiring of the
//! backends to the event loop.

use chrono::Utc;
use clap::Parser;
use oncall_cockpit::action::{Action, Startup};
use oncall_cockpit::app::{self, App};
use oncall_cockpit::backend::registry;
use oncall_cockpit::clock::Clock;
use oncall_cockpit::config::error::ConfigError;
use oncall_cockpit::config::settings::{self, Overrides, Paths};
use oncall_cockpit::drill::{report, Timetable};
use oncall_cockpit::state::{update, State, TICKS_PER_SEC};
use oncall_cockpit::wiring;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// Terminal cockpit for on-call responders of AI/LLM systems. With no configuration it runs
/// on an embedded simulated AI fleet.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Config file (default: config.toml in the user config directory).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Where the audit log and the log file go (default: the user data directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seed of the simulated fleet; the same seed replays the same drill.
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated time per wall-clock second, for drills (10 = ten times faster).
    // A negative number is a value to refuse with a clear message, not an unknown flag.
    #[arg(long, allow_negative_numbers = true)]
    speed: Option<f64>,
    /// Disable every action (ack, escalate, resolve, note, rollback, kill switch).
    #[arg(long)]
    read_only: bool,
    /// Theme name (built-in: default, high-contrast, no-color).
    #[arg(long)]
    theme: Option<String>,
    /// Keymap name (built-in: default, vim).
    #[arg(long)]
    keymap: Option<String>,
    /// Timetable of the simulated fleet's drill: the documented one, or one drawn from the
    /// seed (a game day that surprises the responder).
    #[arg(long, value_enum, default_value_t = DrillKind::Default)]
    drill: DrillKind,
    /// Panic after the first frame: proves the terminal is restored on a crash.
    #[arg(long, hide = true)]
    crash_test: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DrillKind {
    Default,
    Random,
}

impl From<DrillKind> for Timetable {
    fn from(k: DrillKind) -> Timetable {
        match k {
            DrillKind::Default => Timetable::Default,
            DrillKind::Random => Timetable::Random,
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Run drills headless, as fast as the CPU allows, and score the detectors against what
    /// each drill injected: per incident type detected, time to detect, SEV, false positives.
    /// Exits 1 when anything was missed, late, mis-ranked, false or recovered too early.
    Drill(DrillArgs),
    /// Run the detectors over a real Prometheus range and list the incidents they would have
    /// raised, with counts per day: how many pages these thresholds would have produced.
    Backtest(BacktestArgs),
    /// Check the config file and the theme and keymap it names, print every error at once and
    /// exit non-zero if there is any; the cockpit runs the same check before it starts.
    CheckConfig(CheckArgs),
    /// Ask each configured [[prometheus]] source what it can really be read for: per feature
    /// and signal the metric found, the query, the current value, and for what is missing
    /// the concrete fix. Exits 1 when a configured source cannot be read.
    Doctor,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Also ask each [[prometheus]] source which PromQL engine answers it, and print what
    /// that engine does differently (the check alone never touches the network).
    #[arg(long)]
    probe: bool,
}

#[derive(clap::Args, Debug)]
struct BacktestArgs {
    /// How far back: 7d, 36h, 90m.
    #[arg(long, default_value = "7d")]
    since: String,
    /// Only the [[prometheus]] source of this name (default: every one).
    #[arg(long)]
    source: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// `backtest`: the detection engine over each configured Prometheus' history.
fn backtest(args: &BacktestArgs, settings: &settings::Settings) -> ExitCode {
    use oncall_cockpit::backend::prometheus::Prometheus;
    let since = match oncall_cockpit::backtest::parse_duration(&args.since) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("oncall-cockpit backtest: --since {e}");
            return ExitCode::from(2);
        }
    };
    let configured =
        match oncall_cockpit::backend::prometheus::config::SCHEMA.entries(&settings.sources) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("oncall-cockpit backtest: {e}");
                return ExitCode::from(2);
            }
        };
    let sources: Vec<_> = configured
        .iter()
        .filter(|p| args.source.as_ref().is_none_or(|n| *n == p.name))
        .collect();
    if sources.is_empty() {
        eprintln!(
            "oncall-cockpit backtest: no [[prometheus]] source{} in the config: name one in \
             config.toml (see README, Real backends)",
            args.source
                .as_ref()
                .map_or(String::new(), |n| format!(" named {n:?}"))
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oncall-cockpit backtest: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let until = Utc::now();
    let mut failed = false;
    let mut results = Vec::new();
    for cfg in sources {
        let mut source = match Prometheus::new(cfg) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("oncall-cockpit backtest: {e}");
                failed = true;
                continue;
            }
        };
        let run = oncall_cockpit::backtest::run(
            &mut source,
            &cfg.name,
            until - since,
            until,
            &settings.detect,
            |t| eprintln!("{}: read up to {}", cfg.name, t.format("%Y-%m-%d %H:%MZ")),
        );
        match runtime.block_on(run) {
            Ok(b) => results.push(b),
            Err(e) => {
                eprintln!("oncall-cockpit backtest: {e}");
                failed = true;
            }
        }
    }
    use std::io::Write;
    let mut out = std::io::stdout();
    if args.json {
        let text = serde_json::to_string_pretty(&results)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(out, "{text}");
    } else {
        for b in &results {
            let _ = writeln!(out, "{}", oncall_cockpit::backtest::render(b));
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(clap::Args, Debug)]
struct DrillArgs {
    /// Print the report (the only thing `drill` does today; the TUI drill is the default
    /// command).
    #[arg(long)]
    report: bool,
    /// Number of seeds, from --seed on.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated hours per seed.
    #[arg(long, default_value_t = 3.0)]
    hours: f64,
    /// The documented timetable or one drawn per seed.
    #[arg(long, value_enum, default_value_t = DrillKind::Default)]
    drill: DrillKind,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// `drill --report`: headless drills scored against their ground truth.
fn drill_report(args: &DrillArgs, detect: &oncall_cockpit::detect::DetectConfig) -> ExitCode {
    if !args.report {
        eprintln!("oncall-cockpit drill: add --report (the interactive drill is `oncall-cockpit --drill …`)");
        return ExitCode::from(2);
    }
    if !(args.hours.is_finite() && args.hours > 0.0 && args.hours <= 48.0) {
        eprintln!(
            "oncall-cockpit drill: --hours must be between 0 and 48, got {}",
            args.hours
        );
        return ExitCode::from(2);
    }
    let opts = report::Options {
        timetable: args.drill.into(),
        seeds: (args.seed..args.seed.saturating_add(args.seeds.max(1))).collect(),
        hours: args.hours,
        poll_secs: 10,
        cfg: detect.clone(),
    };
    let summary = match report::run(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oncall-cockpit drill: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = if args.json {
        serde_json::to_string_pretty(&summary).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    } else {
        report::render(&summary)
    };
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
    let clean = summary.false_positives == 0
        && summary.detected == summary.expected
        && summary.recovered_while_firing == 0
        && summary.late == 0
        && summary.sev_wrong == 0
        && summary.duplicates == 0;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_logging(path: &std::path::Path) -> Result<(), String> {
    let file = oncall_cockpit::private::open_append(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONCALL_COCKPIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(oncall_cockpit::logfile::SafeLog(
            file,
        )))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| e.to_string())
}

fn author(configured: Option<String>) -> String {
    configured
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_else(|| "responder".into())
}

/// SIGTERM, SIGHUP (an SSH drop), SIGINT and SIGQUIT (`kill -INT`, `kill -QUIT`; in raw
/// mode ctrl-c and ctrl-\ arrive as keys instead) end the loop like `q` does, so the terminal
/// is restored. The handlers are registered here, synchronously, before the terminal is
/// touched: a signal can never arrive in a window where its default action would kill us
/// mid-frame.
fn watch_signals(tx: UnboundedSender<Action>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    let mut quit = signal(SignalKind::quit()).map_err(|e| format!("SIGQUIT handler: {e}"))?;
    tokio::spawn(async move {
        let why = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
            _ = int.recv() => "SIGINT",
            _ = quit.recv() => "SIGQUIT",
        };
        tracing::info!("received {why}");
        let _ = tx.send(Action::Shutdown(why.into()));
    });
    Ok(())
}

fn spawn_ticker(clock: Clock, tx: UnboundedSender<Action>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / TICKS_PER_SEC));
        loop {
            tick.tick().await;
            if tx.send(Action::Tick(clock.now())).is_err() {
                return;
            }
        }
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = Paths::discover(cli.data_dir.clone(), cli.config.as_deref());
    let config_file = cli
        .config
        .clone()
        .unwrap_or_else(|| paths.config_dir.join("config.toml"));
    let no_color = std::env::var("NO_COLOR").ok();
    let overrides = Overrides {
        theme: cli.theme.as_deref(),
        keymap: cli.keymap.as_deref(),
        no_color_env: no_color.as_deref(),
    };
    let loaded = settings::load(
        &config_file,
        cli.config.is_some(),
        &paths.config_dir,
        &overrides,
        &registry::schemas(),
    );
    if let Some(Command::CheckConfig(args)) = &cli.command {
        return check_config(&config_file, cli.config.is_some(), &paths, loaded, args);
    }
    let loaded = match loaded {
        Ok(l) => l,
        Err(errors) => {
            // Like `promtool check config`: the whole list, then no cockpit. Starting on the
            // defaults would show the simulated fleet where production was meant.
            print_errors(&errors);
            eprintln!(
                "oncall-cockpit: not started: {} in {} (`oncall-cockpit check-config` checks \
                 it again)",
                count(errors.len(), "error"),
                config_file.display()
            );
            return ExitCode::FAILURE;
        }
    };
    match &cli.command {
        Some(Command::Drill(args)) => return drill_report(args, &loaded.settings.detect),
        Some(Command::Backtest(args)) => return backtest(args, &loaded.settings),
        Some(Command::Doctor) => return doctor(&loaded.settings),
        Some(Command::CheckConfig(_)) | None => {}
    }
    let mut warnings = loaded.warnings.clone();
    if let Err(e) = init_logging(&paths.log_file()) {
        warnings.push(format!("log file unavailable: {e}"));
    }
    warnings.extend(oncall_cockpit::private::data_dir_exposure(&paths.data_dir));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oncall-cockpit: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, paths, loaded, warnings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn print_errors(errors: &[ConfigError]) {
    for e in errors {
        eprintln!("{e}");
    }
}

/// `check-config`: the start-up check, reported. Warnings (a theme or keymap file that falls
/// back to the built-in one, a secret this machine cannot read) do not fail the check.
fn check_config(
    file: &std::path::Path,
    explicit: bool,
    paths: &Paths,
    loaded: Result<settings::Loaded, Vec<ConfigError>>,
    args: &CheckArgs,
) -> ExitCode {
    let loaded = match loaded {
        Ok(l) => l,
        Err(errors) => {
            print_errors(&errors);
            eprintln!("{}: {}", file.display(), count(errors.len(), "error"));
            return ExitCode::FAILURE;
        }
    };
    if !explicit && !file.exists() {
        eprintln!(
            "{}: no config file (the cockpit would run on the simulated fleet)",
            file.display()
        );
        return ExitCode::FAILURE;
    }
    let mut warnings = loaded.warnings;
    let sources = &loaded.settings.sources;
    warnings.extend(sources.secret_problems(&registry::schemas()));
    warnings.extend(oncall_cockpit::private::data_dir_exposure(&paths.data_dir));
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let sources = sources.labels();
    let watches = if sources.is_empty() {
        "no sources: the simulated fleet".to_string()
    } else {
        sources.join(", ")
    };
    println!("{}: OK: {watches}", file.display());
    if args.probe {
        probe_engines(&loaded.settings);
    }
    ExitCode::SUCCESS
}

/// `check-config --probe`: which engine answers each [[prometheus]] source and what it does
/// differently. A source this machine cannot reach is a warning, like a secret it cannot
/// read: the config may be right for the machine that runs the cockpit.
fn probe_engines(settings: &settings::Settings) {
    use oncall_cockpit::backend::prometheus::{config::SCHEMA, Prometheus};
    let Ok(configured) = SCHEMA.entries(&settings.sources) else {
        return; // the check above already passed these entries
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warning: --probe: cannot start runtime: {e}");
            return;
        }
    };
    for cfg in &configured {
        let probed = Prometheus::new(cfg)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                runtime
                    .block_on(p.probe_engine())
                    .map_err(|e| format!("[[prometheus]] {:?}: not reached: {e}", cfg.name))
            });
        match probed {
            Ok(engine) => {
                println!("prometheus {:?}: engine {}", cfg.name, engine.name);
                for note in engine.notes() {
                    println!("  {note}");
                }
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
}

/// `doctor`: every [[prometheus]] source's report; exit 1 when any cannot be read, or when
/// there is none to ask.
fn doctor(settings: &settings::Settings) -> ExitCode {
    use oncall_cockpit::backend::prometheus::config::SCHEMA;
    let configured = match SCHEMA.entries(&settings.sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oncall-cockpit doctor: {e}");
            return ExitCode::FAILURE;
        }
    };
    if configured.is_empty() {
        eprintln!(
            "oncall-cockpit doctor: no [[prometheus]] source in the config: name one in \
             config.toml (see README, Real backends)"
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oncall-cockpit doctor: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut all_read = true;
    for cfg in &configured {
        let report = runtime.block_on(oncall_cockpit::doctor::prometheus(
            cfg,
            &settings.detect.caps,
            chrono::Utc::now(),
        ));
        print!("{}", report.text);
        all_read &= report.readable;
    }
    if all_read {
        ExitCode::SUCCESS
    } else {
        eprintln!("oncall-cockpit doctor: a configured source cannot be read (above)");
        ExitCode::FAILURE
    }
}

/// For errors once the terminal was in use: stderr may be that terminal, gone after an SSH
/// drop, and eprintln! panics when it cannot write.
fn report(msg: &str) {
    use std::io::Write;
    tracing::error!("{msg}");
    let _ = writeln!(std::io::stderr(), "oncall-cockpit: {msg}");
}

async fn run(
    cli: Cli,
    paths: Paths,
    loaded: settings::Loaded,
    warnings: Vec<String>,
) -> Result<(), String> {
    let s = &loaded.settings;
    let mut warnings = warnings;
    let real = !s.sources.is_empty();
    let seed = cli.seed.unwrap_or(s.sim.seed);
    let mut speed = cli.speed.unwrap_or(s.sim.speed);
    if !(speed.is_finite() && speed > 0.0 && speed <= 1000.0) {
        return Err(format!("--speed must be between 0 and 1000, got {speed}"));
    }
    if real && speed != 1.0 {
        // Real incidents have real deadlines; compressing time would lie about them.
        warnings.push(format!(
            "--speed {speed} ignored: only the simulated fleet runs faster"
        ));
        speed = 1.0;
    }
    let clock = Clock::new(Utc::now(), speed);
    let (tx, actions) = unbounded_channel::<Action>();
    let banner = if real {
        wiring::banner(s)
    } else {
        match cli.drill {
            DrillKind::Default => format!("sim seed {seed} ×{speed}"),
            DrillKind::Random => format!("sim random drill seed {seed} ×{speed}"),
        }
    };
    let mut state = State::new(clock.now(), &author(s.author.clone()), &banner);
    let (router, sources) = if real {
        wiring::start_real(s, &paths.data_dir, clock, &tx)
    } else {
        wiring::start_sim(s, &paths.data_dir, seed, cli.drill.into(), clock, &tx)?
    };
    for w in &warnings {
        tracing::warn!("{w}");
    }
    // Start-up is an action like any other: what `update` is given is all the state knows.
    update(
        &mut state,
        Action::Started(Box::new(Startup {
            read_only: cli.read_only,
            speed,
            alerts: s.alerts.clone(),
            samples: s.samples.clone(),
            shadow: s.shadow.clone(),
            containment: s.containment.clone(),
            cost: s.cost.clone(),
            grouping: s.grouping.clone(),
            respond: s.respond.clone(),
            audit: app::audit_tail(&paths.audit_log()),
            sources,
            warnings,
        })),
    );
    watch_signals(tx.clone())?;
    spawn_ticker(clock, tx.clone());
    let (audit, audit_thread) = app::spawn_audit_writer(paths.audit_log(), tx.clone());

    // try_init installs a panic hook that restores the terminal before the message prints.
    let mut terminal =
        ratatui::try_init().map_err(|e| format!("cannot initialise the terminal: {e}"))?;
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let inputs = app::spawn_input_thread();
    let mut app = App {
        state,
        clock,
        theme: &loaded.theme,
        keymap: &loaded.keymap,
        router,
        audit,
        feedback: tx,
        screen: app::Screen::default(),
    };
    if cli.crash_test {
        let _ = terminal.draw(|_| {});
        panic!("crash test requested with --crash-test");
    }
    let result = app.run(&mut terminal, actions, inputs).await;
    // After an SSH drop the terminal is gone and restoring it fails; nothing to do about that.
    let _ = ratatui::try_restore();
    if terminal.show_cursor().is_err() {
        // Terminal's Drop would try again and report the failure with eprintln!, which panics
        // when stderr is that same dead terminal.
        std::mem::forget(terminal);
    }
    // Every audit record queued before quitting reaches the disk before we exit.
    drop(app);
    if audit_thread.join().is_err() {
        report(&format!(
            "the audit writer crashed; check {}",
            paths.audit_log().display()
        ));
    }
    tracing::info!("exit");
    result.map_err(|e| format!("terminal: {e}"))
}
