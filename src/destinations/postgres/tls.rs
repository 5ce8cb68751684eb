//! TLS for the Postgres connection, following libpq's `sslmode` (the verifier is
//! [`crate::net::tls`]):
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

use std::path::Path;

use super::config::{PgCredentials, SslMode};
use crate::error::{Error, Result};
use crate::net::tls::{TlsSettings, Verify};

/// The rustls client config for `creds`, or `None` for `sslmode=disable`.
pub fn client_config(creds: &PgCredentials) -> Result<Option<rustls::ClientConfig>> {
    let verify = match creds.sslmode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer => Verify::None,
        SslMode::Require if creds.sslrootcert.is_some() => Verify::Chain {
            check_host_name: false,
        },
        SslMode::Require => Verify::None,
        SslMode::VerifyCa => Verify::Chain {
            check_host_name: false,
        },
        SslMode::VerifyFull => Verify::Chain {
            check_host_name: true,
        },
    };
    let client_cert = match (&creds.sslcert, &creds.sslkey) {
        (Some(cert), Some(key)) => Some((Path::new(cert), Path::new(key))),
        (None, None) => None,
        _ => {
            return Err(Error::Config(
                "[destination.postgres.credentials] sslcert and sslkey go together: set both or neither"
                    .into(),
            ));
        }
    };
    let origin = format!("the postgres destination {}", creds.location());
    TlsSettings {
        verify,
        ca_file: creds.sslrootcert.as_deref().map(Path::new),
        client_cert,
        origin: &origin,
    }
    .client_config()
    .map(Some)
}
