//! Postgres's SQL dialect as dlt writes it: type names (dlt's `PostgresTypeMapper`), quoting,
//! `CREATE TABLE`, literals.
//!
//! Type names are spelled as Postgres's `format_type()` prints them (`character varying`,
//! `timestamp(3) with time zone`), so the catalog and [`pg_type`] compare equal.

use crate::schema::{Column, DataType, Table};

/// Postgres DDL type of a column (dlt's `PostgresTypeMapper`).
pub fn pg_type(c: &Column) -> String {
    let t = c.data_type.unwrap_or(DataType::Text);
    match t {
        DataType::Text => match c.precision {
            Some(p) => format!("character varying({p})"),
            None => "character varying".into(),
        },
        DataType::Double => "double precision".into(),
        DataType::Bool => "boolean".into(),
        DataType::Timestamp => {
            let zone = if c.timezone == Some(false) {
                "without time zone"
            } else {
                "with time zone"
            };
            match c.precision {
                Some(p) => format!("timestamp({}) {zone}", p.min(6)),
                None => format!("timestamp {zone}"),
            }
        }
        DataType::Bigint => match c.precision {
            Some(p) if p <= 16 => "smallint".into(),
            Some(p) if p <= 32 => "integer".into(),
            _ => "bigint".into(),
        },
        DataType::Binary => "bytea".into(),
        DataType::Json => "jsonb".into(),
        DataType::Decimal => match (c.precision, c.scale) {
            (Some(p), Some(s)) => format!("numeric({p},{s})"),
            (Some(p), None) => format!("numeric({p},0)"),
            _ => "numeric(38,9)".into(),
        },
        DataType::Wei => match (c.precision, c.scale) {
            (Some(p), Some(s)) => format!("numeric({p},{s})"),
            _ => "numeric(156,78)".into(),
        },
        DataType::Date => "date".into(),
        DataType::Time => match c.precision {
            Some(p) => format!("time({}) without time zone", p.min(6)),
            None => "time without time zone".into(),
        },
    }
}

// Quoting is shared by the SQL destinations (standard_conforming_strings is on since
// Postgres 9.1).
pub use crate::destinations::sql_common::{qualified, quote_ident, quote_str};

/// Whether dlt gives the column a UNIQUE constraint: the `unique` hint (on `_dlt_id`), except
/// scd2's row version (`x-row-version`), which repeats across versions of a row.
pub fn has_unique_constraint(c: &Column) -> bool {
    let row_version = c.extra.get("x-row-version").and_then(|v| v.as_bool()) == Some(true);
    c.unique && !row_version
}

/// A column definition in dlt's format: `"name" type <hints> NOT NULL`; the only hint dlt
/// writes on Postgres is `UNIQUE` (on `_dlt_id`).
pub fn column_def(c: &Column) -> String {
    column_def_with(c, has_unique_constraint(c))
}

fn column_def_with(c: &Column, unique: bool) -> String {
    let not_null = if c.nullable { "" } else { "NOT NULL" };
    let hints = if unique { "UNIQUE" } else { "" };
    format!("{} {} {hints} {not_null}", quote_ident(&c.name), pg_type(c))
}

/// `CREATE TABLE` in dlt's format. dlt creates no primary keys on Postgres; `_dlt_id` (the
/// `unique` hint) gets a UNIQUE constraint, as dlt's `PostgresClient` does.
pub fn create_table_sql(dataset: &str, t: &Table, if_not_exists: bool) -> String {
    let cols: Vec<String> = t
        .columns
        .values()
        .filter(|c| c.is_complete())
        .map(column_def)
        .collect();
    format!(
        "CREATE TABLE {}{} (\n{})",
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        qualified(dataset, &t.name),
        cols.join(",\n")
    )
}

