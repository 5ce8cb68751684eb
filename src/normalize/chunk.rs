//! Normalizes one chunk of items against a snapshot of the schema.
//!
//! A [`ChunkWriter`] receives rows from the relational normalizer, fits every value into its
//! column's type (inferring new columns, coercing into existing ones and creating variant
//! columns when coercion fails, as dlt's `_coerce_row` does) and builds Arrow columns. It also
//! records, in first-appearance order, the tables and columns that were new with respect to the
//! snapshot, so chunks normalized in parallel can be merged in order into exactly the schema a
//! serial run would produce.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema as ArrowSchema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use indexmap::IndexMap;

use super::coerce;
use super::columns::{ColumnBuilder, arrow_type};
use super::naming;
use super::relational::{C_DLT_ID, Cell, ID_LEN, JsonColumns, RowId, RowIds, RowSink};
use super::value::{Scalar, Value};
use crate::schema::{Column, DataType, Schema, Table};

/// A row-level normalization failure.
#[derive(Debug, Clone, PartialEq)]
pub enum RowError {
    /// A NULL (or missing value) for a column that is NOT NULL.
    NullInNotNull {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// A value that fits neither the column nor its variant.
    CannotCoerce {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// Type of the column.
        to: DataType,
        /// Value, shortened.
        value: String,
    },
    /// The row breaks a `freeze` schema contract.
    Contract(Box<crate::schema::contract::DataValidationError>),
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::NullInNotNull { table, column } => write!(
                f,
                "column `{column}` of table `{table}` is NOT NULL but the row has no value for it"
            ),
            RowError::CannotCoerce {
                table,
                column,
                to,
                value,
            } => write!(
                f,
                "cannot coerce value {value} into column `{column}` ({to}) of table `{table}` nor into its variant"
            ),
            RowError::Contract(e) => e.fmt(f),
        }
    }
}

struct ColumnOut {
    def: Column,
    is_new: bool,
    builder: ColumnBuilder,
    len: usize,
    /// Placeholders of nested row ids in the text values: (byte offset, id handle), filled
    /// in at [`ChunkWriter::finish`].
    pending_ids: Vec<(usize, u32)>,
}

struct TableOut {
    name: String,
    /// The name as the normalizer passes it (compared by pointer first).
    rc: Rc<str>,
    /// NOT NULL data columns (e.g. primary keys) every row must fill.
    required: Vec<String>,
    parent: Option<String>,
    is_new: bool,
    columns: IndexMap<Rc<str>, ColumnOut, FastState>,
    /// Cell position → (column name, index in `columns`) of the column last written from that
    /// position. Rows of a table mostly repeat their column order, and the normalizer interns
    /// names, so one pointer comparison finds the column.
    hot: Vec<(Rc<str>, usize)>,
    rows: usize,
}

type FastState = foldhash::fast::RandomState;

/// Output of one normalized chunk for one table.
pub struct TableChunk {
    /// Table name.
    pub name: String,
    /// Parent table for nested tables.
    pub parent: Option<String>,
    /// Whether the table was absent from the snapshot.
    pub is_new: bool,
    /// Columns that were absent (or incomplete) in the snapshot, in first-appearance order.
    pub new_columns: Vec<Column>,
    /// The rows, one Arrow column per column seen in the chunk.
    pub batch: RecordBatch,
}

/// Output of one normalized chunk, tables in first-appearance order.
pub struct ChunkOutput {
    /// Per-table output.
    pub tables: Vec<TableChunk>,
    /// Items read.
    pub items: u64,
}

/// Builds columnar output for one chunk (see the module doc).
pub struct ChunkWriter<'s> {
    snapshot: &'s Schema,
    /// The resource's schema contract, when not all `evolve`.
    contract: Option<crate::schema::contract::SchemaContract>,
    tables: Vec<TableOut>,
    index: HashMap<Rc<str>, usize, FastState>,
    /// Table of the previous row (name, index), checked before `index`.
    last_table: Option<(Rc<str>, usize)>,
    scratch: String,
    /// Nested row ids, computed in a batch at [`ChunkWriter::finish`].
    ids: RowIds,
}

impl JsonColumns for Schema {
    fn is_json(&self, table: &str, column: &str) -> bool {
        self.table(table)
            .and_then(|t| t.columns.get(column))
            .and_then(|c| c.data_type)
            == Some(DataType::Json)
    }
}

