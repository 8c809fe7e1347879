//! A real Prometheus on 127.0.0.1 with history backfilled by promtool: the adapter's queries
//! run against the real PromQL engine, on data whose rates and quantiles are known exactly.

use super::{binary, free_port, temp_dir, wait_http_ok, ChildGuard};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running Prometheus; stops it and removes its storage when dropped.
pub struct PromServer {
    pub url: String,
    guard: ChildGuard,
    dir: PathBuf,
}

impl Drop for PromServer {
    fn drop(&mut self) {
        // Stop the server before deleting the storage it holds open.
        let _ = self.guard.0.kill();
        let _ = self.guard.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Backfills `openmetrics` (OpenMetrics text, timestamps in seconds, ending in `# EOF`) into a
/// fresh TSDB and starts Prometheus on it. `name` must be unique among tests running at once.
///
/// The blocks are written before the server starts, so its head is empty and nothing
/// overlaps: Prometheus loads them as ordinary persisted blocks. Retention is 30 days and is
/// measured from the newest block, so recent backfilled data is never deleted under the test.
pub fn start_backfilled(name: &str, openmetrics: &str) -> PromServer {
    let prometheus = binary(&["prometheus"], "prometheus");
    let promtool = binary(&["promtool"], "prometheus");
    let dir = temp_dir(&format!("prom-{name}"));
    let input = dir.join("history.om.txt");
    let storage = dir.join("data");
    let config = dir.join("prometheus.yml");
    std::fs::write(&input, openmetrics).expect("write OpenMetrics input");
    std::fs::write(&config, "scrape_configs: []\n").expect("write prometheus.yml");
    backfill(&promtool, &input, &storage);
    spawn(prometheus, dir, &config, &storage)
}

/// Starts Prometheus scraping `targets` (job name, `host:port`) every `scrape_secs`, on an
/// empty TSDB: what a service's own Prometheus does with its live `/metrics`.
pub fn start_scraping(name: &str, targets: &[(&str, String)], scrape_secs: u32) -> PromServer {
    let prometheus = binary(&["prometheus"], "prometheus");
    let dir = temp_dir(&format!("prom-{name}"));
    let storage = dir.join("data");
    let config = dir.join("prometheus.yml");
    let mut yml = format!(
        "global:\n  scrape_interval: {scrape_secs}s\n  scrape_timeout: {scrape_secs}s\nscrape_configs:\n"
    );
    for (job, addr) in targets {
        yml.push_str(&format!(
            "  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ));
    }
    std::fs::write(&config, yml).expect("write prometheus.yml");
    spawn(prometheus, dir, &config, &storage)
}

fn spawn(
    prometheus: PathBuf,
    dir: PathBuf,
    config: &std::path::Path,
    storage: &std::path::Path,
) -> PromServer {
    let port = free_port();
    let log = dir.join("prometheus.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=30d")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("start prometheus");
    let mut server = PromServer {
        url: format!("http://127.0.0.1:{port}"),
        guard: ChildGuard(child),
        dir,
    };
    let ready = format!("{}/-/ready", server.url);
    wait_http_ok(&ready, Duration::from_secs(30), &mut server.guard.0, &log);
    server
}

fn backfill(promtool: &std::path::Path, input: &std::path::Path, storage: &std::path::Path) {
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(input)
        .arg(storage)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool backfill failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
