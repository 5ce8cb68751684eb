//! Postgres credentials as dlt reads them (`ConnectionStringCredentials`):
//!
//! ```toml
//! # .dlt/secrets.toml: a URL ...
//! [destination.postgres]
//! credentials = "postgresql://loader:password@db.example.com:5432/dwh?sslmode=require"
//!
//! # ... or its parts
//! [destination.postgres.credentials]
//! database = "dwh"
//! username = "loader"
//! password = "password"
//! host = "db.example.com"
//! port = 5432
//! connect_timeout = 15
//! sslmode = "verify-full"          # disable | prefer (default) | require | verify-ca | verify-full
//! sslrootcert = "/etc/ssl/dwh-ca.pem"
//! ```
//!
//! Parts set on their own (also `DESTINATION__POSTGRES__CREDENTIALS__PASSWORD`) win over the
//! URL's. `sslmode`, `sslrootcert`, `sslcert`, `sslkey` and `application_name` may also be URL
//! query parameters or entries of a `query` table, as in dlt.

use crate::config::Resolved;
use crate::destinations::config::DestinationSettings;
use crate::error::{Error, Result};

/// How the connection uses TLS (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, without checking its certificate (libpq's default).
    #[default]
    Prefer,
    /// TLS, without checking the certificate (checked against `sslrootcert` when given).
    Require,
    /// TLS with a certificate signed by a trusted CA; the host name is not checked.
    VerifyCa,
    /// TLS with a trusted certificate for the host name.
    VerifyFull,
}

impl std::str::FromStr for SslMode {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<SslMode, ()> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return Err(()),
        })
    }
}

/// Postgres connection settings. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgCredentials {
    /// Database name.
    pub database: String,
    /// User name.
    pub username: String,
    /// Password (none: trust or certificate authentication).
    pub password: Option<String>,
    /// Host name or IP address.
    pub host: String,
    /// Port (5432).
    pub port: u16,
    /// Seconds to wait for the connection (15, as dlt).
    pub connect_timeout: u64,
    /// TLS mode.
    pub sslmode: SslMode,
    /// CA certificates (PEM) to trust instead of the public roots.
    pub sslrootcert: Option<String>,
    /// Client certificate (PEM) for certificate authentication.
    pub sslcert: Option<String>,
    /// The client certificate's key (PEM).
    pub sslkey: Option<String>,
    /// `application_name` reported to the server.
    pub application_name: String,
    /// Where the credentials came from (a key, never a value), for messages.
    pub origin: String,
}

impl std::fmt::Debug for PgCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCredentials")
            .field("location", &self.location())
            .field("sslmode", &self.sslmode)
            .finish_non_exhaustive()
    }
}

impl PgCredentials {
    /// `postgresql://user@host:port/database`, without the password.
    pub fn location(&self) -> String {
        format!(
            "postgresql://{}@{}:{}/{}",
            self.username, self.host, self.port, self.database
        )
    }
}

/// The parts read on their own under `[destination.postgres.credentials]`.
const PARTS: &[&str] = &[
    "database",
    "username",
    "password",
    "host",
    "port",
    "connect_timeout",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "query",
];

const EXAMPLE: &str = "postgresql://loader:<password>@localhost:5432/dwh";

/// Reads the credentials of the `postgres` destination; a clear error names what is missing
/// or malformed (never a value).
pub fn credentials(settings: &DestinationSettings<'_>) -> Result<PgCredentials> {
    let found = settings.credentials(PARTS)?;
    if found.is_empty() {
        return Err(settings.missing_credentials(EXAMPLE, &["database", "username", "host"]));
    }
    let mut values: Vec<(String, String)> = Vec::new();
    let mut origin = Vec::new();
    if let Some(native) = &found.native {
        values.extend(parse_url(native)?);
        origin.push(native.describe());
    }
    for (name, r) in &found.parts {
        if name == "query" {
            let toml::Value::Table(t) = &r.value else {
                return Err(Error::Config(format!(
                    "[destination.postgres.credentials] query must be a table like {{ sslmode = \"require\" }} (from {})",
                    r.describe()
                )));
            };
            for (k, v) in t {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                values.push((k.clone(), text));
            }
        } else {
            values.push((name.clone(), r.as_string()));
        }
        origin.push(r.describe());
    }
    let get = |k: &str| {
        values
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let origin = origin.join(", ");
    let need = |k: &str| {
        get(k).ok_or_else(|| {
            Error::Config(format!(
                "the postgres destination's credentials have no `{k}` (read from {origin}). Add it to the URL ({EXAMPLE}) or set [destination.postgres.credentials] {k}"
            ))
        })
    };
    let number = |k: &str, default: u64| -> Result<u64> {
        match get(k) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "[destination.postgres.credentials] {k} must be a whole number, got `{v}` (from {origin})"
                ))
            }),
        }
    };
    let sslmode = match get("sslmode") {
        None => SslMode::default(),
        Some(v) => v.parse().map_err(|_| {
            Error::Config(format!(
                "[destination.postgres.credentials] sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got `{v}` (from {origin})"
            ))
        })?,
    };
    let port = number("port", 5432)?;
    let port = u16::try_from(port).map_err(|_| {
        Error::Config(format!(
            "[destination.postgres.credentials] port must be between 1 and 65535, got {port} (from {origin})"
        ))
    })?;
    Ok(PgCredentials {
        database: need("database")?,
        username: need("username")?,
        password: get("password"),
        host: need("host")?,
        port,
        connect_timeout: number("connect_timeout", 15)?,
        sslmode,
        sslrootcert: get("sslrootcert"),
        sslcert: get("sslcert"),
        sslkey: get("sslkey"),
        application_name: get("application_name").unwrap_or_else(|| "dango".into()),
        origin,
    })
}

