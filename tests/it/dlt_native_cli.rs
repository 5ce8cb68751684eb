//! `dango source add --dlt-native`, `dango validate` of dlt sources, Dango's API types
//! (`type: stripe` + `generic_config:`) running a dlt verified source, and the
//! `pipeline_name` / `dataset_name` keys, through the real binary with a real Python and dlt.

use std::path::Path;

use crate::services;
use crate::util::TestProject;

const MY_API: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/dlt_native/custom_sources/my_api.py"
);

fn run(p: &TestProject, python: &Path, args: &[&str]) -> (bool, String) {
    let out = p
        .dango()
        .args(args)
        .env("DANGO_PYTHON", python)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn add_secret(p: &TestProject, text: &str) {
    let path = p.path().join(".dlt/secrets.toml");
    let mut s = std::fs::read_to_string(&path).unwrap_or_default();
    s.push_str(text);
    std::fs::write(&path, s).unwrap();
}

#[test]
fn source_add_registers_a_module_and_validate_checks_its_secrets() {
    let Some(python) = services::python("dlt_native_cli::add") else {
        return;
    };
    let p = TestProject::new();
    p.write(
        "custom_sources/my_api.py",
        &std::fs::read_to_string(MY_API).unwrap(),
    );
    let (ok, t) = run(
        &p,
        &python,
        &["source", "add", "--dlt-native", "custom_sources/my_api.py"],
    );
    assert!(ok, "{t}");
    assert!(t.contains("@dlt.source functions: my_api_source"), "{t}");
    // The missing secret is named right away, with where dlt looks for it.
    assert!(t.contains("`api_key` (secret) not found"), "{t}");
    assert!(t.contains("sources.my_api.my_api_source.api_key"), "{t}");
    let yml = std::fs::read_to_string(p.path().join(".dango/sources.yml")).unwrap();
    assert!(
        yml.contains("  - name: my_api\n    type: dlt_native\n")
            && yml.contains("source_module: \"custom_sources.my_api\"")
            && yml.contains("source_name: \"my_api_source\""),
        "{yml}"
    );
    let (ok, t) = run(&p, &python, &["source", "list"]);
    assert!(
        ok && t.contains("my_api") && t.contains("dlt_native"),
        "{t}"
    );
    // validate imports the module and resolves its arguments with dlt (nothing is fetched).
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("my_api_source() cannot resolve 1 argument(s)")
            && t.contains("`api_key` (secret) not found")
            && t.contains("[sources.my_api_source]")
            && t.contains(".dlt/secrets.toml"),
        "{t}"
    );
    add_secret(
        &p,
        "\n[sources.my_api_source]\napi_key = \"k-123-secret\"\n",
    );
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(ok, "{t}");
    assert!(
        t.contains(
            "custom_sources.my_api.my_api_source() imports; dlt resolves its arguments (api_key)"
        ),
        "{t}"
    );
    assert!(!t.contains("k-123-secret"), "{t}");
    // A second add of the same name is refused; a module with two sources needs --function.
    let (ok, t) = run(
        &p,
        &python,
        &["source", "add", "--dlt-native", "custom_sources/my_api.py"],
    );
    assert!(!ok && t.contains("already in"), "{t}");
    p.write(
        "custom_sources/two.py",
        "import dlt\n\n@dlt.source\ndef first():\n    return dlt.resource([{\"a\": 1}], name=\"a\")\n\n@dlt.source\ndef second():\n    return dlt.resource([{\"b\": 2}], name=\"b\")\n",
    );
    let (ok, t) = run(
        &p,
        &python,
        &["source", "add", "--dlt-native", "custom_sources/two.py"],
    );
    assert!(!ok, "{t}");
    assert!(
        t.contains("several @dlt.source functions (first, second)"),
        "{t}"
    );
    let (ok, t) = run(
        &p,
        &python,
        &[
            "source",
            "add",
            "--dlt-native",
            "custom_sources/two.py",
            "--function",
            "nope",
        ],
    );
    assert!(!ok && t.contains("found: first, second"), "{t}");
    let (ok, t) = run(
        &p,
        &python,
        &[
            "source",
            "add",
            "--dlt-native",
            "custom_sources/two.py",
            "--function",
            "second",
        ],
    );
    assert!(ok, "{t}");
    let (ok, t) = run(&p, &python, &["sync", "two"]);
    assert!(ok, "{t}");
    assert_eq!(p.scalar("SELECT b FROM raw_two.b"), "2");
}

