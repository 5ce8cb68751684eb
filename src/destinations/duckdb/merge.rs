//! Merge SQL: how rows loaded into the staging dataset are merged into the destination tables,
//! as dlt's `SqlMergeFollowupJob` does on DuckDB (reference: `dlt-warehouse-layout.md` §7).
//!
//! Every statement runs inside the package's load transaction, after the package's jobs were
//! inserted into `<dataset>_staging`: the staging load and the merge commit together or not at
//! all.

use crate::error::{Error, Result};
use crate::schema::{DataType, MergeStrategy, Schema, Table};

use super::sql::quote_ident;

/// What differs between SQL dialects in the merge statements (the rest is dlt's generic SQL,
/// which DuckDB and Postgres both run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeDialect {
    /// The qualifier of temporary tables in references (`temp.main.` on DuckDB, `pg_temp.`
    /// on Postgres).
    pub temp_schema: &'static str,
    /// The longest identifier: longer temporary table names are shortened with dlt's tag.
    pub max_identifier_length: usize,
}

/// DuckDB's merge dialect.
pub const DUCKDB: MergeDialect = MergeDialect {
    temp_schema: "temp.main.",
    max_identifier_length: 65536,
};

/// Quoted names of the destination and staging datasets.
struct Names {
    ds: String,
    stg: String,
    dialect: MergeDialect,
}

impl Names {
    fn new(dataset: &str, staging: &str, dialect: MergeDialect) -> Names {
        Names {
            ds: quote_ident(dataset),
            stg: quote_ident(staging),
            dialect,
        }
    }
    /// The quoted name of the temporary table `<t>_<what>_dango` (shortened to the dialect's
    /// limit) and the qualified reference to it.
    fn temp(&self, t: &str, what: &str) -> (String, String) {
        let name = format!("{t}_{what}_dango");
        let name = crate::normalize::naming::shorten_identifier(
            &name,
            &name,
            self.dialect.max_identifier_length,
        );
        let quoted = quote_ident(&name);
        let reference = format!("{}{quoted}", self.dialect.temp_schema);
        (quoted, reference)
    }
    fn dest(&self, t: &str) -> String {
        format!("{}.{}", self.ds, quote_ident(t))
    }
    fn staging(&self, t: &str) -> String {
        format!("{}.{}", self.stg, quote_ident(t))
    }
}

/// Complete (typed) columns of a table, quoted, in table order.
fn columns(t: &Table) -> Vec<String> {
    t.columns
        .values()
        .filter(|c| c.is_complete())
        .map(|c| quote_ident(&c.name))
        .collect()
}

fn key_columns(t: &Table, pick: impl Fn(&crate::schema::Column) -> bool) -> Vec<String> {
    t.columns
        .values()
        .filter(|c| c.is_complete() && pick(c))
        .map(|c| quote_ident(&c.name))
        .collect()
}

