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
