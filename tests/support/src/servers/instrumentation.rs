//! The real-instrumentation tier (tests/instrumentation/README.md): a small Python service per
//! GenAI instrumentation library (the official OpenTelemetry one, OpenLIT, Traceloop), calling
//! a fake OpenAI-compatible server through the real `openai` client and exporting through the
//! OTel SDK's `PrometheusMetricReader` on 127.0.0.1. tests/run installs each library, pinned
//! in tests/instrumentation/NAME/requirements.txt, into a venv under the user's cache
//! directory; a test changes what the fake server does (tokens, latency, errors) by rewriting
//! the app's scenario file while it runs.

use super::{free_port, http_get_status, temp_dir, ChildGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The instrumentations of the tier, as named by their folders under tests/instrumentation.
pub const ALL: [&str; 3] = ["otel", "openlit", "traceloop"];

/// Python start-up with these libraries takes 2–10 s here; a busy machine takes longer.
const START_PATIENCE: Duration = Duration::from_secs(120);

/// Where tests/run installs instrumentation `name`.
pub fn venv(name: &str) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME is set");
    cache.join(format!("oncall-cockpit/instrumentation-{name}"))
}

/// tests/instrumentation, beside this crate.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../instrumentation")
}

/// One running app; stops it when dropped.
pub struct App {
    pub instrumentation: String,
    /// Its job in the tier's Prometheus.
    pub job: String,
    /// `127.0.0.1:port` of its `/metrics`, for a scrape config.
    pub metrics: String,
    scenario: PathBuf,
    log: PathBuf,
    guard: ChildGuard,
}

impl App {
    /// Starts the app of `instrumentation`, its resource's `service.name` set to
    /// `service_name`, on the scenario `scenario` (JSON: see fakeai.py's DEFAULT); returns
    /// once its metrics are served.
    pub fn start(
        instrumentation: &str,
        service_name: &str,
        scenario: &serde_json::Value,
        env: &[(&str, &str)],
    ) -> App {
        let python = venv(instrumentation).join("bin/python");
        assert!(
            python.is_file(),
            "the {instrumentation} instrumentation is not installed at {}: run tests/run, which installs it",
            python.display()
        );
        // Tests running at once may start the same app: each gets its own directory.
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = temp_dir(&format!("app-{instrumentation}-{service_name}-{n}"));
        let scenario_path = dir.join("scenario.json");
        let log = dir.join("app.log");
        write_scenario(&scenario_path, scenario);
        let port = free_port();
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(python)
            .arg(dir_of(instrumentation).join("app.py"))
            .arg(port.to_string())
            .arg(&scenario_path)
            .env("SERVICE_NAME", service_name)
            // Nothing the libraries would send anywhere else.
            .env("OTEL_TRACES_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none")
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied())
            // The app exits when this pipe closes: when the test process is gone.
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn the instrumentation app");
        let mut app = App {
            instrumentation: instrumentation.to_string(),
            job: instrumentation.to_string(),
            metrics: format!("127.0.0.1:{port}"),
            scenario: scenario_path,
            log,
            guard: ChildGuard(child),
        };
        let url = format!("http://{}/metrics", app.metrics);
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Ok(Some(status)) = app.guard.0.try_wait() {
                panic!(
                    "the {instrumentation} app exited ({status}):\n{}",
                    app.log_text()
                );
            }
            if http_get_status(&url) == Some(200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the {instrumentation} app served no metrics after {START_PATIENCE:?}:\n{}",
                app.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        app
    }

    /// Changes what the fake OpenAI server does from the next request on.
    pub fn set_scenario(&self, scenario: &serde_json::Value) {
        write_scenario(&self.scenario, scenario);
    }

    /// What the app printed, for a failing test's message.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or(&text).to_string()
    }

    /// The exposition text its `/metrics` serves now.
    pub fn exposition(&self) -> String {
        let url = format!("http://{}/metrics", self.metrics);
        get_text(&url)
    }
}

fn dir_of(instrumentation: &str) -> PathBuf {
    dir().join(instrumentation)
}

/// Written whole and renamed into place, so the app never reads half a scenario.
fn write_scenario(path: &Path, scenario: &serde_json::Value) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, scenario.to_string()).expect("write scenario");
    std::fs::rename(&tmp, path).expect("rename scenario");
}

/// A plain GET of a small local page, without a runtime.
fn get_text(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Apps on one scenario, each scraped by one real Prometheus every second under its own
/// job, their `service.name` being `svc-<job>`.
pub struct Tier {
    pub prometheus: super::prometheus::PromServer,
    pub apps: Vec<App>,
}

/// An app of the tier: its job, its instrumentation, and environment for it.
pub type Job<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Boundaries that resolve LLM latencies, for the apps started with the documented fix.
pub const LATENCY_BUCKETS: &str = "0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10";

impl Tier {
    /// One app per instrumentation, each under the job of its name.
    pub fn start(name: &str, instrumentations: &[&str], scenario: &serde_json::Value) -> Tier {
        let jobs: Vec<Job> = instrumentations.iter().map(|i| (*i, *i, &[][..])).collect();
        Tier::start_jobs(name, &jobs, scenario)
    }

    /// Apps as (job, instrumentation, environment).
    pub fn start_jobs(name: &str, jobs: &[Job], scenario: &serde_json::Value) -> Tier {
        let apps: Vec<App> = jobs
            .iter()
            .map(|(job, i, env)| App {
                job: job.to_string(),
                ..App::start(i, &format!("svc-{job}"), scenario, env)
            })
            .collect();
        let targets: Vec<(&str, String)> = apps
            .iter()
            .map(|a| (a.job.as_str(), a.metrics.clone()))
            .collect();
        let prometheus = super::prometheus::start_scraping(name, &targets, 1);
        Tier { prometheus, apps }
    }

    pub fn app(&self, job: &str) -> &App {
        self.apps
            .iter()
            .find(|a| a.job == job)
            .expect("an app of the tier")
    }

    pub fn set_scenario(&self, scenario: &serde_json::Value) {
        for app in &self.apps {
            app.set_scenario(scenario);
        }
    }

    /// The metric families Prometheus holds for one job (`/api/v1/label/__name__/values`).
    pub async fn families(&self, job: &str) -> Vec<String> {
        let url = format!("{}/api/v1/label/__name__/values", self.prometheus.url);
        let matcher = format!("{{job=\"{job}\"}}");
        let reply: serde_json::Value = ::reqwest::Client::new()
            .get(url)
            .query(&[("match[]", matcher.as_str())])
            .send()
            .await
            .expect("ask Prometheus")
            .json()
            .await
            .expect("JSON");
        reply["data"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An instant query's series: labels and value.
    pub async fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let url = format!("{}/api/v1/query", self.prometheus.url);
        let reply: serde_json::Value = ::reqwest::Client::new()
            .get(url)
            .query(&[("query", promql)])
            .send()
            .await
            .expect("ask Prometheus")
            .json()
            .await
            .expect("JSON");
        assert_eq!(reply["status"], "success", "{promql}: {reply}");
        reply["data"]["result"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .filter_map(|s| {
                        let v = s["value"][1].as_str()?.parse().ok()?;
                        Some((s["metric"].clone(), v))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
