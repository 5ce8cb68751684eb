//! Schema contracts at normalize time: decides, before a row is written, whether it fits the
//! contract of its resource (see [`crate::schema::contract`]).
//!
//! The decision is taken against the schema snapshot a chunk is normalized with. Under a
//! non-`evolve` mode nothing new is ever added for that entity, so every chunk sees the same
//! tables and columns for it and parallel chunks decide exactly as a serial run.

use std::rc::Rc;

use super::coerce;
use super::naming;
use super::relational::Cell;
use super::value::Value;
use crate::schema::contract::{ContractMode, DataValidationError, Entity, SchemaContract};
use crate::schema::{DataType, Schema};

/// What to do with a row.
#[derive(Debug, PartialEq, Eq)]
pub enum RowVerdict {
    /// Write it as is.
    Keep,
    /// Write it without the cells at these indexes (`discard_value`).
    KeepWithout(Vec<usize>),
    /// Drop it with its nested rows (`discard_row`, or any discard on a new table). As dlt
    /// does, new columns of the row that the contract allows are still added to the table
    /// (name, type, whether a variant), without a value.
    Drop(Vec<(String, DataType, bool)>),
}

/// Checks one row of `table` against `contract`. New tables (no complete columns in
/// `snapshot`) fall under `tables` and, once allowed, take any column; otherwise a new column
/// falls under `columns` and a value that needs a new variant column under `data_type`.
/// Columns starting with `_dlt` are always allowed.
pub fn check_row(
    snapshot: &Schema,
    contract: &SchemaContract,
    table: &str,
    cells: &[(Rc<str>, Cell<'_, '_>)],
) -> Result<RowVerdict, Box<DataValidationError>> {
    let row_id = || {
        cells.iter().find_map(|(n, c)| match c {
            Cell::Str(s) if n.as_ref() == "_dlt_id" => Some(s.to_string()),
            _ => None,
        })
    };
    let violation = |entity: Entity, column: Option<String>, with_id: bool| {
        Box::new(DataValidationError {
            schema_name: snapshot.name.clone(),
            table_name: table.to_string(),
            column_name: column,
            entity,
            mode: ContractMode::Freeze,
            row_id: if with_id { row_id() } else { None },
            pending: true,
        })
    };
    let existing = snapshot.table(table).filter(|t| t.has_complete_columns());
    let Some(existing) = existing else {
        return match contract.tables {
            ContractMode::Evolve => Ok(RowVerdict::Keep),
            ContractMode::Freeze => Err(violation(Entity::Tables, None, false)),
            ContractMode::DiscardRow | ContractMode::DiscardValue => Ok(RowVerdict::Drop(vec![])),
        };
    };
    let mut drop_cells = Vec::new();
    let mut drop_row = false;
    let mut allowed = Vec::new();
    for (i, (name, cell)) in cells.iter().enumerate() {
        if name.starts_with("_dlt") {
            continue;
        }
        let owned;
        let v: &Value<'_> = match cell {
            Cell::V(Value::Null) => continue,
            Cell::V(v) => v,
            Cell::Str(s) => {
                owned = Value::Str(std::borrow::Cow::Owned(s.to_string()));
                &owned
            }
            Cell::Int(n) => {
                owned = Value::Int(*n);
                &owned
            }
            // Row ids (only `_dlt` columns, skipped above).
            Cell::Id(_) => continue,
        };
        let col_type = |c: &str| -> Option<DataType> {
            existing
                .columns
                .get(c)
                .filter(|c| c.is_complete())
                .and_then(|c| c.data_type)
        };
        let (entity, column) = match col_type(name) {
            None => (Entity::Columns, name.to_string()),
            Some(t) if coerce::to_scalar(v, t).is_some() => continue,
            Some(_) => {
                let py = coerce::base_type(v).unwrap_or(DataType::Text);
                let variant = naming::make_path(&[name, &format!("v_{}", py.as_str())]);
                if col_type(&variant).is_some() {
                    continue;
                }
                (Entity::DataType, variant)
            }
        };
        match contract.mode(entity) {
            ContractMode::Evolve => {
                let py = coerce::base_type(v).unwrap_or(DataType::Text);
                let t = coerce::infer_type(v).unwrap_or(py);
                allowed.push((column, t, entity == Entity::DataType));
            }
            ContractMode::Freeze => return Err(violation(entity, Some(column), true)),
            ContractMode::DiscardRow => drop_row = true,
            ContractMode::DiscardValue => drop_cells.push(i),
        }
    }
    if drop_row {
        return Ok(RowVerdict::Drop(allowed));
    }
    Ok(if drop_cells.is_empty() {
        RowVerdict::Keep
    } else {
        RowVerdict::KeepWithout(drop_cells)
    })
}

