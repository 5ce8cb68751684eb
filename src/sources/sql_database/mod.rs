//! The `sql_database` source (and Dango's `postgres` type): tables of PostgreSQL, MySQL /
//! MariaDB and SQLite databases, after dlt's `sql_database(...)`.
//!
//! Every table (or those in `table_names`) becomes a resource named after it. Columns are
//! reflected with dlt's type mapping at the chosen `reflection_level`, rows stream in
//! `chunk_size` Arrow batches through the typed-items path (memory stays flat), each table is
//! read in one read-only snapshot, and an `incremental` table is filtered on its cursor in SQL
//! (dlt's boundary deduplication is applied to the rows read).
//!
//! Modules: `config` (the block), `url` / `tls` (the database URL, redaction, TLS),
//! `columns` (types and Arrow batches), `table` (what the drivers share: the reflected table,
//! the cursor's range, the batch sink), one module per driver (`postgres`, `mysql`, `sqlite`),
//! and `read` (the resource, above the drivers).

mod columns;
mod config;
mod mysql;
mod postgres;
mod read;
mod sqlite;
mod table;
#[cfg(test)]
mod tests;
mod url;

pub use config::{Backend, KeyColumns, ReflectionLevel, SqlDatabaseConfig, TableConfig};

use std::sync::Arc;

use serde_norway::Value;

use crate::config::Env;
use crate::config::env::substitute;
use crate::error::{Error, Result};
use crate::incremental::IncrementalConfig;
use crate::schema::WriteDisposition;
use crate::sources::Source;
use crate::sources::registry::{
    BuildContext, Plan, SourceConfig, SourceType, check_typed_blocks, missing_var_error,
    typed_block,
};
use crate::storage::{ArrowMode, ResourceHints};
use read::TableResource;
use table::TableSpec;
use url::DbUrl;

/// The registry entry of `type: sql_database` (block `sql_database:`).
pub struct SqlDatabaseType;

/// The registry entry of Dango's `type: postgres` (block `generic_config:`, same options).
pub struct PostgresType;

impl SourceType for SqlDatabaseType {
    fn name(&self) -> &'static str {
        "sql_database"
    }

    fn alt_block_keys(&self) -> &'static [&'static str] {
        &["generic_config"]
    }

    fn check_text(&self, text: &str) -> Option<serde_norway::Error> {
        check_typed_blocks::<SqlDatabaseConfig>(text, self.block_key())
    }

    fn parse(&self, source: &str, block: &Value, env: &Env) -> Result<Box<dyn SourceConfig>> {
        parse(self.name(), "sql_database", source, block, env)
    }

    fn write_disposition(&self, block: Option<&Value>) -> String {
        disposition(block)
    }
}

impl SourceType for PostgresType {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn block_key(&self) -> &'static str {
        "generic_config"
    }

    // `generic_config:` blocks of other types are not ours to check: errors come from `parse`.

    fn parse(&self, source: &str, block: &Value, env: &Env) -> Result<Box<dyn SourceConfig>> {
        parse(self.name(), self.block_key(), source, block, env)
    }

    fn write_disposition(&self, block: Option<&Value>) -> String {
        disposition(block)
    }
}

fn disposition(block: Option<&Value>) -> String {
    block
        .and_then(|b| typed_block::<SqlDatabaseConfig>(b).ok())
        .and_then(|c| c.write_disposition)
        .map(|w| w.disposition.as_str().to_string())
        .unwrap_or_else(|| "append".into())
}

/// A parsed block with the type it belongs to (the first section of its secrets).
#[derive(Debug)]
struct Parsed {
    cfg: SqlDatabaseConfig,
    type_name: &'static str,
}

fn parse(
    type_name: &'static str,
    key: &str,
    source: &str,
    block: &Value,
    env: &Env,
) -> Result<Box<dyn SourceConfig>> {
    let mut cfg: SqlDatabaseConfig = typed_block(block).map_err(|e| {
        Error::Config(crate::config::redact::redact(&format!(
            "source `{source}`: {key}: {e}. Fix it in .dango/sources.yml"
        )))
    })?;
    let mut missing = Vec::new();
    let mut sub = |s: &mut String| {
        let (v, m) = substitute(s, env);
        *s = v;
        missing.extend(m);
    };
    for s in [&mut cfg.credentials, &mut cfg.schema]
        .into_iter()
        .flatten()
    {
        sub(s);
    }
    for t in cfg.table_names.iter_mut().flatten() {
        sub(t);
    }
    if let Some(var) = missing.first() {
        return Err(missing_var_error(source, var));
    }
    if cfg.chunk_size == 0 {
        return Err(Error::Config(format!(
            "source `{source}`: {key}.chunk_size must be at least 1"
        )));
    }
    for (table, t) in &cfg.tables {
        if let Some(v) = &t.incremental {
            IncrementalConfig::parse(
                v,
                &format!("source `{source}`: {key}.tables.{table}.incremental"),
            )?;
        }
    }
    Ok(Box::new(Parsed { cfg, type_name }))
}

