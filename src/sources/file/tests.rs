//! Tests of sources.yml parsing and editing.

use super::*;

const GOOD: &str = "version: \"1.0\"\nsources:\n  - name: Orders\n    type: local_files\n    local_files:\n      directory: data\n      file_pattern: \"*.jsonl\"\n  - name: gh\n    type: rest_api\n    enabled: false\n    rest_api:\n      base_url: https://api.github.com\n      token_env: GH_TOKEN\n      headers:\n        X-Org: ${ORG}\n      endpoints:\n        - repos\n";

#[test]
fn parses_and_locates() {
    let (f, problems) = SourcesFile::parse_with_problems(GOOD, Path::new("s.yml"));
    let f = f.unwrap();
    assert_eq!(f.sources[0].pipeline_name(), "orders");
    assert_eq!(f.sources[0].dataset_name(), "raw_orders");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        locate(
            GOOD,
            &[
                Seg::Key("sources"),
                Seg::Index(1),
                Seg::Key("rest_api"),
                Seg::Key("token_env")
            ]
        ),
        Some((13, 18))
    );
}

#[test]
fn env_keys_and_vars() {
    let (f, _) = SourcesFile::parse_with_problems(GOOD, Path::new("s.yml"));
    let f = f.unwrap();
    let env = Env::from_vars([("ORG", "acme")]);
    let r = f.sources[1].resolved_block(&env).unwrap();
    assert_eq!(r.unset_env, [("token".to_string(), "GH_TOKEN".to_string())]);
    assert_eq!(r.block["headers"]["X-Org"], Value::String("acme".into()));
    let env = Env::from_vars([("GH_TOKEN", "ghp_1234")]);
    let r = f.sources[1].resolved_block(&env).unwrap();
    assert_eq!(r.block["token"], Value::String("ghp_1234".into()));
    assert!(r.block.get("token_env").is_none());
    assert_eq!(r.missing_vars, ["ORG"]);
}

#[test]
fn errors_have_positions_and_allowed_values() {
    let text = "version: \"1.0\"\nsources:\n  - name: a\n    type: local_files\n    local_files:\n      directory: d\n      pattern: x\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("s.yml:7:7: "), "{err}");
    assert!(
        err.contains("unknown field `pattern`") && err.contains("file_pattern"),
        "{err}"
    );
    let text = "version: \"1.0\"\nsources:\n  - name: a-b\n    type: stripe_x\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s.yml:3:11: source name `a-b` is invalid"),
        "{err}"
    );
    assert!(
        err.contains("s.yml:4:11: unknown source type `stripe_x`; allowed: csv, local_files"),
        "{err}"
    );
    let text = "version: \"1.0\"\nsourcez: []\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s.yml:2:1")
            && err.contains("sourcez")
            && err.contains("expected one of `version`, `destination`, `sources`"),
        "{err}"
    );
    let text = "version: \"1.0\"\nsources:\n  - name: a\n    type: local_files\n    enabled: maybe\n    local_files: {directory: d}\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("s.yml:5:") && err.contains("enabled"), "{err}");
}

#[test]
fn removes_one_source_keeping_the_rest() {
    let text = "# my sources\nversion: \"1.0\"\nsources:\n  - name: one\n    type: local_files\n    local_files:\n      directory: d1\n  # keep me\n  - name: two\n    type: local_files\n    local_files:\n      directory: d2\n";
    let out = SourcesFile::remove_from_text(text, Path::new("s.yml"), "one").unwrap();
    assert_eq!(
        out,
        "# my sources\nversion: \"1.0\"\nsources:\n  # keep me\n  - name: two\n    type: local_files\n    local_files:\n      directory: d2\n"
    );
    let out = SourcesFile::remove_from_text(&out, Path::new("s.yml"), "TWO").unwrap();
    let f = SourcesFile::parse(&out, Path::new("s.yml")).unwrap();
    assert!(f.sources.is_empty(), "{out}");
}

#[test]
fn entry_keys_come_from_the_format_and_the_registry() {
    let text = "version: \"1.0\"\nsources:\n  - name: a\n    type: local_files\n    colour: red\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("s.yml:5:5: sources[0]: unknown field `colour`, expected one of `name`, `type`, `enabled`, `description`, `tags`, `destination`, `table_format`, `file_format`, `local_files`, `csv`, `rest_api`, `dlt_native`, `generic_config`"),
        "{err}"
    );
    let text = "version: \"1.0\"\nsources:\n  - name: a\n    type: rest_api\n    local_files: {directory: d}\n    rest_api: {base_url: x}\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s.yml:5:")
            && err.contains(
                "source `a` of type `rest_api` takes a `rest_api:` block, not `local_files:`"
            ),
        "{err}"
    );
    // A local_files block is checked as the file is read, whatever the entry's type.
    let text = "version: \"1.0\"\nsources:\n  - name: a\n    type: rest_api\n    rest_api: {base_url: x}\n  - name: b\n    type: local_files\n    local_files:\n      directory: d\n      table: t\n";
    let err = SourcesFile::parse(text, Path::new("s.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("s.yml:10:7: sources[1].local_files: unknown field `table`"),
        "{err}"
    );
    // A type this build cannot run is no error of the file.
    let text =
        "version: \"1.0\"\nsources:\n  - name: a\n    type: scrapy\n    generic_config: {x: 1}\n";
    let (f, problems) = SourcesFile::parse_with_problems(text, Path::new("s.yml"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(!problems[0].fatal);
    assert!(
        problems[0]
            .message
            .ends_with(&format!("supported: {}", supported_types().join(", "))),
        "{problems:?}"
    );
    let f = f.unwrap();
    assert_eq!(f.sources[0].write_disposition(), "-");
    assert!(
        f.sources[0]
            .config(&Env::default())
            .unwrap_err()
            .to_string()
            .contains("type `scrapy` is not supported")
    );
}
