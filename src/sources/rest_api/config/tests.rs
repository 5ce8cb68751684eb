//! Unit tests of the rest_api config parser.

use super::*;
use serde_json::json;

#[test]
fn merges_defaults_like_dlt() {
    let c = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/api"},
        "resource_defaults": {
            "primary_key": "id", "write_disposition": "merge",
            "endpoint": {"params": {"per_page": 10, "x": 1}, "data_selector": "data"},
            "columns": {"a": {"data_type": "text"}}
        },
        "resources": [
            "users",
            {"name": "posts", "write_disposition": "replace",
             "endpoint": {"path": "p", "params": {"x": 2}, "data_selector": "items"},
             "columns": {"a": {"nullable": false}}}
        ]
    }))
    .unwrap();
    let u = &c.resources[0];
    assert_eq!(u.endpoint.path, "users");
    assert_eq!(u.write_disposition, WriteDisposition::Merge);
    assert_eq!(u.primary_key, vec!["id"]);
    assert_eq!(u.endpoint.params["per_page"], json!(10));
    let p = &c.resources[1];
    assert_eq!(p.write_disposition, WriteDisposition::Replace);
    assert_eq!(p.endpoint.params["x"], json!(2));
    assert_eq!(p.endpoint.params["per_page"], json!(10));
    assert_eq!(p.endpoint.data_selector.as_deref(), Some("items"));
    assert_eq!(
        p.columns["a"],
        json!({"nullable": false, "data_type": "text"})
    );
}

#[test]
fn flat_shorthand_defaults_to_merge_on_id() {
    let c = RestApiConfig::from_value(&json!({
        "base_url": "https://x.io/",
        "auth_type": "bearer",
        "token_env": "MY_TOKEN",
        "endpoints": ["orders", {"name": "users", "path": "v2/users", "data_selector": "data"}, "/v1/items/"]
    }))
    .unwrap();
    assert!(c.shorthand);
    let auth = c.client.auth.unwrap();
    assert_eq!(auth.kind, "bearer");
    assert_eq!(auth.env["token"], "MY_TOKEN");
    assert_eq!(c.resources[0].write_disposition, WriteDisposition::Merge);
    assert_eq!(c.resources[0].primary_key, vec!["id"]);
    assert_eq!(c.resources[1].endpoint.path, "v2/users");
    assert_eq!(c.resources[2].name, "items");
}

#[test]
fn rejects_unknown_keys_with_allowed_list() {
    let e = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/"},
        "resources": [{"name": "a", "endpoint": {"path": "a", "paginatr": "auto"}}]
    }))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("paginatr") && e.contains("allowed keys") && e.contains("paginator"),
        "{e}"
    );
    let e = RestApiConfig::from_value(
        &json!({"base_url": "https://x.io/", "endpoints": ["a"], "auth_tokn_env": "X"}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("auth_tokn_env") && e.contains("token_env"),
        "{e}"
    );
    let e = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/", "paginator": {"type": "offset", "limt": 5}},
        "resources": ["a"]
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("limt"), "{e}");
    let e = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/", "auth": {"type": "bearer", "tokn": "x"}},
        "resources": ["a"]
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("tokn") && e.contains("token_env"), "{e}");
}

#[test]
fn json_and_data_are_exclusive_and_incremental_needs_initial() {
    let e = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/"},
        "resources": [{"name": "a", "endpoint": {"json": {}, "data": {}}}]
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("json") && e.contains("data"), "{e}");
    let e = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/"},
        "resources": [{"name": "a", "endpoint": {"incremental": {"cursor_path": "u", "end_value": 3}}}]
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("initial_value"), "{e}");
}

#[test]
fn schema_contract_and_scd2_options_per_resource_and_source() {
    let c = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/api"},
        "schema_contract": "freeze",
        "resource_defaults": {"schema_contract": {"columns": "discard_value"}},
        "resources": [
            "users",
            {"name": "posts", "schema_contract": {"data_type": "discard_row"},
             "write_disposition": {"disposition": "merge", "strategy": "scd2",
                                   "validity_column_names": ["from_", "to_"]}}
        ]
    }))
    .unwrap();
    assert_eq!(
        c.resources[0].schema_contract,
        Some(json!({"columns": "discard_value"}))
    );
    assert_eq!(
        c.resources[1].schema_contract,
        Some(json!({"data_type": "discard_row"}))
    );
    assert_eq!(
        c.resources[1].validity_column_names,
        Some(vec!["from_".to_string(), "to_".to_string()])
    );
    let e = RestApiConfig::from_value(&json!({
        "client": {"base_url": "https://x.io/api"},
        "resources": [{"name": "users", "schema_contract": {"columns": "frozen"}}]
    }))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(".resources.users.schema_contract") && e.contains("discard_value"),
        "{e}"
    );

    let flat = RestApiConfig::from_value(&json!({
        "base_url": "https://x.io/api",
        "schema_contract": {"columns": "freeze"},
        "endpoints": ["users", {"path": "posts", "schema_contract": "evolve"}]
    }))
    .unwrap();
    assert_eq!(
        flat.resources[0].schema_contract,
        Some(json!({"columns": "freeze"}))
    );
    assert_eq!(flat.resources[1].schema_contract, Some(json!("evolve")));
}
