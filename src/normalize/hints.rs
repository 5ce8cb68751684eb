//! Resource hints into the schema: root tables with their write disposition, resource,
//! primary and merge keys, column hints, scd2's validity columns and the root key propagation
//! of merge tables, as dlt's extract and normalizer declare them.

use std::collections::HashMap;

use super::naming;
use super::relational::{RootIdKind, TableSettings};
use crate::schema::{MergeStrategy, Schema, Table, WriteDisposition};
use crate::storage::ResourceHints;

/// Applies resource hints to the schema: root tables with write disposition, resource and
/// column hints. Returns the per-root settings for the normalizer.
pub fn apply_resource_hints(
    schema: &mut Schema,
    resources: &[ResourceHints],
    naming: naming::Naming,
) -> HashMap<String, TableSettings> {
    let mut settings = HashMap::new();
    for r in resources {
        let table_name = naming.normalize_tables_path(&r.table_name);
        let table = schema.tables.entry(table_name.clone()).or_insert_with(|| {
            let mut t = Table::new(table_name.clone());
            t.key_order = crate::schema::dlt_dict::KeyOrder::recorded([
                "columns",
                "write_disposition",
                "name",
                "resource",
                "x-normalizer",
            ]);
            t
        });
        table.write_disposition = Some(r.write_disposition);
        table.resource = Some(r.name.clone());
        match &r.schema_contract {
            Some(c) => table.extra.insert("schema_contract".into(), c.clone()),
            None => table.extra.shift_remove("schema_contract"),
        };
        if let Some(n) = r.max_table_nesting {
            table.extra.insert(
                "x-normalizer".into(),
                serde_json::json!({ "max_nesting": n }),
            );
        }
        for pk in &r.primary_key {
            let name = naming.normalize_path(pk);
            let col = table
                .columns
                .entry(name.clone())
                .or_insert_with(|| crate::schema::Column {
                    name: name.clone(),
                    nullable: true,
                    key_order: crate::schema::dlt_dict::KeyOrder::recorded([
                        "name",
                        "nullable",
                        "primary_key",
                    ]),
                    ..Default::default()
                });
            col.primary_key = true;
            col.nullable = false;
        }
        for mk in &r.merge_key {
            let name = naming.normalize_path(mk);
            let col = table
                .columns
                .entry(name.clone())
                .or_insert_with(|| crate::schema::Column {
                    name: name.clone(),
                    nullable: true,
                    ..Default::default()
                });
            col.merge_key = true;
            col.nullable = false;
        }
        for (name, hint) in &r.columns {
            let name = naming.normalize_path(name);
            let col = table
                .columns
                .entry(name.clone())
                .or_insert_with(|| crate::schema::Column {
                    name: name.clone(),
                    nullable: true,
                    ..Default::default()
                });
            if let Some(t) = hint
                .get("data_type")
                .and_then(|v| v.as_str())
                .and_then(crate::schema::DataType::parse)
            {
                col.data_type = Some(t);
            }
            if let Some(n) = hint.get("nullable").and_then(|v| v.as_bool()) {
                col.nullable = n;
            }
            // precision (bits of integers, digits of decimals and text, fractional digits of
            // times), scale, and `timezone: false` reach the destination's types
            let number = |k: &str| hint.get(k).and_then(|v| v.as_u64()).map(|n| n as u32);
            if let Some(p) = number("precision") {
                col.precision = Some(p);
            }
            if let Some(s) = number("scale") {
                col.scale = Some(s);
            }
            if let Some(tz) = hint.get("timezone").and_then(|v| v.as_bool()) {
                col.timezone = Some(tz);
            }
            if let Some(true) = hint.get("primary_key").and_then(|v| v.as_bool()) {
                col.primary_key = true;
                col.nullable = false;
            }
            if let Some(true) = hint.get("merge_key").and_then(|v| v.as_bool()) {
                col.merge_key = true;
            }
            if let Some(true) = hint.get("hard_delete").and_then(|v| v.as_bool()) {
                col.hard_delete = true;
            }
            if let Some(dir) = hint.get("dedup_sort").and_then(|v| v.as_str()) {
                col.dedup_sort = Some(dir.to_string());
            }
        }
        let max_nesting = r.max_table_nesting.unwrap_or(1000);
        let merge = r.write_disposition == WriteDisposition::Merge;
        let strategy = r.merge_strategy.filter(|_| merge);
        if let Some(s) = strategy {
            table
                .extra
                .insert("x-merge-strategy".into(), serde_json::json!(s.as_str()));
        }
        let root_id = match strategy {
            Some(MergeStrategy::Upsert | MergeStrategy::InsertOnly) => RootIdKind::KeyHash(
                r.primary_key
                    .iter()
                    .map(|k| naming.normalize_path(k))
                    .collect(),
            ),
            Some(MergeStrategy::Scd2) => {
                add_scd2_columns(table, r.validity_column_names.as_deref(), naming);
                RootIdKind::RowHash
            }
            _ => RootIdKind::Random,
        };
        let propagate_root_id = merge && strategy != Some(MergeStrategy::Scd2);
        if propagate_root_id {
            set_root_key_propagation(schema, &table_name);
        }
        settings.insert(
            r.name.clone(),
            TableSettings {
                root_table: table_name,
                max_nesting,
                propagate_root_id,
                root_id,
                naming,
            },
        );
    }
    settings
}

/// Adds scd2's validity columns (`_dlt_valid_from`, `_dlt_valid_to`, or the configured
/// `validity_column_names`) and marks `_dlt_id` as the row version, as dlt does for
/// `strategy: scd2`.
fn add_scd2_columns(table: &mut Table, names: Option<&[String]>, naming: naming::Naming) {
    use crate::schema::{Column, DataType};
    let (from, to) = match names {
        Some([from, to]) => (naming.normalize_path(from), naming.normalize_path(to)),
        _ => ("_dlt_valid_from".to_string(), "_dlt_valid_to".to_string()),
    };
    for (name, hint) in [(from, "x-valid-from"), (to, "x-valid-to")] {
        let col = table
            .columns
            .entry(name.clone())
            .or_insert_with(|| Column::new(name.as_str(), DataType::Timestamp));
        col.extra.insert(hint.into(), serde_json::json!(true));
    }
    let id = table
        .columns
        .entry("_dlt_id".to_string())
        .or_insert_with(|| Column {
            name: "_dlt_id".into(),
            ..Column::default()
        });
    id.extra
        .insert("x-row-version".into(), serde_json::json!(true));
}

/// Records `_dlt_id → _dlt_root_id` propagation for a merge root, as dlt's normalizer config.
fn set_root_key_propagation(schema: &mut Schema, root: &str) {
    use serde_json::{Map, Value};
    if !schema.normalizers.is_object() {
        schema.normalizers = Value::Object(Map::new());
    }
    let mut cur = &mut schema.normalizers;
    for key in ["json", "config", "propagation", "tables", root] {
        let Value::Object(m) = cur else { return };
        cur = m
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(m) = cur {
        m.insert("_dlt_id".into(), Value::String("_dlt_root_id".into()));
    }
}
