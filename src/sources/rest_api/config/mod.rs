//! The `rest_api:` block of sources.yml: dlt's `RESTAPIConfig` shape or Dango's flat shorthand,
//! checked up front (unknown keys are rejected with the allowed keys) and normalized to one
//! shape: resource defaults merged the way dlt merges them.
//!
//! ```yaml
//! rest_api:                         # dlt's shape
//!   client:
//!     base_url: https://api.example.com/v1/
//!     auth: {type: bearer, token_env: EXAMPLE_TOKEN}
//!     paginator: {type: json_link, next_url_path: paging.next}
//!   resource_defaults:
//!     primary_key: id
//!     endpoint: {params: {per_page: 100}}
//!   resources:
//!     - users
//!     - name: posts
//!       endpoint: {path: users/{resources.users.id}/posts}
//!
//! rest_api:                         # Dango's shorthand
//!   base_url: https://api.example.com/v1/
//!   auth_type: bearer
//!   token_env: EXAMPLE_TOKEN
//!   endpoints: [users, orders]      # write_disposition merge, primary_key id by default
//! ```

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::schema::WriteDisposition;

mod blocks;
mod merge;

pub use blocks::{auth_fields, paginator_params, parse_auth};
use blocks::{parse_incremental, parse_paginator};
use merge::{flat_to_dlt, merge_defaults};

/// The parsed, normalized `rest_api` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RestApiConfig {
    /// `client`.
    pub client: ClientConfig,
    /// Resources with `resource_defaults` merged in, in declaration order.
    pub resources: Vec<ResourceConfig>,
    /// Whether the block used Dango's flat shorthand.
    pub shorthand: bool,
}

/// `client`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Base URL every relative path is joined to.
    pub base_url: String,
    /// Headers sent with every request.
    pub headers: IndexMap<String, Value>,
    /// Authentication.
    pub auth: Option<AuthConfig>,
    /// Default paginator (`None` or `auto` = detect).
    pub paginator: Option<PaginatorConfig>,
}

/// One authentication block.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// `bearer`, `api_key`, `http_basic`, `oauth2_client_credentials`, `custom_header` or `none`.
    pub kind: String,
    /// Literal fields (`token: …`, `location: header`, …).
    pub fields: IndexMap<String, Value>,
    /// `*_env` fields: field name → environment variable name.
    pub env: IndexMap<String, String>,
}

/// A paginator: its type and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PaginatorConfig {
    /// dlt's type name (`json_link`, `offset`, …, or `auto`).
    pub kind: String,
    /// Parameters (checked against the type's parameters).
    pub params: Map<String, Value>,
}

/// One resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceConfig {
    /// Resource name.
    pub name: String,
    /// Its endpoint.
    pub endpoint: EndpointConfig,
    /// Parent fields copied into each item as `_<parent>_<field>`.
    pub include_from_parent: Vec<String>,
    /// Table name (default: the resource name).
    pub table_name: Option<String>,
    /// Write disposition.
    pub write_disposition: WriteDisposition,
    /// Merge strategy from dlt's dict form (`{disposition: merge, strategy: upsert}`).
    pub merge_strategy: Option<crate::schema::MergeStrategy>,
    /// scd2 validity column names (`write_disposition.validity_column_names`).
    pub validity_column_names: Option<Vec<String>>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Merge key columns.
    pub merge_key: Vec<String>,
    /// `max_table_nesting`.
    pub max_table_nesting: Option<i64>,
    /// `selected: false` = not loaded, but still feeds dependent resources.
    pub selected: bool,
    /// Column hints.
    pub columns: Map<String, Value>,
    /// `schema_contract` (resource > resource_defaults > the source's top-level one).
    pub schema_contract: Option<Value>,
    /// `parallelized: true`: a dependent resource fetches the children of a page of parent
    /// items concurrently (up to `[extract] workers` at once), written in the order of a
    /// sequential run. Default false, as in dlt. (Root resources always run concurrently.)
    pub parallelized: bool,
}

