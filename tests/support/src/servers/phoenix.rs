//! A real Arize Phoenix (PyPI `arize-phoenix`, pinned in tests/phoenix/requirements.txt and
//! installed by tests/run into a venv under the user's cache directory) on 127.0.0.1, with
//! auth on, a fresh SQLite database and telemetry off, plus the raw calls tests need to seed
//! spans (REST, or OTLP as an instrumented app exports them) and annotations without going
//! through the adapter.
//!
//! One server per test binary (it takes 10–20 s to start): tests share it and keep apart by
//! using their own project names. Statics are never dropped, so a watchdog shell stops it and
//! removes its files once the test process is gone.

use super::{free_port, http_get_status, temp_dir, watchdog};
use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Start-up takes ~15 s on a 2-core machine (mostly Python imports); a busy one takes longer.
const START_PATIENCE: Duration = Duration::from_secs(180);
/// Ingestion is asynchronous (a queue drained about every 0.1 s); a busy machine is slower.
const INGEST_PATIENCE: Duration = Duration::from_secs(60);

pub struct PhoenixServer {
    pub url: String,
    pub dir: PathBuf,
    /// A system API key, minted with the admin secret at start: what a deployment hands
    /// the cockpit.
    pub api_key: String,
    /// How long Phoenix took to be ready, for whoever tunes the suite.
    pub started_in: Duration,
    admin_secret: String,
}

static SERVER: OnceLock<PhoenixServer> = OnceLock::new();

/// The shared server, started on first use.
pub fn shared() -> &'static PhoenixServer {
    SERVER.get_or_init(start)
}

/// Where tests/run installs Phoenix: `${XDG_CACHE_HOME:-$HOME/.cache}/oncall-cockpit/phoenix-venv`.
pub fn venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME is set");
    cache.join("oncall-cockpit/phoenix-venv")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A secret Phoenix accepts (32+ characters with digits and lower case), new each run.
fn secret(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "oc{tag}{}x{nanos}secret0123456789abcdef",
        std::process::id()
    )
}

fn start() -> PhoenixServer {
    let started = Instant::now();
    let bin = venv().join("bin/phoenix");
    assert!(
        bin.is_file(),
        "Phoenix is not installed at {}: run tests/run, which installs it",
        bin.display()
    );
    let dir = temp_dir("phoenix");
    let log = dir.join("phoenix.log");
    let db = dir.join("phoenix.db");
    // tests/run keeps a migrated empty database beside the venv; without it Phoenix migrates
    // a new one itself, which only takes longer.
    let template = venv().join("template.db");
    if template.is_file() {
        std::fs::copy(&template, &db).expect("copy the migrated template database");
    }
    let admin_secret = secret("admin");
    let mut server = None;
    for _ in 0..3 {
        let (port, grpc) = (free_port(), free_port());
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut child = Command::new(&bin)
            .arg("serve")
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            // Its gRPC listener binds every interface: a free port keeps it out of the way.
            .env("PHOENIX_GRPC_PORT", grpc.to_string())
            .env("PHOENIX_WORKING_DIR", &dir)
            .env(
                "PHOENIX_SQL_DATABASE_URL",
                format!("sqlite:///{}", db.display()),
            )
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ENABLE_AUTH", "true")
            .env("PHOENIX_SECRET", secret("jwt"))
            .env("PHOENIX_ADMIN_SECRET", &admin_secret)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn phoenix serve");
        let url = format!("http://127.0.0.1:{port}");
        if ready(&url, &mut child, &log) {
            server = Some((child, url));
            break;
        }
    }
    let Some((child, url)) = server else {
        panic!("phoenix did not start:\n{}", read(&log));
    };
    watchdog(&[child.id()], &dir);
    let api_key = mint_key(&url, &admin_secret);
    PhoenixServer {
        url,
        dir,
        api_key,
        started_in: started.elapsed(),
        admin_secret,
    }
}

/// True once /healthz answers 200; false if Phoenix exited on a taken port, else it panics
/// with the log.
fn ready(url: &str, child: &mut Child, log: &Path) -> bool {
    let deadline = Instant::now() + START_PATIENCE;
    let health = format!("{url}/healthz");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let out = read(log);
            if out.contains("address already in use") || out.contains("Errno 98") {
                return false;
            }
            panic!("phoenix exited ({status}):\n{out}");
        }
        if http_get_status(&health) == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!(
        "{health} not ready after {START_PATIENCE:?}:\n{}",
        read(log)
    );
}

/// A system API key, minted with the admin secret. Blocking: the shared server starts
/// outside any one test's runtime.
fn mint_key(url: &str, admin_secret: &str) -> String {
    let url = format!("{url}/v1/system/api_keys");
    let secret = admin_secret.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let resp = reqwest::Client::new()
                .post(&url)
                .bearer_auth(&secret)
                .json(&json!({ "data": { "name": "oncall-cockpit tests" } }))
                .send()
                .await
                .expect("mint an API key");
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "mint an API key: {status}: {body}");
            body["data"]["key"]
                .as_str()
                .unwrap_or_else(|| panic!("no key in {body}"))
                .to_string()
        })
    })
    .join()
    .expect("mint thread")
}

impl PhoenixServer {
    /// A client per call: each `#[tokio::test]` has its own runtime, and a pooled
    /// connection must not outlive the runtime that opened it.
    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    pub fn log(&self) -> String {
        read(&self.dir.join("phoenix.log"))
    }