/// `d."a" = s."a" AND d."b" = s."b"`.
fn key_match(keys: &[String], d: &str, s: &str) -> String {
    keys.iter()
        .map(|k| format!("{d}.{k} = {s}.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The hard-delete column of a table, with its (deleted, kept) conditions on alias `a`.
fn hard_delete(t: &Table, a: &str) -> Option<(String, String)> {
    let c = t
        .columns
        .values()
        .find(|c| c.hard_delete && c.is_complete())?;
    let col = format!("{a}.{}", quote_ident(&c.name));
    Some(if c.data_type == Some(DataType::Bool) {
        (
            format!("{col} = True"),
            format!("({col} IS NULL OR {col} = False)"),
        )
    } else {
        (format!("{col} IS NOT NULL"), format!("{col} IS NULL"))
    })
}

/// `ORDER BY` of the dedup window: the `dedup_sort` column, or no order.
fn dedup_order(t: &Table) -> String {
    t.columns
        .values()
        .find_map(|c| {
            let dir = c.dedup_sort.as_deref()?;
            let dir = if dir.eq_ignore_ascii_case("asc") {
                "ASC"
            } else {
                "DESC"
            };
            Some(format!("{} {dir}", quote_ident(&c.name)))
        })
        .unwrap_or_else(|| "(SELECT NULL)".to_string())
}

/// The statements that merge staging into the destination for the merge root table `root`
/// and its nested tables, in order. `boundary` is the scd2 validity boundary, a SQL literal.
pub fn merge_statements(
    dataset: &str,
    staging: &str,
    schema: &Schema,
    root: &str,
    boundary: &str,
) -> Result<Vec<String>> {
    merge_statements_in(DUCKDB, dataset, staging, schema, root, boundary)
}

/// [`merge_statements`] in `dialect`.
pub fn merge_statements_in(
    dialect: MergeDialect,
    dataset: &str,
    staging: &str,
    schema: &Schema,
    root: &str,
    boundary: &str,
) -> Result<Vec<String>> {
    let names = Names::new(dataset, staging, dialect);
    let table = schema
        .table(root)
        .ok_or_else(|| Error::Internal(format!("merge of unknown table `{root}`")))?;
    let nested: Vec<&Table> = schema
        .nested_tables(root)
        .into_iter()
        .filter(|t| t.name != root && t.has_complete_columns())
        .collect();
    match merge_strategy(table)? {
        MergeStrategy::DeleteInsert => Ok(delete_insert(&names, table, &nested)),
        MergeStrategy::Upsert => upsert(&names, table, &nested, false),
        MergeStrategy::InsertOnly => upsert(&names, table, &nested, true),
        MergeStrategy::Scd2 => Ok(scd2(&names, table, &nested, boundary)),
    }
}

/// The strategy of a merge root table (`x-merge-strategy`; `delete-insert` when absent).
pub fn merge_strategy(table: &Table) -> Result<MergeStrategy> {
    match table.extra.get("x-merge-strategy").and_then(|v| v.as_str()) {
        None => Ok(MergeStrategy::DeleteInsert),
        Some(s) => MergeStrategy::parse(s).ok_or_else(|| {
            Error::Config(format!(
                "table `{}`: merge strategy `{s}` is not supported; use one of {}",
                table.name,
                MergeStrategy::NAMES.join(", ")
            ))
        }),
    }
}

/// dlt's `insert-from-staging` replace of one table: empty it, then copy the staging rows.
pub fn copy_from_staging(dataset: &str, staging: &str, t: &Table) -> Vec<String> {
    let names = Names::new(dataset, staging, DUCKDB);
    vec![
        format!("DELETE FROM {} WHERE 1=1", names.dest(&t.name)),
        insert_all(&names, t, ""),
    ]
}

fn insert_all(names: &Names, t: &Table, filter: &str) -> String {
    let cols = columns(t).join(", ");
    format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {}{filter}",
        names.dest(&t.name),
        names.staging(&t.name)
    )
}

fn delete_insert(names: &Names, t: &Table, nested: &[&Table]) -> Vec<String> {
    let pk = key_columns(t, |c| c.primary_key);
    let mk = key_columns(t, |c| c.merge_key);
    let mut out = Vec::new();
    if pk.is_empty() && mk.is_empty() {
        tracing::warn!(
            table = %t.name,
            "Table `{}` has write disposition merge but no primary_key or merge_key: its rows are appended.",
            t.name
        );
        out.push(insert_all(names, t, ""));
        out.extend(nested.iter().map(|n| insert_all(names, n, "")));
        return out;
    }
    let mut conds = Vec::new();
    if !pk.is_empty() {
        conds.push(format!("({})", key_match(&pk, "d", "s")));
    }
    if !mk.is_empty() {
        conds.push(format!("({})", key_match(&mk, "d", "s")));
    }
    let matches = format!(
        "EXISTS (SELECT 1 FROM {} AS s WHERE {})",
        names.staging(&t.name),
        conds.join(" OR ")
    );
    let keep = hard_delete(t, "s").map(|(_, keep)| keep);
    let cols = columns(t).join(", ");
    let dedup = |select: &str| -> String {
        let keep = keep.clone().unwrap_or_else(|| "1 = 1".into());
        if pk.is_empty() {
            format!(
                "SELECT {select} FROM {} AS s WHERE {keep}",
                names.staging(&t.name)
            )
        } else {
            format!(
                "SELECT {select} FROM (SELECT ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) AS _dlt_dedup_rn, * FROM {}) AS s \
                 WHERE s._dlt_dedup_rn = 1 AND {keep}",
                pk.join(", "),
                dedup_order(t),
                names.staging(&t.name)
            )
        }
    };
    if nested.is_empty() {
        out.push(format!(
            "DELETE FROM {} AS d WHERE {matches}",
            names.dest(&t.name)
        ));
        out.push(format!(
            "INSERT INTO {} ({cols}) {}",
            names.dest(&t.name),
            dedup(&cols)
        ));
        return out;
    }
    let (del, del_ref) = names.temp(&t.name, "delete");
    let (ins, ins_ref) = names.temp(&t.name, "insert");
    out.push(format!("DROP TABLE IF EXISTS {del_ref}"));
    out.push(format!(
        "CREATE TEMPORARY TABLE {del} AS SELECT d.\"_dlt_id\" FROM {} AS d WHERE {matches}",
        names.dest(&t.name)
    ));
    for n in nested {
        out.push(format!(
            "DELETE FROM {} WHERE \"_dlt_root_id\" IN (SELECT \"_dlt_id\" FROM {del_ref})",
            names.dest(&n.name)
        ));
    }
    out.push(format!(
        "DELETE FROM {} WHERE \"_dlt_id\" IN (SELECT \"_dlt_id\" FROM {del_ref})",
        names.dest(&t.name)
    ));
    out.push(format!("DROP TABLE IF EXISTS {ins_ref}"));
    out.push(format!(
        "CREATE TEMPORARY TABLE {ins} AS {}",
        dedup("s.\"_dlt_id\"")
    ));
    out.push(format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {} WHERE \"_dlt_id\" IN (SELECT \"_dlt_id\" FROM {ins_ref})",
        names.dest(&t.name),
        names.staging(&t.name)
    ));
    for n in nested {
        out.push(insert_all(
            names,
            n,
            &format!(" WHERE \"_dlt_root_id\" IN (SELECT \"_dlt_id\" FROM {ins_ref})"),
        ));
    }
    out.push(format!("DROP TABLE {del_ref}"));
    out.push(format!("DROP TABLE {ins_ref}"));
    out
}

fn merge_into(
    names: &Names,
    t: &Table,
    on: &str,
    hard: Option<&(String, String)>,
    insert_only: bool,
) -> String {
    let deleted = hard.map(|(del, _)| del.as_str());
    let cols = columns(t);
    let mut sql = format!(
        "MERGE INTO {} AS d USING {} AS s ON {on}",
        names.dest(&t.name),
        names.staging(&t.name)
    );
    if let Some(del) = deleted
        && !insert_only
    {
        sql.push_str(&format!(" WHEN MATCHED AND {del} THEN DELETE"));
    }
    if !insert_only {
        let set: Vec<String> = cols.iter().map(|c| format!("{c} = s.{c}")).collect();
        sql.push_str(&format!(" WHEN MATCHED THEN UPDATE SET {}", set.join(", ")));
    }
    let values: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
    let not_deleted = hard
        .map(|(_, keep)| format!(" AND {keep}"))
        .unwrap_or_default();
    sql.push_str(&format!(
        " WHEN NOT MATCHED{not_deleted} THEN INSERT ({}) VALUES ({})",
        cols.join(", "),
        values.join(", ")
    ));
    sql
}

fn upsert(names: &Names, t: &Table, nested: &[&Table], insert_only: bool) -> Result<Vec<String>> {
    let pk = key_columns(t, |c| c.primary_key);
    if pk.is_empty() {
        let strategy = if insert_only { "insert-only" } else { "upsert" };
        return Err(Error::Config(format!(
            "table `{}` uses merge strategy `{strategy}`, which needs a primary_key. Set primary_key on the resource, or use strategy delete-insert",
            t.name
        )));
    }
    let hard = hard_delete(t, "s");
    let mut out = vec![merge_into(
        names,
        t,
        &key_match(&pk, "d", "s"),
        hard.as_ref(),
        insert_only,
    )];
    for n in nested {
        out.push(merge_into(
            names,
            n,
            "d.\"_dlt_id\" = s.\"_dlt_id\"",
            None,
            insert_only,
        ));
        if !insert_only {
            out.push(format!(
                "DELETE FROM {} WHERE \"_dlt_root_id\" IN (SELECT \"_dlt_id\" FROM {}) AND \"_dlt_id\" NOT IN (SELECT \"_dlt_id\" FROM {})",
                names.dest(&n.name),
                names.staging(&t.name),
                names.staging(&n.name)
            ));
            if let Some((del, _)) = &hard {
                out.push(format!(
                    "DELETE FROM {} WHERE \"_dlt_root_id\" IN (SELECT s.\"_dlt_id\" FROM {} AS s WHERE {del})",
                    names.dest(&n.name),
                    names.staging(&t.name)
                ));
            }
        }
    }
    Ok(out)
}

/// Validity column names of an scd2 table (`x-valid-from` / `x-valid-to` hints).
fn validity_columns(t: &Table) -> (String, String) {
    let find = |hint: &str, default: &str| {
        t.columns
            .values()
            .find(|c| c.extra.get(hint).and_then(|v| v.as_bool()) == Some(true))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| default.to_string())
    };
    (
        find("x-valid-from", "_dlt_valid_from"),
        find("x-valid-to", "_dlt_valid_to"),
    )
}

