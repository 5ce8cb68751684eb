//! MySQL and MariaDB through mysql_async: reflection from `information_schema`, and reads in
//! one `REPEATABLE READ` read-only transaction with a consistent snapshot, streamed row by row
//! in the text protocol and cut into `chunk_size` batches.

use std::borrow::Cow;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value as MyValue};

use super::columns::{BatchBuilder, Cell, Kind, SqlColumn};
use super::table::{BatchSink, Filter, TableSpec, quote_literal};
use super::url::{DbUrl, MyTarget};
use crate::error::{Error, Result};

/// Opens a connection (TLS as the URL says; `PREFERRED` falls back to plain text when the
/// server has no TLS) in UTC.
pub async fn connect(t: &MyTarget, url: &DbUrl) -> Result<Conn> {
    let mut conn = match Conn::new(t.opts.clone()).await {
        Ok(c) => c,
        Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer))
            if t.fallback.is_some() =>
        {
            let plain = t.fallback.clone().unwrap_or_else(|| t.opts.clone());
            Conn::new(plain).await.map_err(|e| conn_error(&e, url))?
        }
        Err(e) => return Err(conn_error(&e, url)),
    };
    conn.query_drop("SET time_zone = '+00:00'")
        .await
        .map_err(|e| query_error(&e, url, "setting the session up"))?;
    Ok(conn)
}

fn conn_error(e: &mysql_async::Error, url: &DbUrl) -> Error {
    let detail = match e {
        mysql_async::Error::Server(s) if s.code == 1045 => format!(
            "authentication failed ({}). Check the user and password in {}",
            s.message, url.origin
        ),
        mysql_async::Error::Server(s) if s.code == 1049 => format!(
            "{}. Fix the database name in the URL from {}",
            s.message, url.origin
        ),
        mysql_async::Error::Server(s) => format!("{} (error {})", s.message, s.code),
        other => match crate::net::tls::explain_refusal(&other.to_string()) {
            Some(why) => format!("{other}: {why}"),
            None => format!(
                "{other}. Check that the server is running and the host, port and ssl-mode in the URL from {} are right",
                url.origin
            ),
        },
    };
    Error::Config(crate::config::redact::redact(&format!(
        "cannot connect to MySQL at {}: {detail}",
        url.shown()
    )))
}

fn query_error(e: &mysql_async::Error, url: &DbUrl, what: &str) -> Error {
    Error::Config(crate::config::redact::redact(&format!(
        "MySQL at {}: {what}: {e}",
        url.shown()
    )))
}

fn text(v: Option<&MyValue>) -> Option<String> {
    match v? {
        MyValue::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        MyValue::NULL => None,
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn num(v: Option<&MyValue>) -> Option<u64> {
    text(v)?.parse().ok()
}

/// The tables of `schema` (the URL's database when `None`).
pub async fn reflect(
    conn: &mut Conn,
    url: &DbUrl,
    schema: Option<&str>,
    names: Option<&[String]>,
    views: bool,
) -> Result<Vec<TableSpec>> {
    let err = |what: &'static str| move |e: mysql_async::Error| query_error(&e, url, what);
    let schema =
        match schema {
            Some(s) => s.to_string(),
            None => {
                let rows: Vec<Row> = conn
                    .query("SELECT DATABASE()")
                    .await
                    .map_err(err("reading the database"))?;
                rows.first().and_then(|r| text(r.as_ref(0))).ok_or_else(|| {
                Error::Config(format!(
                    "MySQL at {}: the URL names no database; add it to the URL or set `schema`",
                    url.shown()
                ))
            })?
            }
        };
    let exists: Vec<Row> = conn
        .exec(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (schema.as_str(),),
        )
        .await
        .map_err(err("reading databases"))?;
    if exists.is_empty() {
        return Err(Error::Config(format!(
            "MySQL at {}: database (schema) `{schema}` does not exist. Fix `schema` in the sql_database block",
            url.shown()
        )));
    }
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (schema.as_str(),),
        )
        .await
        .map_err(err("listing tables"))?;
    let found: Vec<((), String, bool)> = rows
        .iter()
        .filter_map(|r| {
            let name = text(r.as_ref(0))?;
            let ty = text(r.as_ref(1)).unwrap_or_default();
            Some(((), name, ty != "VIEW"))
        })
        .collect();
    let chosen = super::table::choose_tables(&found, names, views, &schema, &url.shown())?;
    let mut out = Vec::new();
    for ((), name) in chosen {
        let cols: Vec<Row> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE, \
                 CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (schema.as_str(), name.as_str()),
            )
            .await
            .map_err(err("reading columns"))?;
        let pk: Vec<Row> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                (schema.as_str(), name.as_str()),
            )
            .await
            .map_err(err("reading the primary key"))?;
        out.push(TableSpec {
            schema: Some(schema.clone()),
            name,
            columns: cols.iter().map(column).collect(),
            primary_key: pk.iter().filter_map(|r| text(r.as_ref(0))).collect(),
        });
    }
    Ok(out)
}

