//! TLS for the Postgres connection (rustls with ring), following libpq's `sslmode`:
//!
//! | sslmode | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | – |
//! | `prefer` (default) | when the server offers it | none (as libpq) |
//! | `require` | always | none; with `sslrootcert`, signed by it (as libpq) |
//! | `verify-ca` | always | signed by `sslrootcert` (else the public roots); any host name |
//! | `verify-full` | always | signed by `sslrootcert` (else the public roots), for the host |
//!
//! `sslcert` / `sslkey` add a client certificate. A self-signed server certificate listed in
//! `sslrootcert` is trusted as itself (as OpenSSL does for libpq), with its host name checked
//! for `verify-full`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::config::{PgCredentials, SslMode};
use crate::error::{Error, Result};

/// How the server certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Not at all (signatures of the handshake still are).
    None,
    /// The chain, not the host name.
    Chain,
    /// The chain and the host name.
    Full,
}

/// The rustls client config for `creds`, or `None` for `sslmode=disable`.
pub fn client_config(creds: &PgCredentials) -> Result<Option<rustls::ClientConfig>> {
    let check = match creds.sslmode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer => Check::None,
        SslMode::Require if creds.sslrootcert.is_some() => Check::Chain,
        SslMode::Require => Check::None,
        SslMode::VerifyCa => Check::Chain,
        SslMode::VerifyFull => Check::Full,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pinned = match &creds.sslrootcert {
        Some(path) => read_certs(creds, path)?,
        None => Vec::new(),
    };
    let roots = Arc::new(root_store(creds)?);
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_error(creds, &format!("no usable CA certificate: {e}")))?;
    let verifier = Arc::new(Verifier {
        check,
        webpki,
        pinned,
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(creds, &e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&creds.sslcert, &creds.sslkey) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(creds, cert)?;
            let key = read_key(creds, key)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error(creds, &format!("client certificate {cert}: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Error::Config(
                "[destination.postgres.credentials] sslcert and sslkey go together: set both or neither"
                    .into(),
            ));
        }
    };
    Ok(Some(config))
}

fn tls_error(creds: &PgCredentials, why: &str) -> Error {
    Error::Config(format!(
        "TLS setup for the postgres destination {} failed: {why}",
        creds.location()
    ))
}

fn root_store(creds: &PgCredentials) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &creds.sslrootcert {
        Some(path) => {
            for cert in read_certs(creds, path)? {
                roots
                    .add(cert)
                    .map_err(|e| tls_error(creds, &format!("sslrootcert {path}: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

fn read_certs(creds: &PgCredentials, path: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path)
        .map_err(|e| tls_error(creds, &format!("cannot read certificate file {path}: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_error(creds, &format!("{path} is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(
            creds,
            &format!("{path} holds no PEM certificate"),
        ));
    }
    Ok(certs)
}

fn read_key(
    creds: &PgCredentials,
    path: &str,
) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    let bytes = std::fs::read(path)
        .map_err(|e| tls_error(creds, &format!("cannot read key file {path}: {e}")))?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|e| tls_error(creds, &format!("{path}: {e}")))?
        .ok_or_else(|| tls_error(creds, &format!("{path} holds no PEM private key")))
}

/// A server certificate verifier for the three levels of [`Check`].
#[derive(Debug)]
struct Verifier {
    check: Check,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    /// The certificates of `sslrootcert`, trusted as server certificates themselves.
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.check == Check::None {
            return Ok(ServerCertVerified::assertion());
        }
        let checked = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            Err(e)
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                // A self-signed certificate given in sslrootcert: trusted as is.
                if self.check == Check::Full {
                    let parsed =
                        rustls::server::ParsedCertificate::try_from(end_entity).map_err(|_| e)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                }
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
