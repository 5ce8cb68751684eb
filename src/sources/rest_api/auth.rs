//! Authentication: bearer, api_key (header or query), http_basic, oauth2_client_credentials
//! and Dango's custom_header. Fields come from the block, `*_env` keys or dlt's secret
//! locations; every resolved value is registered with the redactor.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use super::client::{HttpClient, HttpFailure, Request};
use super::config::AuthConfig;
use super::secrets::{Redactor, SecretProvider};
use crate::error::{Error, Result};

/// Resolved authentication, ready to apply to requests.
#[derive(Clone)]
pub enum Auth {
    /// No auth.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// An API key in a header or the query.
    ApiKey {
        /// Header or parameter name.
        name: String,
        /// The key.
        key: String,
        /// Whether it goes into the query.
        query: bool,
    },
    /// `Authorization: Basic b64(user:password)`.
    Basic(String),
    /// A fixed header (Dango's custom_header).
    Header(String, String),
    /// OAuth2 client credentials with a cached token.
    OAuth2(Arc<OAuth2>),
}

/// OAuth2 client-credentials flow state.
pub struct OAuth2 {
    token_url: url::Url,
    client_id: String,
    client_secret: String,
    extra: Vec<(String, String)>,
    default_expiration: Duration,
    token: Mutex<Option<(String, Instant)>>,
}

/// Where auth fields are looked up, for one source.
pub struct AuthResolver<'a> {
    /// Source name (its config section).
    pub source: &'a str,
    /// Secrets.
    pub secrets: &'a dyn SecretProvider,
    /// Redactor receiving every secret.
    pub redactor: &'a Redactor,
}

