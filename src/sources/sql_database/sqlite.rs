//! SQLite through rusqlite: the file opened read-only, reflection from `sqlite_master` and
//! `PRAGMA table_info`, and reads in one transaction (a consistent snapshot).

use std::borrow::Cow;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::columns::{BatchBuilder, Cell, Kind, SqlColumn};
use super::table::{BatchSink, Filter, TableSpec};
use super::url::DbUrl;
use crate::error::{Error, Result};

fn open(path: &Path, url: &DbUrl) -> Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        Error::Config(format!(
            "cannot open the SQLite database {} (from {}): {e}",
            path.display(),
            url.origin
        ))
    })
}

fn sql_error(e: rusqlite::Error, path: &Path, what: &str) -> Error {
    Error::Config(format!("SQLite database {}: {what}: {e}", path.display()))
}

/// `"name"`.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The tables of the file.
pub fn reflect(
    path: &Path,
    url: &DbUrl,
    names: Option<&[String]>,
    views: bool,
) -> Result<Vec<TableSpec>> {
    let conn = open(path, url)?;
    let e = |what: &'static str| move |err| sql_error(err, path, what);
    let mut stmt = conn
        .prepare(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .map_err(e("listing tables"))?;
    let found: Vec<((), String, bool)> = stmt
        .query_map([], |r| {
            Ok((
                (),
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)? == "table",
            ))
        })
        .map_err(e("listing tables"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(e("listing tables"))?;
    let shown = format!("SQLite database {}", path.display());
    let chosen = super::table::choose_tables(&found, names, views, "main", &shown)?;
    let mut out = Vec::new();
    for ((), name) in chosen {
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({})", ident(&name)))
            .map_err(e("reading columns"))?;
        let rows: Vec<(String, String, bool, i64)> = stmt
            .query_map([], |r| {
                Ok((r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0, r.get(5)?))
            })
            .map_err(e("reading columns"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(e("reading columns"))?;
        let mut pk: Vec<(i64, String)> = rows
            .iter()
            .filter(|r| r.3 > 0)
            .map(|r| (r.3, r.0.clone()))
            .collect();
        pk.sort();
        let single_pk = pk.len() == 1;
        let columns = rows
            .iter()
            .map(|(n, ty, notnull, pk_pos)| {
                let kind = kind_of(ty);
                // An INTEGER PRIMARY KEY is the rowid: never NULL (dlt reflects it nullable).
                let rowid = single_pk && *pk_pos == 1 && ty.eq_ignore_ascii_case("integer");
                SqlColumn {
                    name: n.clone(),
                    kind,
                    nullable: !(*notnull || rowid),
                    db_type: ty.clone(),
                }
            })
            .collect();
        out.push(TableSpec {
            schema: None,
            name,
            columns,
            primary_key: pk.into_iter().map(|(_, n)| n).collect(),
        });
    }
    Ok(out)
}

/// dlt's type (through SQLAlchemy's SQLite dialect) for a declared column type.
fn kind_of(declared: &str) -> Kind {
    let t = declared.trim().to_ascii_uppercase();
    let base = t.split('(').next().unwrap_or_default().trim().to_string();
    let args: Vec<u32> = t
        .split_once('(')
        .map(|(_, a)| {
            a.trim_end_matches(')')
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match base.as_str() {
        "" => Kind::Other,
        "SMALLINT" => Kind::Int { bits: 16 },
        "INTEGER" | "INT" | "BIGINT" | "TINYINT" | "MEDIUMINT" => Kind::Int { bits: 64 },
        "REAL" | "FLOAT" | "DOUBLE" | "DOUBLE PRECISION" => Kind::Float,
        "NUMERIC" | "DECIMAL" => match args.as_slice() {
            [p, s] if *p <= 38 && s <= p => Kind::Decimal {
                precision: *p as u8,
                scale: *s as i8,
            },
            [p] if *p <= 38 => Kind::Decimal {
                precision: *p as u8,
                scale: 0,
            },
            _ => Kind::Text { length: None },
        },
        "TEXT" | "CLOB" => Kind::Text { length: None },
        "VARCHAR" | "CHAR" | "NVARCHAR" | "NCHAR" | "VARYING CHARACTER" => Kind::Text {
            length: args.first().copied(),
        },
        "BOOLEAN" | "BOOL" => Kind::Bool,
        "DATE" => Kind::Date,
        "TIME" => Kind::Time,
        "DATETIME" | "TIMESTAMP" => Kind::Timestamp { tz: false },
        "JSON" => Kind::Json,
        "BLOB" => Kind::Binary,
        _ => Kind::Other,
    }
}

/// Reads the table in one transaction into `sink`. The cursor's range is applied in SQL when
/// its values are numbers (SQLite compares text timestamps as text; those are filtered as
/// rows arrive).
pub fn read(
    path: &Path,
    url: &DbUrl,
    spec: &TableSpec,
    filter: Option<&Filter>,
    chunk: usize,
    sink: &mut dyn BatchSink,
) -> Result<()> {
    let mut conn = open(path, url)?;
    let what = format!("reading table `{}`", spec.name);
    let tx = conn.transaction().map_err(|e| sql_error(e, path, &what))?;
    let cols: Vec<String> = spec.columns.iter().map(|c| ident(&c.name)).collect();
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), ident(&spec.name));
    if let Some(f) = filter {
        let mut conds = Vec::new();
        for (v, op) in [(&f.start, f.start_op()), (&f.end, f.end_op())] {
            if let Some(serde_json::Value::Number(n)) = v {
                conds.push(format!("{} {op} {n}", ident(&f.column)));
            }
        }
        if !conds.is_empty() {
            sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        sql.push_str(&format!(" ORDER BY {} {}", ident(&f.column), f.order()));
    }
    let mut stmt = tx.prepare(&sql).map_err(|e| sql_error(e, path, &what))?;
    let mut rows = stmt.query([]).map_err(|e| sql_error(e, path, &what))?;
    let mut builder = BatchBuilder::new(&spec.columns);
    while let Some(row) = rows.next().map_err(|e| sql_error(e, path, &what))? {
        for i in 0..spec.columns.len() {
            let v = row.get_ref(i).map_err(|e| sql_error(e, path, &what))?;
            let cell = match v {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(x) => Cell::Int(x),
                ValueRef::Real(x) => Cell::Float(x),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t)),
                ValueRef::Blob(b) => Cell::Bytes(Cow::Borrowed(b)),
            };
            builder
                .push(i, cell)
                .map_err(|e| Error::Config(format!("SQLite table `{}`: {e}", spec.name)))?;
        }
        builder.end_row();
        if builder.rows() >= chunk && !sink.push(builder.finish()?)? {
            return Ok(());
        }
    }
    if builder.rows() > 0 {
        sink.push(builder.finish()?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_as_dlt() {
        assert_eq!(kind_of("INTEGER"), Kind::Int { bits: 64 });
        assert_eq!(
            kind_of("DECIMAL(10, 2)"),
            Kind::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(kind_of("NUMERIC"), Kind::Text { length: None });
        assert_eq!(kind_of("varchar(20)"), Kind::Text { length: Some(20) });
        assert_eq!(kind_of("DATETIME"), Kind::Timestamp { tz: false });
        assert_eq!(kind_of(""), Kind::Other);
    }
}
