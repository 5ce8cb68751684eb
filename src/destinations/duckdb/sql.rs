//! DuckDB's SQL dialect as dlt writes it: type names (dlt's `DuckDbTypeMapper`), quoting,
//! `CREATE TABLE`, literals.

use crate::normalize::relational::{C_DLT_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use crate::schema::{Column, DataType, Table};

/// DuckDB DDL type for a column (dlt's `DuckDbTypeMapper`).
pub fn duckdb_type(c: &Column) -> String {
    let t = c.data_type.unwrap_or(DataType::Text);
    match t {
        DataType::Text => "VARCHAR".into(),
        DataType::Double => "DOUBLE".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            if c.timezone == Some(false) {
                match c.precision {
                    Some(0) => "TIMESTAMP_S".into(),
                    Some(p) if p <= 3 => "TIMESTAMP_MS".into(),
                    Some(p) if p > 6 => "TIMESTAMP_NS".into(),
                    _ => "TIMESTAMP".into(),
                }
            } else {
                "TIMESTAMP WITH TIME ZONE".into()
            }
        }
        DataType::Bigint => match c.precision {
            Some(p) if p <= 8 => "TINYINT".into(),
            Some(p) if p <= 16 => "SMALLINT".into(),
            Some(p) if p <= 32 => "INTEGER".into(),
            Some(p) if p > 64 => "HUGEINT".into(),
            _ => "BIGINT".into(),
        },
        DataType::Binary => "BLOB".into(),
        DataType::Json => "JSON".into(),
        DataType::Decimal => match (c.precision, c.scale) {
            (Some(p), Some(s)) => format!("DECIMAL({p},{s})"),
            (Some(p), None) => format!("DECIMAL({p},0)"),
            _ => "DECIMAL(38,9)".into(),
        },
        DataType::Wei => "DECIMAL(38,0)".into(),
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
    }
}

/// Quotes an identifier for DuckDB.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes a string literal for DuckDB.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The start of a statement for the debug log: at most 100 characters (literals further on may
/// hold state or schema text), and no value of a `SET` or `PRAGMA`, which may be a credential
/// (`s3_secret_access_key`, …).
pub(super) fn statement_head(sql: &str) -> String {
    let head: String = sql.trim_start().chars().take(100).collect();
    let head = head.replace('\n', " ");
    let upper = head.to_ascii_uppercase();
    if (upper.starts_with("SET ") || upper.starts_with("PRAGMA "))
        && let Some(i) = head.find('=')
    {
        return format!("{} = ***", head[..i].trim_end());
    }
    head
}

/// Whether running `sql` may change the tables or columns of `dataset` (what the client's
/// catalog cache keeps). A single statement that changes rows or settings leaves every
/// catalog alone; DDL changes the datasets it names (case-insensitively, as DuckDB resolves
/// names) and `main`, where unqualified names go; anything else (a rollback, a batch, a
/// statement that moves the default schema, one dango does not know) may change any.
pub(super) fn may_change_catalog(sql: &str, dataset: &str) -> bool {
    let sql = sql.trim().trim_end_matches(';');
    if sql.contains(';') {
        return true;
    }
    let upper = sql.to_ascii_uppercase();
    match upper.split_whitespace().next().unwrap_or_default() {
        "BEGIN" | "COMMIT" | "INSERT" | "DELETE" | "UPDATE" | "TRUNCATE" | "SELECT" => false,
        "SET" | "RESET" => upper.contains("SCHEMA") || upper.contains("SEARCH_PATH"),
        "CREATE" | "ALTER" | "DROP" | "COMMENT" => {
            dataset.eq_ignore_ascii_case("main") || upper.contains(&dataset.to_ascii_uppercase())
        }
        _ => true,
    }
}

/// Whether `sql` opens (`Some(true)`) or ends (`Some(false)`) a transaction; `None` for any
/// other statement.
pub(super) fn transaction_effect(sql: &str) -> Option<bool> {
    let sql = sql.trim().trim_end_matches(';');
    if sql.contains(';') {
        return None;
    }
    match sql.split_whitespace().next()?.to_ascii_uppercase().as_str() {
        "BEGIN" | "START" => Some(true),
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Some(false),
        _ => None,
    }
}

