use std::path::PathBuf;

use super::*;

/// A self-signed certificate for `localhost` / `127.0.0.1` (CA:TRUE, as `openssl req -x509`
/// makes it; valid until 2126), like the test servers' one.
const SELF_SIGNED: &str = "\
-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUBZizPsE+dP59UNMrHibiDey+RB8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNzE2NDU0MVoYDzIxMjYxMTEz
MTY0NTQxWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASEXrmZv1MPXe88PqlvOy7FP4ogdPJ/0gr7Eh5mf43NVXky6nmzDMj6
eOW3UhQjMjktObRu6QkWQFiDiTZwQVRzo28wbTAdBgNVHQ4EFgQUOVxfLwVbupZ3
5zacRFbQHwKUfAcwHwYDVR0jBBgwFoAUOVxfLwVbupZ35zacRFbQHwKUfAcwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDRwAwRAIgZRO45wyH1fMM36XVj1ghJssMGJeUhx3+psFlbEys+6ACIBKf
/TogBsTZw6nJF2ZthE/lX3wi5QVbUU1vzWaPnLUg
-----END CERTIFICATE-----
";

fn ca_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, SELF_SIGNED).unwrap();
    (dir, path)
}

fn cert() -> CertificateDer<'static> {
    rustls_pemfile::certs(&mut SELF_SIGNED.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

fn settings(verify: Verify, ca_file: Option<&Path>) -> TlsSettings<'_> {
    TlsSettings {
        verify,
        ca_file,
        client_cert: None,
        origin: "the test connection",
    }
}

fn check(
    verify: Verify,
    ca_file: Option<&Path>,
    host: &str,
) -> std::result::Result<ServerCertVerified, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let v = settings(verify, ca_file).verifier(&provider).unwrap();
    let name = ServerName::try_from(host.to_string()).unwrap();
    v.verify_server_cert(&cert(), &[], &name, &[], UnixTime::now())
}

const CA: Verify = Verify::Chain {
    check_host_name: false,
};
const FULL: Verify = Verify::Chain {
    check_host_name: true,
};

#[test]
fn host_name_is_checked_only_when_asked() {
    let (_dir, ca) = ca_file();
    for host in ["localhost", "127.0.0.1", "db.example.com"] {
        assert!(check(CA, Some(&ca), host).is_ok(), "{host}");
        assert!(check(Verify::None, None, host).is_ok(), "{host}");
    }
    assert!(check(FULL, Some(&ca), "localhost").is_ok());
    assert!(check(FULL, Some(&ca), "127.0.0.1").is_ok());
    let e = check(FULL, Some(&ca), "db.example.com").unwrap_err();
    assert!(is_name_error(&e), "{e:?}");
}

#[test]
fn a_certificate_outside_the_ca_file_is_refused() {
    // The bundled roots do not trust a self-signed certificate, whatever the level.
    for verify in [CA, FULL] {
        let e = check(verify, None, "localhost").unwrap_err();
        assert!(!is_name_error(&e), "{e:?}");
    }
}

#[test]
fn plain_webpki_refuses_a_self_signed_server_certificate() {
    // What mysql_async's own verifier does with the CA file: the reason MySQL VERIFY_CA and
    // VERIFY_IDENTITY fail against a self-signed server, and what the error then explains.
    let (_dir, ca) = ca_file();
    let (_, roots) = settings(CA, Some(&ca)).roots().unwrap();
    let webpki = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let e = webpki
        .verify_server_cert(&cert(), &[], &name, &[], UnixTime::now())
        .unwrap_err();
    let text = e.to_string();
    assert!(explain_refusal(&text).is_some(), "{text}");
    assert!(explain_refusal("connection refused").is_none());
}

#[test]
fn bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let e = settings(FULL, Some(&missing)).check_files().unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("the test connection") && text.contains("nope.pem"),
        "{text}"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = settings(FULL, Some(&empty)).client_config().unwrap_err();
    assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    let (_dir, ca) = ca_file();
    let s = TlsSettings {
        client_cert: Some((&ca, &missing)),
        ..settings(FULL, Some(&ca))
    };
    assert!(
        s.client_config()
            .unwrap_err()
            .to_string()
            .contains("key file")
    );
    assert!(settings(CA, Some(&ca)).mysql_ssl_opts().is_ok());
}