/// One endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// Path relative to the base URL (or an absolute URL).
    pub path: String,
    /// `GET` or `POST`.
    pub method: String,
    /// Query parameters (values may hold placeholders, or legacy `{type: resolve}` dicts).
    pub params: IndexMap<String, Value>,
    /// JSON body.
    pub json: Option<Value>,
    /// Form body.
    pub data: Option<Value>,
    /// Extra headers.
    pub headers: IndexMap<String, Value>,
    /// Paginator (endpoint > resource_defaults > client).
    pub paginator: Option<PaginatorConfig>,
    /// JSONPath of the items in a response (`None` = detect).
    pub data_selector: Option<String>,
    /// Responses to ignore.
    pub response_actions: Vec<ResponseAction>,
    /// Incremental settings.
    pub incremental: Option<IncrementalConfig>,
    /// Endpoint auth (beats client auth).
    pub auth: Option<AuthConfig>,
}

/// `{status_code?, content?, action: ignore}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseAction {
    /// Status code to match.
    pub status_code: Option<u16>,
    /// Substring of the body to match.
    pub content: Option<String>,
}

/// `endpoint.incremental`: dlt's incremental arguments (see [`crate::incremental`]).
pub use crate::incremental::IncrementalConfig;

const SOURCE_KEYS: &[&str] = &[
    "client",
    "resources",
    "resource_defaults",
    "schema_contract",
];
const FLAT_KEYS: &[&str] = &[
    "base_url",
    "endpoints",
    "auth_type",
    "headers",
    "paginator",
    "data_selector",
    "write_disposition",
    "primary_key",
    "merge_key",
    "params",
];
/// Credential fields of the shorthand (each may also be given as `<field>_env`).
const FLAT_AUTH_FIELDS: &[&str] = &[
    "token",
    "api_key",
    "api_key_name",
    "api_key_location",
    "username",
    "password",
    "client_id",
    "client_secret",
    "access_token_url",
    "header_name",
    "header_value",
];
const CLIENT_KEYS: &[&str] = &["base_url", "headers", "auth", "paginator"];
const RESOURCE_KEYS: &[&str] = &[
    "name",
    "endpoint",
    "include_from_parent",
    "table_name",
    "write_disposition",
    "primary_key",
    "merge_key",
    "max_table_nesting",
    "selected",
    "columns",
    "schema_contract",
    "parallelized",
];
const ENDPOINT_KEYS: &[&str] = &[
    "path",
    "method",
    "params",
    "json",
    "data",
    "headers",
    "paginator",
    "data_selector",
    "response_actions",
    "incremental",
    "auth",
];

fn err(ctx: &str, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("rest_api{ctx}: {msg}"))
}

fn check_keys(map: &Map<String, Value>, allowed: &[&str], ctx: &str) -> Result<()> {
    let unknown: Vec<&String> = map
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(err(
        ctx,
        format!(
            "unknown key(s) {}; allowed keys: {}",
            unknown
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            allowed.join(", ")
        ),
    ))
}

fn as_obj<'a>(v: &'a Value, ctx: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| err(ctx, format!("expected a mapping, got `{v}`")))
}

fn as_str(v: &Value, ctx: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(err(ctx, format!("expected a string, got `{other}`"))),
    }
}