fn not_null_hint(name: &str) -> bool {
    matches!(
        name,
        "_dlt_id" | "_dlt_root_id" | "_dlt_parent_id" | "_dlt_list_idx" | "_dlt_load_id"
    )
}

/// A new column as dlt infers it: type plus the default hints matched by name.
pub fn infer_column(name: &str, t: DataType, variant: bool) -> Column {
    let mut c = Column::new(name, t);
    c.nullable = !not_null_hint(name);
    match name {
        "_dlt_id" => {
            c.unique = true;
            c.row_key = true;
        }
        "_dlt_parent_id" => c.parent_key = true,
        "_dlt_root_id" => c.root_key = true,
        _ => {}
    }
    if variant {
        c.variant = true;
        c.description = Some(format!("Variant of column {name} generated by dlt"));
    }
    c
}

/// The "Python type" of a value: what dlt's type map gives before detections. It names
/// variant columns (`col__v_<type>`).
fn py_type(v: &Value<'_>) -> DataType {
    coerce::base_type(v).unwrap_or(DataType::Text)
}

impl<'s> ChunkWriter<'s> {
    /// A writer that fits rows into `snapshot`.
    pub fn new(snapshot: &'s Schema) -> ChunkWriter<'s> {
        ChunkWriter {
            snapshot,
            contract: None,
            tables: Vec::new(),
            index: HashMap::default(),
            last_table: None,
            scratch: String::new(),
            ids: RowIds::default(),
        }
    }

    /// Enforces `contract` on the rows (nothing to do when it is all `evolve`).
    pub fn with_contract(mut self, contract: crate::schema::contract::SchemaContract) -> Self {
        self.contract = Some(contract).filter(|c| !c.is_evolve());
        self
    }

    fn table_idx(&mut self, table: &Rc<str>, parent: Option<&Rc<str>>) -> usize {
        if let Some((name, i)) = &self.last_table
            && Rc::ptr_eq(name, table)
        {
            return *i;
        }
        // Rows of a chunk alternate between a few tables: compare pointers before hashing.
        let i = match self
            .tables
            .iter()
            .take(16)
            .position(|t| Rc::ptr_eq(&t.rc, table))
        {
            Some(i) => i,
            None => self.table_idx_slow(table, parent),
        };
        self.last_table = Some((table.clone(), i));
        i
    }

    fn table_idx_slow(&mut self, table: &Rc<str>, parent: Option<&Rc<str>>) -> usize {
        if let Some(i) = self.index.get(table) {
            return *i;
        }
        let snap = self.snapshot.table(table);
        let is_new = snap.map(|t| !t.has_complete_columns()).unwrap_or(true);
        let required = snap
            .map(|t| {
                t.columns
                    .values()
                    .filter(|c| !c.nullable && !c.name.starts_with("_dlt") && c.name != C_DLT_ID)
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let t = TableOut {
            rc: table.clone(),
            required,
            name: table.to_string(),
            parent: parent.map(|p| p.to_string()),
            is_new,
            columns: IndexMap::default(),
            hot: Vec::new(),
            rows: 0,
        };
        self.tables.push(t);
        let i = self.tables.len() - 1;
        self.index.insert(table.clone(), i);
        i
    }

    /// Finishes the chunk into per-table Arrow batches.
    pub fn finish(self, items: u64) -> ChunkOutput {
        let ChunkWriter {
            tables, mut ids, ..
        } = self;
        ids.resolve();
        let mut out = Vec::with_capacity(tables.len());
        for mut t in tables {
            let rows = t.rows;
            let mut fields = Vec::with_capacity(t.columns.len());
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(t.columns.len());
            let mut new_columns = Vec::new();
            for (name, col) in t.columns.iter_mut() {
                if col.len < rows {
                    col.builder.append_nulls(rows - col.len);
                }
                let dt = col.def.data_type.unwrap_or(DataType::Text);
                fields.push(Field::new(name.as_ref(), arrow_type(dt), true));
                if col.pending_ids.is_empty() {
                    arrays.push(col.builder.finish());
                } else {
                    let pending = std::mem::take(&mut col.pending_ids);
                    arrays.push(col.builder.finish_patched(&mut |values: &mut [u8]| {
                        for &(at, h) in &pending {
                            let id = match ids.get(h) {
                                Some(id) => *id,
                                None => *ids.get_now(h),
                            };
                            values[at..at + ID_LEN].copy_from_slice(&id);
                        }
                    }));
                }
                if col.is_new {
                    new_columns.push(col.def.clone());
                }
            }
            let schema = Arc::new(ArrowSchema::new(fields));
            let opts = RecordBatchOptions::new().with_row_count(Some(rows));
            let batch = RecordBatch::try_new_with_options(schema, arrays, &opts)
                .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(ArrowSchema::empty())));
            out.push(TableChunk {
                name: t.name,
                parent: t.parent,
                is_new: t.is_new,
                new_columns,
                batch,
            });
        }
        ChunkOutput { tables: out, items }
    }

    /// Ensures the column exists in the chunk output; returns its index.
    fn column_for(&mut self, ti: usize, name: &Rc<str>, t: DataType, variant: bool) -> usize {
        let table = &mut self.tables[ti];
        if let Some(i) = table.columns.get_index_of(name) {
            return i;
        }
        let snap_col = self
            .snapshot
            .table(&table.name)
            .and_then(|st| st.columns.get(name.as_ref()));
        let (def, is_new) = match snap_col {
            Some(c) if c.is_complete() => (c.clone(), false),
            Some(incomplete) => {
                let mut c = infer_column(name, t, variant);
                merge_hints(&mut c, incomplete);
                (c, true)
            }
            None => (infer_column(name, t, variant), true),
        };
        let dt = def.data_type.unwrap_or(t);
        table.columns.insert(
            name.clone(),
            ColumnOut {
                def,
                is_new,
                builder: ColumnBuilder::new(dt, 1024),
                len: 0,
                pending_ids: Vec::new(),
            },
        );
        table.columns.len() - 1
    }

    /// Existing type of a column in this chunk or the snapshot (complete columns only).
    fn existing_type(&self, ti: usize, name: &str) -> Option<DataType> {
        let table = &self.tables[ti];
        if let Some(c) = table.columns.get(name) {
            return c.def.data_type;
        }
        self.snapshot
            .table(&table.name)
            .and_then(|t| t.columns.get(name))
            .and_then(|c| c.data_type)
    }

    fn put(&mut self, ti: usize, ci: usize, row: usize, v: Scalar<'_>) {
        let col = &mut self.tables[ti].columns[ci];
        if col.len < row {
            col.builder.append_nulls(row - col.len);
            col.len = row;
        }
        if col.len == row {
            col.builder.append(v);
            col.len += 1;
        }
    }

    /// Appends a generated string (ids, load id) to text column `ci` at `row`.
    fn put_text(&mut self, ti: usize, ci: usize, row: usize, s: &str) {
        let col = &mut self.tables[ti].columns[ci];
        if col.len < row {
            col.builder.append_nulls(row - col.len);
            col.len = row;
        }
        col.builder.append_str(s);
        col.len += 1;
    }

    /// Appends the placeholder of pending id `h` to text column `ci` at `row`.
    fn put_id(&mut self, ti: usize, ci: usize, row: usize, h: u32) {
        let col = &mut self.tables[ti].columns[ci];
        if col.len < row {
            col.builder.append_nulls(row - col.len);
            col.len = row;
        }
        if let Some(at) = col.builder.append_placeholder(ID_LEN) {
            col.pending_ids.push((at, h));
        }
        col.len += 1;
    }

    /// Fits one non-null value into `name` (or its variant) at `row`.
    fn fit_value(
        &mut self,
        ti: usize,
        name: &Rc<str>,
        v: &Value<'_>,
        row: usize,
        is_variant: bool,
    ) -> Result<(), RowError> {
        match self.existing_type(ti, name) {
            Some(col_type) => {
                if let Some(s) = coerce::to_scalar(v, col_type) {
                    let ci = self.column_for(ti, name, col_type, is_variant);
                    self.put(ti, ci, row, s);
                    return Ok(());
                }
                if is_variant {
                    self.scratch.clear();
                    v.write_json(&mut self.scratch);
                    let mut value = self.scratch.clone();
                    value.truncate(200);
                    return Err(RowError::CannotCoerce {
                        table: self.tables[ti].name.clone(),
                        column: name.to_string(),
                        to: col_type,
                        value,
                    });
                }
                let py = py_type(v);
                let mut variant = naming::make_path(&[name, &format!("v_{}", py.as_str())]);
                if py == DataType::Json {
                    let legacy = naming::make_path(&[name, "v_complex"]);
                    let legacy_exists = self
                        .snapshot
                        .table(&self.tables[ti].name)
                        .and_then(|t| t.columns.get(&legacy))
                        .map(|c| c.variant)
                        .unwrap_or(false);
                    if legacy_exists {
                        variant = legacy;
                    }
                }
                let variant: Rc<str> = Rc::from(variant);
                self.fit_value(ti, &variant, v, row, true)
            }
            None => {
                let t = if is_variant {
                    coerce::infer_type(v)
                } else {
                    self.infer_with_hints(ti, name, v)
                };
                let t = t.unwrap_or_else(|| py_type(v));
                match coerce::to_scalar(v, t) {
                    Some(s) => {
                        let ci = self.column_for(ti, name, t, is_variant);
                        self.put(ti, ci, row, s);
                        Ok(())
                    }
                    None => {
                        // The inferred type rejects the value (should not happen); keep it as text.
                        let s = coerce::to_scalar(v, DataType::Text)
                            .unwrap_or(Scalar::Text(v.to_json_string().into()));
                        let ci = self.column_for(ti, name, DataType::Text, is_variant);
                        self.put(ti, ci, row, s);
                        Ok(())
                    }
                }
            }
        }
    }

    /// The column last written from cell position `pos`, if it has the same name.
    fn hot_column(&self, ti: usize, pos: usize, name: &Rc<str>) -> Option<usize> {
        match self.tables[ti].hot.get(pos) {
            Some((n, ci)) if Rc::ptr_eq(n, name) => Some(*ci),
            _ => None,
        }
    }

    /// Records which column `name` (at cell position `pos`) is, when it is in the chunk.
    fn remember(&mut self, ti: usize, pos: usize, name: &Rc<str>) {
        let table = &mut self.tables[ti];
        let Some(ci) = table.columns.get_index_of(name) else {
            return;
        };
        if table.hot.len() <= pos {
            table.hot.resize(pos + 1, (name.clone(), ci));
        }
        table.hot[pos] = (name.clone(), ci);
    }

    /// Writes a cell into column `ci` of the chunk when that needs no inference, variant or
    /// check: what [`ChunkWriter::fit_value`] would do for a column already in the chunk.
    /// Returns false to take the general path.
    fn put_hot(&mut self, ti: usize, ci: usize, row: usize, cell: &Cell<'_, '_>) -> bool {
        let def = &self.tables[ti].columns[ci].def;
        let Some(t) = def.data_type else {
            return false;
        };
        match cell {
            Cell::V(Value::Null) => def.nullable,
            Cell::V(v) => match coerce::to_scalar(v, t) {
                Some(s) => {
                    self.put(ti, ci, row, s);
                    true
                }
                None => false,
            },
            Cell::Str(s) if t == DataType::Text => {
                self.put_text(ti, ci, row, s);
                true
            }
            Cell::Str(_) => false,
            Cell::Id(h) if t == DataType::Text => {
                self.put_id(ti, ci, row, *h);
                true
            }
            Cell::Id(_) => false,
            Cell::Int(i) => match coerce::to_scalar(&Value::Int(*i), t) {
                Some(s) => {
                    self.put(ti, ci, row, s);
                    true
                }
                None => false,
            },
        }
    }

    /// Type for a new column: an incomplete hinted column's type is inferred from data.
    fn infer_with_hints(&self, _ti: usize, _name: &str, v: &Value<'_>) -> Option<DataType> {
        coerce::infer_type(v)
    }
}

fn merge_hints(c: &mut Column, hints: &Column) {
    c.primary_key |= hints.primary_key;
    c.merge_key |= hints.merge_key;
    c.unique |= hints.unique;
    c.hard_delete |= hints.hard_delete;
    if hints.dedup_sort.is_some() {
        c.dedup_sort = hints.dedup_sort.clone();
    }
    if !hints.nullable {
        c.nullable = false;
    }
    if hints.description.is_some() {
        c.description = hints.description.clone();
    }
    for (k, v) in &hints.extra {
        c.extra.insert(k.clone(), v.clone());
    }
}

impl<'a> RowSink<'a> for ChunkWriter<'_> {
    type Error = RowError;

