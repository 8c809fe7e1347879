//! Real servers started by tests on 127.0.0.1: helpers shared by the Prometheus, Unleash,
//! Alertmanager and PagerDuty-contract tests. Each submodule starts one kind of server.

pub mod alertmanager;
pub mod huge;
pub mod instrumentation;
pub mod langfuse;
pub mod pagerduty;
pub mod pagerduty_events;
pub mod phoenix;
pub mod prometheus;
pub mod tls;
pub mod unleash;
pub mod victoria;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now (the OS picks it; we release it and hand it over).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// Serves `app` on a free 127.0.0.1 port on the current tokio runtime: the base URL, and the
/// task to abort when the server should go away.
pub async fn serve_http(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Finds a server binary, or fails the test saying how to install it. Tests never skip:
/// `.ci/run` installs the Debian packages.
pub fn binary(candidates: &[&str], package: &str) -> PathBuf {
    // PATH first, as tests/run looks for them (`command -v`), then the package's own dirs.
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let fixed = ["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from);
    for c in candidates {
        for dir in path.iter().chain(&fixed) {
            let p = dir.join(c);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("none of {candidates:?} found: apt-get install {package} (see .ci/run)");
}

/// Kills the child when the test ends, pass or fail.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until `url` answers 200, or panics after `timeout` with what the server said.
pub fn wait_http_ok(url: &str, timeout: Duration, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            panic!("server exited early ({status}):\n{out}");
        }
        if http_get_status(url) == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{url} not ready after {timeout:?}:\n{out}");
}

/// Minimal blocking GET returning the status code, so readiness checks need no runtime.
pub fn http_get_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Stops the servers once this test process has exited, and removes their files.
// It must outlive this process, so nobody here waits for it.
#[allow(clippy::zombie_processes)]
pub fn watchdog(pids: &[u32], dir: &Path) {
    let script = r#"
        test_pid=$1; dir=$2; shift 2
        while kill -0 "$test_pid" 2>/dev/null; do sleep 1; done
        kill -INT "$@" 2>/dev/null
        for pid in "$@"; do
            while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        done
        rm -rf "$dir"
    "#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(dir);
    for pid in pids {
        cmd.arg(pid.to_string());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watchdog");
}
