//! Keeps secrets out of logs, errors and traces.
//!
//! Every secret dango resolves (from `secrets.toml`, the environment, `*_env` keys, `${VAR}`
//! substituted into a secret key) is registered here; [`redact`] replaces registered values,
//! passwords in URLs (`scheme://user:password@host`) and `Authorization`/`Bearer` credentials
//! with `***`. The log writers and the CLI's error printer run every line through it.

use std::sync::{OnceLock, RwLock};

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers a secret value; short values (under 4 characters) are ignored (too many false hits).
pub fn register_secret(value: &str) {
    let v = value.trim();
    if v.chars().count() < 4 {
        return;
    }
    if let Ok(mut r) = registry().write()
        && !r.iter().any(|s| s == v)
    {
        r.push(v.to_string());
        // Longest first, so a secret containing another is replaced whole.
        r.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with registered secrets, URL passwords and bearer/basic credentials replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(r) = registry().read() {
        for s in r.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
    }
    patterns().iter().fold(out, |acc, (re, rep)| {
        re.replace_all(&acc, *rep).into_owned()
    })
}

fn patterns() -> &'static [(regex::Regex, &'static str)] {
    static P: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    P.get_or_init(|| {
        let mk = |re: &str| regex::Regex::new(re).ok();
        [
            // scheme://user:password@host
            (
                mk(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"),
                "${pre}***@",
            ),
            // Authorization: Bearer xxx / Basic xxx / token xxx
            (
                mk(r"(?i)(?P<pre>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{4,}"),
                "${pre}***",
            ),
            // api_key=xxx / access_token=xxx in query strings
            (
                mk(r"(?i)(?P<pre>[?&](?:api_?key|access_token|token|key|secret|password)=)[^&\s]+"),
                "${pre}***",
            ),
        ]
        .into_iter()
        .filter_map(|(re, rep)| re.map(|r| (r, rep)))
        .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_and_patterns() {
        register_secret("sk_live_abcdef123");
        let s = redact(
            "token sk_live_abcdef123 in https://bob:hunter22@db.example/x?api_key=zzz&page=2, Authorization: Bearer abc.def",
        );
        assert!(!s.contains("sk_live_abcdef123"), "{s}");
        assert!(!s.contains("hunter22"), "{s}");
        assert!(!s.contains("zzz"), "{s}");
        assert!(!s.contains("abc.def"), "{s}");
        assert!(
            s.contains("page=2") && s.contains("bob:***@db.example"),
            "{s}"
        );
    }
}
