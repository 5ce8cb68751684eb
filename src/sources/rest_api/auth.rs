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

/// Resolved authentication, ready to apply to requests, with where its credentials came
/// from (for [`Error::InvalidCredentials`]).
#[derive(Clone)]
pub struct Auth {
    scheme: Scheme,
    credentials: Vec<Credential>,
}

/// How the credentials go into a request.
#[derive(Clone)]
enum Scheme {
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

/// One credential field an [`Auth`] sends, and where its value came from (never the value).
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// The auth field: `token`, `api_key`, `password`, `client_secret`, …
    pub field: String,
    /// Where its value came from.
    pub origin: Origin,
}

/// Where a credential field's value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Written in the source's block in .dango/sources.yml (as is, or through `${VAR}`).
    SourcesYml,
    /// The environment variable a `<field>_env` key names.
    EnvVar {
        /// The variable.
        var: String,
        /// Where it is set: `environment` or the `.env` file's path.
        set_in: String,
    },
    /// Found along dlt's lookup chain (or by the application's secret provider), e.g.
    /// `/p/.dlt/secrets.toml [sources.shop] token`.
    Lookup(String),
}

impl Credential {
    /// Which field was sent and where it came from.
    fn used(&self, source: &str) -> String {
        let f = &self.field;
        match &self.origin {
            Origin::SourcesYml => {
                format!("`{f}` written in the auth of source `{source}` in .dango/sources.yml")
            }
            Origin::EnvVar { var, set_in } => {
                format!("`{f}` from {var} ({set_in}), named by `{f}_env` in .dango/sources.yml")
            }
            Origin::Lookup(at) => format!("`{f}` from {at}"),
        }
    }

    /// Where to put a valid value.
    fn fix(&self, source: &str) -> String {
        let f = &self.field;
        match &self.origin {
            Origin::SourcesYml => format!(
                "replace `{f}` in the auth of source `{source}` in .dango/sources.yml with a valid one (better, keep it out of that file: `{f}_env: <VARIABLE>`, or `{f}` under [sources.{source}] in .dlt/secrets.toml)"
            ),
            Origin::EnvVar { var, set_in } if set_in == "environment" => {
                format!("export a valid `{f}` in {var}")
            }
            Origin::EnvVar { var, set_in } => format!("put a valid `{f}` in {var} in {set_in}"),
            Origin::Lookup(at) => format!("put a valid `{f}` at {at}"),
        }
    }
}

impl Auth {
    /// No authentication.
    pub fn none() -> Auth {
        Auth {
            scheme: Scheme::None,
            credentials: Vec::new(),
        }
    }

    /// The credential fields this auth sends and where each came from.
    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// For [`Error::InvalidCredentials`] of source `source`: `(used, fix)`, which credential
    /// fields were sent and where they came from, and where to change them. Never a value.
    pub fn credential_hint(&self, source: &str) -> (String, String) {
        if self.credentials.is_empty() {
            return (
                format!("no credentials (source `{source}` has no `auth` in .dango/sources.yml)"),
                format!(
                    "add an `auth` to source `{source}` in .dango/sources.yml, e.g. `auth: {{type: bearer, token_env: MY_API_TOKEN}}` to send a bearer `token` from the variable MY_API_TOKEN, then run `dango sync` again"
                ),
            );
        }
        let used: Vec<String> = self.credentials.iter().map(|c| c.used(source)).collect();
        let fix: Vec<String> = self.credentials.iter().map(|c| c.fix(source)).collect();
        (
            used.join(" and "),
            format!("{}, then run `dango sync` again", fix.join("; ")),
        )
    }
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
    /// The value and where it came from; `None` only when not `required`.
    fn field(
        &self,
        cfg: &AuthConfig,
        field: &str,
        required: bool,
    ) -> Result<Option<(String, Origin)>> {
        if let Some(v) = cfg.fields.get(field) {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Ok(Some((text, Origin::SourcesYml)));
        }
        let var = cfg.env.get(field);
        if let Some(var) = var
            && let Some(found) = self.secrets.find_env_var(var)
        {
            let origin = Origin::EnvVar {
                var: var.clone(),
                set_in: found.origin,
            };
            return Ok(Some((found.value, origin)));
        }
        let secret = crate::config::settings::is_secret_key(field);
        if let Some(found) = self.secrets.find(self.source, field, secret)? {
            return Ok(Some((found.value, Origin::Lookup(found.origin))));
        }
        if !required {
            return Ok(None);
        }
        Err(self
            .secrets
            .missing(self.source, field, var.map(String::as_str)))
    }

