//! The declarative REST API source (`type: rest_api`): dlt's `rest_api` in Rust.
//!
//! A [`RestApiConfig`] becomes a [`Source`] with one resource per independent (root) API
//! resource; dependent resources (`{resources.<parent>.<field>}` placeholders) are fetched
//! for every parent item by their root's resource and written into their own tables through
//! sibling writers, so a whole parent→child tree streams page by page and nothing is
//! buffered whole. Roots run concurrently (`[extract] workers`).
//!
//! Modules: [`config`] (the YAML block), [`client`] (HTTP, retries), [`paginators`],
//! [`auth`], [`secrets`] (lookup and redaction), [`resolve`] (placeholders), [`selector`]
//! (JSONPath), [`incremental`], and `fetch` (the paging loop).

pub mod auth;
pub mod client;
pub mod config;
mod fetch;
pub mod incremental;
pub mod paginators;
mod parallel;
mod rawpage;
pub mod resolve;
pub mod secrets;
pub mod selector;

pub use config::RestApiConfig;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::Value;

use crate::config::Env;
use crate::error::{Error, Result};
use crate::extract::ItemWriter;
use crate::incremental::ResourceCursor;
use crate::sources::registry::missing_var_error;
use crate::sources::registry::{self, Plan, SourceConfig, SourceType};
use crate::sources::{Resource, Source};
use crate::storage::ResourceHints;
use auth::{Auth, AuthResolver};
use client::{HttpClient, HttpSettings};
use config::{EndpointConfig, ResourceConfig, ResponseAction};
use incremental::{Incremental, IncrementalConfig};
use paginators::Paginator;
use resolve::{JsonTemplate, ParentRef, Template};
use secrets::{Redactor, SecretProvider};
use selector::Path;

/// Everything [`build_with`] needs besides the config; lets library users supply their own
/// secrets. Cursors come from the pipeline state at extract time. (`dango sync` builds through
/// the registry entry, [`RestApiType`], from a [`registry::BuildContext`].)
pub struct BuildContext<'a> {
    /// Secret lookup.
    pub secrets: &'a dyn SecretProvider,
    /// HTTP settings.
    pub http: HttpSettings,
}

/// The registry entry of `type: rest_api`.
pub struct RestApiType;

impl SourceType for RestApiType {
    fn name(&self) -> &'static str {
        "rest_api"
    }

    // `${VAR}` is substituted here; `*_env` keys and secrets are resolved when the source is
    // built (dlt's rest_api lookup chain through the settings).
    fn parse(
        &self,
        source: &str,
        block: &serde_norway::Value,
        env: &Env,
    ) -> Result<Box<dyn SourceConfig>> {
        let mut missing = Vec::new();
        let block = serde_json::to_value(block)
            .map(|mut v| {
                crate::config::env::substitute_json(&mut v, env, None, &mut missing);
                v
            })
            .map_err(|e| Error::Config(e.to_string()))?;
        if let Some(var) = missing.first() {
            return Err(missing_var_error(source, var));
        }
        RestApiConfig::from_value(&block)
            .map(|c| Box::new(c) as Box<dyn SourceConfig>)
            .map_err(|e| Error::Config(format!("source `{source}`: {e}")))
    }

    fn write_disposition(&self, block: Option<&serde_norway::Value>) -> String {
        block
            .and_then(|b| b.get("write_disposition"))
            .and_then(|v| v.as_str())
            .unwrap_or("merge")
            .to_string()
    }
}

impl SourceConfig for RestApiConfig {
    fn plan(&self, _source: &str, _cx: &registry::BuildContext<'_>) -> Result<Plan> {
        let mut plan = Plan {
            summary: "rest_api config is valid".into(),
            ..Plan::default()
        };
        let names: Vec<&str> = self.resources.iter().map(|r| r.name.as_str()).collect();
        plan.details
            .insert("resources".into(), serde_json::json!(names));
        Ok(plan)
    }

    /// Builds with secrets from the settings along dlt's lookup chain (environment and
    /// `.env`, the project's `.dlt/` and the global dir) and the `[runtime]` HTTP settings.
    fn build(&self, source: &str, cx: &registry::BuildContext<'_>) -> Result<Source> {
        let mut http = cx.http()?;
        // dlt runs parallelized resources on the extract pool: `[extract] workers`.
        http.parallel_workers = cx.settings.extract(Some(source))?.workers;
        let ctx = BuildContext {
            secrets: cx.settings,
            http,
        };
        build_with(source, self, &ctx)
    }
}

