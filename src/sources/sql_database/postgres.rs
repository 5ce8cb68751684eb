//! PostgreSQL through tokio-postgres: reflection from `pg_catalog`, and reads through a
//! server-side cursor in a `REPEATABLE READ READ ONLY` transaction, fetched `chunk_size` rows at
//! a time in the binary protocol and decoded straight into Arrow builders.

use std::borrow::Cow;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, Row};

use super::columns::{BatchBuilder, Cell, Kind, SqlColumn};
use super::read::{BatchSink, Filter, TableSpec, quote_literal};
use super::url::{DbUrl, PgTarget};
use crate::error::{Error, Result};

/// Seconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

/// Opens a connection (TLS as the URL says) and sets the session up for reading.
pub async fn connect(t: &PgTarget, url: &DbUrl) -> Result<Client> {
    let mut config = t.config.clone();
    config.connect_timeout(std::time::Duration::from_secs(30));
    let client = match &t.tls {
        None => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, conn) = config
                .connect(NoTls)
                .await
                .map_err(|e| conn_error(&e, url))?;
            tokio::spawn(conn);
            client
        }
        Some(tls) => {
            config.ssl_mode(if t.tls_optional {
                tokio_postgres::config::SslMode::Prefer
            } else {
                tokio_postgres::config::SslMode::Require
            });
            let mk = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
            let (client, conn) = config.connect(mk).await.map_err(|e| conn_error(&e, url))?;
            tokio::spawn(conn);
            client
        }
    };
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET intervalstyle = 'iso_8601'; SET application_name = 'dango'",
        )
        .await
        .map_err(|e| query_error(&e, url, "setting the session up"))?;
    Ok(client)
}

/// The error for a failed connection: what failed and where the URL came from, never the
/// password.
fn conn_error(e: &tokio_postgres::Error, url: &DbUrl) -> Error {
    let detail = match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            match code {
                "28P01" | "28000" => format!(
                    "authentication failed ({}). Check the user and password in {}",
                    db.message(),
                    url.origin
                ),
                "3D000" => format!(
                    "{}. Fix the database name in the URL from {}",
                    db.message(),
                    url.origin
                ),
                _ => format!("{} (SQLSTATE {code})", db.message()),
            }
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            format!(
                "{s}. Check that the server is running and the host, port and sslmode in the URL from {} are right",
                url.origin
            )
        }
    };
    Error::Config(crate::config::redact::redact(&format!(
        "cannot connect to PostgreSQL at {}: {detail}",
        url.shown()
    )))
}

fn query_error(e: &tokio_postgres::Error, url: &DbUrl, what: &str) -> Error {
    let msg = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    Error::Config(crate::config::redact::redact(&format!(
        "PostgreSQL at {}: {what}: {msg}",
        url.shown()
    )))
}

/// The tables of `schema` (the connection's current schema when `None`): every table (and
/// view when `views`) if `names` is `None`, else the named ones, in that order.
pub async fn reflect(
    client: &Client,
    url: &DbUrl,
    schema: Option<&str>,
    names: Option<&[String]>,
    views: bool,
) -> Result<Vec<TableSpec>> {
    let schema = match schema {
        Some(s) => s.to_string(),
        None => client
            .query_one("SELECT current_schema()::text", &[])
            .await
            .map_err(|e| query_error(&e, url, "reading the current schema"))?
            .get(0),
    };
    let exists = client
        .query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .await
        .map_err(|e| query_error(&e, url, "reading schemas"))?;
    if exists.is_empty() {
        return Err(Error::Config(format!(
            "PostgreSQL at {}: schema `{schema}` does not exist. Fix `schema` in the sql_database block",
            url.shown()
        )));
    }
    let rows = client
        .query(
            "SELECT c.oid, c.relname::text, c.relkind::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname",
            &[&schema],
        )
        .await
        .map_err(|e| query_error(&e, url, "listing tables"))?;
    let found: Vec<(u32, String, bool)> = rows
        .iter()
        .map(|r| {
            let kind: String = r.get(2);
            (r.get(0), r.get(1), matches!(kind.as_str(), "r" | "p" | "f"))
        })
        .collect();
    let chosen = super::read::choose_tables(&found, names, views, &schema, &url.shown())?;
    let mut out = Vec::with_capacity(chosen.len());
    for (oid, name) in chosen {
        out.push(TableSpec {
            schema: Some(schema.clone()),
            name: name.clone(),
            columns: columns(client, url, oid).await?,
            primary_key: primary_key(client, url, oid).await?,
        });
    }
    Ok(out)
}