fn scd2(names: &Names, t: &Table, nested: &[&Table], boundary: &str) -> Vec<String> {
    let (from, to) = validity_columns(t);
    let (from, to) = (quote_ident(&from), quote_ident(&to));
    let mk = key_columns(t, |c| c.merge_key);
    let scope = if mk.is_empty() {
        String::new()
    } else {
        format!(
            " AND ({}) IN (SELECT {} FROM {})",
            mk.join(", "),
            mk.join(", "),
            names.staging(&t.name)
        )
    };
    let data_cols: Vec<String> = columns(t)
        .into_iter()
        .filter(|c| *c != from && *c != to)
        .collect();
    let cols = data_cols.join(", ");
    let mut out = vec![
        format!(
            "UPDATE {} SET {to} = {boundary} WHERE \"_dlt_id\" NOT IN (SELECT \"_dlt_id\" FROM {}) AND {to} IS NULL{scope}",
            names.dest(&t.name),
            names.staging(&t.name)
        ),
        format!(
            "INSERT INTO {} ({cols}, {from}, {to}) SELECT {cols}, {boundary}, NULL FROM {} AS s \
             WHERE \"_dlt_id\" NOT IN (SELECT \"_dlt_id\" FROM {} WHERE {to} IS NULL)",
            names.dest(&t.name),
            names.staging(&t.name),
            names.dest(&t.name)
        ),
    ];
    for n in nested {
        out.push(insert_all(
            names,
            n,
            &format!(
                " WHERE \"_dlt_id\" NOT IN (SELECT \"_dlt_id\" FROM {})",
                names.dest(&n.name)
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;

    fn table(name: &str, cols: &[(&str, DataType)]) -> Table {
        let mut t = Table::new(name);
        for (c, ty) in cols {
            t.columns.insert(c.to_string(), Column::new(*c, *ty));
        }
        t
    }

    #[test]
    fn delete_insert_without_keys_appends() {
        let t = table("a", &[("x", DataType::Bigint)]);
        let n = Names::new("ds", "ds_staging", DUCKDB);
        let sql = delete_insert(&n, &t, &[]);
        assert_eq!(
            sql,
            vec![r#"INSERT INTO "ds"."a" ("x") SELECT "x" FROM "ds_staging"."a""#]
        );
    }

    #[test]
    fn upsert_needs_a_primary_key() {
        let t = table("a", &[("x", DataType::Bigint)]);
        let n = Names::new("ds", "ds_staging", DUCKDB);
        let err = upsert(&n, &t, &[], false).unwrap_err().to_string();
        assert!(err.contains("primary_key"), "{err}");
    }

    #[test]
    fn bool_hard_delete_conditions() {
        let mut t = table("a", &[("deleted", DataType::Bool)]);
        t.columns.get_mut("deleted").unwrap().hard_delete = true;
        let (del, keep) = hard_delete(&t, "s").unwrap();
        assert_eq!(del, "s.\"deleted\" = True");
        assert_eq!(keep, "(s.\"deleted\" IS NULL OR s.\"deleted\" = False)");
    }
}
