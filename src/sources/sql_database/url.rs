//! The database URL: which driver, where, and how TLS is set up. The URL is a secret: only
//! its redacted form ([`DbUrl::shown`]) ever appears in messages.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::ClientConfig;

use crate::config::redact;
use crate::error::{Error, Result};
use crate::net::tls::{TlsSettings, Verify};

/// A database URL with where it came from.
#[derive(Clone)]
pub struct DbUrl {
    raw: String,
    /// Where the URL was found (`environment variable SHOP_DB_URL`, `secrets.toml [..]`).
    pub origin: String,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({}, from {})", self.shown(), self.origin)
    }
}

/// Where to connect, per driver.
pub enum Target {
    /// PostgreSQL.
    Postgres(Box<PgTarget>),
    /// MySQL or MariaDB.
    Mysql(MyTarget),
    /// A SQLite file.
    Sqlite(PathBuf),
}

/// A PostgreSQL connection.
pub struct PgTarget {
    /// Host, port, user, password, database.
    pub config: tokio_postgres::Config,
    /// The TLS config; `None` for `sslmode=disable`.
    pub tls: Option<Arc<ClientConfig>>,
    /// Whether TLS may be skipped when the server does not offer it (`prefer`).
    pub tls_optional: bool,
}

/// A MySQL / MariaDB connection.
pub struct MyTarget {
    /// Connection options (with TLS options when TLS is used).
    pub opts: mysql_async::Opts,
    /// The same options without TLS, when TLS is only preferred.
    pub fallback: Option<mysql_async::Opts>,
}

impl DbUrl {
    /// A URL found at `origin`; its password is registered for redaction.
    pub fn new(raw: impl Into<String>, origin: impl Into<String>) -> DbUrl {
        let raw = raw.into();
        redact::register_secret(&raw);
        if let Ok(u) = url::Url::parse(&raw)
            && let Some(p) = u.password()
        {
            redact::register_secret(p);
            if let Ok(decoded) = urlencoding_decode(p) {
                redact::register_secret(&decoded);
            }
        }
        DbUrl {
            raw,
            origin: origin.into(),
        }
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> String {
        match url::Url::parse(&self.raw) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => "<a database URL that does not parse>".into(),
        }
    }

    /// The driver name of the scheme (`postgresql`, `mysql`, `sqlite`).
    pub fn scheme(&self) -> String {
        let s = self.raw.split("://").next().unwrap_or_default();
        s.split('+').next().unwrap_or_default().to_ascii_lowercase()
    }

    /// The connection target; relative SQLite paths are resolved from `base`.
    pub fn target(&self, base: &Path) -> Result<Target> {
        match self.scheme().as_str() {
            "postgresql" | "postgres" => self.postgres().map(|t| Target::Postgres(Box::new(t))),
            "mysql" | "mariadb" => self.mysql().map(Target::Mysql),
            "sqlite" => self.sqlite(base).map(Target::Sqlite),
            other => Err(Error::Config(format!(
                "the database URL from {} has the scheme `{other}`; dango reads postgresql://, mysql:// (MariaDB too) and sqlite:/// URLs",
                self.origin
            ))),
        }
    }

    /// `build` applied to the TLS settings of this URL.
    fn tls<T>(
        &self,
        verify: Verify,
        ca_file: Option<&Path>,
        build: impl FnOnce(&TlsSettings<'_>) -> Result<T>,
    ) -> Result<T> {
        let origin = format!("the database URL from {}", self.origin);
        build(&TlsSettings {
            verify,
            ca_file,
            client_cert: None,
            origin: &origin,
        })
    }

    fn bad(&self, why: impl std::fmt::Display) -> Error {
        Error::Config(format!(
            "the database URL from {} ({}) is not valid: {why}",
            self.origin,
            self.shown()
        ))
    }

    /// The URL parsed, with the query parameters dango handles itself taken out.
    fn split_params(&self, own: &[&str]) -> Result<(url::Url, Vec<(String, String)>)> {
        let mut u = url::Url::parse(&self.raw).map_err(|e| self.bad(e))?;
        let mut mine = Vec::new();
        let mut rest = Vec::new();
        for (k, v) in u.query_pairs() {
            if own.contains(&k.as_ref()) {
                mine.push((k.to_string(), v.to_string()));
            } else {
                rest.push((k.to_string(), v.to_string()));
            }
        }
        if rest.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(rest);
        }
        Ok((u, mine))
    }