#[test]
fn source_add_template_writes_a_module_that_syncs() {
    let Some(python) = services::python("dlt_native_cli::template") else {
        return;
    };
    let p = TestProject::new();
    let (ok, t) = run(
        &p,
        &python,
        &["source", "add", "--dlt-native", "custom_sources/crm.py"],
    );
    assert!(
        !ok && t.contains("does not exist") && t.contains("--template"),
        "{t}"
    );
    let (ok, t) = run(
        &p,
        &python,
        &[
            "source",
            "add",
            "--dlt-native",
            "custom_sources/crm.py",
            "--template",
        ],
    );
    assert!(ok, "{t}");
    assert!(
        t.contains("Created template custom_sources/crm.py with @dlt.source crm_source()"),
        "{t}"
    );
    assert!(t.contains("`api_key` (secret) not found"), "{t}");
    let (ok, t) = run(
        &p,
        &python,
        &[
            "source",
            "add",
            "--dlt-native",
            "custom_sources/crm.py",
            "--template",
            "--name",
            "crm2",
        ],
    );
    assert!(!ok && t.contains("already exists"), "{t}");
    add_secret(&p, "\n[sources.crm_source]\napi_key = \"x\"\n");
    let (ok, t) = run(&p, &python, &["sync", "crm"]);
    assert!(ok, "{t}");
    assert_eq!(
        p.query("SELECT id, name FROM raw_crm.crm_items"),
        vec![vec![Some("1".into()), Some("example".into())]]
    );
}

#[test]
fn validate_reports_missing_module_function_and_dlt_with_the_fix() {
    let Some(python) = services::python("dlt_native_cli::validate_errors") else {
        return;
    };
    let p = TestProject::new();
    p.write(
        "custom_sources/rows.py",
        "import dlt\n\n@dlt.source\ndef rows_source(n: int = 2):\n    return dlt.resource([{\"i\": i} for i in range(n)], name=\"rows\")\n",
    );
    let yml = |module: &str, function: &str| {
        format!(
            "version: \"1.0\"\nsources:\n  - name: rows\n    type: dlt_native\n    dlt_native:\n      source_module: {module}\n      source_name: {function}\n      function_kwargs: {{n: 3}}\n"
        )
    };
    p.write(".dango/sources.yml", &yml("rows", "rows_source"));
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(ok, "{t}");
    assert!(
        t.contains("rows.rows_source() imports; dlt resolves its arguments (n)"),
        "{t}"
    );
    p.write(
        ".dango/sources.yml",
        &yml("custom_sources.nope", "rows_source"),
    );
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(
        !ok && t.contains("cannot import module `custom_sources.nope`"),
        "{t}"
    );
    p.write(".dango/sources.yml", &yml("rows", "row_source"));
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("has no function `row_source`") && t.contains("found in it: rows_source"),
        "{t}"
    );
    p.write(".dango/sources.yml", &yml("rows", "rows_source"));
    let (ok, t) = run(&p, Path::new("/nonexistent/python"), &["validate"]);
    assert!(
        !ok && t.contains("DANGO_PYTHON") && t.contains("/nonexistent/python"),
        "{t}"
    );
    let bare = tempfile::tempdir().unwrap();
    let venv = bare.path().join("venv");
    let made = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status();
    if made.is_ok_and(|s| s.success()) {
        let (ok, t) = run(&p, &venv.join("bin/python"), &["validate"]);
        assert!(
            !ok && t.contains("cannot import dlt") && t.contains("pip install"),
            "{t}"
        );
    }
}

/// A module shaped like dlt's verified source `stripe_analytics` (what `dlt init
/// stripe_analytics duckdb` puts in the project), serving local data.
const FAKE_STRIPE: &str = r#"import dlt

ENDPOINTS = ("Customer", "Invoice")


@dlt.source(max_table_nesting=2)
def stripe_source(
    endpoints=ENDPOINTS,
    stripe_secret_key: str = dlt.secrets.value,
    start_date=None,
    end_date=None,
):
    def get(endpoint):
        assert stripe_secret_key == "sk_test_123", "wrong key"
        yield [{"id": f"{endpoint[:3].lower()}_{i}", "created": start_date, "n": i} for i in range(3)]

    for endpoint in endpoints:
        yield dlt.resource(get, name=endpoint, write_disposition="replace")(endpoint)
"#;

