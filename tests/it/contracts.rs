//! Schema contracts against dlt 1.31's own results (`tests/fixtures/dlt_merge/contract_*`),
//! replayed through `dango sync` (see `merge_replay`).

use crate::merge_replay::Replay;

#[test]
fn contract_tables_modes_match_dlt() {
    Replay::run("contract_tables_evolve");
    Replay::run("contract_tables_freeze");
    Replay::run("contract_tables_discard_row");
    Replay::run("contract_tables_discard_value");
}

#[test]
fn contract_tables_on_a_fresh_pipeline_match_dlt() {
    Replay::run("contract_tables_freeze_fresh");
    Replay::run("contract_tables_discard_row_fresh");
}

#[test]
fn contract_columns_modes_match_dlt() {
    Replay::run("contract_columns_evolve");
    Replay::run("contract_columns_freeze");
    Replay::run("contract_columns_discard_row");
    Replay::run("contract_columns_discard_value");
}

#[test]
fn contract_data_type_modes_match_dlt() {
    Replay::run("contract_data_type_evolve");
    Replay::run("contract_data_type_freeze");
    Replay::run("contract_data_type_discard_row");
    Replay::run("contract_data_type_discard_value");
}

#[test]
fn contract_freeze_shorthand_matches_dlt() {
    Replay::run("contract_freeze_string");
}