/// A resource whose root table is new under a `tables` contract other than `evolve`: dlt
/// decides these at extract time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRootTable {
    /// Resource name.
    pub resource: String,
    /// Its (normalized) root table.
    pub table: String,
    /// The `tables` mode: `freeze` fails the extract if the resource yields items; the discard
    /// modes drop its items.
    pub mode: ContractMode,
}

/// The resources of `hints` whose root table is new in `schema` (absent, or without complete
/// columns) while their contract does not let tables evolve. `default` is the source / config
/// contract for resources without their own.
pub fn new_root_tables(
    schema: &Schema,
    hints: &[crate::storage::ResourceHints],
    default: Option<&serde_json::Value>,
) -> crate::error::Result<Vec<NewRootTable>> {
    let mut out = Vec::new();
    for h in hints {
        let Some(v) = h.schema_contract.as_ref().or(default) else {
            continue;
        };
        let contract = SchemaContract::parse(v)
            .map_err(|e| crate::error::Error::Config(format!("resource `{}`: {e}", h.name)))?;
        let table = naming::normalize_tables_path(&h.table_name);
        let is_new = !schema
            .table(&table)
            .map(|t| t.has_complete_columns())
            .unwrap_or(false);
        if is_new && contract.tables != ContractMode::Evolve {
            out.push(NewRootTable {
                resource: h.name.clone(),
                table,
                mode: contract.tables,
            });
        }
    }
    Ok(out)
}

/// The first of `new_roots` with `freeze` whose resource put items into the extracted package
/// `load_id` (a job file with anything but whitespace).
pub fn frozen_with_items<'n>(
    dir: &crate::storage::PipelineDir,
    load_id: &str,
    new_roots: &'n [NewRootTable],
) -> crate::error::Result<Option<&'n NewRootTable>> {
    use std::io::Read;
    let frozen: Vec<&NewRootTable> = new_roots
        .iter()
        .filter(|n| n.mode == ContractMode::Freeze)
        .collect();
    if frozen.is_empty() {
        return Ok(None);
    }
    let pkg = dir.extracted(load_id);
    let m: crate::storage::ExtractedManifest =
        crate::storage::read_json(&pkg.join("package.json"))?;
    for job in &m.jobs {
        let Some(n) = frozen.iter().find(|n| n.resource == job.resource) else {
            continue;
        };
        let path = pkg.join("new_jobs").join(&job.file);
        let f = std::fs::File::open(&path).map_err(|e| crate::error::Error::io(&path, e))?;
        let mut buf = Vec::new();
        f.take(64 << 10)
            .read_to_end(&mut buf)
            .map_err(|e| crate::error::Error::io(&path, e))?;
        if buf.iter().any(|b| !b.is_ascii_whitespace()) {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// The extract-time error for items of a frozen new root table.
pub fn frozen_table_error(schema: &Schema, table: &str) -> crate::error::Error {
    crate::error::Error::DataValidation(Box::new(DataValidationError {
        schema_name: schema.name.clone(),
        table_name: table.to_string(),
        column_name: None,
        entity: Entity::Tables,
        mode: ContractMode::Freeze,
        row_id: None,
        pending: false,
    }))
}

/// Gives the pending extracted packages of `dir` the current `schema_contract` of their
/// resources, so that changing the contract and syncing again loads a package that broke the
/// old one.
pub fn refresh_pending_contracts(
    dir: &crate::storage::PipelineDir,
    current: &[crate::storage::ResourceHints],
) -> crate::error::Result<()> {
    for id in dir.list("normalize/extracted")? {
        let path = dir.extracted(&id).join("package.json");
        let Ok(mut m) = crate::storage::read_json::<crate::storage::ExtractedManifest>(&path)
        else {
            continue;
        };
        let mut changed = false;
        for r in m.resources.iter_mut() {
            if let Some(h) = current.iter().find(|h| h.name == r.name)
                && h.schema_contract != r.schema_contract
            {
                r.schema_contract = h.schema_contract.clone();
                changed = true;
            }
        }
        if changed {
            crate::storage::write_json(&path, &m)?;
        }
    }
    Ok(())
}

/// The schema contract of a resource in the package.
pub fn resource_contract(
    resources: &[crate::storage::ResourceHints],
    name: &str,
    cfg: &super::NormalizeConfig,
) -> crate::error::Result<SchemaContract> {
    let Some(v) = resources
        .iter()
        .find(|r| r.name == name)
        .and_then(|r| r.schema_contract.as_ref())
        .or(cfg.schema_contract.as_ref())
    else {
        return Ok(SchemaContract::default());
    };
    SchemaContract::parse(v)
        .map_err(|e| crate::error::Error::Config(format!("resource `{name}`: {e}")))
}
