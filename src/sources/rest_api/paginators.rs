//! Paginators with dlt's parameters, defaults and stop rules, and dlt's auto-detection.

use serde_json::{Map, Value};

use super::client::{Request, Response};
use super::config::PaginatorConfig;
use super::selector::Path;
use crate::error::{Error, Result};

/// Offset or page-number paging.
#[derive(Debug, Clone)]
pub struct Range {
    page_number: bool,
    param: String,
    body_path: Option<String>,
    current: i64,
    step: i64,
    base_index: i64,
    total_path: Option<Path>,
    maximum: Option<i64>,
    stop_after_empty_page: bool,
    has_more_path: Option<Path>,
    /// Offset only: (limit, limit_param, limit_body_path).
    limit: Option<(i64, String, Option<String>)>,
}

/// A paginator and its state.
#[derive(Debug, Clone)]
pub enum Paginator {
    /// One request.
    Single,
    /// Next URL from the JSON body.
    JsonLink {
        /// JSONPath of the next URL.
        path: Path,
        /// Next URL of the last response.
        next: Option<String>,
    },
    /// Next URL from the `Link` header.
    HeaderLink {
        /// The `rel` value.
        key: String,
        /// Next URL of the last response.
        next: Option<String>,
    },
    /// Cursor from a response header into a query parameter.
    HeaderCursor {
        /// Header name.
        key: String,
        /// Query parameter.
        param: String,
        /// Cursor of the last response.
        cursor: Option<String>,
    },
    /// Offset / page number.
    Range(Box<Range>),
    /// Cursor from the JSON body.
    Cursor {
        /// JSONPath of the cursor.
        path: Path,
        /// Query parameter (when no body path).
        param: Option<String>,
        /// Dotted path in the JSON body.
        body_path: Option<String>,
        /// Stop on an empty page.
        stop_after_empty_page: bool,
        /// JSONPath of a has-more flag.
        has_more_path: Option<Path>,
        /// Cursor of the last response.
        cursor: Option<Value>,
    },
}

fn p_str(m: &Map<String, Value>, k: &str, default: &str) -> Result<String> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(o) => Err(Error::Config(format!(
            "paginator parameter `{k}` must be a string, got `{o}`"
        ))),
    }
}

fn p_opt_str(m: &Map<String, Value>, k: &str) -> Result<Option<String>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        _ => p_str(m, k, "").map(Some),
    }
}

fn p_int(m: &Map<String, Value>, k: &str) -> Result<Option<i64>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            Error::Config(format!(
                "paginator parameter `{k}` must be a whole number, got `{v}`"
            ))
        }),
    }
}

fn p_bool(m: &Map<String, Value>, k: &str, default: bool) -> Result<bool> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(Error::Config(format!(
            "paginator parameter `{k}` must be true or false, got `{v}`"
        ))),
    }
}

/// `total_path` defaults to `total`, but an explicit `null` means "no total".
fn p_path_default(m: &Map<String, Value>, k: &str, default: &str) -> Result<Option<Path>> {
    match m.get(k) {
        None => Path::parse(default).map(Some),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Path::parse(s).map(Some),
        Some(v) => Err(Error::Config(format!(
            "paginator parameter `{k}` must be a JSONPath string, got `{v}`"
        ))),
    }
}

fn p_path(m: &Map<String, Value>, k: &str) -> Result<Option<Path>> {
    p_opt_str(m, k)?.map(|s| Path::parse(&s)).transpose()
}