    fn postgres(&self) -> Result<PgTarget> {
        let (mut u, params) = self.split_params(&["sslmode", "sslrootcert"])?;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let _ = u.set_scheme("postgresql");
        let config = tokio_postgres::Config::from_str(u.as_str()).map_err(|e| self.bad(e))?;
        let ca = get("sslrootcert").map(PathBuf::from);
        let mode = get("sslmode").unwrap_or_else(|| "prefer".into());
        let (verify, optional) = match mode.as_str() {
            "disable" => {
                return Ok(PgTarget {
                    config,
                    tls: None,
                    tls_optional: true,
                });
            }
            "allow" | "prefer" => (Verify::None, true),
            // libpq: `require` with a root certificate verifies the chain.
            "require" if ca.is_some() => (VERIFY_CA, false),
            "require" => (Verify::None, false),
            "verify-ca" => (VERIFY_CA, false),
            "verify-full" => (VERIFY_FULL, false),
            other => {
                return Err(self.bad(format!(
                    "unknown sslmode `{other}`; use disable, prefer, require, verify-ca or verify-full"
                )));
            }
        };
        let tls = self.tls(verify, ca.as_deref(), |t| t.client_config())?;
        Ok(PgTarget {
            config,
            tls: Some(Arc::new(tls)),
            tls_optional: optional,
        })
    }

    fn mysql(&self) -> Result<MyTarget> {
        let own = [
            "ssl-mode",
            "ssl_mode",
            "sslmode",
            "ssl-ca",
            "ssl_ca",
            "sslrootcert",
        ];
        let (mut u, params) = self.split_params(&own)?;
        let get = |ks: &[&str]| {
            params
                .iter()
                .find(|(n, _)| ks.contains(&n.as_str()))
                .map(|(_, v)| v.clone())
        };
        let _ = u.set_scheme("mysql");
        let plain = mysql_async::Opts::from_url(u.as_str()).map_err(|e| self.bad(e))?;
        let ca = get(&["ssl-ca", "ssl_ca", "sslrootcert"]).map(PathBuf::from);
        let mode = get(&["ssl-mode", "ssl_mode", "sslmode"])
            .unwrap_or_else(|| "PREFERRED".into())
            .to_ascii_uppercase()
            .replace('-', "_");
        let verify = match mode.as_str() {
            "DISABLED" | "DISABLE" => {
                return Ok(MyTarget {
                    opts: plain,
                    fallback: None,
                });
            }
            "PREFERRED" | "PREFER" | "REQUIRED" | "REQUIRE" => Verify::None,
            "VERIFY_CA" => VERIFY_CA,
            "VERIFY_IDENTITY" | "VERIFY_FULL" => VERIFY_FULL,
            other => {
                return Err(self.bad(format!(
                    "unknown ssl-mode `{other}`; use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                )));
            }
        };
        let ssl = self.tls(verify, ca.as_deref(), |t| t.mysql_ssl_opts())?;
        let opts = mysql_async::OptsBuilder::from_opts(plain.clone())
            .ssl_opts(Some(ssl))
            .into();
        let preferred = matches!(mode.as_str(), "PREFERRED" | "PREFER");
        Ok(MyTarget {
            opts,
            fallback: preferred.then_some(plain),
        })
    }

    fn sqlite(&self, base: &Path) -> Result<PathBuf> {
        let rest = self
            .raw
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or_default();
        let Some(path) = rest.strip_prefix('/') else {
            return Err(self
                .bad("a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"));
        };
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(self.bad("name a database file: sqlite:///path/to/file.db"));
        }
        let p = PathBuf::from(path);
        let p = if p.is_absolute() { p } else { base.join(p) };
        if !p.is_file() {
            return Err(Error::Config(format!(
                "the SQLite database {} (from {}) does not exist. Fix the path in the URL (sqlite:///relative/to/project.db or sqlite:////absolute/path.db)",
                p.display(),
                self.origin
            )));
        }
        Ok(p)
    }
}

/// `verify-ca`, `VERIFY_CA`: the chain, any host name.
const VERIFY_CA: Verify = Verify::Chain {
    check_host_name: false,
};
/// `verify-full`, `VERIFY_IDENTITY`: the chain and the host name.
const VERIFY_FULL: Verify = Verify::Chain {
    check_host_name: true,
};

/// Percent-decoding of a URL component.
fn urlencoding_decode(s: &str) -> std::result::Result<String, std::string::FromUtf8Error> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8(bytes)
}
