//! Environment variables as a project sees them: the process environment, plus the project's
//! `.env` file (which never overrides a variable that is really set), and `${VAR}`
//! substitution in strings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The variables of the process environment overlaid on the project's `.env`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    dotenv: BTreeMap<String, String>,
    dotenv_path: Option<PathBuf>,
    /// Variables set explicitly (tests, library users); they win over everything.
    overrides: BTreeMap<String, String>,
    /// When false, the process environment is not read (for tests of the library).
    use_process: bool,
}

impl Env {
    /// The process environment only.
    pub fn process() -> Env {
        Env {
            use_process: true,
            ..Env::default()
        }
    }

    /// The process environment plus `<root>/.env` (a missing `.env` is fine).
    pub fn for_project(root: &Path) -> Result<Env> {
        let mut env = Env::process();
        let path = root.join(".env");
        if path.is_file() {
            let iter = dotenvy::from_path_iter(&path).map_err(|e| {
                Error::Config(format!(
                    "{}: {e}. Each line of .env is NAME=value",
                    path.display()
                ))
            })?;
            for item in iter {
                let (k, v) = item.map_err(|e| {
                    Error::Config(format!(
                        "{}: {e}. Each line of .env is NAME=value",
                        path.display()
                    ))
                })?;
                env.dotenv.insert(k, v);
            }
            env.dotenv_path = Some(path);
        }
        Ok(env)
    }

    /// An environment made only of the given variables (no process environment).
    pub fn from_vars<I, K, V>(vars: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            overrides: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Env::default()
        }
    }

    /// The value of `name`: explicit overrides, then the process environment, then `.env`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.lookup(name).map(|(v, _)| v)
    }

    /// The value of `name` and where it came from (`environment` or the `.env` path).
    pub fn lookup(&self, name: &str) -> Option<(String, String)> {
        if let Some(v) = self.overrides.get(name) {
            return Some((v.clone(), "environment".into()));
        }
        if self.use_process
            && let Ok(v) = std::env::var(name)
        {
            return Some((v, "environment".into()));
        }
        self.dotenv.get(name).map(|v| {
            (
                v.clone(),
                self.dotenv_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| ".env".into()),
            )
        })
    }

    /// Path of the `.env` file that was read, if any.
    pub fn dotenv_path(&self) -> Option<&Path> {
        self.dotenv_path.as_deref()
    }
}

/// Replaces `${VAR}` in `s` with the variable's value. `$${` escapes a literal `${`.
/// Returns the names of variables that are not set (left as is in the output).
pub fn substitute(s: &str, env: &Env) -> (String, Vec<String>) {
    let mut out = String::with_capacity(s.len());
    let mut missing = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'$' {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                match (valid, env.get(name)) {
                    (true, Some(v)) => out.push_str(&v),
                    (true, None) => {
                        missing.push(name.to_string());
                        out.push_str(&rest[i..i + 3 + end]);
                    }
                    (false, _) => out.push_str(&rest[i..i + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    (out, missing)
}

/// Substitutes `${VAR}` in every string of a JSON value (keys stay as written); values under
/// secret keys ([`is_secret_key`](crate::config::redact::is_secret_key)) are registered for
/// redaction. The names of unset variables are added to `missing`.
pub fn substitute_json(
    v: &mut serde_json::Value,
    env: &Env,
    key: Option<&str>,
    missing: &mut Vec<String>,
) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let (out, m) = substitute(s, env);
            if out != *s && key.is_some_and(crate::config::redact::is_secret_key) {
                crate::config::redact::register_secret(&out);
            }
            // `Authorization: Bearer ${API_TOKEN}`: a secret-named variable is a secret.
            for name in s.split("${").skip(1).filter_map(|r| r.split_once('}')) {
                if crate::config::redact::is_secret_key(name.0)
                    && let Some(v) = env.get(name.0)
                {
                    crate::config::redact::register_secret(&v);
                }
            }
            *s = out;
            missing.extend(m);
        }
        Value::Array(items) => {
            for item in items {
                substitute_json(item, env, key, missing);
            }
        }
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                substitute_json(child, env, Some(k), missing);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_reports_missing() {
        let env = Env::from_vars([("A", "1"), ("B_C", "x")]);
        let (s, m) = substitute("a=${A}, b=${B_C}, c=${NOPE}, $${A}", &env);
        assert_eq!(s, "a=1, b=x, c=${NOPE}, ${A}");
        assert_eq!(m, ["NOPE"]);
        let (s, m) = substitute("no vars ${", &env);
        assert_eq!(s, "no vars ${");
        assert!(m.is_empty());
    }

    #[test]
    fn dotenv_does_not_override_real_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "DANGO_TEST_ONLY_IN_DOTENV=fromfile\nPATH=nope\n",
        )
        .unwrap();
        let env = Env::for_project(dir.path()).unwrap();
        assert_eq!(
            env.get("DANGO_TEST_ONLY_IN_DOTENV").as_deref(),
            Some("fromfile")
        );
        assert_ne!(env.get("PATH").as_deref(), Some("nope"));
        let (_, origin) = env.lookup("DANGO_TEST_ONLY_IN_DOTENV").unwrap();
        assert!(origin.ends_with(".env"), "{origin}");
    }
}