async fn columns(client: &Client, url: &DbUrl, oid: u32) -> Result<Vec<SqlColumn>> {
    let rows = client
        .query(
            "SELECT a.attname::text, COALESCE(bt.typname, t.typname)::text, \
               CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, a.attnotnull, \
               COALESCE(bt.typcategory, t.typcategory)::text, COALESCE(bt.typtype, t.typtype)::text \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| query_error(&e, url, "reading columns"))?;
    Ok(rows.iter().map(column).collect())
}

/// The column of a `pg_attribute` row: dlt's type for the PostgreSQL type.
fn column(r: &Row) -> SqlColumn {
    let name: String = r.get(0);
    let typname: String = r.get(1);
    let typmod: i32 = r.get(2);
    let notnull: bool = r.get(3);
    let category: String = r.get(4);
    let typtype: String = r.get(5);
    let kind = if category == "A" {
        Kind::Json
    } else if typtype == "e" {
        Kind::Text { length: None }
    } else {
        match typname.as_str() {
            "int2" => Kind::Int { bits: 16 },
            "int4" => Kind::Int { bits: 32 },
            "int8" | "oid" => Kind::Int { bits: 64 },
            "float4" | "float8" => Kind::Float,
            "numeric" if typmod >= 4 => {
                let m = typmod - 4;
                let (p, s) = ((m >> 16) & 0xffff, m & 0xffff);
                if p <= 38 && s <= p {
                    Kind::Decimal {
                        precision: p as u8,
                        scale: s as i8,
                    }
                } else {
                    // Beyond DECIMAL(38): the exact digits as text.
                    Kind::Text { length: None }
                }
            }
            // Unconstrained numeric: any number of fraction digits; kept exact as text.
            "numeric" => Kind::Text { length: None },
            "varchar" | "bpchar" => Kind::Text {
                length: (typmod >= 4).then(|| (typmod - 4) as u32),
            },
            "text" | "name" | "char" | "uuid" | "citext" => Kind::Text { length: None },
            // dlt fails on intervals; ISO 8601 durations (`P1DT2H`) as text.
            "interval" => Kind::Text { length: None },
            "bool" => Kind::Bool,
            "date" => Kind::Date,
            "time" | "timetz" => Kind::Time,
            "timestamp" => Kind::Timestamp { tz: false },
            "timestamptz" => Kind::Timestamp { tz: true },
            "json" | "jsonb" => Kind::Json,
            "bytea" => Kind::Binary,
            _ => Kind::Other,
        }
    };
    SqlColumn {
        name,
        kind,
        nullable: !notnull,
        db_type: typname,
    }
}

async fn primary_key(client: &Client, url: &DbUrl, oid: u32) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord",
            &[&oid],
        )
        .await
        .map_err(|e| query_error(&e, url, "reading the primary key"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `"name"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The select expression of a column: decoded natively, or cast to what can be.
fn select_expr(c: &SqlColumn) -> String {
    let id = ident(&c.name);
    let native = matches!(
        c.db_type.as_str(),
        "bool"
            | "int2"
            | "int4"
            | "int8"
            | "oid"
            | "float4"
            | "float8"
            | "numeric"
            | "text"
            | "varchar"
            | "bpchar"
            | "name"
            | "char"
            | "uuid"
            | "date"
            | "time"
            | "timestamp"
            | "timestamptz"
            | "json"
            | "jsonb"
            | "bytea"
    );
    match c.kind {
        // psycopg2 reads `real` from PostgreSQL's shortest text (1.5000001e+10), which is not
        // always the shortest text of the same float in Rust: read that text.
        Kind::Float if c.db_type == "float4" => format!("{id}::text"),
        Kind::Json if !matches!(c.db_type.as_str(), "json" | "jsonb") => {
            format!("to_json({id})::text")
        }
        Kind::Time if c.db_type == "timetz" => format!("{id}::time"),
        // Domains over a native type: the base type.
        _ if native => format!("{id}::{}", c.db_type),
        _ => format!("{id}::text"),
    }
}

/// The SQL of a table read: its columns, the cursor's range, the cursor's order.
pub fn select_sql(spec: &TableSpec, filter: Option<&Filter>) -> String {
    let cols: Vec<String> = spec
        .columns
        .iter()
        .map(|c| format!("{} AS {}", select_expr(c), ident(&c.name)))
        .collect();
    let table = match &spec.schema {
        Some(s) => format!("{}.{}", ident(s), ident(&spec.name)),
        None => ident(&spec.name),
    };
    let mut sql = format!("SELECT {} FROM {table}", cols.join(", "));
    if let Some(f) = filter {
        let col = spec.columns.iter().find(|c| c.name == f.column);
        let cast = col
            .map(|c| c.db_type.clone())
            .unwrap_or_else(|| "text".into());
        let lit = |v: &serde_json::Value| match v {
            serde_json::Value::Number(n) => format!("{n}::{cast}"),
            serde_json::Value::String(s) => format!("{}::{cast}", quote_literal(s)),
            other => format!("{}::{cast}", quote_literal(&other.to_string())),
        };
        let mut conds = Vec::new();
        if let Some(v) = &f.start {
            conds.push(format!("{} {} {}", ident(&f.column), f.start_op(), lit(v)));
        }
        if let Some(v) = &f.end {
            conds.push(format!("{} {} {}", ident(&f.column), f.end_op(), lit(v)));
        }
        if !conds.is_empty() {
            sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        sql.push_str(&format!(" ORDER BY {} {}", ident(&f.column), f.order()));
    }
    sql
}

/// Reads the table in one read-only snapshot, `chunk` rows per batch, into `sink`.
pub async fn read(
    t: &PgTarget,
    url: &DbUrl,
    spec: &TableSpec,
    filter: Option<&Filter>,
    chunk: usize,
    sink: &mut dyn BatchSink,
) -> Result<()> {
    let client = connect(t, url).await?;
    let what = format!("reading table `{}`", spec.name);
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; DECLARE dango_read NO SCROLL CURSOR FOR {}",
            select_sql(spec, filter)
        ))
        .await
        .map_err(|e| query_error(&e, url, &what))?;
    let fetch = format!("FETCH {} FROM dango_read", chunk.max(1));
    let mut builder = BatchBuilder::new(&spec.columns);
    loop {
        let rows = client
            .query(fetch.as_str(), &[])
            .await
            .map_err(|e| query_error(&e, url, &what))?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            for i in 0..spec.columns.len() {
                let raw: Option<Raw<'_>> =
                    row.try_get(i).map_err(|e| query_error(&e, url, &what))?;
                let cell = match raw {
                    None => Cell::Null,
                    Some(r) => decode(&r).map_err(|why| {
                        Error::Config(format!(
                            "PostgreSQL table `{}`, column `{}`: {why}",
                            spec.name, spec.columns[i].name
                        ))
                    })?,
                };
                builder
                    .push(i, cell)
                    .map_err(|e| Error::Config(format!("PostgreSQL table `{}`: {e}", spec.name)))?;
            }
            builder.end_row();
        }
        let more = sink.push(builder.finish()?)?;
        if !more || rows.len() < chunk {
            break;
        }
    }
    // Read-only: nothing to keep; ending the snapshot.
    let _ = client.batch_execute("COMMIT").await;
    Ok(())
}

/// A value in PostgreSQL's binary format, with its type.
struct Raw<'a> {
    ty: Type,
    bytes: &'a [u8],
}

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw {
            ty: ty.clone(),
            bytes: raw,
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(b: &[u8]) -> std::result::Result<[u8; N], String> {
    b.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("a value of {} bytes is too short", b.len()))
}

/// Decodes one binary value by its wire type.
fn decode<'a>(r: &Raw<'a>) -> std::result::Result<Cell<'a>, String> {
    let b = r.bytes;
    let text = || {
        std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|e| format!("text is not UTF-8: {e}"))
    };
    Ok(match r.ty {
        Type::BOOL => Cell::Bool(b.first().copied().unwrap_or(0) != 0),
        Type::INT2 => Cell::Int(i16::from_be_bytes(be(b)?).into()),
        Type::INT4 => Cell::Int(i32::from_be_bytes(be(b)?).into()),
        Type::INT8 => Cell::Int(i64::from_be_bytes(be(b)?)),
        Type::OID => Cell::Int(u32::from_be_bytes(be(b)?).into()),
        Type::FLOAT4 => Cell::Float(f64::from(f32::from_be_bytes(be(b)?))),
        Type::FLOAT8 => Cell::Float(f64::from_be_bytes(be(b)?)),
        Type::NUMERIC => Cell::Decimal(Cow::Owned(numeric_text(b)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            Cell::Text(text()?)
        }
        Type::CHAR => Cell::Text(Cow::Owned(String::from_utf8_lossy(b).into_owned())),
        Type::JSONB => match b.split_first() {
            Some((1, rest)) => Cell::Text(Cow::Borrowed(
                std::str::from_utf8(rest).map_err(|e| format!("jsonb is not UTF-8: {e}"))?,
            )),
            _ => return Err("unknown jsonb format version".into()),
        },
        Type::UUID => {
            let u: [u8; 16] = be(b)?;
            let h: String = u.iter().map(|x| format!("{x:02x}")).collect();
            Cell::Text(Cow::Owned(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )))
        }
        Type::DATE => {
            let d = i32::from_be_bytes(be(b)?);
            if d == i32::MAX || d == i32::MIN {
                return Err("the date is infinity, which has no date value".into());
            }
            Cell::Date(d + PG_EPOCH_DAYS)
        }
        Type::TIME => Cell::Time(i64::from_be_bytes(be(b)?)),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let us = i64::from_be_bytes(be(b)?);
            if us == i64::MAX || us == i64::MIN {
                return Err("the timestamp is infinity, which has no timestamp value".into());
            }
            Cell::Timestamp(us + PG_EPOCH_US)
        }
        Type::BYTEA => Cell::Bytes(Cow::Borrowed(b)),
        ref other => return Err(format!("cannot decode the PostgreSQL type {other}")),
    })
}

/// A `numeric` in binary form as decimal text (`-12.50`, scale kept; `NaN` as is).
fn numeric_text(b: &[u8]) -> std::result::Result<String, String> {
    let h = |i: usize| -> std::result::Result<i16, String> {
        Ok(i16::from_be_bytes(be(&b[i.min(b.len())..])?))
    };
    let ndigits = h(0)? as usize;
    let weight = h(2)? as i32;
    let sign = h(4)? as u16;
    let dscale = h(6)? as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(h(8 + 2 * i)? as i32);
    }
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    // Integer part: groups 0..=weight.
    if weight < 0 {
        out.push('0');
    } else {
        for g in 0..=weight {
            let d = digits.get(g as usize).copied().unwrap_or(0);
            if g == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::with_capacity(dscale + 4);
        let mut g = weight + 1;
        while frac.len() < dscale {
            let d = if g < 0 {
                0
            } else {
                digits.get(g as usize).copied().unwrap_or(0)
            };
            frac.push_str(&format!("{d:04}"));
            g += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [ndigits, weight, sign as i16, dscale] {
            v.extend(x.to_be_bytes());
        }
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode_exactly() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3
        assert_eq!(
            numeric_text(&num(3, 1, 0, 3, &[1, 2345, 6780])).unwrap(),
            "12345.678"
        );
        // -0.0001234 = [1, 2340], weight -1 → 0.0001 2340
        assert_eq!(
            numeric_text(&num(2, -1, 0x4000, 7, &[1, 2340])).unwrap(),
            "-0.0001234"
        );
        // 0.00000001 = [1] weight -2, dscale 8
        assert_eq!(numeric_text(&num(1, -2, 0, 8, &[1])).unwrap(), "0.00000001");
        // 10000 = [1], weight 1, dscale 0
        assert_eq!(numeric_text(&num(1, 1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(numeric_text(&num(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(numeric_text(&num(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
    }
}
