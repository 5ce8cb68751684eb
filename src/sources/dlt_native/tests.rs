//! Unit tests of `dlt_native`: the block, kwargs, interpreter lookup, dlt's table hints.

use super::*;
use crate::sources::types::find;

fn parse(yaml: &str, env: &Env) -> Result<Box<dyn SourceConfig>> {
    let block: Yaml = serde_norway::from_str(yaml).unwrap();
    find("dlt_native")
        .unwrap()
        .parse("my_custom_api", &block, env)
}

#[test]
fn block_accepts_both_function_keys_and_resolves_env_kwargs() {
    let env = Env::from_vars([("MY_KEY", "k-123"), ("START", "2024-01-01")]);
    let cfg = parse(
        "source_module: custom_sources.my_api\nsource_function: my_api_source\nfunction_kwargs: {api_key_env: MY_KEY, other_env: UNSET, start_date: \"${START}\", n: 3}\n",
        &env,
    )
    .unwrap();
    let text = format!("{cfg:?}");
    assert!(text.contains("source_name: \"my_api_source\""), "{text}");
    assert!(text.contains("\"api_key\": String(\"k-123\")"), "{text}");
    assert!(
        text.contains("\"start_date\": String(\"2024-01-01\")"),
        "{text}"
    );
    assert!(
        !text.contains("\"other\""),
        "unset *_env kwargs are dropped: {text}"
    );
    assert!(
        text.contains("unset_env: [(\"other_env\", \"UNSET\")]"),
        "and remembered for --dry-run: {text}"
    );
    let e = parse(
        "source_module: m\nsource_name: f\nfunction_kwargs: {x: \"${NOPE}\"}\n",
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("NOPE"), "{e}");
    let e = parse("source_module: m\nsource_nam: f\n", &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `source_nam`"), "{e}");
    let e = parse(
        "source_module: m\nsource_name: f\ndataset_name: other\n",
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("raw_my_custom_api"), "{e}");
    assert!(
        parse(
            "source_module: m\nsource_name: f\ndataset_name: raw_my_custom_api\n",
            &env
        )
        .is_ok()
    );
}

#[test]
fn interpreter_lookup_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let exe = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let bin = root.join("bin");
    exe(&bin.join("python3"));
    let path_env = Env::from_vars([("PATH", bin.display().to_string())]);
    let found = python::find_python("s", None, root, &path_env).unwrap();
    assert_eq!(found.path, bin.join("python3"));
    exe(&root.join(".venv/bin/python"));
    let found = python::find_python("s", None, root, &path_env).unwrap();
    assert_eq!(found.path, root.join(".venv/bin/python"));
    exe(&root.join("py/python"));
    let found = python::find_python("s", Some("py/python"), root, &path_env).unwrap();
    assert_eq!(found.path, root.join("py/python"));
    let with_var = Env::from_vars([
        ("PATH", bin.display().to_string()),
        ("DANGO_PYTHON", bin.join("python3").display().to_string()),
    ]);
    let found = python::find_python("s", Some("py/python"), root, &with_var).unwrap();
    assert_eq!(
        (found.path, found.origin.as_str()),
        (bin.join("python3"), "DANGO_PYTHON")
    );
    let bad = Env::from_vars([("DANGO_PYTHON", "/nonexistent/python")]);
    let e = python::find_python("s", None, root, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("DANGO_PYTHON") && e.contains("/nonexistent/python"),
        "{e}"
    );
    let empty = tempfile::tempdir().unwrap();
    let e = python::find_python(
        "s",
        None,
        empty.path(),
        &Env::from_vars([("PATH", "/nonexistent")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no Python found") && e.contains("pip install"),
        "{e}"
    );
}

#[test]
fn hints_from_dlt_tables() {
    let t: Map<String, Value> = serde_json::from_str(
        r#"{"columns": {"id": {"name": "id", "nullable": false, "primary_key": true},
            "ts": {"name": "ts", "incremental": true},
            "amount": {"name": "amount", "data_type": "decimal", "precision": 10, "scale": 2}},
            "write_disposition": "merge", "x-merge-strategy": "upsert", "name": "orders",
            "resource": "orders", "x-normalizer": {"max_nesting": 1},
            "schema_contract": "freeze"}"#,
    )
    .unwrap();
    let h = package::hints("orders", &t);
    assert_eq!(h.write_disposition, crate::schema::WriteDisposition::Merge);
    assert_eq!(h.merge_strategy, Some(crate::schema::MergeStrategy::Upsert));
    assert_eq!(h.primary_key, vec!["id".to_string()]);
    assert_eq!(h.max_table_nesting, Some(1));
    assert_eq!(h.schema_contract, Some(json!("freeze")));
    assert_eq!(h.columns["amount"]["precision"], json!(10));
    assert!(!h.columns["id"].as_object().unwrap().contains_key("name"));
    let plain = package::hints("t", &Map::new());
    assert_eq!(
        plain.write_disposition,
        crate::schema::WriteDisposition::Append
    );
}
