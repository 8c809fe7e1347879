//! A real Alertmanager (Debian `prometheus-alertmanager`) on 127.0.0.1, plus the few raw API
//! calls tests need to set the scene (post alerts, read silences) without going through the
//! adapter under test.

use super::{binary, free_port, http_get_status, temp_dir, ChildGuard};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Routes everything to a receiver with no integrations: alerts are held and shown, never sent.
const CONFIG: &str = "\
route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
";

pub struct AlertmanagerServer {
    pub url: String,
    pub dir: PathBuf,
    child: ChildGuard,
    http: reqwest::Client,
}

impl Drop for AlertmanagerServer {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        // Keep the log of a failed test for whoever reads the failure.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts Alertmanager and waits for /-/ready. A port taken between `free_port` and the bind
/// makes Alertmanager exit at once; then it tries another port.
pub fn start(name: &str) -> AlertmanagerServer {
    let bin = binary(
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    );
    let dir = temp_dir(&format!("am-{name}"));
    std::fs::write(dir.join("alertmanager.yml"), CONFIG).expect("write config");
    let log = dir.join("alertmanager.log");
    for _ in 0..3 {
        let port = free_port();
        let mut child = ChildGuard(spawn(&bin, &dir, port, &log));
        let url = format!("http://127.0.0.1:{port}");
        if wait_ready(&url, &mut child, Duration::from_secs(30)) {
            return AlertmanagerServer {
                url,
                dir,
                child,
                http: reqwest::Client::new(),
            };
        }
    }
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    panic!("alertmanager did not start:\n{out}");
}

fn spawn(bin: &Path, dir: &Path, port: u16, log: &Path) -> std::process::Child {
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // Empty disables HA gossip: no cluster port to collide on, no peer wait at startup.
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn alertmanager")
}

/// True once ready; false if the process exited (port lost) so the caller can retry.
fn wait_ready(url: &str, child: &mut ChildGuard, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let ready = format!("{url}/-/ready");
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.0.try_wait() {
            return false;
        }
        if http_get_status(&ready) == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{ready} not ready after {timeout:?}");
}

impl AlertmanagerServer {
    /// Posts one alert, as Prometheus would.
    pub async fn post_alert(
        &self,
        labels: &BTreeMap<&str, &str>,
        annotations: &BTreeMap<&str, &str>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) {
        let body = json!([{
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts_at,
            "endsAt": ends_at,
        }]);
        let resp = self
            .http
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&body)
            .send()
            .await
            .expect("post alert");
        assert!(resp.status().is_success(), "post alert: {}", resp.status());
    }

    /// Posts a silence the way a colleague in the Alertmanager UI would; returns its id.
    pub async fn post_silence(&self, body: Value) -> String {
        let resp: Value = self
            .http
            .post(format!("{}/api/v2/silences", self.url))
            .json(&body)
            .send()
            .await
            .expect("post silence")
            .json()
            .await
            .expect("silence id");
        resp["silenceID"].as_str().expect("silenceID").to_string()
    }

    pub async fn alerts(&self) -> Vec<Value> {
        self.get_array("alerts").await
    }

    pub async fn silences(&self) -> Vec<Value> {
        self.get_array("silences").await
    }

    async fn get_array(&self, what: &str) -> Vec<Value> {
        self.http
            .get(format!("{}/api/v2/{what}", self.url))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json array")
    }
}