    /// A 0600 file holding the API key, for `auth = { bearer = { file = … } }`. Written once:
    /// tests run in parallel, and rewriting it in place let one test read it empty while
    /// another had just truncated it.
    pub fn key_file(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
        WRITTEN
            .get_or_init(|| {
                let path = self.dir.join("api-key");
                std::fs::write(&path, &self.api_key).expect("write key file");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod key file");
                path
            })
            .clone()
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let resp = self
            .http()
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_secret)
            .json(body)
            .send()
            .await
            .expect("phoenix request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// How many spans `project` holds (0 while it does not exist yet). Counted from its
    /// traces with their span summaries, which carry no attributes: polling a project of
    /// multi-megabyte outputs must not keep Phoenix busy serialising them.
    pub async fn span_count(&self, project: &str) -> usize {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http()
                .get(format!("{}/v1/projects/{project}/traces", self.url))
                .bearer_auth(&self.admin_secret)
                .query(&[("limit", "1000"), ("include_spans", "true")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let resp = req.send().await.expect("phoenix request");
            if resp.status().as_u16() == 404 {
                return 0;
            }
            let page: Value = resp.json().await.expect("traces page");
            count += page["data"].as_array().map_or(0, |traces| {
                traces
                    .iter()
                    .map(|t| t["spans"].as_array().map_or(0, Vec::len))
                    .sum()
            });
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return count,
            }
        }
    }

    /// Sends `spans` to `project` (created on first use) and waits until Phoenix holds
    /// `total` spans there: ingestion is a queue, so the wait is on the condition.
    pub async fn seed(&self, project: &str, spans: Vec<Value>, total: usize) {
        for chunk in spans.chunks(500) {
            let reply = self
                .post(
                    &format!("/v1/projects/{project}/spans"),
                    &json!({ "data": chunk }),
                )
                .await;
            assert_eq!(
                reply["total_queued"].as_u64(),
                Some(chunk.len() as u64),
                "{reply}"
            );
        }
        self.wait_for(project, total).await;
    }

    /// Sends `spans` to `project` as an instrumented app does, over OTLP/HTTP protobuf to
    /// `/v1/traces` (tests/phoenix/otlp_seed.py, run with the venv's OpenTelemetry SDK and
    /// exporter; the spec format is in its docstring), and waits until Phoenix holds `total`
    /// spans there. Returns each span's `{trace_id, span_id}`, in the order given.
    pub async fn seed_otlp(&self, project: &str, spans: Vec<Value>, total: usize) -> Vec<Value> {
        let spec = json!({ "project": project, "spans": spans }).to_string();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../phoenix/otlp_seed.py");
        let (url, key) = (self.url.clone(), self.api_key.clone());
        let out = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = Command::new(venv().join("bin/python"))
                .arg(&script)
                // The key in the environment, never on a command line.
                .env("PHOENIX_URL", url)
                .env("PHOENIX_API_KEY", key)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn the OTLP seeding script");
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(spec.as_bytes())
                    .expect("write the span spec");
            }
            child.wait_with_output().expect("OTLP seeding script")
        })
        .await
        .expect("seeding thread");
        assert!(
            out.status.success(),
            "OTLP seeding failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        let sent: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "OTLP seeding printed no ids ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        self.wait_for(project, total).await;
        sent["spans"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `project` holds `total` spans: ingestion is a queue, so the wait is on the
    /// condition.
    async fn wait_for(&self, project: &str, total: usize) {
        let deadline = Instant::now() + INGEST_PATIENCE;
        loop {
            let n = self.span_count(project).await;
            if n >= total {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{project}: {n} of {total} spans after {INGEST_PATIENCE:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new version of prompt `name` (the prompt created with its first), as a team's
    /// deploy script would push it; returns the version's id.
    pub async fn prompt_version(&self, name: &str, system: &str) -> String {
        let reply = self
            .post(
                "/v1/prompts",
                &json!({
                    "prompt": { "name": name },
                    "version": {
                        "description": system,
                        "model_provider": "OPENAI",
                        "model_name": "gpt-4o",
                        "template": { "type": "chat", "messages": [{ "role": "system", "content": system }] },
                        "template_type": "CHAT",
                        "template_format": "MUSTACHE",
                        "invocation_parameters": { "type": "openai", "openai": {} }
                    }
                }),
            )
            .await;
        reply["data"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no version id in {reply}"))
            .to_string()
    }

    /// Puts `tag` on `version` (Phoenix takes it off the prompt's other version).
    pub async fn tag(&self, version: &str, tag: &str) {
        self.post(
            &format!("/v1/prompt_versions/{version}/tags"),
            &json!({ "name": tag }),
        )
        .await;
    }

    /// The version of `prompt` holding `tag`, read straight from Phoenix.
    pub async fn tagged(&self, prompt: &str, tag: &str) -> Option<String> {
        let resp = self
            .http()
            .get(format!("{}/v1/prompts/{prompt}/tags/{tag}", self.url))
            .bearer_auth(&self.admin_secret)
            .send()
            .await
            .expect("phoenix request");
        if resp.status().as_u16() == 404 {
            return None;
        }
        let body: Value = resp.json().await.expect("tagged version");
        body["data"]["id"].as_str().map(str::to_string)
    }

    /// Annotates spans, synchronously (`sync=true`): visible when this returns.
    pub async fn annotate(&self, annotations: Vec<Value>) {
        self.post(
            "/v1/span_annotations?sync=true",
            &json!({ "data": annotations }),
        )
        .await;
    }
}