/// A compiled query parameter.
#[derive(Debug, Clone)]
enum Param {
    Tpl(Template),
    Fixed(Value),
}

/// One resource, ready to fetch.
pub(crate) struct Node {
    name: String,
    hints: ResourceHints,
    selected: bool,
    parent: Option<String>,
    parent_refs: Vec<ParentRef>,
    include_from_parent: Vec<String>,
    method: reqwest::Method,
    base_url: url::Url,
    path: Template,
    params: Vec<(String, Param)>,
    json: Option<JsonTemplate>,
    data: Option<JsonTemplate>,
    headers: Vec<(String, Template)>,
    /// `None` = detect on the first response.
    paginator: Option<Paginator>,
    data_selector: Option<Path>,
    response_actions: Vec<ResponseAction>,
    inc_cfg: Option<IncrementalConfig>,
    /// The cursor extract bound for this run (taken from the writer when the extract starts).
    incremental: Option<Arc<Incremental>>,
    auth: Auth,
    children: Vec<Node>,
    warned_fallback: AtomicBool,
    /// Fetches of this (dependent) resource in flight at once for a page of parent items:
    /// `[extract] workers` with `parallelized: true`, else 1.
    parallel: usize,
}

/// Builds the source with explicit secrets, cursors and settings.
pub fn build_with(name: &str, cfg: &RestApiConfig, ctx: &BuildContext<'_>) -> Result<Source> {
    let redactor = Redactor::default();
    let resolver = AuthResolver {
        source: name,
        secrets: ctx.secrets,
        redactor: &redactor,
    };
    let client_auth = resolver.resolve(cfg.client.auth.as_ref())?;
    let mut base = cfg.client.base_url.clone();
    if !base.ends_with('/') {
        base.push('/');
    }
    let base_url = url::Url::parse(&base).map_err(|e| {
        Error::Config(format!(
            "rest_api.client.base_url `{base}` is not a URL: {e}"
        ))
    })?;
    let client_paginator = match &cfg.client.paginator {
        Some(p) => Paginator::from_config(p)
            .map_err(|e| Error::Config(format!("rest_api.client.paginator: {e}")))?,
        None => None,
    };
    let names: BTreeSet<&str> = cfg.resources.iter().map(|r| r.name.as_str()).collect();
    let mut nodes: Vec<Node> = Vec::new();
    for r in &cfg.resources {
        let auth = match &r.endpoint.auth {
            Some(a) => resolver.resolve(Some(a))?,
            None => client_auth.clone(),
        };
        let mut node = compile(r, cfg, &base_url, &client_paginator, auth, &names)?;
        if r.parallelized {
            node.parallel = ctx.http.parallel_workers.max(1);
        }
        nodes.push(node);
    }
    // Reject cycles (a → b → a) before building trees.
    let parent_of: BTreeMap<String, Option<String>> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.parent.clone()))
        .collect();
    for n in &nodes {
        let mut seen = BTreeSet::new();
        let mut cur = Some(n.name.clone());
        while let Some(c) = cur {
            if !seen.insert(c.clone()) {
                return Err(Error::Config(format!(
                    "rest_api: resources {} depend on each other in a cycle",
                    seen.iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            cur = parent_of.get(&c).cloned().flatten();
        }
    }
    let client = HttpClient::new(ctx.http.clone(), redactor)?;
    let roots = attach_children(&mut nodes, None);
    let resources: Vec<Box<dyn Resource>> = roots
        .into_iter()
        .map(|root| {
            Box::new(RestResource {
                root,
                client: client.clone(),
                source: name.to_string(),
            }) as Box<dyn Resource>
        })
        .collect();
    Ok(Source::new(name, resources))
}

/// Moves the nodes whose parent is `parent` out of `nodes`, with their subtrees.
fn attach_children(nodes: &mut Vec<Node>, parent: Option<&str>) -> Vec<Node> {
    let mut mine = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        if nodes[i].parent.as_deref() == parent {
            mine.push(nodes.remove(i));
        } else {
            i += 1;
        }
    }
    for n in &mut mine {
        let name = n.name.clone();
        n.children = attach_children(nodes, Some(&name));
    }
    mine
}

fn compile(
    r: &ResourceConfig,
    cfg: &RestApiConfig,
    base_url: &url::Url,
    client_paginator: &Option<Paginator>,
    auth: Auth,
    names: &BTreeSet<&str>,
) -> Result<Node> {
    let where_ = |f: &str| format!("rest_api.resources.{}.endpoint.{f}", r.name);
    let ep: &EndpointConfig = &r.endpoint;
    let mut path = Template::parse(&ep.path, &where_("path"))?;
    // Legacy `{type: resolve}` params bind a path placeholder to a parent field.
    let mut params = Vec::new();
    for (k, v) in &ep.params {
        match v {
            Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("resolve") => {
                let res = m.get("resource").and_then(Value::as_str);
                let field = m.get("field").and_then(Value::as_str);
                let (Some(res), Some(field)) = (res, field) else {
                    return Err(Error::Config(format!(
                        "{}: a `type: resolve` param needs `resource` and `field`",
                        where_(&format!("params.{k}"))
                    )));
                };
                if !path.rename(k, &format!("resources.{res}.{field}")) {
                    return Err(Error::Config(format!(
                        "{}: the resolve param `{k}` must appear in the path as `{{{k}}}`",
                        where_(&format!("params.{k}"))
                    )));
                }
            }
            Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("incremental") => {}
            Value::String(s) => params.push((
                k.clone(),
                Param::Tpl(Template::parse(s, &where_(&format!("params.{k}")))?),
            )),
            Value::Null => {}
            other => params.push((k.clone(), Param::Fixed(other.clone()))),
        }
    }
    let json = ep
        .json
        .as_ref()
        .map(|j| JsonTemplate::parse(j, &where_("json")))
        .transpose()?;
    let data = ep
        .data
        .as_ref()
        .map(|j| JsonTemplate::parse(j, &where_("data")))
        .transpose()?;
    let mut headers = Vec::new();
    let mut merged: indexmap::IndexMap<String, Value> = cfg.client.headers.clone();
    for (k, v) in &ep.headers {
        merged.insert(k.clone(), v.clone());
    }
    for (k, v) in &merged {
        let text = resolve::value_text(v);
        headers.push((
            k.clone(),
            Template::parse(&text, &where_(&format!("headers.{k}")))?,
        ));
    }

    // Check every placeholder and find the parent.
    let has_inc = ep.incremental.is_some();
    let mut exprs: Vec<(String, String)> = Vec::new();
    for e in path.exprs() {
        exprs.push((e.to_string(), "path".into()));
    }
    for (k, p) in &params {
        if let Param::Tpl(t) = p {
            for e in t.exprs() {
                exprs.push((e.to_string(), format!("params.{k}")));
            }
        }
    }
    for (what, body) in [("json", &json), ("data", &data)] {
        if let Some(b) = body {
            for t in b.templates() {
                for e in t.exprs() {
                    exprs.push((e.to_string(), what.to_string()));
                }
            }
        }
    }
    for (k, t) in &headers {
        for e in t.exprs() {
            exprs.push((e.to_string(), format!("headers.{k}")));
        }
    }
    let mut parents = BTreeSet::new();
    let mut parent_refs = Vec::new();
    for (e, field) in &exprs {
        resolve::check_expr(e, has_inc, &format!("`{}` of resource `{}`", field, r.name))?;
        if let Some((parent, f)) = resolve::parent_ref(e) {
            if !names.contains(parent.as_str()) {
                return Err(Error::Config(format!(
                    "rest_api: resource `{}` refers to non existing parent resource `{parent}` in `{{{e}}}`; declared resources: {}",
                    r.name,
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
            if parent == r.name {
                return Err(Error::Config(format!(
                    "rest_api: resource `{}` refers to itself in `{{{e}}}`",
                    r.name
                )));
            }
            parents.insert(parent.clone());
            parent_refs.push(ParentRef {
                path: Path::parse(&f)?,
                parent,
                field: f,
            });
        }
    }
    if parents.len() > 1 {
        return Err(Error::Config(format!(
            "rest_api: Multiple parent resources for `{}`: {}; a resource can depend on one parent only",
            r.name,
            parents
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let parent = parents.into_iter().next();
    if !r.include_from_parent.is_empty() && parent.is_none() {
        return Err(Error::Config(format!(
            "rest_api: resource `{}` has `include_from_parent` but is not dependent on another resource",
            r.name
        )));
    }

    // The single-entity rule: a path ending in a placeholder is one object.
    let single_entity = ep
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('{') && !last.contains("{{"));
    let endpoint_paginator = match &ep.paginator {
        Some(p) if p.kind != "auto" => Some(
            Paginator::from_config(p)
                .map_err(|e| Error::Config(format!("{}: {e}", where_("paginator"))))?,
        ),
        _ => None,
    };
    let paginator = match endpoint_paginator {
        Some(p) => p,
        None if single_entity => Some(Paginator::Single),
        None => client_paginator.clone(),
    };
    let data_selector = match &ep.data_selector {
        Some(s) => Some(Path::parse(s)?),
        None if single_entity => Some(Path::Root),
        None => None,
    };
    let method = reqwest::Method::from_bytes(ep.method.as_bytes()).map_err(|_| {
        Error::Config(format!(
            "{}: invalid method `{}`",
            where_("method"),
            ep.method
        ))
    })?;
    let table_name = r.table_name.clone().unwrap_or_else(|| r.name.clone());
    Ok(Node {
        name: r.name.clone(),
        hints: ResourceHints {
            name: r.name.clone(),
            table_name,
            write_disposition: r.write_disposition,
            merge_strategy: r.merge_strategy,
            validity_column_names: r.validity_column_names.clone(),
            primary_key: r.primary_key.clone(),
            merge_key: r.merge_key.clone(),
            columns: r.columns.clone(),
            max_table_nesting: r.max_table_nesting,
            schema_contract: r.schema_contract.clone(),
        },
        selected: r.selected,
        parent,
        parent_refs,
        include_from_parent: r.include_from_parent.clone(),
        method,
        base_url: base_url.clone(),
        path,
        params,
        json,
        data,
        headers,
        paginator,
        data_selector,
        response_actions: ep.response_actions.clone(),
        inc_cfg: ep.incremental.clone(),
        incremental: None,
        auth,
        children: Vec::new(),
        warned_fallback: AtomicBool::new(false),
        parallel: 1,
    })
}

/// A root API resource and its dependent resources.
pub struct RestResource {
    root: Node,
    client: HttpClient,
    source: String,
}

/// Takes the cursors extract bound for `n` and its subtree from the writer (their values
/// render `{incremental.*}` placeholders; items are filtered through them).
fn attach_cursors(n: &mut Node, out: &ItemWriter<'_>) {
    n.incremental = out.cursor(&n.name);
    for c in &mut n.children {
        attach_cursors(c, out);
    }
}

/// The cursors declared in `n` and its subtree, depth first.
fn declared_cursors<'a>(n: &'a Node, out: &mut Vec<ResourceCursor<'a>>) {
    if let Some(config) = &n.inc_cfg {
        out.push(ResourceCursor {
            resource: &n.name,
            config,
            primary_key: &n.hints.primary_key,
        });
    }
    for c in &n.children {
        declared_cursors(c, out);
    }
}

fn selected_hints(n: &Node, out: &mut Vec<ResourceHints>) {
    if n.selected {
        out.push(n.hints.clone());
    }
    for c in &n.children {
        selected_hints(c, out);
    }
}

impl Resource for RestResource {
    fn hints(&self) -> &ResourceHints {
        &self.root.hints
    }

    fn tables(&self) -> Vec<ResourceHints> {
        let mut v = Vec::new();
        selected_hints(&self.root, &mut v);
        v
    }

    fn cursors(&self) -> Vec<ResourceCursor<'_>> {
        let mut v = Vec::new();
        declared_cursors(&self.root, &mut v);
        v
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        attach_cursors(&mut self.root, out);
        let client = self.client.with_cancel(out.cancel_token());
        let mut writers = fetch::Writers::new(out);
        let run = fetch::Run {
            client: &client,
            source: &self.source,
        };
        let r = run.node(&self.root, None, &mut writers);
        let closed = writers.close();
        r.and(closed)
    }
}
