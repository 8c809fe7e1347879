//! TLS as companies run it, against real servers: Prometheus and Alertmanager serving HTTPS
//! from a private CA made for the run (tests/servers/tls.rs), one of them requiring client
//! certificates.

use cockpit_testkit::servers;
use servers::tls::{self, Kind, Pki};

fn client(pki: &Pki, ca: Option<&std::path::Path>, identity: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("read CA");
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"));
    }
    if identity {
        let mut pem = std::fs::read(&pki.client_cert).expect("client cert");
        pem.extend(std::fs::read(&pki.client_key).expect("client key"));
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity PEM"));
    }
    b.build().expect("client")
}

/// The servers are what the cockpit tests rely on: TLS from the private CA, refused to a
/// client trusting another CA, and (mutual) refused to a client without a certificate.
#[tokio::test]
async fn servers_speak_tls_from_the_private_ca() {
    let pki = Pki::generate("servers");
    let prom = tls::start(Kind::Prometheus, "servers-prom", &pki, false);
    let am = tls::start(Kind::Alertmanager, "servers-am", &pki, true);
    let ready = |url: &str| format!("{url}/-/ready");
    let ok = client(&pki, Some(&pki.ca), false)
        .get(ready(&prom.url))
        .send()
        .await;
    assert!(ok.is_ok(), "{ok:?}\n{}", prom.log());
    let wrong = client(&pki, Some(&pki.other_ca), false)
        .get(ready(&prom.url))
        .send()
        .await;
    assert!(wrong.is_err(), "another CA must not be trusted: {wrong:?}");
    let mutual = client(&pki, Some(&pki.ca), true)
        .get(ready(&am.url))
        .send()
        .await;
    assert!(mutual.is_ok(), "{mutual:?}\n{}", am.log());
    let anonymous = client(&pki, Some(&pki.ca), false)
        .get(ready(&am.url))
        .send()
        .await;
    assert!(
        anonymous.is_err(),
        "no client certificate must be refused: {anonymous:?}"
    );
}

use chrono::Utc;
use cockpit_testkit::fuzz_harness::{alertmanager_config, prometheus_config};
use oncall_cockpit::backend::alertmanager::Alertmanager;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::{BackendError, IncidentSource, MetricsSource};
use oncall_cockpit::config::tls::TlsConfig;

fn unreachable_text(err: &BackendError) -> &str {
    match err {
        BackendError::Unreachable(why) => why,
        other => panic!("a TLS failure is the source being unreachable: {other:?}"),
    }
}

/// A Prometheus behind a private CA: trusted with `ca_file`; without it the error says the
/// CA is not trusted and which setting fixes that; a url whose name the certificate does not
/// carry fails saying so, and works once `server_name` names what the certificate carries.
#[tokio::test]
async fn prometheus_behind_a_private_ca() {
    let pki = Pki::generate("prom-ca");
    let server = tls::start(Kind::Prometheus, "prom-ca", &pki, false);
    let with_ca = Some(TlsConfig {
        ca_file: Some(pki.ca.clone()),
        ..Default::default()
    });
    let mut cfg = prometheus_config();
    cfg.url = server.url.clone();
    cfg.tls = with_ca.clone();
    let mut prom = Prometheus::new(&cfg).expect("adapter");
    let fetched = prom.fetch(Utc::now()).await;
    assert!(fetched.is_ok(), "{fetched:?}\n{}", server.log());

    cfg.tls = None;
    let mut prom = Prometheus::new(&cfg).expect("adapter");
    let err = prom.fetch(Utc::now()).await.expect_err("an untrusted CA");
    let why = unreachable_text(&err);
    assert!(
        why.contains("not trust") && why.contains("ca_file"),
        "says what is wrong and which setting fixes it: {why}"
    );

    cfg.tls = Some(TlsConfig {
        ca_file: Some(pki.other_ca.clone()),
        ..Default::default()
    });
    let mut prom = Prometheus::new(&cfg).expect("adapter");
    let err = prom.fetch(Utc::now()).await.expect_err("another CA");
    assert!(unreachable_text(&err).contains("ca_file"), "{err:?}");

    cfg.url = format!("https://localhost:{}", server.port);
    cfg.tls = with_ca;
    let mut prom = Prometheus::new(&cfg).expect("adapter");
    let err = prom
        .fetch(Utc::now())
        .await
        .expect_err("a name not in the certificate");
    let why = unreachable_text(&err);
    assert!(
        why.contains("not valid for the name localhost") && why.contains("server_name"),
        "says the name does not match and which setting fixes it: {why}"
    );

    // Reached as `localhost` (a tunnel, a proxy's address), checked as the name the
    // certificate carries: `server_name` is what the certificate and SNI see.
    cfg.tls = Some(TlsConfig {
        ca_file: Some(pki.ca.clone()),
        server_name: Some(pki.server_name.into()),
        ..Default::default()
    });
    let mut prom = Prometheus::new(&cfg).expect("adapter");
    let fetched = prom.fetch(Utc::now()).await;
    assert!(fetched.is_ok(), "{fetched:?}\n{}", server.log());

    cfg.tls = Some(TlsConfig {
        ca_file: Some(pki.ca.clone()),
        server_name: Some("grafana.internal.example".into()),
        ..Default::default()
    });
    let mut prom = Prometheus::new(&cfg).expect("adapter");
    let err = prom
        .fetch(Utc::now())
        .await
        .expect_err("a server_name the certificate lacks");
    let why = unreachable_text(&err);
    assert!(
        why.contains("not valid for the name grafana.internal.example"),
        "names the server_name that did not match: {why}"
    );
}

/// Alertmanager requiring client certificates (mutual TLS): the cockpit's certificate from
/// `client_cert` + `client_key` is accepted; without one the error says the server wants
/// one and which settings give it; a key others can read is refused before any connection.
#[tokio::test]
async fn alertmanager_with_mutual_tls() {
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::generate("am-mtls");
    let server = tls::start(Kind::Alertmanager, "am-mtls", &pki, true);
    let mutual = TlsConfig {
        ca_file: Some(pki.ca.clone()),
        client_cert: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
        server_name: None,
    };
    let mut cfg = alertmanager_config();
    cfg.url = server.url.clone();
    cfg.tls = Some(mutual.clone());
    let mut am = Alertmanager::new(&cfg).expect("adapter");
    let listed = am.list(Utc::now()).await;
    assert!(listed.is_ok(), "{listed:?}\n{}", server.log());

    cfg.tls = Some(TlsConfig {
        ca_file: Some(pki.ca.clone()),
        ..Default::default()
    });
    let mut am = Alertmanager::new(&cfg).expect("adapter");
    let err = am
        .list(Utc::now())
        .await
        .expect_err("no client certificate");
    let why = unreachable_text(&err);
    assert!(
        why.contains("client certificate") && why.contains("client_cert"),
        "{why}"
    );

    std::fs::set_permissions(&pki.client_key, std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    cfg.tls = Some(mutual);
    let err = Alertmanager::new(&cfg).err().unwrap_or_default();
    assert!(
        err.contains("tls.client_key") && err.contains("chmod 600"),
        "{err}"
    );
}
