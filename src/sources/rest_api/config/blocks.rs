//! The auth, paginator and incremental blocks: their allowed keys and parsing.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::{AuthConfig, IncrementalConfig, PaginatorConfig, as_obj, as_str, check_keys, err};
use crate::error::Result;

/// Parameters of each paginator type (dlt's constructor arguments).
pub fn paginator_params(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "auto" | "single_page" => &[],
        "json_link" | "json_response" => &["next_url_path"],
        "header_link" => &["links_next_key"],
        "header_cursor" => &["cursor_key", "cursor_param"],
        "offset" => &[
            "limit",
            "offset",
            "offset_param",
            "limit_param",
            "total_path",
            "maximum_offset",
            "stop_after_empty_page",
            "has_more_path",
            "offset_body_path",
            "limit_body_path",
        ],
        "page_number" => &[
            "base_page",
            "page",
            "page_param",
            "total_path",
            "maximum_page",
            "stop_after_empty_page",
            "has_more_path",
            "page_body_path",
        ],
        "cursor" => &[
            "cursor_path",
            "cursor_param",
            "cursor_body_path",
            "stop_after_empty_page",
            "has_more_path",
        ],
        _ => return None,
    })
}

/// Fields of each auth type (without the `*_env` forms).
pub fn auth_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "none" => &[],
        "bearer" => &["token"],
        "api_key" => &["name", "api_key", "location"],
        "http_basic" => &["username", "password"],
        "oauth2_client_credentials" => &[
            "access_token_url",
            "client_id",
            "client_secret",
            "access_token_request_data",
            "default_token_expiration",
        ],
        "custom_header" => &["header_name", "header_value"],
        _ => return None,
    })
}

/// Parses an auth block: a type name (`"bearer"`, fields from secrets) or a mapping.
pub fn parse_auth(v: Option<&Value>, ctx: &str) -> Result<Option<AuthConfig>> {
    let (kind, fields_src) = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => (s.clone(), Map::new()),
        Some(Value::Object(m)) => {
            let kind = match m.get("type") {
                None => "bearer".to_string(),
                Some(t) => as_str(t, &format!("{ctx}.type"))?,
            };
            let mut rest = m.clone();
            rest.remove("type");
            (kind, rest)
        }
        Some(other) => {
            return Err(err(
                ctx,
                format!("expected an auth type or mapping, got `{other}`"),
            ));
        }
    };
    let kind = if kind == "basic" {
        "http_basic".to_string()
    } else {
        kind
    };
    let Some(allowed) = auth_fields(&kind) else {
        return Err(err(
            ctx,
            format!(
                "unknown auth type `{kind}`; use bearer, api_key, http_basic, oauth2_client_credentials, custom_header or none"
            ),
        ));
    };
    let mut all: Vec<String> = vec!["type".into()];
    for f in allowed {
        all.push(f.to_string());
        all.push(format!("{f}_env"));
    }
    let all_ref: Vec<&str> = all.iter().map(String::as_str).collect();
    check_keys(&fields_src, &all_ref, ctx)?;
    let mut fields = IndexMap::new();
    let mut env = IndexMap::new();
    for (k, v) in fields_src {
        if let Some(base) = k.strip_suffix("_env") {
            env.insert(base.to_string(), as_str(&v, &format!("{ctx}.{k}"))?);
        } else {
            fields.insert(k, v);
        }
    }
    if let Some(loc) = fields.get("location") {
        let loc = as_str(loc, &format!("{ctx}.location"))?;
        if !matches!(loc.as_str(), "header" | "query" | "param") {
            return Err(err(
                &format!("{ctx}.location"),
                format!("`{loc}` is not supported; use header or query"),
            ));
        }
    }
    Ok(Some(AuthConfig { kind, fields, env }))
}

pub(super) fn parse_paginator(v: Option<&Value>, ctx: &str) -> Result<Option<PaginatorConfig>> {
    let (kind, params) = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => (s.clone(), Map::new()),
        Some(Value::Object(m)) => {
            let kind = as_str(
                m.get("type")
                    .ok_or_else(|| err(ctx, "`type` is missing (json_link, header_link, header_cursor, offset, page_number, cursor, single_page or auto)"))?,
                &format!("{ctx}.type"),
            )?;
            let mut p = m.clone();
            p.remove("type");
            (kind, p)
        }
        Some(other) => {
            return Err(err(
                ctx,
                format!("expected a paginator type or mapping, got `{other}`"),
            ));
        }
    };
    let Some(allowed) = paginator_params(&kind) else {
        return Err(err(
            ctx,
            format!(
                "unknown paginator type `{kind}`; use json_link, header_link, header_cursor, offset, page_number, cursor, single_page or auto"
            ),
        ));
    };
    check_keys(&params, allowed, ctx)?;
    if kind == "offset" && !params.get("limit").is_some_and(Value::is_u64) {
        return Err(err(
            ctx,
            "the offset paginator needs `limit` (a positive whole number: the page size)",
        ));
    }
    let kind = if kind == "json_response" {
        "json_link".to_string()
    } else {
        kind
    };
    Ok(Some(PaginatorConfig { kind, params }))
}

pub(super) fn parse_incremental(v: Option<&Value>, ctx: &str) -> Result<Option<IncrementalConfig>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            as_obj(v, ctx)?;
            IncrementalConfig::parse(v, &format!("rest_api{ctx}")).map(Some)
        }
    }
}
