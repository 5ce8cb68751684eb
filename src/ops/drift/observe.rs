//! What one loaded package delivered: the tables and typed columns of its schema, and per
//! table the rows it loaded and the columns that got at least one value.
//!
//! Everything comes from the package as the loader left it in `load/loaded/<load_id>/`
//! (`schema.json`, `package.json`, the Arrow IPC job files), so it works the same for every
//! destination. Which columns got values is read from the job files' record batch headers
//! (each column's length and null count), not from the data: a large load costs a few small
//! reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::{Schema, dlt_dict};
use crate::storage::{NormalizedManifest, PipelineDir, read_json};

/// A column as drift compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnShape {
    /// dlt data type (`bigint`, `text`, …).
    pub data_type: String,
    /// A variant column (`price__v_text`), made when a value did not fit the column's type.
    pub variant: bool,
}

/// One table of a package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedTable {
    /// Typed columns of the table in the package's schema (without dlt's `_dlt_` columns).
    pub columns: BTreeMap<String, ColumnShape>,
    /// Rows the package loaded into it.
    pub rows: u64,
    /// Columns with at least one value in the package; `None` when the job files could not
    /// be read (then nothing is reported as removed).
    pub delivered: Option<BTreeSet<String>>,
}

/// What a package delivered, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The package's load id.
    pub load_id: String,
    /// Data tables of the schema (dlt's own tables left out).
    pub tables: BTreeMap<String, ObservedTable>,
}

/// Whether `name` is one of dlt's bookkeeping columns.
pub fn is_dlt_column(name: &str) -> bool {
    name.starts_with("_dlt_")
}

/// Observes the loaded package `load_id` of a pipeline; `None` when it is not on disk
/// (aborted, removed).
pub fn observe_loaded(dir: &PipelineDir, load_id: &str) -> Result<Option<Observed>> {
    let pkg = dir.loaded(load_id);
    let schema_path = pkg.join("schema.json");
    if !schema_path.is_file() {
        return Ok(None);
    }
    let v: serde_json::Value = read_json(&schema_path)?;
    let schema = dlt_dict::from_json(&v).map_err(|reason| Error::Corrupt {
        path: schema_path.clone(),
        reason,
    })?;
    let manifest: NormalizedManifest = read_json(&pkg.join("package.json"))?;
    Ok(Some(observe(&schema, &manifest, &pkg)))
}

/// Observes a package from its schema and manifest; job files are looked up under `pkg`.
pub fn observe(schema: &Schema, manifest: &NormalizedManifest, pkg: &Path) -> Observed {
    let mut tables: BTreeMap<String, ObservedTable> = BTreeMap::new();
    for t in schema.data_tables() {
        if t.name.starts_with("_dlt_") || t.name.starts_with("_dango_") {
            continue;
        }
        let columns = t
            .columns
            .values()
            .filter(|c| !is_dlt_column(&c.name))
            .filter_map(|c| {
                Some((
                    c.name.clone(),
                    ColumnShape {
                        data_type: c.data_type?.as_str().to_string(),
                        variant: c.variant,
                    },
                ))
            })
            .collect();
        tables.insert(
            t.name.clone(),
            ObservedTable {
                columns,
                rows: 0,
                delivered: Some(BTreeSet::new()),
            },
        );
    }
    for job in &manifest.jobs {
        let Some(t) = tables.get_mut(&job.table) else {
            continue;
        };
        t.rows += job.rows;
        let read = job_path(pkg, &job.file).ok_or_else(|| format!("{} is missing", job.file));
        match read.and_then(|p| columns_with_values(&p).map_err(|e| e.to_string())) {
            Ok(cols) => {
                if let Some(d) = t.delivered.as_mut() {
                    d.extend(cols);
                }
            }
            Err(e) => {
                tracing::debug!(
                    "schema drift: cannot read which columns job {} delivered: {e}",
                    job.file
                );
                t.delivered = None;
            }
        }
    }
    Observed {
        load_id: manifest.load_id.clone(),
        tables,
    }
}

fn job_path(pkg: &Path, file: &str) -> Option<PathBuf> {
    ["completed_jobs", "new_jobs", "started_jobs", ""]
        .iter()
        .map(|sub| pkg.join(sub).join(file))
        .find(|p| p.is_file())
}