#[test]
fn dango_api_types_run_the_dlt_verified_source_with_generic_config() {
    let Some(python) = services::python("dlt_native_cli::verified") else {
        return;
    };
    let p = TestProject::new();
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: payments\n    type: stripe\n    generic_config:\n      stripe_secret_key_env: STRIPE_KEY\n      start_date: \"2024-01-01\"\n      description: dropped\n      resources: [Customer]\n",
    );
    // Not in the project: the error says how to get it.
    let (ok, t) = run(&p, &python, &["sync"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("`dlt init stripe_analytics duckdb`") && t.contains("stripe_source()"),
        "{t}"
    );
    p.write("stripe_analytics/__init__.py", FAKE_STRIPE);
    let (ok, t) = run(&p, &python, &["source", "list"]);
    assert!(
        ok && t.contains("stripe") && t.contains("per resource"),
        "{t}"
    );
    // The key unset: dlt resolves it from secrets.toml; validate names it when it is absent.
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("`stripe_secret_key` (secret) not found")
            && t.contains("sources.stripe_analytics.stripe_source.stripe_secret_key"),
        "{t}"
    );
    add_secret(
        &p,
        "\n[sources.stripe_analytics]\nstripe_secret_key = \"sk_test_123\"\n",
    );
    let (ok, t) = run(&p, &python, &["validate"]);
    assert!(ok, "{t}");
    let (ok, t) = run(&p, &python, &["sync"]);
    assert!(ok, "{t}");
    assert_eq!(
        p.query("SELECT id, created, n FROM raw_payments.customer ORDER BY n"),
        (0..3)
            .map(|i| vec![
                Some(format!("cus_{i}")),
                Some("2024-01-01".into()),
                Some(i.to_string())
            ])
            .collect::<Vec<_>>()
    );
    assert!(!p.tables("raw_payments").contains(&"invoice".to_string()));
    // The *_env key wins when its variable is set; a wrong key fails with the source's error
    // and commits nothing.
    let out = p
        .dango()
        .args(["sync"])
        .env("DANGO_PYTHON", &python)
        .env("STRIPE_KEY", "sk_wrong")
        .output()
        .unwrap();
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success() && t.contains("wrong key"), "{t}");
    assert!(!t.contains("sk_wrong"), "{t}");
    assert_eq!(p.count("raw_payments.customer"), 3);
    // An unknown resource in `resources` is named with the ones the source has.
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: payments\n    type: stripe\n    generic_config:\n      resources: [Charge]\n",
    );
    let (ok, t) = run(&p, &python, &["sync"]);
    assert!(
        !ok && t.contains("Charge") && t.contains("Customer, Invoice"),
        "{t}"
    );
}

#[test]
fn pipeline_and_dataset_names_other_than_dangos_are_refused_with_the_reason() {
    let p = TestProject::new();
    let yml = |extra: &str| {
        format!(
            "version: \"1.0\"\nsources:\n  - name: Shop\n    type: dlt_native\n    dlt_native:\n      source_module: shop\n      source_name: shop_source\n{extra}"
        )
    };
    // Dango's defaults are accepted (the name is used lower-cased).
    p.write(
        ".dango/sources.yml",
        &yml("      pipeline_name: shop\n      dataset_name: raw_shop\n"),
    );
    let out = p.dango().args(["sync", "--dry-run"]).output().unwrap();
    let t =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!t.contains("not supported"), "{t}");
    p.write(
        ".dango/sources.yml",
        &yml("      dataset_name: raw_orders\n"),
    );
    let out = p.dango().args(["sync"]).output().unwrap();
    let t =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("dataset_name `raw_orders` is not supported")
            && t.contains("dataset `raw_shop`")
            && t.contains("name the source `orders`"),
        "{t}"
    );
}

#[test]
fn a_lone_resource_with_kwargs_loads_and_its_cursor_survives_runs() {
    let Some(python) = services::python("dlt_native_cli::lone_resource") else {
        return;
    };
    let p = TestProject::new();
    p.write(
        "custom_sources/counting.py",
        "import dlt\n\n@dlt.resource(name=\"numbers\", write_disposition=\"append\")\ndef numbers(n: int = 1, cursor=dlt.sources.incremental(\"i\", initial_value=0)):\n    for i in range(1, n + 1):\n        if i > cursor.last_value:\n            yield {\"i\": i}\n",
    );
    let yml = |n: u32| {
        format!(
            "version: \"1.0\"\nsources:\n  - name: nums\n    type: dlt_native\n    dlt_native:\n      source_module: counting\n      source_name: numbers\n      function_kwargs: {{n: {n}}}\n"
        )
    };
    p.write(".dango/sources.yml", &yml(3));
    let (ok, t) = run(&p, &python, &["sync"]);
    assert!(ok, "{t}");
    assert_eq!(p.count("raw_nums.numbers"), 3);
    p.write(".dango/sources.yml", &yml(5));
    let (ok, t) = run(&p, &python, &["sync"]);
    assert!(ok, "{t}");
    assert_eq!(
        p.query("SELECT i FROM raw_nums.numbers ORDER BY i"),
        (1..=5)
            .map(|i| vec![Some(i.to_string())])
            .collect::<Vec<_>>()
    );
}