/// Sets `value` at a dotted path in a JSON body.
fn set_body_path(json: &mut Option<Value>, path: &str, value: Value) {
    let root = json.get_or_insert_with(|| Value::Object(Map::new()));
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        if i + 1 == parts.len() {
            m.insert(p.to_string(), value);
            return;
        }
        cur = m
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The value as text for a query parameter.
pub fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Paginator {
    /// Builds a paginator from its config. `auto` gives `None` (detect on the first response).
    pub fn from_config(cfg: &PaginatorConfig) -> Result<Option<Paginator>> {
        let m = &cfg.params;
        Ok(Some(match cfg.kind.as_str() {
            "auto" => return Ok(None),
            "single_page" => Paginator::Single,
            "json_link" => Paginator::JsonLink {
                path: Path::parse(&p_str(m, "next_url_path", "next")?)?,
                next: None,
            },
            "header_link" => Paginator::HeaderLink {
                key: p_str(m, "links_next_key", "next")?,
                next: None,
            },
            "header_cursor" => Paginator::HeaderCursor {
                key: p_str(m, "cursor_key", "next")?,
                param: p_str(m, "cursor_param", "cursor")?,
                cursor: None,
            },
            "offset" => {
                let limit = p_int(m, "limit")?.filter(|l| *l > 0).ok_or_else(|| {
                    Error::Config("the offset paginator needs `limit` > 0".into())
                })?;
                let r = Range {
                    page_number: false,
                    param: p_str(m, "offset_param", "offset")?,
                    body_path: p_opt_str(m, "offset_body_path")?,
                    current: p_int(m, "offset")?.unwrap_or(0),
                    step: limit,
                    base_index: 0,
                    total_path: p_path_default(m, "total_path", "total")?,
                    maximum: p_int(m, "maximum_offset")?,
                    stop_after_empty_page: p_bool(m, "stop_after_empty_page", true)?,
                    has_more_path: p_path(m, "has_more_path")?,
                    limit: Some((
                        limit,
                        p_str(m, "limit_param", "limit")?,
                        p_opt_str(m, "limit_body_path")?,
                    )),
                };
                r.check("offset", "maximum_offset")?;
                Paginator::Range(Box::new(r))
            }
            "page_number" => {
                let base = p_int(m, "base_page")?.unwrap_or(0);
                let r = Range {
                    page_number: true,
                    param: p_str(m, "page_param", "page")?,
                    body_path: p_opt_str(m, "page_body_path")?,
                    current: p_int(m, "page")?.unwrap_or(base),
                    step: 1,
                    base_index: base,
                    total_path: p_path_default(m, "total_path", "total")?,
                    maximum: p_int(m, "maximum_page")?,
                    stop_after_empty_page: p_bool(m, "stop_after_empty_page", true)?,
                    has_more_path: p_path(m, "has_more_path")?,
                    limit: None,
                };
                r.check("page_number", "maximum_page")?;
                Paginator::Range(Box::new(r))
            }
            "cursor" => {
                let body_path = p_opt_str(m, "cursor_body_path")?;
                let param = match (p_opt_str(m, "cursor_param")?, &body_path) {
                    (Some(p), _) => Some(p),
                    (None, None) => Some("cursor".to_string()),
                    (None, Some(_)) => None,
                };
                Paginator::Cursor {
                    path: Path::parse(&p_str(m, "cursor_path", "cursors.next")?)?,
                    param,
                    body_path,
                    stop_after_empty_page: p_bool(m, "stop_after_empty_page", false)?,
                    has_more_path: p_path(m, "has_more_path")?,
                    cursor: None,
                }
            }
            other => {
                return Err(Error::Config(format!("unknown paginator type `{other}`")));
            }
        }))
    }

    /// Prepares the first request (offset/page parameters).
    pub fn init_request(&self, req: &mut Request) {
        if let Paginator::Range(r) = self {
            r.apply(req);
        }
    }

    /// Whether another page should be requested.
    pub fn has_next(&self) -> bool {
        match self {
            Paginator::Single => false,
            Paginator::JsonLink { next, .. } | Paginator::HeaderLink { next, .. } => next.is_some(),
            Paginator::HeaderCursor { cursor, .. } => cursor.is_some(),
            Paginator::Range(r) => r.current != i64::MIN,
            Paginator::Cursor { cursor, .. } => cursor.is_some(),
        }
    }

    /// Reads the paging state of a response. `items` is how many items the page had.
    pub fn update_state(&mut self, resp: &Response, body: &Value, items: usize) -> Result<()> {
        match self {
            Paginator::Single => {}
            Paginator::JsonLink { path, next } => {
                *next = match path.first(body) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.is_empty() => None,
                    Some(v) => Some(param_text(v)),
                };
            }
            Paginator::HeaderLink { key, next } => {
                *next = link_header(resp, key);
            }
            Paginator::HeaderCursor { key, cursor, .. } => {
                *cursor = resp
                    .headers
                    .get(key.as_str())
                    .and_then(|v| v.to_str().ok())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
            }
            Paginator::Range(r) => r.update(body, items)?,
            Paginator::Cursor {
                path,
                stop_after_empty_page,
                has_more_path,
                cursor,
                ..
            } => {
                if *stop_after_empty_page && items == 0 {
                    *cursor = None;
                    return Ok(());
                }
                if let Some(hp) = has_more_path {
                    let hm = hp.first(body).ok_or_else(|| {
                        Error::Config(format!(
                            "`has_more_path` {} not found in the response of the cursor paginator",
                            hp.text()
                        ))
                    })?;
                    if !truthy(hm) {
                        *cursor = None;
                        return Ok(());
                    }
                }
                *cursor = path.first(body).filter(|v| truthy(v)).cloned();
            }
        }
        Ok(())
    }

    /// Changes `req` to ask for the next page.
    pub fn update_request(&self, req: &mut Request) -> Result<()> {
        match self {
            Paginator::Single => {}
            Paginator::JsonLink { next, .. } | Paginator::HeaderLink { next, .. } => {
                if let Some(n) = next {
                    req.url = req.full_url().join(n).map_err(|e| {
                        Error::Config(format!("the next page URL `{n}` is not valid: {e}"))
                    })?;
                    req.params.clear();
                }
            }
            Paginator::HeaderCursor { param, cursor, .. } => {
                if let Some(c) = cursor {
                    req.params.insert(param.clone(), c.clone());
                }
            }
            Paginator::Range(r) => r.apply(req),
            Paginator::Cursor {
                param,
                body_path,
                cursor,
                ..
            } => {
                if let Some(c) = cursor {
                    if let Some(bp) = body_path {
                        set_body_path(&mut req.json, bp, c.clone());
                    } else if let Some(p) = param {
                        req.params.insert(p.clone(), param_text(c));
                    }
                }
            }
        }
        Ok(())
    }

    /// dlt's class name and settings, for logs.
    pub fn describe(&self) -> String {
        match self {
            Paginator::Single => "SinglePagePaginator".into(),
            Paginator::JsonLink { path, .. } => {
                format!("JSONLinkPaginator(next_url_path={})", path.text())
            }
            Paginator::HeaderLink { key, .. } => {
                format!("HeaderLinkPaginator(links_next_key={key})")
            }
            Paginator::HeaderCursor { key, param, .. } => {
                format!("HeaderCursorPaginator(cursor_key={key}, cursor_param={param})")
            }
            Paginator::Range(r) if r.page_number => format!(
                "PageNumberPaginator(page_param={}, total_path={})",
                r.param,
                r.total_path
                    .as_ref()
                    .map(Path::text)
                    .unwrap_or("None".into())
            ),
            Paginator::Range(r) => format!(
                "OffsetPaginator(limit={}, offset_param={})",
                r.step, r.param
            ),
            Paginator::Cursor { path, param, .. } => format!(
                "JSONResponseCursorPaginator(cursor_path={}, cursor_param={})",
                path.text(),
                param.as_deref().unwrap_or("-")
            ),
        }
    }

    /// dlt's detection from the first response; `None` means the single-page fallback.
    pub fn detect(resp: &Response, body: &Value) -> Option<Paginator> {
        if link_header(resp, "next").is_some() {
            return Some(Paginator::HeaderLink {
                key: "next".into(),
                next: None,
            });
        }
        let next = find_next(body, &mut Vec::new());
        if let Some((path, value)) = &next {
            let is_url = match value {
                Value::String(s) => s.starts_with("http") || s.starts_with('/'),
                _ => false,
            };
            if is_url {
                return Some(Paginator::JsonLink {
                    path: Path::Keys(path.clone()),
                    next: None,
                });
            }
        }
        if let Some(total) = find_total_pages(body, &mut Vec::new()) {
            return Some(Paginator::Range(Box::new(Range {
                page_number: true,
                param: "page".into(),
                body_path: None,
                current: 0,
                step: 1,
                base_index: 0,
                total_path: Some(Path::Keys(total)),
                maximum: None,
                stop_after_empty_page: true,
                has_more_path: None,
                limit: None,
            })));
        }
        if let Some((path, _)) = next {
            return Some(Paginator::Cursor {
                path: Path::Keys(path),
                param: Some("cursor".into()),
                body_path: None,
                stop_after_empty_page: false,
                has_more_path: None,
                cursor: None,
            });
        }
        None
    }
}

