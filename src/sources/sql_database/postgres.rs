//! PostgreSQL through tokio-postgres: reflection from `pg_catalog`, and reads through a
//! binary `COPY (SELECT …) TO STDOUT` in a `REPEATABLE READ READ ONLY` transaction, decoded
//! straight from the stream into Arrow builders, `chunk_size` rows per batch.

use std::borrow::Cow;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row};

use super::columns::{BatchBuilder, Cell, Kind, SqlColumn};
use super::table::{BatchSink, Filter, TableSpec, quote_literal};
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
    let chosen = super::table::choose_tables(&found, names, views, &schema, &url.shown())?;
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

/// The select expression of a column (decoded natively, or cast to what can be) and the type
/// its values arrive in.
fn select_expr(c: &SqlColumn) -> (String, Type) {
    let id = ident(&c.name);
    match (c.kind, native_type(&c.db_type)) {
        // psycopg2 reads `real` from PostgreSQL's shortest text (1.5000001e+10), which is not
        // always the shortest text of the same float in Rust: read that text.
        (Kind::Float, _) if c.db_type == "float4" => (format!("{id}::text"), Type::TEXT),
        (Kind::Json, _) if !matches!(c.db_type.as_str(), "json" | "jsonb") => {
            (format!("to_json({id})::text"), Type::TEXT)
        }
        (Kind::Time, _) if c.db_type == "timetz" => (format!("{id}::time"), Type::TIME),
        // Domains over a native type: the base type.
        (_, Some(ty)) => (format!("{id}::{}", c.db_type), ty),
        _ => (format!("{id}::text"), Type::TEXT),
    }
}

/// The wire type of a type read natively (by its `pg_type` name).
fn native_type(name: &str) -> Option<Type> {
    Some(match name {
        "bool" => Type::BOOL,
        "int2" => Type::INT2,
        "int4" => Type::INT4,
        "int8" => Type::INT8,
        "oid" => Type::OID,
        "float4" => Type::FLOAT4,
        "float8" => Type::FLOAT8,
        "numeric" => Type::NUMERIC,
        "text" => Type::TEXT,
        "varchar" => Type::VARCHAR,
        // `x::char` is `character(1)` in SQL.
        "bpchar" | "char" => Type::BPCHAR,
        "name" => Type::NAME,
        "uuid" => Type::UUID,
        "date" => Type::DATE,
        "time" => Type::TIME,
        "timestamp" => Type::TIMESTAMP,
        "timestamptz" => Type::TIMESTAMPTZ,
        "json" => Type::JSON,
        "jsonb" => Type::JSONB,
        "bytea" => Type::BYTEA,
        _ => return None,
    })
}

/// The SQL of a table read: its columns, the cursor's range, the cursor's order.
pub fn select_sql(spec: &TableSpec, filter: Option<&Filter>) -> String {
    let cols: Vec<String> = spec
        .columns
        .iter()
        .map(|c| format!("{} AS {}", select_expr(c).0, ident(&c.name)))
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

/// Reads the table in one read-only snapshot with a binary `COPY (SELECT …) TO STDOUT`, values
/// decoded straight from the stream into Arrow builders, `chunk` rows per batch, into `sink`.
pub async fn read(
    t: &PgTarget,
    url: &DbUrl,
    spec: &TableSpec,
    filter: Option<&Filter>,
    chunk: usize,
    sink: &mut dyn BatchSink,
) -> Result<()> {
    use futures_util::StreamExt;
    let client = connect(t, url).await?;
    let what = format!("reading table `{}`", spec.name);
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| query_error(&e, url, &what))?;
    let types: Vec<Type> = spec.columns.iter().map(|c| select_expr(c).1).collect();
    let copy = format!(
        "COPY ({}) TO STDOUT (FORMAT binary)",
        select_sql(spec, filter)
    );
    let stream = client
        .copy_out(copy.as_str())
        .await
        .map_err(|e| query_error(&e, url, &what))?;
    futures_util::pin_mut!(stream);
    let mut reader = CopyReader::new(spec, types, chunk.max(1));
    while let Some(data) = stream.next().await {
        let data = data.map_err(|e| query_error(&e, url, &what))?;
        if !reader.feed(&data, sink)? {
            // Enough rows: the connection (in the middle of the COPY) is dropped.
            return Ok(());
        }
    }
    reader.finish(sink)?;
    // Read-only: nothing to keep; ending the snapshot.
    let _ = client.batch_execute("COMMIT").await;
    Ok(())
}

