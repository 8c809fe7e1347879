//! A real Unleash (npm `unleash-server`, pinned in tests/unleash/) on 127.0.0.1, backed by a
//! throwaway PostgreSQL (Debian `postgresql`) in a temp dir, plus the raw admin-API calls
//! tests need to set the scene and read results back without going through the adapter.
//!
//! One server per test binary: migrations take seconds, so tests share it and keep apart by
//! using their own flag names. Statics are never dropped, so a watchdog shell stops both
//! servers and removes the temp dir once the test process is gone.

use super::{free_port, http_get_status, temp_dir, watchdog};
use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Migrations on a fresh database take ~8 s on an idle 2-core machine; CI may be busier.
const START_PATIENCE: Duration = Duration::from_secs(180);

pub struct UnleashServer {
    pub url: String,
    pub dir: PathBuf,
    /// An admin API token (`INIT_ADMIN_API_TOKENS`), handed to Unleash by environment only.
    pub token: String,
    /// A backend (SDK) token, which may not use the admin API.
    pub backend_token: String,
    /// How long PostgreSQL and Unleash took to be ready, for whoever tunes the suite.
    pub started_in: Duration,
}

static SERVER: OnceLock<UnleashServer> = OnceLock::new();

/// The shared server, started on first use.
pub fn shared() -> &'static UnleashServer {
    SERVER.get_or_init(start)
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../unleash")
}

/// The newest PostgreSQL server binaries Debian installed.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    match dirs.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no /usr/lib/postgresql/*/bin/initdb: apt-get install postgresql (tests/run does it)"
        ),
    }
}

/// PostgreSQL refuses to run as root: as root, the servers run as this (uid, gid).
fn unprivileged() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .to_string();
    if uid != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |user: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == user)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
    };
    Some(
        find("postgres")
            .or_else(|| find("nobody"))
            .expect("a postgres or nobody user to run PostgreSQL as"),
    )
}

fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn log_file(path: &Path) -> (File, File) {
    let out = File::create(path).expect("log file");
    let err = out.try_clone().expect("log file");
    (out, err)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn start() -> UnleashServer {
    let started = Instant::now();
    let fixture = fixture_dir();
    assert!(
        fixture.join("node_modules/unleash-server").exists(),
        "unleash-server is not installed: run `npm ci` in {} (tests/run does it)",
        fixture.display()
    );
    let bin = pg_bin();
    let user = unprivileged();
    let dir = temp_dir("unleash");
    let data = dir.join("pg");
    let sock = dir.join("sock");
    for d in [&data, &sock] {
        std::fs::create_dir_all(d).expect("pg dirs");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).expect("chown pg dirs");
        }
    }
    let initdb_log = dir.join("initdb.log");
    let (out, err) = log_file(&initdb_log);
    let status = as_user(&mut Command::new(bin.join("initdb")), user)
        .args([
            "-U",
            "unleash",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .expect("run initdb");
    assert!(status.success(), "initdb failed:\n{}", read(&initdb_log));

    let pg_log = dir.join("postgres.log");
    let (mut postgres, pg_port) = (0..3)
        .find_map(|_| {
            let port = free_port();
            let (out, err) = log_file(&pg_log);
            let mut child = as_user(&mut Command::new(bin.join("postgres")), user)
                .arg("-D")
                .arg(&data)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
                .arg(&sock)
                // A test database: durability is not worth the disk waits.
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("spawn postgres");
            pg_ready(&bin, port, &mut child, &pg_log).then_some((child, port))
        })
        .unwrap_or_else(|| panic!("postgres did not start:\n{}", read(&pg_log)));

    let token = format!(
        "*:*.oc-test-{}-{}",
        std::process::id(),
        started.elapsed().as_nanos()
    );
    let backend_token = token.replacen("*:*.", "default:production.", 1);
    let unleash_log = dir.join("unleash.log");
    let mut node = None;
    let mut url = String::new();
    for _ in 0..3 {
        let port = free_port();
        let (out, err) = log_file(&unleash_log);
        let mut child = Command::new("node")
            .arg("server.js")
            .current_dir(&fixture)
            .env("UNLEASH_PORT", port.to_string())
            .env("UNLEASH_DB_HOST", "127.0.0.1")
            .env("UNLEASH_DB_PORT", pg_port.to_string())
            .env("UNLEASH_DB_NAME", "postgres")
            .env("UNLEASH_DB_USER", "unleash")
            .env("INIT_ADMIN_API_TOKENS", &token)
            .env("INIT_BACKEND_API_TOKENS", &backend_token)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn node (node 20+ is needed for unleash-server 7)");
        url = format!("http://127.0.0.1:{port}");
        if unleash_ready(&url, &mut child, &unleash_log) {
            node = Some(child);
            break;
        }
    }
    let Some(node) = node else {
        let _ = postgres.kill();
        panic!("unleash did not start:\n{}", read(&unleash_log));
    };
    watchdog(&[postgres.id(), node.id()], &dir);
    UnleashServer {
        url,
        dir,
        token,
        backend_token,
        started_in: started.elapsed(),
    }
}

/// True once PostgreSQL accepts connections; false if it exited (port lost).
fn pg_ready(bin: &Path, port: u16, child: &mut Child, log: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ready {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("postgres not ready after 60s:\n{}", read(log));
}

/// True once /health answers 200; false if node exited on a taken port, else it panics
/// with the log.
fn unleash_ready(url: &str, child: &mut Child, log: &Path) -> bool {
    let deadline = Instant::now() + START_PATIENCE;
    let health = format!("{url}/health");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let out = read(log);
            if out.contains("EADDRINUSE") {
                return false;
            }
            panic!("unleash exited ({status}):\n{out}");
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

impl UnleashServer {
    /// A client per call: each `#[tokio::test]` has its own runtime, and a pooled
    /// connection must not outlive the runtime that opened it.
    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// A 0600 file holding `token`, for `SecretSpec { file }`.
    pub fn token_file(&self, name: &str, token: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(format!("{name}.token"));
        std::fs::write(&path, token).expect("write token file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod token file");
        path
    }

    pub fn log(&self) -> String {
        read(&self.dir.join("unleash.log"))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http()
            .request(method.clone(), format!("{}/api/admin{path}", self.url))
            .header("Authorization", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("unleash request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Creates a flag in the default project (Unleash's open-source edition has only that).
    pub async fn create_flag(&self, name: &str, kind: &str) {
        self.post(
            "/projects/default/features",
            json!({ "name": name, "type": kind }),
        )
        .await;
    }

    /// Adds a strategy in production and returns it as Unleash stored it.
    pub async fn add_strategy(&self, flag: &str, body: Value) -> Value {
        self.post(
            &format!("/projects/default/features/{flag}/environments/production/strategies"),
            body,
        )
        .await
    }

    pub async fn switch(&self, flag: &str, on: bool) {
        let what = if on { "on" } else { "off" };
        self.send(
            reqwest::Method::POST,
            &format!("/projects/default/features/{flag}/environments/production/{what}"),
            None,
        )
        .await;
    }

    /// The flag's production environment: `enabled` and `strategies`.
    pub async fn production(&self, flag: &str) -> Value {
        let detail = self
            .get(&format!("/projects/default/features/{flag}"))
            .await;
        detail["environments"]
            .as_array()
            .and_then(|envs| envs.iter().find(|e| e["name"] == "production"))
            .cloned()
            .unwrap_or_else(|| panic!("{flag} has no production environment: {detail}"))
    }

    /// Defines the `segment` context field once; a second test finds it there.
    pub async fn ensure_segment_field(&self, values: &[&str]) {
        let resp = self
            .http()
            .get(format!("{}/api/admin/context/segment", self.url))
            .header("Authorization", &self.token)
            .send()
            .await
            .expect("get context field");
        if resp.status().is_success() {
            return;
        }
        let legal: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
        let resp = self
            .http()
            .post(format!("{}/api/admin/context", self.url))
            .header("Authorization", &self.token)
            .json(&json!({ "name": "segment", "legalValues": legal }))
            .send()
            .await
            .expect("create context field");
        // Another test may have created it meanwhile.
        assert!(
            resp.status().is_success() || resp.status().as_u16() == 409,
            "create context field: {}",
            resp.status()
        );
    }
}