#[test]
fn init_registers_the_dlt_sources_found_in_custom_sources() {
    let Some(python) = services::python("dlt_native_cli::init") else {
        return;
    };
    let p = TestProject::new();
    p.write(
        "custom_sources/my_api.py",
        &std::fs::read_to_string(MY_API).unwrap(),
    );
    // Two sources in one module: not guessed, the command to pick one is printed.
    p.write(
        "custom_sources/two.py",
        "import dlt\n\n@dlt.source\ndef a():\n    return []\n\n@dlt.source\ndef b():\n    return []\n",
    );
    p.write("custom_sources/_helpers.py", "X = 1\n");
    let (ok, t) = run(&p, &python, &["init", "--force"]);
    assert!(ok, "{t}");
    assert!(t.contains("Found 2 module(s) in custom_sources/"), "{t}");
    assert!(
        t.contains("Added source `my_api` (type dlt_native: custom_sources.my_api.my_api_source)"),
        "{t}"
    );
    assert!(
        t.contains("Skipped custom_sources/two.py")
            && t.contains("several @dlt.source functions (a, b)")
            && t.contains("dango source add --dlt-native custom_sources/two.py"),
        "{t}"
    );
    let yml = std::fs::read_to_string(p.path().join(".dango/sources.yml")).unwrap();
    assert!(
        yml.contains("  - name: my_api\n    type: dlt_native\n") && !yml.contains("two"),
        "{yml}"
    );
    let (ok, t) = run(&p, &python, &["source", "list"]);
    assert!(ok && t.contains("my_api"), "{t}");
    // --no-custom-sources leaves sources.yml empty.
    let (ok, t) = run(&p, &python, &["init", "--force", "--no-custom-sources"]);
    assert!(ok && !t.contains("Found"), "{t}");
    let yml = std::fs::read_to_string(p.path().join(".dango/sources.yml")).unwrap();
    assert!(!yml.contains("my_api"), "{yml}");
}

#[test]
fn dry_run_and_doctor_flag_unset_env_keys_of_dango_api_types() {
    let Some(python) = services::python("dlt_native_cli::unset_env") else {
        return;
    };
    let p = TestProject::new();
    p.write("stripe_analytics/__init__.py", FAKE_STRIPE);
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: payments\n    type: stripe\n    generic_config:\n      stripe_secret_key_env: STRIPE_KEY\n      start_date: \"2024-01-01\"\n",
    );
    // Unset, and not where dlt looks either: flagged, with dlt's sections in the fix.
    let (ok, t) = run(&p, &python, &["sync", "--dry-run"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("`stripe_secret_key_env` names STRIPE_KEY, which is not set")
            && t.contains("[sources.stripe_analytics] stripe_secret_key")
            && t.contains("[sources.stripe_source]\n  stripe_secret_key")
            && t.contains(
                "(secrets.toml, sources.stripe_analytics.stripe_source.stripe_secret_key)"
            ),
        "{t}"
    );
    let (ok, t) = run(&p, &python, &["doctor", "payments"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("`stripe_secret_key_env` → STRIPE_KEY is not set"),
        "{t}"
    );
    // Where dlt reads it (the verified module's section): the dry run passes, still naming
    // the unset variable.
    add_secret(
        &p,
        "\n[sources.stripe_analytics]\nstripe_secret_key = \"sk_test_123\"\n",
    );
    let (ok, t) = run(&p, &python, &["sync", "--dry-run"]);
    assert!(
        ok && t.contains("names STRIPE_KEY, which is not set"),
        "{t}"
    );
    assert!(!t.contains("problem") && !t.contains("sk_test_123"), "{t}");
    // Set: no warning.
    let out = p
        .dango()
        .args(["sync", "--dry-run"])
        .env("DANGO_PYTHON", &python)
        .env("STRIPE_KEY", "sk_test_1")
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && !t.contains("not set"), "{t}");
}
