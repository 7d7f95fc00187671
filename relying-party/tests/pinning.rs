//! The owner's pinned TLS client against a device page on loopback: the pinned key is reached,
//! any other key is refused, whatever its certificate says.

use vouch_authenticator::page::{PAGE_MARKER, PageConfig, serve_page};
use vouch_relying_party::pinning::{ca_client, pinned_client, spki_sha256};

struct Device {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
}

fn self_signed(name: &str) -> Device {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    Device {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    }
}

async fn page(d: &Device) -> vouch_authenticator::page::RunningPage {
    serve_page(PageConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_chain_pem: d.cert_pem.clone(),
        key_pem: d.key_pem.clone(),
        title: "pinned".into(),
    })
    .await
    .expect("page serves")
}

#[tokio::test]
async fn the_pinned_key_is_reached_and_another_is_refused() {
    let device = self_signed("dev1.home.arpa");
    let impostor = self_signed("dev1.home.arpa");
    let pin = spki_sha256(&device.cert_der).unwrap();
    assert_ne!(pin, spki_sha256(&impostor.cert_der).unwrap());
    let client = pinned_client(pin).unwrap();

    let good = page(&device).await;
    let text = client
        .get(format!("https://127.0.0.1:{}/", good.addr.port()))
        .send()
        .await
        .expect("the pinned device answers")
        .text()
        .await
        .unwrap();
    assert!(text.contains(PAGE_MARKER), "{text}");

    // Same name, same kind of certificate, another key: refused.
    let bad = page(&impostor).await;
    let err = client
        .get(format!("https://127.0.0.1:{}/", bad.addr.port()))
        .send()
        .await
        .expect_err("another key must be refused");
    let chain = format!("{:?}", anyhow::Error::from(err));
    assert!(chain.contains("not the pinned one"), "{chain}");

    // A client that trusts a CA instead of the pin refuses the self-signed device.
    let ca_only = ca_client(&impostor.cert_der, &[]).unwrap();
    assert!(
        ca_only
            .get(format!("https://127.0.0.1:{}/", good.addr.port()))
            .send()
            .await
            .is_err()
    );
    good.stop().await;
    bad.stop().await;
}