/// [`create_table_sql`] in two steps, for a table created and filled in one transaction:
/// `CREATE TABLE` without the UNIQUE constraints, and the `ALTER TABLE … ADD UNIQUE (…)` that
/// adds them after the rows are in (`None` if the table has none). Building a unique index
/// over loaded rows is a sort; keeping it while the rows arrive is a B-tree descent per row,
/// several times slower on random `_dlt_id`s. Postgres names a constraint added this way as
/// it names a column constraint (`<table>_<column>_key`), so the catalog is the same.
pub fn create_table_deferring_unique(dataset: &str, t: &Table) -> (String, Option<String>) {
    let cols: Vec<&Column> = t.columns.values().filter(|c| c.is_complete()).collect();
    let defs: Vec<String> = cols.iter().map(|c| column_def_with(c, false)).collect();
    let create = format!(
        "CREATE TABLE {} (\n{})",
        qualified(dataset, &t.name),
        defs.join(",\n")
    );
    let adds: Vec<String> = cols
        .iter()
        .filter(|c| has_unique_constraint(c))
        .map(|c| format!("ADD UNIQUE ({})", quote_ident(&c.name)))
        .collect();
    let alter = (!adds.is_empty()).then(|| {
        format!(
            "ALTER TABLE {}\n{}",
            qualified(dataset, &t.name),
            adds.join(",\n")
        )
    });
    (create, alter)
}

/// A `timestamp with time zone` literal (microseconds, UTC).
pub fn timestamp_literal(ts: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "'{}'::timestamp with time zone",
        ts.format("%Y-%m-%d %H:%M:%S%.6f+00:00")
    )
}

/// The package creation time (from the load id, unix seconds): dlt's scd2 validity boundary.
pub fn package_time_literal(load_id: &str) -> String {
    let secs: f64 = load_id.parse().unwrap_or(0.0);
    let micros = (secs * 1e6).round() as i64;
    timestamp_literal(chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: DataType) -> Column {
        Column::new("c", t)
    }

    #[test]
    fn dlt_type_names() {
        assert_eq!(pg_type(&col(DataType::Text)), "character varying");
        assert_eq!(pg_type(&col(DataType::Bigint)), "bigint");
        assert_eq!(pg_type(&col(DataType::Double)), "double precision");
        assert_eq!(pg_type(&col(DataType::Decimal)), "numeric(38,9)");
        assert_eq!(pg_type(&col(DataType::Wei)), "numeric(156,78)");
        assert_eq!(
            pg_type(&col(DataType::Timestamp)),
            "timestamp with time zone"
        );
        assert_eq!(pg_type(&col(DataType::Json)), "jsonb");
        assert_eq!(pg_type(&col(DataType::Binary)), "bytea");
        assert_eq!(pg_type(&col(DataType::Time)), "time without time zone");
        let mut c = col(DataType::Timestamp);
        c.timezone = Some(false);
        c.precision = Some(3);
        assert_eq!(pg_type(&c), "timestamp(3) without time zone");
        let mut c = col(DataType::Bigint);
        c.precision = Some(16);
        assert_eq!(pg_type(&c), "smallint");
    }

    #[test]
    fn unique_constraints_can_follow_the_rows() {
        let mut t = Table::new("items");
        let mut id = Column::new("_dlt_id", DataType::Text);
        id.unique = true;
        id.nullable = false;
        t.columns.insert(id.name.clone(), id);
        let v = Column::new("v", DataType::Bigint);
        t.columns.insert(v.name.clone(), v);
        let (create, unique) = create_table_deferring_unique("ds", &t);
        assert!(!create.contains("UNIQUE"), "{create}");
        assert!(
            create.contains("\"_dlt_id\" character varying  NOT NULL"),
            "{create}"
        );
        assert_eq!(
            unique.as_deref(),
            Some("ALTER TABLE \"ds\".\"items\"\nADD UNIQUE (\"_dlt_id\")")
        );
        // the one-step form has it inline
        assert!(create_table_sql("ds", &t, false).contains("character varying UNIQUE NOT NULL"));
        // scd2's row version repeats: no constraint either way
        let mut rv = t.columns["_dlt_id"].clone();
        rv.extra
            .insert("x-row-version".into(), serde_json::Value::Bool(true));
        t.columns.insert(rv.name.clone(), rv);
        assert_eq!(create_table_deferring_unique("ds", &t).1, None);
    }
}
