//! Empty-replace protection: a load that would leave a previously non-empty root table with 0
//! rows (a `replace` table the source returned nothing for, or a table a full refresh would
//! drop or leave empty) is refused before the commit, so nothing changes.

use crate::destinations::Destination;
use crate::error::{Error, Result};
use crate::schema::Schema;

/// Root tables the load replaces, with their rows before it (only non-empty ones).
pub(super) fn candidates(
    dest: &dyn Destination,
    dataset: &str,
    schema: &Schema,
    truncate_tables: &[String],
    replace_dataset: bool,
) -> Result<Vec<(String, u64)>> {
    let existing = dest.dataset_tables(dataset)?;
    let mut names: Vec<String> = if replace_dataset {
        // Every data table of the dataset: roots are the tables without a parent link.
        existing
            .iter()
            .filter(|(t, cols)| {
                !t.starts_with("_dlt")
                    && !t.starts_with("_dango")
                    && !cols.iter().any(|c| c == "_dlt_parent_id")
            })
            .map(|(t, _)| t.clone())
            .collect()
    } else {
        truncate_tables
            .iter()
            .filter(|t| existing.contains_key(*t))
            .filter(|t| schema.table(t).is_none_or(|tb| tb.parent.is_none()))
            .cloned()
            .collect()
    };
    names.sort();
    let mut out = Vec::new();
    for t in names {
        let n = dest.row_count(dataset, &t)?;
        if n > 0 {
            out.push((t, n));
        }
    }
    Ok(out)
}

/// Fails with [`Error::EmptyReplaceRefused`] when a candidate table is empty (or gone) in the
/// open load.
pub(super) fn check(dest: &dyn Destination, dataset: &str, before: &[(String, u64)]) -> Result<()> {
    let mut emptied = Vec::new();
    for (t, n) in before {
        if dest.row_count(dataset, t)? == 0 {
            emptied.push((t.clone(), *n));
        }
    }
    if emptied.is_empty() {
        return Ok(());
    }
    Err(Error::EmptyReplaceRefused { tables: emptied })
}
