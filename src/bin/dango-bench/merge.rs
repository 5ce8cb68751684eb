//! `dango-bench --merge`: a merge of changed orders into a large table with nested children,
//! through `dango sync` (write disposition merge, primary key `order_id`), beside the same
//! delete-insert written as plain DuckDB SQL in the same run.
//!
//! 1. Generate N orders and sync them into a fresh warehouse (not timed for the comparison).
//! 2. Generate N/10 changed orders: every 10th order, with a new status and `updatedAt`, and
//!    every other one of those with its line items shrunk to one.
//! 3. Copy the warehouse as it is after step 1 for the reference.
//! 4. Time `dango sync` of the changed orders (end to end: extract, normalize, staging load,
//!    merge SQL, commit).
//! 5. Time the reference on the copy: `read_json` of the changed orders into staging tables
//!    (with `_dlt_root_id`), then delete the old roots' children via `_dlt_root_id`, the old
//!    roots, and insert the new roots and children, in one transaction.
//! 6. Check both warehouses hold the same row counts.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use dango::sample::{self, DISCOUNTS_TABLE, LINE_ITEMS_TABLE, ROOT_TABLE};

use super::{Run, SCHEMA, SEED, group, mib_text, run_dango, table_counts};

/// Writes the changed orders (every 10th input line) to `out`; returns how many.
fn write_changed(input: &Path, out: &Path) -> Result<u64> {
    let reader = BufReader::new(File::open(input)?);
    let mut w = BufWriter::new(File::create(out)?);
    let mut n = 0u64;
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if i % 10 != 0 {
            continue;
        }
        let mut order: serde_json::Value = serde_json::from_str(&line)?;
        order["status"] = serde_json::json!("updated");
        order["updatedAt"] = serde_json::json!("2026-11-25T12:00:00Z");
        if i % 20 == 0
            && let Some(items) = order["lineItems"].as_array_mut()
        {
            items.truncate(1);
        }
        serde_json::to_writer(&mut w, &order)?;
        w.write_all(b"\n")?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// A project whose `bench` source merges `input_dir/*.jsonl` into `orders` on `order_id`;
/// `fresh` starts from an empty project, otherwise only the source's directory changes.
fn write_merge_project(proj: &Path, input_dir: &Path, fresh: bool) -> Result<()> {
    if fresh && proj.exists() {
        fs::remove_dir_all(proj)?;
    }
    for dir in [".dango", ".dlt", "data"] {
        fs::create_dir_all(proj.join(dir))?;
    }
    let dir = serde_json::to_string(input_dir.to_str().context("work dir is not UTF-8")?)?;
    let sources = format!(
        "version: \"1.0\"\nsources:\n  - name: bench\n    type: local_files\n    local_files:\n      \
         directory: {dir}\n      file_pattern: \"*.jsonl\"\n      table_name: {ROOT_TABLE}\n      \
         write_disposition: merge\n      primary_key: order_id\n"
    );
    fs::write(proj.join(".dango/sources.yml"), sources)?;
    fs::write(proj.join(".dlt/config.toml"), "")?;
    fs::write(proj.join(".dlt/secrets.toml"), "")?;
    Ok(())
}

/// The plain-SQL merge: staging from `read_json`, then dlt's delete-insert via `_dlt_root_id`.
const MERGE_SQL: &str = "
SET autoinstall_known_extensions = false; SET autoload_known_extensions = true;
BEGIN;
CREATE TEMP TABLE raw AS SELECT *, gen_random_uuid()::VARCHAR AS _dlt_id
  FROM read_json('{input}', format = 'newline_delimited');
CREATE TEMP TABLE stg_orders AS
  SELECT {orders_columns}
  FROM raw;
CREATE TEMP TABLE items AS
  SELECT unnest(lineItems) AS item, unnest(range(len(lineItems))) AS _dlt_list_idx,
    raw._dlt_id AS _dlt_parent_id, raw._dlt_id AS _dlt_root_id,
    gen_random_uuid()::VARCHAR AS _dlt_id
  FROM raw;
CREATE TEMP TABLE stg_items AS
  SELECT item.sku AS sku, item.productName AS product_name, item.quantity AS quantity,
    item.unitPrice AS unit_price, _dlt_parent_id, _dlt_list_idx, _dlt_id, _dlt_root_id
  FROM items;
CREATE TEMP TABLE stg_discounts AS
  SELECT d.code AS code, d.amountOff AS amount_off, _dlt_parent_id, _dlt_list_idx,
    gen_random_uuid()::VARCHAR AS _dlt_id, _dlt_root_id
  FROM (SELECT unnest(item.discounts) AS d, unnest(range(len(item.discounts))) AS _dlt_list_idx,
      items._dlt_id AS _dlt_parent_id, items._dlt_root_id FROM items);
CREATE TEMP TABLE del AS
  SELECT d._dlt_id FROM {schema}.{orders} AS d
  WHERE EXISTS (SELECT 1 FROM stg_orders AS s WHERE d.order_id = s.order_id);
DELETE FROM {schema}.{discounts} WHERE _dlt_root_id IN (SELECT _dlt_id FROM del);
DELETE FROM {schema}.{line_items} WHERE _dlt_root_id IN (SELECT _dlt_id FROM del);
DELETE FROM {schema}.{orders} WHERE _dlt_id IN (SELECT _dlt_id FROM del);
INSERT INTO {schema}.{orders} BY NAME SELECT * FROM stg_orders;
INSERT INTO {schema}.{line_items} BY NAME SELECT * FROM stg_items;
INSERT INTO {schema}.{discounts} BY NAME SELECT * FROM stg_discounts;
COMMIT;";

/// Times the plain-SQL merge of `changed` into the warehouse copy `db`, from opening it to
/// closing it (so the checkpoint counts).
fn run_native_merge(changed: &Path, db: &Path) -> Result<Run> {
    let load_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    let input = changed.to_str().context("work dir is not UTF-8")?;
    let sql = MERGE_SQL
        .replace("{orders_columns}", super::ORDERS_COLUMNS)
        .replace("{load_id}", &format!("{load_id:.6}"))
        .replace("{schema}", SCHEMA)
        .replace("{orders}", ROOT_TABLE)
        .replace("{line_items}", &format!("\"{LINE_ITEMS_TABLE}\""))
        .replace("{discounts}", &format!("\"{DISCOUNTS_TABLE}\""))
        .replace("{input}", &input.replace('\'', "''"));
    let cpu_before = super::cpu_time(&super::self_usage());
    let started = Instant::now();
    super::run_sql(db, &sql).context("DuckDB plain-SQL merge")?;
    Ok(super::measured(
        started.elapsed(),
        &super::self_usage(),
        cpu_before,
    ))
}

/// Runs the merge benchmark; `Ok(false)` if the two warehouses disagree.
pub fn bench_merge(orders: u64, dango_bin: &Path, work: &Path) -> Result<bool> {
    let initial_dir = work.join("input");
    let changed_dir = work.join("changed");
    fs::create_dir_all(&initial_dir)?;
    fs::create_dir_all(&changed_dir)?;
    let initial = initial_dir.join("orders.jsonl");
    let changed = changed_dir.join("orders.jsonl");
    println!(
        "dango-bench --merge: {} orders, work dir {}",
        group(orders),
        work.display()
    );
    let stats = sample::write_orders_with_stats(File::create(&initial)?, orders, SEED)?;
    let n_changed = write_changed(&initial, &changed)?;
    let changed_size = fs::metadata(&changed)?.len();
    println!(
        "generated {} ({}) and {} changed orders ({}), not part of the comparison",
        group(stats.orders),
        mib_text(stats.bytes),
        group(n_changed),
        mib_text(changed_size)
    );

    let proj = work.join("proj");
    write_merge_project(&proj, &initial_dir, true)?;
    let first = run_dango(dango_bin, &proj, work)?;
    println!(
        "initial load: dango sync {:.2} s (not compared)",
        first.wall.as_secs_f64()
    );
    let warehouse = proj.join("data").join("warehouse.duckdb");
    let ref_db = work.join("ref.duckdb");
    let _ = fs::remove_file(work.join("ref.duckdb.wal"));
    fs::copy(&warehouse, &ref_db).context("copying the warehouse for the reference")?;

    write_merge_project(&proj, &changed_dir, false)?;
    let dango = run_dango(dango_bin, &proj, work)?;
    let native = run_native_merge(&changed, &ref_db)?;

    let d = table_counts(&warehouse)?;
    let n = table_counts(&ref_db)?;
    let (ds, ns) = (dango.wall.as_secs_f64(), native.wall.as_secs_f64());
    println!(
        "\n== merge of {} changed orders into {} orders ==",
        group(n_changed),
        group(stats.orders)
    );
    println!("{:<26} {:>12} {:>14}", "", "dango sync", "plain SQL");
    println!("{:<26} {ds:>12.2} {ns:>14.2}", "wall time (s)");
    println!(
        "{:<26} {:>12.2} {:>14.2}",
        "CPU user+sys (s)",
        dango.cpu.as_secs_f64(),
        native.cpu.as_secs_f64()
    );
    println!(
        "{:<26} {:>12.1}",
        "dango peak RSS (MiB)",
        dango.peak_rss_kib as f64 / 1024.0
    );
    println!(
        "{:<26} {:>11.2}x  (target <= 1.5x)",
        "ratio dango/plain SQL",
        ds / ns
    );
    let mut ok = true;
    for (i, t) in [ROOT_TABLE, LINE_ITEMS_TABLE, DISCOUNTS_TABLE]
        .iter()
        .enumerate()
    {
        let flag = if d[i] == n[i] {
            ""
        } else {
            "  *** MISMATCH ***"
        };
        ok &= d[i] == n[i];
        println!(
            "{t:<30} dango {:>11}  plain SQL {:>11}{flag}",
            group(d[i]),
            group(n[i])
        );
    }
    if d[0] != stats.orders {
        bail!(
            "the merge changed the number of orders: {} != {}",
            d[0],
            stats.orders
        );
    }
    Ok(ok)
}