impl Range {
    fn check(&self, kind: &str, max_name: &str) -> Result<()> {
        if self.total_path.is_none()
            && self.maximum.is_none()
            && self.has_more_path.is_none()
            && !self.stop_after_empty_page
        {
            return Err(Error::Config(format!(
                "the {kind} paginator needs a way to stop: set one of `total_path`, `{max_name}`, `has_more_path`, or `stop_after_empty_page: true`"
            )));
        }
        Ok(())
    }

    fn apply(&self, req: &mut Request) {
        match &self.body_path {
            Some(bp) => set_body_path(&mut req.json, bp, Value::from(self.current)),
            None => {
                req.params
                    .insert(self.param.clone(), self.current.to_string());
            }
        }
        if let Some((limit, param, body)) = &self.limit {
            match body {
                Some(bp) => set_body_path(&mut req.json, bp, Value::from(*limit)),
                None => {
                    req.params.insert(param.clone(), limit.to_string());
                }
            }
        }
    }

    fn stop(&mut self) {
        self.current = i64::MIN;
    }

    fn update(&mut self, body: &Value, items: usize) -> Result<()> {
        if self.stop_after_empty_page && items == 0 {
            self.stop();
            return Ok(());
        }
        let (what, class) = if self.page_number {
            ("pages", "PageNumberPaginator")
        } else {
            ("items", "OffsetPaginator")
        };
        let mut total = None;
        if let Some(tp) = &self.total_path {
            let t = tp.first(body).filter(|v| !v.is_null()).ok_or_else(|| {
                Error::Config(format!(
                    "Total `{what}` not found in the response in `{class}` at `{}`. If the API reports no total, set `total_path: null` in the paginator (paging then stops at the first empty page)",
                    tp.text()
                ))
            })?;
            let n = match t {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                Error::Config(format!(
                    "`{}` in the response is `{t}`, not a whole number of {what}",
                    tp.text()
                ))
            })?;
            total = Some(n);
        }
        let mut has_more = true;
        if let Some(hp) = &self.has_more_path {
            let v = hp.first(body).ok_or_else(|| {
                Error::Config(format!(
                    "`has_more_path` {} not found in the response in `{class}`",
                    hp.text()
                ))
            })?;
            has_more = truthy(v);
        }
        self.current += self.step;
        if total.is_some_and(|t| self.current >= t + self.base_index)
            || self.maximum.is_some_and(|m| self.current >= m)
            || !has_more
        {
            self.stop();
        }
        Ok(())
    }
}