fn str_map(v: Option<&Value>, ctx: &str) -> Result<IndexMap<String, Value>> {
    let Some(v) = v else {
        return Ok(IndexMap::new());
    };
    if v.is_null() {
        return Ok(IndexMap::new());
    }
    Ok(as_obj(v, ctx)?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

fn columns_list(v: Option<&Value>, ctx: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a.iter().map(|x| as_str(x, ctx)).collect(),
        Some(other) => Err(err(
            ctx,
            format!("expected a column name or a list of names, got `{other}`"),
        )),
    }
}

impl RestApiConfig {
    /// Parses the block (as YAML was read into JSON values).
    pub fn from_value(v: &Value) -> Result<RestApiConfig> {
        let top = as_obj(v, "")?;
        let shorthand = top.keys().any(|k| {
            FLAT_KEYS.contains(&k.as_str())
                || FLAT_AUTH_FIELDS.contains(&k.as_str())
                || k.ends_with("_env")
        });
        if shorthand {
            let dlt_keys: Vec<&String> = top
                .keys()
                .filter(|k| SOURCE_KEYS.contains(&k.as_str()) && *k != "schema_contract")
                .collect();
            if !dlt_keys.is_empty() {
                return Err(err(
                    "",
                    format!(
                        "mixes Dango's flat keys (base_url, endpoints, …) with dlt's {}; use one form: either `client` + `resources`, or `base_url` + `endpoints`",
                        dlt_keys
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            return Self::from_value(&flat_to_dlt(top)?).map(|mut c| {
                c.shorthand = true;
                c
            });
        }
        check_keys(top, SOURCE_KEYS, "")?;
        let client = parse_client(
            top.get("client")
                .ok_or_else(|| err("", "`client` is missing; add `client: {base_url: …}`"))?,
        )?;
        let defaults = match top.get("resource_defaults") {
            None | Some(Value::Null) => Map::new(),
            Some(d) => {
                let m = as_obj(d, ".resource_defaults")?.clone();
                let mut allowed: Vec<&str> = RESOURCE_KEYS.to_vec();
                allowed.retain(|k| *k != "name");
                check_keys(&m, &allowed, ".resource_defaults")?;
                m
            }
        };
        let list = match top.get("resources") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            _ => {
                return Err(err(
                    "",
                    "`resources` must be a non-empty list of resource names or resource mappings",
                ));
            }
        };
        let mut resources = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let ctx = format!(".resources[{i}]");
            let merged = merge_defaults(&defaults, r, &ctx)?;
            resources.push(parse_resource(&merged, &ctx)?);
        }
        if let Some(c) = top.get("schema_contract").filter(|v| !v.is_null()) {
            crate::schema::contract::SchemaContract::parse(c)
                .map_err(|e| err(".schema_contract", e))?;
            for r in resources.iter_mut().filter(|r| r.schema_contract.is_none()) {
                r.schema_contract = Some(c.clone());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for r in &resources {
            if !seen.insert(r.name.clone()) {
                return Err(err("", format!("resource `{}` is declared twice", r.name)));
            }
        }
        Ok(RestApiConfig {
            client,
            resources,
            shorthand: false,
        })
    }
}

fn parse_client(v: &Value) -> Result<ClientConfig> {
    let ctx = ".client";
    let m = as_obj(v, ctx)?;
    check_keys(m, CLIENT_KEYS, ctx)?;
    let base_url = as_str(
        m.get("base_url")
            .ok_or_else(|| err(ctx, "`base_url` is missing"))?,
        ".client.base_url",
    )?;
    if url::Url::parse(&base_url).is_err() {
        return Err(err(
            ".client.base_url",
            format!("`{base_url}` is not an absolute URL (like https://api.example.com/v1/)"),
        ));
    }
    Ok(ClientConfig {
        base_url,
        headers: str_map(m.get("headers"), ".client.headers")?,
        auth: parse_auth(m.get("auth"), ".client.auth")?,
        paginator: parse_paginator(m.get("paginator"), ".client.paginator")?,
    })
}

fn parse_resource(m: &Map<String, Value>, ctx: &str) -> Result<ResourceConfig> {
    check_keys(m, RESOURCE_KEYS, ctx)?;
    let name = as_str(&m["name"], &format!("{ctx}.name"))?;
    if name.is_empty() {
        return Err(err(ctx, "resource name is empty"));
    }
    let ctx = format!(".resources.{name}");
    let mut merge_strategy = None;
    let mut validity_column_names = None;
    let write_disposition = match m.get("write_disposition") {
        None | Some(Value::Null) => WriteDisposition::Append,
        Some(v) => match v {
            Value::String(s) if s == "append" => WriteDisposition::Append,
            Value::String(s) if s == "replace" => WriteDisposition::Replace,
            Value::String(s) if s == "merge" => WriteDisposition::Merge,
            Value::Object(o) if o.get("disposition").and_then(Value::as_str) == Some("merge") => {
                if let Some(s) = o.get("strategy") {
                    let parsed = s.as_str().and_then(crate::schema::MergeStrategy::parse);
                    match parsed {
                        Some(st) => merge_strategy = Some(st),
                        None => {
                            return Err(err(
                                &format!("{ctx}.write_disposition.strategy"),
                                format!(
                                    "`{s}` is not one of {}",
                                    crate::schema::MergeStrategy::NAMES.join(", ")
                                ),
                            ));
                        }
                    }
                }
                if let Some(v) = o.get("validity_column_names") {
                    let names: Option<Vec<String>> = v
                        .as_array()
                        .and_then(|a| a.iter().map(|n| n.as_str().map(str::to_string)).collect());
                    match names {
                        Some(n)
                            if n.len() == 2
                                && merge_strategy == Some(crate::schema::MergeStrategy::Scd2) =>
                        {
                            validity_column_names = Some(n)
                        }
                        _ => {
                            return Err(err(
                                &format!("{ctx}.write_disposition.validity_column_names"),
                                format!(
                                    "expected two column names ([valid_from, valid_to]) with strategy scd2, got `{v}`"
                                ),
                            ));
                        }
                    }
                }
                WriteDisposition::Merge
            }
            other => {
                return Err(err(
                    &format!("{ctx}.write_disposition"),
                    format!("`{other}` is not one of append, replace, merge"),
                ));
            }
        },
    };
    let selected = match m.get("selected") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(err(
                &format!("{ctx}.selected"),
                format!("expected true or false, got `{other}`"),
            ));
        }
    };
    let parallelized = match m.get("parallelized") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(err(
                &format!("{ctx}.parallelized"),
                format!("expected true or false, got `{other}`"),
            ));
        }
    };
    let max_table_nesting = match m.get("max_table_nesting") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
            err(
                &format!("{ctx}.max_table_nesting"),
                format!("expected a whole number >= 0, got `{v}`"),
            )
        })?),
    };
    let columns = match m.get("columns") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => as_obj(v, &format!("{ctx}.columns"))?.clone(),
    };
    let include_from_parent = columns_list(
        m.get("include_from_parent"),
        &format!("{ctx}.include_from_parent"),
    )?;
    let table_name = match m.get("table_name") {
        None | Some(Value::Null) => None,
        Some(v) => Some(as_str(v, &format!("{ctx}.table_name"))?),
    };
    let schema_contract = match m.get("schema_contract") {
        None | Some(Value::Null) => None,
        Some(v) => {
            crate::schema::contract::SchemaContract::parse(v)
                .map_err(|e| err(&format!("{ctx}.schema_contract"), e))?;
            Some(v.clone())
        }
    };
    Ok(ResourceConfig {
        schema_contract,
        endpoint: parse_endpoint(&m["endpoint"], &format!("{ctx}.endpoint"))?,
        name,
        include_from_parent,
        table_name,
        write_disposition,
        merge_strategy,
        validity_column_names,
        primary_key: columns_list(m.get("primary_key"), &format!("{ctx}.primary_key"))?,
        merge_key: columns_list(m.get("merge_key"), &format!("{ctx}.merge_key"))?,
        max_table_nesting,
        selected,
        columns,
        parallelized,
    })
}