/// dlt's type (through SQLAlchemy's MySQL dialect) for a column of `information_schema`.
fn column(r: &Row) -> SqlColumn {
    let name = text(r.as_ref(0)).unwrap_or_default();
    let data_type = text(r.as_ref(1)).unwrap_or_default().to_ascii_lowercase();
    let nullable = text(r.as_ref(3)).is_none_or(|n| n == "YES");
    let precision = num(r.as_ref(4));
    let scale = num(r.as_ref(5));
    let length = num(r.as_ref(6)).and_then(|l| u32::try_from(l).ok());
    let kind = match data_type.as_str() {
        "smallint" => Kind::Int { bits: 16 },
        "tinyint" | "mediumint" | "int" | "integer" | "year" => Kind::Int { bits: 32 },
        "bigint" => Kind::Int { bits: 64 },
        "float" | "double" | "real" => Kind::Float,
        "decimal" | "numeric" => match (precision, scale) {
            (Some(p), Some(s)) if p <= 38 => Kind::Decimal {
                precision: p as u8,
                scale: s as i8,
            },
            _ => Kind::Text { length: None },
        },
        "char" | "varchar" => Kind::Text { length },
        "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            Kind::Text { length: None }
        }
        "date" => Kind::Date,
        "time" => Kind::Time,
        "datetime" | "timestamp" => Kind::Timestamp { tz: false },
        "json" => Kind::Json,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Binary,
        _ => Kind::Other,
    };
    SqlColumn {
        name,
        kind,
        nullable,
        db_type: data_type,
    }
}

/// `` `name` ``.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn my_literal(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => {
            // Timestamps as MySQL writes them, in UTC (the session's zone).
            let s = match crate::incremental::parse_instant(s) {
                Some(t) if s.len() > 10 => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                _ => s.clone(),
            };
            quote_literal(&s.replace('\\', "\\\\"))
        }
        other => quote_literal(&other.to_string()),
    }
}

/// The SQL of a table read.
pub fn select_sql(spec: &TableSpec, filter: Option<&Filter>) -> String {
    let cols: Vec<String> = spec.columns.iter().map(|c| ident(&c.name)).collect();
    let table = match &spec.schema {
        Some(s) => format!("{}.{}", ident(s), ident(&spec.name)),
        None => ident(&spec.name),
    };
    let mut sql = format!("SELECT {} FROM {table}", cols.join(", "));
    if let Some(f) = filter {
        let mut conds = Vec::new();
        if let Some(v) = &f.start {
            conds.push(format!(
                "{} {} {}",
                ident(&f.column),
                f.start_op(),
                my_literal(v)
            ));
        }
        if let Some(v) = &f.end {
            conds.push(format!(
                "{} {} {}",
                ident(&f.column),
                f.end_op(),
                my_literal(v)
            ));
        }
        if !conds.is_empty() {
            sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        sql.push_str(&format!(" ORDER BY {} {}", ident(&f.column), f.order()));
    }
    sql
}

/// Reads the table in one consistent read-only snapshot into `sink`.
pub async fn read(
    t: &MyTarget,
    url: &DbUrl,
    spec: &TableSpec,
    filter: Option<&Filter>,
    chunk: usize,
    sink: &mut dyn BatchSink,
) -> Result<()> {
    let mut conn = connect(t, url).await?;
    let what = format!("reading table `{}`", spec.name);
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(|e| query_error(&e, url, &what))?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(|e| query_error(&e, url, &what))?;
    let sql = select_sql(spec, filter);
    let mut builder = BatchBuilder::new(&spec.columns);
    let mut stopped = false;
    {
        let mut result = conn
            .query_iter(sql)
            .await
            .map_err(|e| query_error(&e, url, &what))?;
        while let Some(row) = result
            .next()
            .await
            .map_err(|e| query_error(&e, url, &what))?
        {
            for i in 0..spec.columns.len() {
                let cell = match row.as_ref(i) {
                    None | Some(MyValue::NULL) => Cell::Null,
                    Some(MyValue::Bytes(b)) => match spec.columns[i].kind {
                        Kind::Binary => Cell::Bytes(Cow::Borrowed(b)),
                        _ => Cell::Text(String::from_utf8_lossy(b)),
                    },
                    Some(MyValue::Int(v)) => Cell::Int(*v),
                    Some(MyValue::UInt(v)) => Cell::Text(Cow::Owned(v.to_string())),
                    Some(MyValue::Float(v)) => Cell::Float(f64::from(*v)),
                    Some(MyValue::Double(v)) => Cell::Float(*v),
                    Some(other) => Cell::Text(Cow::Owned(
                        other.as_sql(true).trim_matches('\'').to_string(),
                    )),
                };
                builder
                    .push(i, cell)
                    .map_err(|e| Error::Config(format!("MySQL table `{}`: {e}", spec.name)))?;
            }
            builder.end_row();
            if builder.rows() >= chunk && !sink.push(builder.finish()?)? {
                stopped = true;
                break;
            }
        }
    }
    if !stopped && builder.rows() > 0 {
        sink.push(builder.finish()?)?;
    }
    // Dropping the connection ends an unfinished read; a finished one is closed politely.
    if !stopped {
        let _ = conn.query_drop("COMMIT").await;
        let _ = conn.disconnect().await;
    }
    Ok(())
}