impl SourceConfig for Parsed {
    fn plan(&self, source: &str, cx: &BuildContext<'_>) -> Result<Plan> {
        let url = resolve_url(&self.cfg, self.type_name, source, cx)?;
        // A bad scheme, sslmode or CA file is found without connecting.
        url.target(cx.project_root)?;
        let tables = match &self.cfg.table_names {
            Some(t) => t.join(", "),
            None => format!(
                "every table of {}",
                self.cfg
                    .schema
                    .as_deref()
                    .map_or("the default schema".to_string(), |s| format!(
                        "schema `{s}`"
                    ))
            ),
        };
        let mut plan = Plan {
            summary: format!("{} (from {}): {tables}", url.shown(), url.origin),
            lines: vec![
                format!("database {} (from {})", url.shown(), url.origin),
                format!("tables: {tables}"),
            ],
            ..Plan::default()
        };
        for (t, c) in &self.cfg.tables {
            if let Some(inc) = &c.incremental {
                plan.lines.push(format!(
                    "  {t}: incremental on {}",
                    inc.get("cursor_path").unwrap_or(&serde_json::Value::Null)
                ));
            }
        }
        plan.details
            .insert("database".into(), serde_json::json!(url.shown()));
        if let Some(t) = &self.cfg.table_names {
            plan.details.insert("tables".into(), serde_json::json!(t));
        }
        Ok(plan)
    }

    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source> {
        let url = resolve_url(&self.cfg, self.type_name, source, cx)?;
        let target = Arc::new(url.target(cx.project_root)?);
        let specs = read::reflect(
            &target,
            &url,
            self.cfg.schema.as_deref(),
            self.cfg.table_names.as_deref(),
            self.cfg.include_views,
        )
        .map_err(|e| in_source(source, e))?;
        for name in self.cfg.tables.keys() {
            if !specs.iter().any(|s| &s.name == name) {
                return Err(Error::Config(format!(
                    "source `{source}`: `tables.{name}` names a table that is not read; the tables are: {}. Fix `tables` or `table_names`",
                    specs
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let mut resources: Vec<Box<dyn crate::extract::Resource>> = Vec::new();
        for spec in specs {
            resources.push(Box::new(self.resource(source, spec, &target, &url)?));
        }
        Ok(Source::new(source, resources))
    }
}

fn in_source(source: &str, e: Error) -> Error {
    match e {
        Error::Config(m) => Error::Config(format!("source `{source}`: {m}")),
        other => other,
    }
}

impl Parsed {
    fn resource(
        &self,
        source: &str,
        mut spec: TableSpec,
        target: &Arc<url::Target>,
        url: &DbUrl,
    ) -> Result<TableResource> {
        let opts = self.cfg.tables.get(&spec.name).cloned().unwrap_or_default();
        if let Some(keep) = &opts.included_columns {
            for k in keep {
                if !spec.columns.iter().any(|c| &c.name == k) {
                    return Err(Error::Config(format!(
                        "source `{source}`: tables.{}.included_columns: `{k}` is not a column of the table",
                        spec.name
                    )));
                }
            }
            spec.columns.retain(|c| keep.contains(&c.name));
        }
        let level = self.cfg.reflection_level;
        let mut columns = serde_json::Map::new();
        for c in &spec.columns {
            columns.insert(c.name.clone(), c.hint(level, false));
        }
        for (name, hint) in opts.columns.clone().unwrap_or_default() {
            match (columns.get_mut(&name), hint) {
                (Some(serde_json::Value::Object(have)), serde_json::Value::Object(over)) => {
                    have.extend(over);
                }
                (_, hint) => {
                    columns.insert(name, hint);
                }
            }
        }
        let wd = opts
            .write_disposition
            .clone()
            .or_else(|| self.cfg.write_disposition.clone());
        let hints = ResourceHints {
            name: spec.name.clone(),
            table_name: spec.name.clone(),
            write_disposition: wd
                .as_ref()
                .map_or(WriteDisposition::Append, |w| w.disposition),
            merge_strategy: wd.as_ref().and_then(|w| w.strategy),
            validity_column_names: wd.as_ref().and_then(|w| w.validity_column_names.clone()),
            primary_key: opts
                .primary_key
                .as_ref()
                .map_or_else(|| spec.primary_key.clone(), KeyColumns::to_vec),
            merge_key: opts
                .merge_key
                .as_ref()
                .map(KeyColumns::to_vec)
                .unwrap_or_default(),
            columns,
            ..ResourceHints::default()
        };
        let incremental = opts
            .incremental
            .as_ref()
            .map(|v| {
                IncrementalConfig::parse(
                    v,
                    &format!("source `{source}`: tables.{}.incremental", spec.name),
                )
            })
            .transpose()?;
        if let Some(inc) = &incremental
            && !spec.columns.iter().any(|c| c.name == inc.cursor_path)
        {
            return Err(Error::Config(format!(
                "source `{source}`: tables.{}.incremental: cursor_path `{}` is not a column of the table",
                spec.name, inc.cursor_path
            )));
        }
        Ok(TableResource {
            hints,
            spec,
            incremental,
            target: target.clone(),
            url: url.clone(),
            chunk_size: self.cfg.chunk_size,
            mode: match self.cfg.backend {
                Backend::Sqlalchemy => ArrowMode::Dicts,
                Backend::Pyarrow => ArrowMode::Tables,
            },
        })
    }
}

/// The sections `credentials` is looked up in, most specific first; two database sources
/// never share credentials unless they come from `[sources.sql_database]`.
fn credential_sections(type_name: &str, source: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let mut out = vec![s(&["sources", type_name, source])];
    if type_name != "sql_database" {
        out.push(s(&["sources", "sql_database", source]));
    }
    out.push(s(&["sources", source]));
    if type_name != "sql_database" {
        out.push(s(&["sources", type_name]));
    }
    out.push(s(&["sources", "sql_database"]));
    out
}

/// The database URL: `credentials_env`, `credentials` in the block, then the secrets chain.
fn resolve_url(
    cfg: &SqlDatabaseConfig,
    type_name: &str,
    source: &str,
    cx: &BuildContext<'_>,
) -> Result<DbUrl> {
    let env = cx.settings.env();
    if let Some(var) = &cfg.credentials_env
        && let Some(v) = env.get(var).filter(|v| !v.trim().is_empty())
    {
        return Ok(DbUrl::new(v, format!("environment variable {var}")));
    }
    if let Some(c) = &cfg.credentials {
        return Ok(DbUrl::new(
            c.clone(),
            format!("`credentials` of source `{source}` in .dango/sources.yml"),
        ));
    }
    let sections = credential_sections(type_name, source);
    for s in &sections {
        let refs: Vec<&str> = s.iter().map(String::as_str).collect();
        if let Some(found) = cx.settings.get(&refs, "credentials")? {
            let origin = found.describe();
            return Ok(DbUrl::new(url_of(&found.value, &origin)?, origin));
        }
    }
    let mut tried: Vec<String> = Vec::new();
    if let Some(var) = &cfg.credentials_env {
        tried.push(format!(
            "environment variable {var} (credentials_env; not set)"
        ));
    }
    tried.extend(
        sections
            .iter()
            .map(|s| format!("[{}] credentials in .dlt/secrets.toml", s.join("."))),
    );
    Err(Error::Config(format!(
        "source `{source}`: no database credentials. Tried: {}. Set one of them to the database URL (postgresql://user:password@host:5432/db, mysql://…, sqlite:///file.db)",
        tried.join("; ")
    )))
}

/// A `credentials` value: a URL, or dlt's fields (`drivername`, `username`, `password`,
/// `host`, `port`, `database`, `query`).
fn url_of(v: &toml::Value, origin: &str) -> Result<String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Table(t) => {
            let get = |k: &str| {
                t.get(k).map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            };
            let driver = get("drivername").ok_or_else(|| {
                Error::Config(format!(
                    "{origin}: credentials need `drivername` (postgresql, mysql, sqlite) or a URL"
                ))
            })?;
            if let Some(p) = get("password") {
                crate::config::redact::register_secret(&p);
            }
            let enc = |s: String| {
                ::url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
            };
            let mut u = format!("{driver}://");
            if let Some(user) = get("username") {
                u.push_str(&enc(user));
                if let Some(p) = get("password") {
                    u.push(':');
                    u.push_str(&enc(p));
                }
                u.push('@');
            }
            u.push_str(&get("host").unwrap_or_default());
            if let Some(port) = get("port") {
                u.push(':');
                u.push_str(&port);
            }
            if let Some(db) = get("database") {
                u.push('/');
                u.push_str(&db);
            }
            if let Some(toml::Value::Table(q)) = t.get("query") {
                let pairs: Vec<String> = q
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            enc(v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        )
                    })
                    .collect();
                if !pairs.is_empty() {
                    u.push('?');
                    u.push_str(&pairs.join("&"));
                }
            }
            Ok(u)
        }
        _ => Err(Error::Config(format!(
            "{origin}: credentials must be a database URL"
        ))),
    }
}