impl AuthResolver<'_> {
    /// Field `field` of `cfg`: the literal value, the `*_env` variable, or dlt's lookup chain
    /// (`sources.rest_api.<name>.credentials.<field>`, `sources.rest_api.<name>.<field>`,
    /// `sources.rest_api.credentials.<field>`, …, see [`SecretProvider::lookup`]).
    fn field(&self, cfg: &AuthConfig, field: &str, required: bool) -> Result<Option<String>> {
        if let Some(v) = cfg.fields.get(field) {
            return Ok(Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        let var = cfg.env.get(field);
        if let Some(var) = var
            && let Some(v) = self.secrets.env_var(var)
        {
            return Ok(Some(v));
        }
        let secret = crate::config::settings::is_secret_key(field);
        if let Some(v) = self.secrets.lookup(self.source, field, secret)? {
            return Ok(Some(v));
        }
        if !required {
            return Ok(None);
        }
        Err(self
            .secrets
            .missing(self.source, field, var.map(String::as_str)))
    }

    fn secret(&self, cfg: &AuthConfig, field: &str) -> Result<String> {
        let v = self.field(cfg, field, true)?.unwrap_or_default();
        self.redactor.add(&v);
        Ok(v)
    }

    /// Resolves `cfg` into an [`Auth`].
    pub fn resolve(&self, cfg: Option<&AuthConfig>) -> Result<Auth> {
        let Some(cfg) = cfg else {
            return Ok(Auth::None);
        };
        Ok(match cfg.kind.as_str() {
            "none" => Auth::None,
            "bearer" => Auth::Bearer(self.secret(cfg, "token")?),
            "api_key" => {
                let key = self.secret(cfg, "api_key")?;
                let name = self
                    .field(cfg, "name", false)?
                    .unwrap_or_else(|| "Authorization".into());
                let location = self
                    .field(cfg, "location", false)?
                    .unwrap_or_else(|| "header".into());
                Auth::ApiKey {
                    name,
                    key,
                    query: matches!(location.as_str(), "query" | "param"),
                }
            }
            "http_basic" => {
                let user = self.field(cfg, "username", true)?.unwrap_or_default();
                let password = self.secret(cfg, "password")?;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                self.redactor.add(&encoded);
                Auth::Basic(encoded)
            }
            "custom_header" => {
                let name = self.field(cfg, "header_name", true)?.unwrap_or_default();
                Auth::Header(name, self.secret(cfg, "header_value")?)
            }
            "oauth2_client_credentials" => {
                let token_url = self
                    .field(cfg, "access_token_url", true)?
                    .unwrap_or_default();
                let token_url = url::Url::parse(&token_url).map_err(|e| {
                    Error::Config(format!(
                        "source `{}`: access_token_url `{token_url}` is not a URL: {e}",
                        self.source
                    ))
                })?;
                let client_id = self.secret(cfg, "client_id")?;
                let client_secret = self.secret(cfg, "client_secret")?;
                let mut extra = Vec::new();
                if let Some(Value::Object(m)) = cfg.fields.get("access_token_request_data") {
                    for (k, v) in m {
                        extra.push((
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        ));
                    }
                }
                let default_expiration = cfg
                    .fields
                    .get("default_token_expiration")
                    .and_then(Value::as_f64)
                    .unwrap_or(3600.0);
                Auth::OAuth2(Arc::new(OAuth2 {
                    token_url,
                    client_id,
                    client_secret,
                    extra,
                    default_expiration: Duration::from_secs_f64(default_expiration.max(0.0)),
                    token: Mutex::new(None),
                }))
            }
            other => {
                return Err(Error::Config(format!(
                    "source `{}`: auth type `{other}` is not supported",
                    self.source
                )));
            }
        })
    }
}

impl Auth {
    /// Adds the credentials to `req`, fetching an OAuth2 token first if needed.
    pub fn apply(&self, req: &mut Request, client: &HttpClient) -> Result<()> {
        match self {
            Auth::None => {}
            Auth::Bearer(t) => {
                req.headers
                    .insert("Authorization".into(), format!("Bearer {t}"));
            }
            Auth::ApiKey { name, key, query } => {
                if *query {
                    req.params.insert(name.clone(), key.clone());
                } else {
                    req.headers.insert(name.clone(), key.clone());
                }
            }
            Auth::Basic(b) => {
                req.headers
                    .insert("Authorization".into(), format!("Basic {b}"));
            }
            Auth::Header(n, v) => {
                req.headers.insert(n.clone(), v.clone());
            }
            Auth::OAuth2(o) => {
                let token = o.token(client)?;
                req.headers
                    .insert("Authorization".into(), format!("Bearer {token}"));
            }
        }
        Ok(())
    }
}

impl OAuth2 {
    /// The current token, fetched again when it has expired.
    fn token(&self, client: &HttpClient) -> Result<String> {
        let mut guard = self
            .token
            .lock()
            .map_err(|_| Error::Internal("oauth2 token lock poisoned".into()))?;
        if let Some((t, until)) = guard.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let mut form = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), self.client_id.clone()),
            ("client_secret".to_string(), self.client_secret.clone()),
        ];
        form.extend(self.extra.iter().cloned());
        let req = Request {
            method: reqwest::Method::POST,
            url: self.token_url.clone(),
            params: Default::default(),
            headers: Default::default(),
            json: None,
            form: Some(form),
        };
        let resp = client.send(&req, &|_, _| false).map_err(|f| {
            if matches!(f, HttpFailure::Interrupted) {
                return Error::Interrupted;
            }
            let msg = client.describe(&req.method, &f);
            let hint = match f {
                HttpFailure::Status(r, _) if r.status == 401 || r.status == 403 => {
                    ". Check client_id and client_secret"
                }
                _ => "",
            };
            Error::Config(format!(
                "fetching the OAuth2 access token failed: {msg}{hint}"
            ))
        })?;
        let v: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::Config(format!(
                "the OAuth2 token endpoint {} did not return JSON: {e}",
                client.redactor.url(&self.token_url)
            ))
        })?;
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::Config(format!(
                    "the OAuth2 token endpoint {} returned no `access_token`",
                    client.redactor.url(&self.token_url)
                ))
            })?
            .to_string();
        client.redactor.add(&token);
        let expires = v
            .get("expires_in")
            .and_then(|e| {
                e.as_f64()
                    .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
            })
            .map(|s| Duration::from_secs_f64(s.max(0.0)))
            .unwrap_or(self.default_expiration);
        // Refresh a little early so a token never expires mid-request.
        let until =
            Instant::now() + expires.saturating_sub(Duration::from_secs(1).min(expires / 10));
        tracing::info!(
            "fetched an OAuth2 access token (expires in {}s)",
            expires.as_secs()
        );
        *guard = Some((token.clone(), until));
        Ok(token)
    }
}