/// The signature that starts PostgreSQL's binary COPY format.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Parses PostgreSQL's binary COPY stream (header, then per row a field count and each field
/// as a length and its bytes, `-1` for NULL; a field count of `-1` ends it) into batches.
struct CopyReader<'s> {
    spec: &'s TableSpec,
    types: Vec<Type>,
    chunk: usize,
    builder: BatchBuilder,
    /// Bytes not parsed yet (a row cut between two messages).
    buf: Vec<u8>,
    header_done: bool,
    ended: bool,
}

impl<'s> CopyReader<'s> {
    fn new(spec: &'s TableSpec, types: Vec<Type>, chunk: usize) -> CopyReader<'s> {
        CopyReader {
            spec,
            types,
            chunk,
            builder: BatchBuilder::new(&spec.columns),
            buf: Vec::new(),
            header_done: false,
            ended: false,
        }
    }

    fn corrupt(&self, why: &str) -> Error {
        Error::Internal(format!(
            "PostgreSQL table `{}`: unexpected binary COPY data ({why})",
            self.spec.name
        ))
    }

    /// Takes one message of the stream; `false` when the sink wants no more rows.
    fn feed(&mut self, data: &[u8], sink: &mut dyn BatchSink) -> Result<bool> {
        let mut input = std::mem::take(&mut self.buf);
        let bytes: &[u8] = if input.is_empty() {
            data
        } else {
            input.extend_from_slice(data);
            &input
        };
        let mut pos = 0;
        if !self.header_done {
            let fixed = COPY_SIGNATURE.len() + 8;
            if bytes.len() < fixed {
                self.buf = bytes.to_vec();
                return Ok(true);
            }
            if &bytes[..COPY_SIGNATURE.len()] != COPY_SIGNATURE {
                return Err(self.corrupt("no PGCOPY signature"));
            }
            let ext = be_u32(&bytes[COPY_SIGNATURE.len() + 4..]) as usize;
            if bytes.len() < fixed + ext {
                self.buf = bytes.to_vec();
                return Ok(true);
            }
            pos = fixed + ext;
            self.header_done = true;
        }
        let mut more = true;
        while more && !self.ended {
            match self.row(&bytes[pos..])? {
                Some(used) => pos += used,
                None => break,
            }
            if self.builder.rows() >= self.chunk {
                more = sink.push(self.builder.finish()?)?;
            }
        }
        self.buf = bytes[pos..].to_vec();
        Ok(more)
    }

    /// Decodes the row at the start of `b`: the bytes it took, `None` when it is incomplete.
    fn row(&mut self, b: &[u8]) -> Result<Option<usize>> {
        if b.len() < 2 {
            return Ok(None);
        }
        let fields = i16::from_be_bytes([b[0], b[1]]);
        if fields == -1 {
            self.ended = true;
            return Ok(Some(2));
        }
        if usize::try_from(fields).ok() != Some(self.types.len()) {
            return Err(self.corrupt(&format!("{fields} fields, {} expected", self.types.len())));
        }
        // The whole row first: a row cut between messages waits for the next one.
        let mut p = 2;
        for _ in 0..self.types.len() {
            if b.len() < p + 4 {
                return Ok(None);
            }
            let len = be_u32(&b[p..]) as i32;
            p += 4 + len.max(0) as usize;
        }
        if b.len() < p {
            return Ok(None);
        }
        let mut p = 2;
        for i in 0..self.types.len() {
            let len = be_u32(&b[p..]) as i32;
            p += 4;
            let cell = if len < 0 {
                Cell::Null
            } else {
                let v = &b[p..p + len as usize];
                p += len as usize;
                decode(&self.types[i], v).map_err(|why| {
                    Error::Config(format!(
                        "PostgreSQL table `{}`, column `{}`: {why}",
                        self.spec.name, self.spec.columns[i].name
                    ))
                })?
            };
            self.builder.push(i, cell).map_err(|e| {
                Error::Config(format!("PostgreSQL table `{}`: {e}", self.spec.name))
            })?;
        }
        self.builder.end_row();
        Ok(Some(p))
    }

    /// The last rows, once the stream has ended.
    fn finish(mut self, sink: &mut dyn BatchSink) -> Result<()> {
        if !self.ended || !self.buf.is_empty() {
            return Err(self.corrupt("the stream ended in the middle of a row"));
        }
        if self.builder.rows() > 0 {
            sink.push(self.builder.finish()?)?;
        }
        Ok(())
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be<const N: usize>(b: &[u8]) -> std::result::Result<[u8; N], String> {
    b.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("a value of {} bytes is too short", b.len()))
}

/// Decodes one binary value by its wire type.
fn decode<'a>(ty: &Type, b: &'a [u8]) -> std::result::Result<Cell<'a>, String> {
    let text = || {
        std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|e| format!("text is not UTF-8: {e}"))
    };
    Ok(match *ty {
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

    struct Batches(Vec<arrow::record_batch::RecordBatch>);

    impl BatchSink for Batches {
        fn push(&mut self, batch: arrow::record_batch::RecordBatch) -> Result<bool> {
            self.0.push(batch);
            Ok(true)
        }
    }

    #[test]
    fn binary_copy_streams_parse_whatever_the_message_cuts() {
        let col = |name: &str, kind, db: &str| SqlColumn {
            name: name.into(),
            kind,
            nullable: true,
            db_type: db.into(),
        };
        let spec = TableSpec {
            schema: None,
            name: "t".into(),
            columns: vec![
                col("id", Kind::Int { bits: 32 }, "int4"),
                col("v", Kind::Text { length: None }, "text"),
                col("b", Kind::Binary, "bytea"),
            ],
            primary_key: vec![],
        };
        let mut data = COPY_SIGNATURE.to_vec();
        data.extend(0u32.to_be_bytes());
        data.extend(4u32.to_be_bytes());
        data.extend(b"ext!");
        for (id, v, b) in [
            (1i32, Some("a"), Some(&b""[..])),
            (2, None, Some(&b"\x01"[..])),
            (3, Some("ccc"), None),
        ] {
            data.extend(3i16.to_be_bytes());
            data.extend(4i32.to_be_bytes());
            data.extend(id.to_be_bytes());
            for x in [v.map(str::as_bytes), b] {
                match x {
                    Some(x) => {
                        data.extend((x.len() as i32).to_be_bytes());
                        data.extend(x);
                    }
                    None => data.extend((-1i32).to_be_bytes()),
                }
            }
        }
        data.extend((-1i16).to_be_bytes());
        let types: Vec<Type> = spec.columns.iter().map(|c| select_expr(c).1).collect();
        for cut in 1..data.len() {
            let mut sink = Batches(Vec::new());
            let mut r = CopyReader::new(&spec, types.clone(), 2);
            for part in data.chunks(cut) {
                assert!(r.feed(part, &mut sink).unwrap());
            }
            r.finish(&mut sink).unwrap();
            let rows: usize = sink.0.iter().map(|b| b.num_rows()).sum();
            assert_eq!((rows, sink.0.len()), (3, 2), "cut {cut}");
            let last = &sink.0[1];
            assert_eq!(super::super::columns::json_at(last.column(1), 0), "ccc");
            assert!(last.column(2).is_null(0));
            let first = &sink.0[0];
            assert!(first.column(1).is_null(1));
            assert_eq!(super::super::columns::json_at(first.column(2), 1), "AQ==");
            assert_eq!(super::super::columns::json_at(first.column(2), 0), "");
        }
        // A stream cut short is an error, not a silent end.
        let mut sink = Batches(Vec::new());
        let mut r = CopyReader::new(&spec, types, 2);
        r.feed(&data[..data.len() - 5], &mut sink).unwrap();
        assert!(r.finish(&mut sink).is_err());
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
