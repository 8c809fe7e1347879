//! A real VictoriaMetrics (Debian package `victoria-metrics`) on 127.0.0.1 with its own
//! storage under a temp dir, fed through its import API with the same planted history the
//! Prometheus tests backfill: the adapter's queries run against its MetricsQL engine.

use super::{binary, free_port, http_get_status, temp_dir, wait_http_ok, ChildGuard};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running VictoriaMetrics; stops it and removes its storage when dropped.
pub struct VmServer {
    pub url: String,
    guard: ChildGuard,
    dir: PathBuf,
}

impl Drop for VmServer {
    fn drop(&mut self) {
        let _ = self.guard.0.kill();
        let _ = self.guard.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `victoria-metrics` binary, or the test fails saying how to install it.
pub fn victoria_metrics() -> PathBuf {
    binary(&["victoria-metrics"], "victoria-metrics")
}

/// `vmalert`, shipped in the same Debian package.
pub fn vmalert() -> PathBuf {
    binary(&["vmalert"], "victoria-metrics")
}

/// Starts VictoriaMetrics with default query settings (response cache on, 30 s latency
/// offset: what a team runs) and imports `openmetrics` (the Prometheus tests' OpenMetrics
/// text, timestamps in seconds). `name` must be unique among tests running at once.
pub fn start_imported(name: &str, openmetrics: &str) -> VmServer {
    let bin = victoria_metrics();
    let dir = temp_dir(&format!("vm-{name}"));
    let port = free_port();
    let log = dir.join("victoria-metrics.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.join("data").display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        // The planted history is hours old; the default one month keeps all of it.
        .arg("-retentionPeriod=1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("start victoria-metrics");
    let mut server = VmServer {
        url: format!("http://127.0.0.1:{port}"),
        guard: ChildGuard(child),
        dir,
    };
    let health = format!("{}/health", server.url);
    wait_http_ok(&health, Duration::from_secs(30), &mut server.guard.0, &log);
    server.import(openmetrics);
    server
}

impl VmServer {
    /// POSTs the samples to `/api/v1/import/prometheus` (text format, timestamps in ms) and
    /// flushes them to search, then waits until every series is searchable.
    pub fn import(&self, openmetrics: &str) {
        let mut series = std::collections::BTreeSet::new();
        let mut text = String::new();
        for line in openmetrics.lines().filter(|l| !l.starts_with('#')) {
            let (sample, ts) = line.rsplit_once(' ').expect("sample with a timestamp");
            let ts: i64 = ts.parse().expect("timestamp in seconds");
            let (name, _value) = sample.rsplit_once(' ').expect("sample with a value");
            series.insert(name.to_string());
            text.push_str(&format!("{sample} {}\n", ts * 1000));
        }
        let status = self.post("/api/v1/import/prometheus", text.as_bytes());
        assert_eq!(status, 204, "import into VictoriaMetrics");
        let flushed = format!("{}/internal/force_flush", self.url);
        assert_eq!(http_get_status(&flushed), Some(200), "force_flush");
        // Flushed parts become searchable within a moment; poll rather than sleep. The
        // export answers one JSON line per series (series/count is an estimate).
        let probe = format!(
            "{}/api/v1/export?match%5B%5D=%7B__name__%21%3D%22%22%7D",
            self.url
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        while Instant::now() < deadline {
            last = self.get_body(&probe);
            let exported = last.as_deref().map_or(0, |b| {
                b.lines().filter(|l| l.starts_with("{\"metric\"")).count()
            });
            if exported == series.len() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} imported series not all searchable after 20 s: {last:?}",
            series.len()
        );
    }

    fn post(&self, path: &str, body: &[u8]) -> u16 {
        let host = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(host).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            s,
            "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .expect("write head");
        s.write_all(body).expect("write body");
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {reply:?}"))
    }

    fn get_body(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/')?;
        let mut s = std::net::TcpStream::connect(host).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
        let mut reply = String::new();
        s.read_to_string(&mut reply).ok()?;
        Some(reply)
    }
}