/// The columns of an Arrow IPC file with at least one non-null value, read from the footer
/// and the record batch headers only.
pub fn columns_with_values(path: &Path) -> Result<Vec<String>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |why: &str| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("not a readable Arrow IPC file: {why}"),
    };
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if len < 18 {
        return Err(bad("too short"));
    }
    let mut tail = [0u8; 10];
    read_at(&mut f, len - 10, &mut tail).map_err(|e| Error::io(path, e))?;
    if &tail[4..] != b"ARROW1" {
        return Err(bad("no trailing magic"));
    }
    let footer_len = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if footer_len <= 0 || footer_len as u64 + 10 > len {
        return Err(bad("bad footer length"));
    }
    let mut footer_buf = vec![0u8; footer_len as usize];
    read_at(&mut f, len - 10 - footer_len as u64, &mut footer_buf)
        .map_err(|e| Error::io(path, e))?;
    let footer = arrow::ipc::root_as_footer(&footer_buf).map_err(|e| bad(&e.to_string()))?;
    let fields = footer
        .schema()
        .and_then(|s| s.fields())
        .ok_or_else(|| bad("no schema"))?;
    // Field nodes come depth first: a top-level field's node, then its children's.
    let mut node_of: Vec<(String, usize)> = Vec::new();
    let mut next = 0usize;
    for field in fields.iter() {
        node_of.push((field.name().unwrap_or_default().to_string(), next));
        next += nodes_of(&field);
    }
    let mut with_values = vec![false; node_of.len()];
    for block in footer.recordBatches().into_iter().flatten() {
        let meta_len = block.metaDataLength();
        if meta_len <= 0 || block.offset() < 0 {
            return Err(bad("bad record batch block"));
        }
        let mut meta = vec![0u8; meta_len as usize];
        read_at(&mut f, block.offset() as u64, &mut meta).map_err(|e| Error::io(path, e))?;
        // A message: [0xFFFFFFFF] <i32 length> <flatbuffer>.
        let skip = if meta.starts_with(&[0xff, 0xff, 0xff, 0xff]) {
            8
        } else {
            4
        };
        let body = meta.get(skip..).ok_or_else(|| bad("short message"))?;
        let msg = arrow::ipc::root_as_message(body).map_err(|e| bad(&e.to_string()))?;
        let batch = msg
            .header_as_record_batch()
            .ok_or_else(|| bad("a block is not a record batch"))?;
        let nodes = batch.nodes().ok_or_else(|| bad("no field nodes"))?;
        for (i, (_, node)) in node_of.iter().enumerate() {
            if *node >= nodes.len() {
                return Err(bad("fewer field nodes than fields"));
            }
            let n = nodes.get(*node);
            if n.null_count() < n.length() {
                with_values[i] = true;
            }
        }
    }
    Ok(node_of
        .into_iter()
        .zip(with_values)
        .filter(|(_, v)| *v)
        .map(|((name, _), _)| name)
        .collect())
}

/// Nodes a field takes: its own and its children's.
fn nodes_of(field: &arrow::ipc::Field<'_>) -> usize {
    1 + field
        .children()
        .map(|c| c.iter().map(|f| nodes_of(&f)).sum())
        .unwrap_or(0)
}

fn read_at(f: &mut File, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray, new_null_array};
    use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    use arrow::ipc::writer::FileWriter;
    use arrow::record_batch::RecordBatch;

    use super::*;

    #[test]
    fn columns_with_values_reads_only_the_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("gone", DataType::Utf8, true),
            Field::new("late", DataType::Int64, true),
        ]));
        let mut w = FileWriter::try_new(File::create(&path).unwrap(), &schema).unwrap();
        let batch = |late: ArrayRef| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
                    Arc::new(StringArray::from(vec![Some("a"), None])),
                    new_null_array(&DataType::Utf8, 2),
                    late,
                ],
            )
            .unwrap()
        };
        w.write(&batch(new_null_array(&DataType::Int64, 2)))
            .unwrap();
        w.write(&batch(Arc::new(Int64Array::from(vec![None, Some(7)]))))
            .unwrap();
        w.finish().unwrap();
        assert_eq!(
            columns_with_values(&path).unwrap(),
            ["id", "name", "late"].map(String::from)
        );
        std::fs::write(&path, b"not arrow at all, certainly").unwrap();
        assert!(columns_with_values(&path).is_err());
    }
}