fn parse_endpoint(v: &Value, ctx: &str) -> Result<EndpointConfig> {
    let m = as_obj(v, ctx)?;
    check_keys(m, ENDPOINT_KEYS, ctx)?;
    let method = match m.get("method") {
        None | Some(Value::Null) => "GET".to_string(),
        Some(v) => as_str(v, &format!("{ctx}.method"))?.to_ascii_uppercase(),
    };
    if !matches!(
        method.as_str(),
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
    ) {
        return Err(err(
            &format!("{ctx}.method"),
            format!("`{method}` is not an HTTP method; use GET or POST"),
        ));
    }
    let json = m.get("json").filter(|v| !v.is_null()).cloned();
    let data = m.get("data").filter(|v| !v.is_null()).cloned();
    if json.is_some() && data.is_some() {
        return Err(err(
            ctx,
            "`json` and `data` cannot both be set; use one body",
        ));
    }
    let data_selector = match m.get("data_selector") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = as_str(v, &format!("{ctx}.data_selector"))?;
            super::selector::Path::parse(&s)
                .map_err(|e| err(&format!("{ctx}.data_selector"), e))?;
            Some(s)
        }
    };
    let mut response_actions = Vec::new();
    if let Some(a) = m.get("response_actions").filter(|v| !v.is_null()) {
        let list = a.as_array().ok_or_else(|| {
            err(
                &format!("{ctx}.response_actions"),
                "expected a list of {status_code, content, action: ignore}",
            )
        })?;
        for (i, item) in list.iter().enumerate() {
            let actx = format!("{ctx}.response_actions[{i}]");
            let am = as_obj(item, &actx)?;
            check_keys(am, &["status_code", "content", "action"], &actx)?;
            let action = am.get("action").and_then(Value::as_str).unwrap_or("");
            if action != "ignore" {
                return Err(err(
                    &actx,
                    "`action` must be `ignore` (custom callables cannot be declared in YAML)",
                ));
            }
            // dlt compares with `==` against an int, so "404" silently never matches; accept it.
            let status_code = match am.get("status_code") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
                Some(_) => None,
            };
            if am.get("status_code").is_some_and(|v| !v.is_null()) && status_code.is_none() {
                return Err(err(&actx, "`status_code` must be an HTTP status like 404"));
            }
            let content = match am.get("content") {
                None | Some(Value::Null) => None,
                Some(v) => Some(as_str(v, &format!("{actx}.content"))?),
            };
            if status_code.is_none() && content.is_none() {
                return Err(err(&actx, "set `status_code`, `content` or both"));
            }
            response_actions.push(ResponseAction {
                status_code,
                content,
            });
        }
    }
    let params = str_map(m.get("params"), &format!("{ctx}.params"))?;
    let mut incremental = parse_incremental(m.get("incremental"), &format!("{ctx}.incremental"))?;
    for (k, v) in &params {
        if let Value::Object(pm) = v {
            match pm.get("type").and_then(Value::as_str) {
                Some("resolve") => {}
                Some("incremental") => {
                    if incremental.is_some() {
                        return Err(err(
                            ctx,
                            "Only a single incremental parameter is allowed per endpoint",
                        ));
                    }
                    let mut inc = pm.clone();
                    inc.remove("type");
                    if inc.contains_key("end_value") || inc.contains_key("end_param") {
                        return Err(err(
                            &format!("{ctx}.params.{k}"),
                            "`end_value`/`end_param` are not allowed in an incremental param; use `endpoint.incremental`",
                        ));
                    }
                    inc.insert("start_param".into(), Value::String(k.clone()));
                    incremental =
                        parse_incremental(Some(&Value::Object(inc)), &format!("{ctx}.params.{k}"))?;
                }
                _ => {
                    return Err(err(
                        &format!("{ctx}.params.{k}"),
                        "a mapping param needs `type: resolve` (with resource and field) or `type: incremental`",
                    ));
                }
            }
        }
    }
    Ok(EndpointConfig {
        path: match m.get("path") {
            Some(v) => as_str(v, &format!("{ctx}.path"))?,
            None => String::new(),
        },
        method,
        params,
        json,
        data,
        headers: str_map(m.get("headers"), &format!("{ctx}.headers"))?,
        paginator: parse_paginator(m.get("paginator"), &format!("{ctx}.paginator"))?,
        data_selector,
        response_actions,
        incremental,
        auth: parse_auth(m.get("auth"), &format!("{ctx}.auth"))?,
    })
}

#[cfg(test)]
mod tests;
