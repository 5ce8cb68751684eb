//! rustls client configs for database connections (rustls with ring), shared by the Postgres
//! destination, the Postgres source and the MySQL/MariaDB source.
//!
//! Each caller maps its own setting to a [`Verify`] level:
//!
//! | level | Postgres `sslmode` | MySQL `ssl-mode` | certificate check |
//! |---|---|---|---|
//! | [`Verify::None`] | `prefer`, `require` | `PREFERRED`, `REQUIRED` | none (the handshake signatures still are) |
//! | `Chain { check_host_name: false }` | `verify-ca` (and `require` with `sslrootcert`, as libpq) | `VERIFY_CA` | signed by a CA of the CA file (else the bundled Mozilla roots), any host name |
//! | `Chain { check_host_name: true }` | `verify-full` | `VERIFY_IDENTITY` | the same, and issued for the host |
//!
//! A server certificate that is itself in the CA file (a self-signed server certificate) is
//! trusted as is, as OpenSSL does for libpq, with its host name still checked when asked.
//!
//! MySQL goes through mysql_async, which builds its own rustls config from [`mysql_ssl_opts`]
//! and verifies with plain webpki: it has no hook for this verifier. webpki refuses a CA
//! certificate presented as the server's own (`CaUsedAsEndEntity`), so `VERIFY_CA` /
//! `VERIFY_IDENTITY` against a self-signed server certificate fail there;
//! [`explain_refusal`] says so in the error.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::{Error, Result};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt only: any certificate.
    None,
    /// The chain must lead to a trusted root; the host name too when `check_host_name`.
    Chain {
        /// Whether the certificate must be issued for the host connected to (`verify-full`,
        /// `VERIFY_IDENTITY`) rather than for any name (`verify-ca`, `VERIFY_CA`).
        check_host_name: bool,
    },
}

/// The TLS settings of one connection, and where they come from (for messages).
#[derive(Debug, Clone, Copy)]
pub struct TlsSettings<'a> {
    /// The verification level.
    pub verify: Verify,
    /// A PEM file of trusted certificates; `None` trusts the bundled Mozilla roots.
    pub ca_file: Option<&'a Path>,
    /// A client certificate and its key (both PEM), for certificate authentication.
    pub client_cert: Option<(&'a Path, &'a Path)>,
    /// What the connection is, for error messages (`the postgres destination
    /// postgresql://u@h/db`, `the database URL from environment variable SHOP_URL`).
    pub origin: &'a str,
}

impl TlsSettings<'_> {
    fn error(&self, why: impl std::fmt::Display) -> Error {
        Error::Config(format!("TLS setup for {} failed: {why}", self.origin))
    }

    /// The certificates of a PEM file: at least one.
    fn read_certs(&self, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
        let bytes = std::fs::read(path).map_err(|e| {
            self.error(format_args!(
                "cannot read the certificate file {}: {e}. Fix the path",
                path.display()
            ))
        })?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut bytes.as_slice())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| {
                self.error(format_args!(
                    "{} is not a PEM certificate file: {e}",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(self.error(format_args!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(certs)
    }

    fn read_key(&self, path: &Path) -> Result<PrivateKeyDer<'static>> {
        let bytes = std::fs::read(path).map_err(|e| {
            self.error(format_args!(
                "cannot read the key file {}: {e}. Fix the path",
                path.display()
            ))
        })?;
        rustls_pemfile::private_key(&mut bytes.as_slice())
            .map_err(|e| self.error(format_args!("{}: {e}", path.display())))?
            .ok_or_else(|| self.error(format_args!("{} holds no PEM private key", path.display())))
    }

    /// The certificates of the CA file (none without one), and the trusted roots they make
    /// (the bundled Mozilla roots without a CA file).
    fn roots(&self) -> Result<(Vec<CertificateDer<'static>>, RootCertStore)> {
        let mut store = RootCertStore::empty();
        let Some(path) = self.ca_file else {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            return Ok((Vec::new(), store));
        };
        let certs = self.read_certs(path)?;
        for cert in &certs {
            store.add(cert.clone()).map_err(|e| {
                self.error(format_args!(
                    "CA file {}: unusable certificate: {e}",
                    path.display()
                ))
            })?;
        }
        Ok((certs, store))
    }

    /// Checks the files without building a config: a bad path or file is reported before
    /// connecting.
    pub fn check_files(&self) -> Result<()> {
        self.roots()?;
        if let Some((cert, key)) = self.client_cert {
            self.read_certs(cert)?;
            self.read_key(key)?;
        }
        Ok(())
    }

    /// The server certificate verifier of these settings.
    fn verifier(&self, provider: &Arc<CryptoProvider>) -> Result<Verifier> {
        let (pinned, roots) = self.roots()?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| self.error(format_args!("no usable CA certificate: {e}")))?;
        Ok(Verifier {
            verify: self.verify,
            webpki,
            pinned,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// The rustls client config verifying the server as [`TlsSettings::verify`] says.
    pub fn client_config(&self) -> Result<ClientConfig> {
        let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(self.verifier(&provider)?);
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.error(e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match self.client_cert {
            Some((cert, key)) => {
                let certs = self.read_certs(cert)?;
                let key = self.read_key(key)?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    self.error(format_args!("client certificate {}: {e}", cert.display()))
                })
            }
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// mysql_async's TLS options for these settings (the CA file read here, so a bad one is
    /// reported before connecting). mysql_async verifies with webpki itself: see the module
    /// documentation for what that refuses.
    pub fn mysql_ssl_opts(&self) -> Result<mysql_async::SslOpts> {
        self.check_files()?;
        let check_host_name = self.verify
            == (Verify::Chain {
                check_host_name: true,
            });
        let mut ssl = mysql_async::SslOpts::default()
            .with_danger_accept_invalid_certs(self.verify == Verify::None)
            .with_danger_skip_domain_validation(!check_host_name);
        if let Some(path) = self.ca_file {
            ssl = ssl
                .with_root_certs(vec![path.to_path_buf().into()])
                .with_disable_built_in_roots(true);
        }
        Ok(ssl)
    }
}

/// A sentence explaining a TLS refusal of mysql_async (`error` is its message), when it is
/// the one its webpki check gives for a self-signed server certificate.
pub fn explain_refusal(error: &str) -> Option<&'static str> {
    error.contains("CaUsedAsEndEntity").then_some(
        "the server presents a self-signed (CA) certificate as its own; the MySQL driver verifies with webpki, \
         which accepts only a server certificate signed by a CA of ssl-ca. Give the server a certificate \
         signed by that CA, or use ssl-mode=REQUIRED (encrypted, not verified)",
    )
}

/// Verifies the server certificate as far as [`Verify`] asks. The handshake signatures are
/// always checked.
#[derive(Debug)]
struct Verifier {
    verify: Verify,
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of the CA file, trusted as server certificates themselves.
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

fn is_name_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Verify::Chain { check_host_name } = self.verify else {
            return Ok(ServerCertVerified::assertion());
        };
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(e) if is_name_error(&e) && !check_host_name => Ok(ServerCertVerified::assertion()),
            Err(e)
                if !is_name_error(&e)
                    && self
                        .pinned
                        .iter()
                        .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                // A self-signed certificate of the CA file: trusted as is.
                if check_host_name {
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

#[cfg(test)]
mod tests;
