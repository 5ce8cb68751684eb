//! The item stream of the Python child: dlt's object items as its extract hands them to its
//! item storage (`ItemStream` in `runner.py`), read while the child runs and written into
//! dango's extracted package, one job per table.
//!
//! Frames, one per line: `=<table name as JSON>` switches the table; any other line is the item,
//! or the list of items, of one call, in dlt's typed JSON (the lines of dlt's typed-jsonl jobs).
//! The pipe is bounded: a child that produces faster than dango writes waits, so neither side
//! holds more than a pipe buffer and a line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use crate::error::{Error, Result};
use crate::extract::ItemWriter;

/// What was read from the stream: the tables that received items, in order of their first item.
#[derive(Debug, Default)]
pub struct Streamed {
    /// dlt's table names.
    pub tables: Vec<String>,
}

/// Bytes between two progress reports (and Ctrl-C checks).
const REPORT_EVERY: u64 = 1 << 20;

/// Reads the stream to its end, writing each table's items through a sibling writer of `out`
/// (declared later, with the hints dlt ends with: `super::declare_tables`).
pub fn read(stream: impl Read, out: &mut ItemWriter<'_>) -> Result<Streamed> {
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    let mut writers: HashMap<String, ItemWriter<'_>> = HashMap::new();
    let mut done = Streamed::default();
    let mut current: Option<String> = None;
    let mut line = Vec::with_capacity(1 << 16);
    let mut n = 0u64;
    let mut unreported = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Internal(format!("reading the Python child's items: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        let bad = |reason: &str| Error::BadInput {
            origin: "the Python child's item stream".into(),
            line: n,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(&line).map_err(|_| bad("not UTF-8"))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(name) = text.strip_prefix('=') {
            let name: String = serde_json::from_str(name).map_err(|_| bad("bad table frame"))?;
            if !writers.contains_key(&name) {
                writers.insert(name.clone(), out.sibling(&name));
                done.tables.push(name.clone());
            }
            current = Some(name);
            continue;
        }
        if text.is_empty() {
            continue;
        }
        let w = current
            .as_ref()
            .and_then(|t| writers.get_mut(t))
            .ok_or_else(|| bad("items before a table frame"))?;
        if text.starts_with('[') {
            let items = crate::json::split::split_array(text)
                .ok_or_else(|| bad("not a JSON array of items"))?;
            for item in items {
                super::package::write_item(item, w)?;
            }
        } else {
            super::package::write_item(text, w)?;
        }
        unreported += read as u64;
        if unreported >= REPORT_EVERY {
            w.page_read(unreported)?;
            unreported = 0;
        }
    }
    for (name, mut w) in writers {
        if unreported > 0 && current.as_deref() == Some(name.as_str()) {
            w.page_read(unreported)?;
        }
        w.close()?;
    }
    Ok(done)
}
