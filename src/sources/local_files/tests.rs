//! Tests of the `local_files` registry entry: parsing, plan, build.

use super::*;
use crate::config::{RuntimeSettings, Settings};
use crate::sources::registry;

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

#[test]
fn parses_through_the_registry_with_variables() {
    let t = registry::find("local_files").unwrap();
    let env = Env::from_vars([("DIR", "data/in")]);
    let cfg = t
        .parse(
            "Shop",
            &yaml("directory: ${DIR}\ntable_name: t_${DIR}\n"),
            &env,
        )
        .unwrap();
    let text = format!("{cfg:?}");
    assert!(text.contains("directory: \"data/in\""), "{text}");
    assert!(text.contains("file_pattern: \"*\""), "{text}");
    let err = t
        .parse("Shop", &yaml("directory: ${NOPE}\n"), &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "source `Shop`: `${NOPE}` is used in sources.yml but NOPE is not set. Set it in the environment or the project's .env"
    );
    let err = t
        .parse("Shop", &yaml("directory: d\npattern: x\n"), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `pattern`"), "{err}");
}

#[test]
fn write_disposition_for_source_list() {
    let t = registry::find("local_files").unwrap();
    assert_eq!(t.write_disposition(None), "replace");
    assert_eq!(
        t.write_disposition(Some(&yaml("directory: d\n"))),
        "replace"
    );
    assert_eq!(
        t.write_disposition(Some(&yaml(
            "directory: d\nwrite_disposition: {disposition: merge, strategy: upsert}\n"
        ))),
        "merge"
    );
}

#[test]
fn plans_and_builds_from_the_project_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/b.jsonl"), "{\"id\":2}\n").unwrap();
    std::fs::write(dir.path().join("in/a.jsonl"), "{\"id\":1}\n").unwrap();
    let settings = Settings::with_env(dir.path(), Env::default(), None).unwrap();
    let runtime = RuntimeSettings::default();
    let cx = BuildContext {
        settings: &settings,
        project_root: dir.path(),
        runtime: &runtime,
    };
    let t = registry::find("local_files").unwrap();
    let cfg = t
        .parse(
            "shop",
            &yaml("directory: in\nfile_pattern: \"*.jsonl\"\n"),
            &Env::default(),
        )
        .unwrap();
    let plan = cfg.plan("shop", &cx).unwrap();
    assert_eq!(plan.summary, "2 file(s) match");
    assert_eq!(plan.lines[0], "2 file(s) into table shop");
    assert!(plan.lines[1].ends_with("a.jsonl"), "{:?}", plan.lines);
    assert_eq!(plan.details["table"], "shop");
    let source = cfg.build("shop", &cx).unwrap();
    assert_eq!(source.name, "shop");
    assert_eq!(source.resources.len(), 1);
    assert_eq!(source.resources[0].hints().table_name, "shop");

    let missing = t
        .parse("shop", &yaml("directory: nowhere\n"), &Env::default())
        .unwrap();
    let err = missing.plan("shop", &cx).unwrap_err().to_string();
    assert!(
        err.contains("local_files directory") && err.contains("does not exist"),
        "{err}"
    );
}