    /// A setting of the auth (`name`, `location`, …), if set.
    fn setting(&self, cfg: &AuthConfig, field: &str, required: bool) -> Result<Option<String>> {
        Ok(self.field(cfg, field, required)?.map(|(v, _)| v))
    }

    /// A required credential field, recorded in `used`; with `secret`, its value is
    /// registered with the redactor.
    fn credential(
        &self,
        cfg: &AuthConfig,
        field: &str,
        secret: bool,
        used: &mut Vec<Credential>,
    ) -> Result<String> {
        let (v, origin) = self
            .field(cfg, field, true)?
            .ok_or_else(|| Error::Internal(format!("required auth field `{field}` unset")))?;
        if secret {
            self.redactor.add(&v);
        }
        used.push(Credential {
            field: field.to_string(),
            origin,
        });
        Ok(v)
    }

    /// Resolves `cfg` into an [`Auth`].
    pub fn resolve(&self, cfg: Option<&AuthConfig>) -> Result<Auth> {
        let Some(cfg) = cfg else {
            return Ok(Auth::none());
        };
        let mut used = Vec::new();
        let scheme = match cfg.kind.as_str() {
            "none" => Scheme::None,
            "bearer" => Scheme::Bearer(self.credential(cfg, "token", true, &mut used)?),
            "api_key" => {
                let key = self.credential(cfg, "api_key", true, &mut used)?;
                let name = self
                    .setting(cfg, "name", false)?
                    .unwrap_or_else(|| "Authorization".into());
                let location = self
                    .setting(cfg, "location", false)?
                    .unwrap_or_else(|| "header".into());
                Scheme::ApiKey {
                    name,
                    key,
                    query: matches!(location.as_str(), "query" | "param"),
                }
            }
            "http_basic" => {
                let user = self.credential(cfg, "username", false, &mut used)?;
                let password = self.credential(cfg, "password", true, &mut used)?;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                self.redactor.add(&encoded);
                Scheme::Basic(encoded)
            }
            "custom_header" => {
                let name = self.setting(cfg, "header_name", true)?.unwrap_or_default();
                Scheme::Header(name, self.credential(cfg, "header_value", true, &mut used)?)
            }
            "oauth2_client_credentials" => {
                let token_url = self
                    .setting(cfg, "access_token_url", true)?
                    .unwrap_or_default();
                let token_url = url::Url::parse(&token_url).map_err(|e| {
                    Error::Config(format!(
                        "source `{}`: access_token_url `{token_url}` is not a URL: {e}",
                        self.source
                    ))
                })?;
                let client_id = self.credential(cfg, "client_id", true, &mut used)?;
                let client_secret = self.credential(cfg, "client_secret", true, &mut used)?;
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
                Scheme::OAuth2(Arc::new(OAuth2 {
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
        };
        Ok(Auth {
            scheme,
            credentials: used,
        })
    }
}

impl Auth {
    /// Adds the credentials to `req`, fetching an OAuth2 token first if needed (a failed
    /// token request is an error of source `source`).
    pub fn apply(&self, req: &mut Request, client: &HttpClient, source: &str) -> Result<()> {
        match &self.scheme {
            Scheme::None => {}
            Scheme::Bearer(t) => {
                req.headers
                    .insert("Authorization".into(), format!("Bearer {t}"));
            }
            Scheme::ApiKey { name, key, query } => {
                if *query {
                    req.params.insert(name.clone(), key.clone());
                } else {
                    req.headers.insert(name.clone(), key.clone());
                }
            }
            Scheme::Basic(b) => {
                req.headers
                    .insert("Authorization".into(), format!("Basic {b}"));
            }
            Scheme::Header(n, v) => {
                req.headers.insert(n.clone(), v.clone());
            }
            Scheme::OAuth2(o) => {
                let token = o.token(client, &|f| {
                    client.error(
                        source,
                        "the OAuth2 token request",
                        &reqwest::Method::POST,
                        f,
                        || self.credential_hint(source),
                    )
                })?;
                req.headers
                    .insert("Authorization".into(), format!("Bearer {token}"));
            }
        }
        Ok(())
    }
}

impl OAuth2 {
    /// The current token, fetched again when it has expired; `fail` makes the error of a
    /// failed token request.
    fn token(&self, client: &HttpClient, fail: &dyn Fn(HttpFailure) -> Error) -> Result<String> {
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
        let resp = client.send(&req, &|_, _| false).map_err(fail)?;
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

#[cfg(test)]
mod tests {
    use super::super::secrets::Found;
    use super::*;

    /// A token in `SHOP_TOKEN` (set in a .env file) and a `password` in the provider.
    struct Secrets;

    impl SecretProvider for Secrets {
        fn lookup(&self, _: &str, key: &str, _: bool) -> Result<Option<String>> {
            Ok((key == "password").then(|| "pw-from-lookup".to_string()))
        }
        fn env_var(&self, name: &str) -> Option<String> {
            (name == "SHOP_TOKEN").then(|| "tok-from-env".to_string())
        }
        fn missing(&self, _: &str, key: &str, _: Option<&str>) -> Error {
            Error::Config(format!("no {key}"))
        }
        fn find_env_var(&self, name: &str) -> Option<Found> {
            self.env_var(name).map(|value| Found {
                value,
                origin: "/p/.env".into(),
            })
        }
    }

    fn resolve(kind: &str, fields: &[(&str, &str)], env: &[(&str, &str)]) -> Auth {
        let cfg = AuthConfig {
            kind: kind.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let redactor = Redactor::default();
        let resolver = AuthResolver {
            source: "shop",
            secrets: &Secrets,
            redactor: &redactor,
        };
        resolver.resolve(Some(&cfg)).unwrap()
    }

    #[test]
    fn the_hint_names_where_each_credential_came_from_never_its_value() {
        let (used, fix) =
            resolve("bearer", &[], &[("token", "SHOP_TOKEN")]).credential_hint("shop");
        assert_eq!(
            used,
            "`token` from SHOP_TOKEN (/p/.env), named by `token_env` in .dango/sources.yml"
        );
        assert_eq!(
            fix,
            "put a valid `token` in SHOP_TOKEN in /p/.env, then run `dango sync` again"
        );

        let auth = resolve("http_basic", &[("username", "alice")], &[]);
        let (used, fix) = auth.credential_hint("shop");
        assert_eq!(
            used,
            "`username` written in the auth of source `shop` in .dango/sources.yml and `password` from the application's secret provider (`password` of source `shop`)"
        );
        assert!(
            fix.starts_with("replace `username` in the auth of source `shop`")
                && fix.contains("; put a valid `password` at the application's secret provider"),
            "{fix}"
        );
        for text in [&used, &fix] {
            assert!(
                !text.contains("alice") && !text.contains("pw-from") && !text.contains("tok-from"),
                "{text}"
            );
        }
        // The password (a secret) is redacted from now on; the username is not a secret.
        assert_eq!(Redactor::default().redact("pw-from-lookup"), "***");

        let (used, fix) = Auth::none().credential_hint("shop");
        assert!(used.starts_with("no credentials"), "{used}");
        assert!(fix.contains("add an `auth` to source `shop`"), "{fix}");
    }
}
