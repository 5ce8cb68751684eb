//! rustls client configs for the database connections: `sslmode` (Postgres) and `ssl-mode`
//! (MySQL) map to one of three verification levels, with the bundled Mozilla roots or a CA
//! file.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::{Error, Result};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt only (`sslmode=prefer|require`, `ssl-mode=PREFERRED|REQUIRED`).
    None,
    /// The chain must lead to a trusted root, whatever the host name (`verify-ca`).
    Ca,
    /// Chain and host name (`verify-full`, `VERIFY_IDENTITY`).
    Full,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The trusted roots: the certificates of `ca_file` (PEM), else the bundled Mozilla roots.
pub fn roots(ca_file: Option<&Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match ca_file {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| {
                Error::Config(format!(
                    "cannot read the CA file {} named by the database URL: {e}. Fix the path (`sslrootcert` / `ssl-ca`)",
                    p.display()
                ))
            })?;
            let mut n = 0;
            for cert in rustls_pemfile::certs(&mut text.as_slice()) {
                let cert = cert.map_err(|e| {
                    Error::Config(format!("CA file {}: not valid PEM: {e}", p.display()))
                })?;
                store.add(cert).map_err(|e| {
                    Error::Config(format!(
                        "CA file {}: unusable certificate: {e}",
                        p.display()
                    ))
                })?;
                n += 1;
            }
            if n == 0 {
                return Err(Error::Config(format!(
                    "CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    p.display()
                )));
            }
        }
    }
    Ok(store)
}

/// A client config verifying the server as `verify` says.
pub fn client_config(verify: Verify, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let roots = roots(ca_file)?;
    // A server certificate that is itself in the CA file is trusted as libpq trusts it (a
    // self-signed server certificate), the host name still checked for `verify-full`.
    let pinned: Vec<CertificateDer<'static>> = match ca_file {
        Some(p) => std::fs::read(p)
            .ok()
            .map(|t| {
                rustls_pemfile::certs(&mut t.as_slice())
                    .filter_map(|c| c.ok())
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?;
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Checked {
            inner,
            pinned,
            verify,
            algs: provider.signature_verification_algorithms,
        }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Verifies the server certificate as far as `verify` asks: nothing (`require`), the chain
/// (`verify-ca`), chain and name (`verify-full`). The handshake signatures are always checked.
#[derive(Debug)]
struct Checked {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    verify: Verify,
    algs: WebPkiSupportedAlgorithms,
}

fn is_name_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.verify == Verify::None {
            return Ok(ServerCertVerified::assertion());
        }
        let check_name = self.verify == Verify::Full;
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(e) if is_name_error(&e) && !check_name => Ok(ServerCertVerified::assertion()),
            Err(e)
                if !is_name_error(&e)
                    && self
                        .pinned
                        .iter()
                        .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                if check_name {
                    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                }
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