    fn row<'v>(
        &mut self,
        table: &Rc<str>,
        parent: Option<&Rc<str>>,
        cells: &[(Rc<str>, Cell<'v, 'a>)],
    ) -> Result<bool, RowError> {
        let mut discarded = Vec::new();
        if let Some(contract) = &self.contract {
            use super::contract::{RowVerdict, check_row};
            match check_row(self.snapshot, contract, table, cells).map_err(RowError::Contract)? {
                RowVerdict::Keep => {}
                RowVerdict::KeepWithout(cells) => discarded = cells,
                RowVerdict::Drop(declare) => {
                    if !declare.is_empty() {
                        let ti = self.table_idx(table, parent);
                        for (name, t, variant) in declare {
                            self.column_for(ti, &Rc::from(name), t, variant);
                        }
                    }
                    return Ok(false);
                }
            }
        }
        let ti = self.table_idx(table, parent);
        let row = self.tables[ti].rows;
        for (pos, (name, cell)) in cells.iter().enumerate() {
            if discarded.contains(&pos) {
                continue;
            }
            if let Some(ci) = self.hot_column(ti, pos, name)
                && self.put_hot(ti, ci, row, cell)
            {
                continue;
            }
            match cell {
                Cell::V(Value::Null) => {
                    if let Some(c) = self
                        .snapshot
                        .table(&self.tables[ti].name)
                        .and_then(|t| t.columns.get(name.as_ref()))
                        && c.is_complete()
                        && !c.nullable
                    {
                        return Err(RowError::NullInNotNull {
                            table: self.tables[ti].name.clone(),
                            column: name.to_string(),
                        });
                    }
                }
                Cell::V(v) => self.fit_value(ti, name, v, row, false)?,
                Cell::Str(s) => {
                    let t = self.existing_type(ti, name).unwrap_or(DataType::Text);
                    if t == DataType::Text {
                        let ci = self.column_for(ti, name, DataType::Text, false);
                        self.put_text(ti, ci, row, s);
                    } else {
                        let v = Value::Str(std::borrow::Cow::Borrowed(s));
                        self.fit_value(ti, name, &v, row, false)?;
                    }
                }
                Cell::Int(i) => {
                    let v = Value::Int(*i);
                    self.fit_value(ti, name, &v, row, false)?;
                }
                Cell::Id(h) => {
                    let t = self.existing_type(ti, name).unwrap_or(DataType::Text);
                    if t == DataType::Text {
                        let ci = self.column_for(ti, name, DataType::Text, false);
                        self.put_id(ti, ci, row, *h);
                    } else {
                        let id = String::from_utf8_lossy(self.ids.get_now(*h)).into_owned();
                        let v = Value::Str(std::borrow::Cow::Owned(id));
                        self.fit_value(ti, name, &v, row, false)?;
                    }
                }
            }
            self.remember(ti, pos, name);
        }
        // Hinted NOT NULL columns that the row does not fill.
        for required in self.tables[ti].required.iter() {
            let filled = cells.iter().any(|(n, cell)| {
                n.as_ref() == required.as_str() && !matches!(cell, Cell::V(Value::Null))
            });
            if !filled {
                return Err(RowError::NullInNotNull {
                    table: self.tables[ti].name.clone(),
                    column: required.clone(),
                });
            }
        }
        self.tables[ti].rows += 1;
        Ok(true)
    }

    fn nested_id(&mut self, parent: &RowId, table: &Rc<str>, idx: i64) -> RowId {
        if self.contract.is_some() {
            // Contract errors name the row id: compute it now.
            return RowId::Known(self.ids.known_now(parent, table, idx));
        }
        self.ids.push(parent, table, idx)
    }
}

/// Adds a table to a schema if missing (used when merging chunk results).
pub fn ensure_table(schema: &mut Schema, name: &str, parent: Option<&str>) -> bool {
    if schema.tables.contains_key(name) {
        return false;
    }
    let mut t = Table::new(name);
    t.parent = parent.map(str::to_string);
    if t.parent.is_some() {
        t.key_order = crate::schema::dlt_dict::KeyOrder::recorded([
            "name",
            "columns",
            "parent",
            "x-normalizer",
        ]);
    }
    schema.tables.insert(name.to_string(), t);
    true
}