/// The parts of a `postgresql://` URL (user, password and database percent-decoded; query
/// parameters as parts).
fn parse_url(r: &Resolved) -> Result<Vec<(String, String)>> {
    let text = r.as_string();
    let bad = |why: &str| {
        Error::Config(format!(
            "the postgres destination's credentials ({}) are not a usable URL: {why}. Use {EXAMPLE}",
            r.describe()
        ))
    };
    let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "postgresql" | "postgres") {
        return Err(bad(&format!(
            "the scheme is `{}`, not `postgresql`",
            url.scheme()
        )));
    }
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    if !url.username().is_empty() {
        out.push(("username".into(), decode(url.username())));
    }
    if let Some(p) = url.password() {
        let p = decode(p);
        crate::config::redact::register_secret(&p);
        out.push(("password".into(), p));
    }
    if let Some(h) = url.host_str() {
        out.push((
            "host".into(),
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
        ));
    }
    if let Some(p) = url.port() {
        out.push(("port".into(), p.to_string()));
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        out.push(("database".into(), decode(db)));
    }
    for (k, v) in url.query_pairs() {
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Env, Settings};

    fn creds(secrets: &str, env: &[(&str, &str)]) -> Result<PgCredentials> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
        std::fs::write(dir.path().join(".dlt/secrets.toml"), secrets).unwrap();
        let env = Env::from_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let s = Settings::with_env(dir.path(), env, None).unwrap();
        credentials(&DestinationSettings::new(&s, "postgres"))
    }

    #[test]
    fn url_with_query() {
        let c = creds(
            "[destination.postgres]\ncredentials = \"postgresql://lo%40der:p%2Fw+1@db.example:6543/dwh?sslmode=verify-full&connect_timeout=3\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.username, "lo@der");
        assert_eq!(c.password.as_deref(), Some("p/w+1"));
        assert_eq!((c.host.as_str(), c.port), ("db.example", 6543));
        assert_eq!(c.database, "dwh");
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.connect_timeout, 3);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("p/w+1"), "{dbg}");
    }

    #[test]
    fn parts_override_url() {
        let c = creds(
            "[destination.postgres]\ncredentials = \"postgresql://u:pw@h/db\"\n",
            &[
                ("DESTINATION__POSTGRES__CREDENTIALS__HOST", "127.0.0.1"),
                ("DESTINATION__POSTGRES__CREDENTIALS__PORT", "54329"),
            ],
        )
        .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 54329));
        assert_eq!(c.sslmode, SslMode::Prefer);
    }

    #[test]
    fn table_of_parts() {
        let c = creds(
            "[destination.postgres.credentials]\ndatabase = \"dwh\"\nusername = \"u\"\npassword = \"pw\"\nhost = \"h\"\nport = 5433\nquery = { sslmode = \"disable\" }\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.port, 5433);
        assert_eq!(c.sslmode, SslMode::Disable);
        assert_eq!(c.location(), "postgresql://u@h:5433/dwh");
    }

    #[test]
    fn errors_name_keys_not_values() {
        let e = creds("", &[]).unwrap_err().to_string();
        assert!(e.contains("[destination.postgres]"), "{e}");
        let e = creds(
            "[destination.postgres]\ncredentials = \"postgresql://u:sekrit@h\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no `database`") && !e.contains("sekrit"), "{e}");
        let e = creds(
            "[destination.postgres]\ncredentials = \"mysql://u:sekrit@h/db\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("scheme") && !e.contains("sekrit"), "{e}");
        let e = creds(
            "[destination.postgres]\ncredentials = \"postgresql://u:sekrit@h/db?sslmode=maybe\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sslmode") && !e.contains("sekrit"), "{e}");
    }
}