/// The URL of `rel=<key>` in the `Link` header.
fn link_header(resp: &Response, key: &str) -> Option<String> {
    for value in resp.headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut pieces = part.split(';');
            let Some(url) = pieces.next() else { continue };
            let url = url.trim().trim_start_matches('<').trim_end_matches('>');
            let rel_match = pieces.any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=")
                    .map(|r| r.trim_matches('"').split_whitespace().any(|r| r == key))
                    .unwrap_or(false)
            });
            if rel_match && !url.is_empty() {
                return Some(url.to_string());
            }
        }
    }
    None
}

fn find_next(v: &Value, path: &mut Vec<String>) -> Option<(Vec<String>, Value)> {
    let Value::Object(m) = v else { return None };
    for (k, val) in m {
        if k.to_ascii_lowercase().starts_with("next") {
            match val {
                Value::String(_) | Value::Number(_) => {
                    let mut p = path.clone();
                    p.push(k.clone());
                    return Some((p, val.clone()));
                }
                Value::Object(inner) => {
                    for (ik, iv) in inner {
                        let lk = ik.to_ascii_lowercase();
                        if (lk.starts_with("href") || lk.starts_with("url"))
                            && matches!(iv, Value::String(_))
                        {
                            let mut p = path.clone();
                            p.push(k.clone());
                            p.push(ik.clone());
                            return Some((p, iv.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        if val.is_object() {
            path.push(k.clone());
            let found = find_next(val, path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

fn find_total_pages(v: &Value, path: &mut Vec<String>) -> Option<Vec<String>> {
    let Value::Object(m) = v else { return None };
    for (k, val) in m {
        let lk = k.to_ascii_lowercase();
        if matches!(lk.as_str(), "total_pages" | "pages" | "totalpages") {
            let int_like = match val {
                Value::Number(n) => n.as_i64().is_some(),
                Value::String(s) => s.trim().parse::<i64>().is_ok(),
                _ => false,
            };
            if int_like {
                let mut p = path.clone();
                p.push(k.clone());
                return Some(p);
            }
        }
        if val.is_object() {
            path.push(k.clone());
            let found = find_total_pages(val, path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "paginators_tests.rs"]
mod tests;