/// Columns of random row ids.
const ROW_ID_COLUMNS: [&str; 3] = [C_DLT_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID];

pub(super) fn column_def(c: &Column) -> String {
    let not_null = if c.nullable { "" } else { "NOT NULL" };
    // Random ids defeat DuckDB's dictionary and FSST analysis, which then costs about a third of
    // the load's CPU for nothing; zstd stores them within ~7% of the size at a fraction of
    // the cost. Compression is invisible to queries and types.
    let compression = if ROW_ID_COLUMNS.contains(&c.name.as_str()) {
        " USING COMPRESSION zstd"
    } else {
        ""
    };
    format!(
        "{} {}{compression}  {not_null}",
        quote_ident(&c.name),
        duckdb_type(c)
    )
}

/// `CREATE TABLE` in dlt's format.
pub fn create_table_sql(dataset: &str, t: &Table, if_not_exists: bool) -> String {
    let cols: Vec<String> = t
        .columns
        .values()
        .filter(|c| c.is_complete())
        .map(column_def)
        .collect();
    format!(
        "CREATE TABLE {}{}.{} (\n{})",
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        quote_ident(dataset),
        quote_ident(&t.name),
        cols.join(",\n")
    )
}

/// `now` as a `TIMESTAMP WITH TIME ZONE` literal (microseconds, UTC).
pub fn now_literal() -> String {
    timestamp_literal(chrono::Utc::now())
}

fn timestamp_literal(ts: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "'{}'::TIMESTAMP WITH TIME ZONE",
        ts.format("%Y-%m-%d %H:%M:%S%.6f+00:00")
    )
}

/// The package creation time (from the load id, unix seconds) as a `TIMESTAMP WITH TIME ZONE`
/// literal: dlt's scd2 validity boundary.
pub fn package_time_literal(load_id: &str) -> String {
    let secs: f64 = load_id.parse().unwrap_or(0.0);
    let micros = (secs * 1e6).round() as i64;
    timestamp_literal(chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::{may_change_catalog, statement_head};

    #[test]
    fn ddl_changes_the_catalogs_it_names_and_rows_change_none() {
        let ddl = "CREATE TABLE \"raw_shop\".\"orders\" (\"id\" BIGINT)";
        assert!(may_change_catalog(ddl, "raw_shop"));
        assert!(may_change_catalog(ddl, "RAW_SHOP"));
        assert!(!may_change_catalog(ddl, "raw_crm"));
        // Unqualified names land in `main`.
        assert!(may_change_catalog("CREATE TABLE t (x INT)", "main"));
        assert!(may_change_catalog(
            "DROP SCHEMA \"raw_shop\" CASCADE",
            "raw_shop"
        ));
        assert!(may_change_catalog(
            "alter table raw_shop.o add column y int",
            "raw_shop"
        ));
        for rows in [
            "BEGIN TRANSACTION",
            "COMMIT",
            "INSERT INTO \"raw_shop\".\"_dlt_loads\" VALUES ('1', 's', 0)",
            "DELETE FROM \"raw_shop\".\"orders\" WHERE id = 1;",
            "SET memory_limit = '96MB'",
        ] {
            assert!(!may_change_catalog(rows, "raw_shop"), "{rows}");
        }
        // Anything that may change any catalog without naming it.
        for any in [
            "ROLLBACK",
            "INSERT INTO a.t VALUES (1); CREATE TABLE raw_shop.x (y INT)",
            "SET schema = 'raw_shop'",
            "SET search_path = 'raw_crm'",
            "USE scratch",
            "CHECKPOINT",
        ] {
            assert!(may_change_catalog(any, "raw_crm"), "{any}");
        }
    }

    #[test]
    fn logged_statements_hide_setting_values() {
        assert_eq!(
            statement_head("SET \"s3_secret_access_key\" = 'hunter2'"),
            "SET \"s3_secret_access_key\" = ***"
        );
        assert_eq!(statement_head("pragma x='y'"), "pragma x = ***");
        assert_eq!(
            statement_head("PRAGMA enable_profiling"),
            "PRAGMA enable_profiling"
        );
        let long = format!("INSERT INTO t VALUES ('{}')", "s".repeat(500));
        assert_eq!(statement_head(&long).chars().count(), 100);
    }
}
