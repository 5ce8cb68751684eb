//! `dango source add --dlt-native FILE`: registers a dlt source module in sources.yml (after
//! importing it to find its `@dlt.source` functions), or writes a template module first.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::config::Project;
use crate::sources::SourcesFile;
use crate::sources::dlt_native::{self, DltNativeConfig};

/// Arguments of `dango source add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// A Python module with `@dlt.source` functions, e.g. `custom_sources/my_api.py`
    /// (relative to the project root).
    #[arg(long = "dlt-native", value_name = "FILE")]
    pub dlt_native: PathBuf,
    /// The source's name in sources.yml (default: the file's name without `.py`).
    #[arg(long)]
    pub name: Option<String>,
    /// The `@dlt.source` function to run (default: the only one in the module).
    #[arg(long)]
    pub function: Option<String>,
    /// Write a template module at FILE first (it must not exist).
    #[arg(long)]
    pub template: bool,
}

/// The template `--template` writes (Dango's wizard writes the same shape).
fn template(stem: &str, function: &str) -> String {
    format!(
        r#""""{stem}: a custom dlt source, run by `dango sync` (type: dlt_native).

Docs: https://dlthub.com/docs/general-usage/source
"""

import dlt
from dlt.sources.helpers import requests


@dlt.source
def {function}(api_key: str = dlt.secrets.value):
    """Put `api_key` in .dlt/secrets.toml under [sources.{function}]."""
    return {stem}_items(api_key)


@dlt.resource(write_disposition="merge", primary_key="id")
def {stem}_items(api_key: str):
    """Replace with your API calls; yield dicts (or lists of dicts)."""
    # response = requests.get("https://api.example.com/items",
    #                         headers={{"Authorization": f"Bearer {{api_key}}"}})
    # response.raise_for_status()
    # yield response.json()["items"]
    yield {{"id": 1, "name": "example"}}
"#
    )
}

/// The module path of `rel` (a `.py` file relative to the project root): `custom_sources/my_api.py`
/// is `custom_sources.my_api`.
fn module_of(rel: &Path) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for c in rel.with_extension("").components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => bail!(
                "{} is not inside the project; put the module in custom_sources/ of the project",
                rel.display()
            ),
        }
    }
    let ok = |p: &String| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if parts.is_empty() || !parts.iter().all(ok) {
        bail!(
            "`{}` cannot be imported as a Python module: use letters, digits and `_` in folder and file names (e.g. custom_sources/my_api.py)",
            rel.display()
        );
    }
    if parts.last().is_some_and(|p| p == "__init__") {
        parts.pop();
    }
    Ok(parts.join("."))
}

/// Runs `dango source add`.
pub fn run(project: &Project, args: AddArgs) -> anyhow::Result<ExitCode> {
    let root = project.root();
    let given = &args.dlt_native;
    let abs = if given.is_absolute() {
        given.clone()
    } else {
        std::env::current_dir()?.join(given)
    };
    let rel = abs
        .strip_prefix(root)
        .map(Path::to_path_buf)
        .or_else(|_| {
            root.canonicalize()
                .ok()
                .and_then(|r| abs.strip_prefix(r).ok().map(Path::to_path_buf))
                .ok_or(())
        })
        .or_else(|_| {
            if given.is_relative() && root.join(given).exists() {
                Ok(given.clone())
            } else {
                Err(())
            }
        })
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is not inside the project {}; put the module in {}",
                given.display(),
                root.display(),
                root.join("custom_sources").display()
            )
        })?;
    if rel.extension().is_none_or(|e| e != "py") {
        bail!("{} is not a Python file (.py)", rel.display());
    }
    let module = module_of(&rel)?;
    let stem = rel
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| stem.clone());
    let sources_path = project.sources_file();
    let text = std::fs::read_to_string(&sources_path)
        .unwrap_or_else(|_| "version: \"1.0\"\nsources: []\n".into());
    let file = SourcesFile::parse(&text, &sources_path)?;
    if file.get(&name).is_some() {
        bail!(
            "a source named `{name}` is already in {}; pick another with --name",
            sources_path.display()
        );
    }
    let path = root.join(&rel);
    let settings = project.settings()?;
    let mut cfg = DltNativeConfig {
        source_module: module.clone(),
        source_name: args.function.clone().unwrap_or_default(),
        function_kwargs: Default::default(),
        python: None,
        pipeline_name: None,
        dataset_name: None,
        resources: None,
        verified_type: None,
        unset_env: Vec::new(),
    };
    if args.template {
        if path.exists() {
            bail!(
                "{} already exists; leave out --template to register it as it is",
                rel.display()
            );
        }
        let function = args
            .function
            .clone()
            .unwrap_or_else(|| format!("{stem}_source"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        crate::storage::write_atomic(&path, template(&stem, &function).as_bytes())?;
        println!(
            "Created template {} with @dlt.source {function}().",
            rel.display()
        );
        cfg.source_name = function;
    } else {
        if !path.is_file() {
            bail!(
                "{} does not exist. Write your dlt source there, or pass --template to create a template module",
                rel.display()
            );
        }
        let found = dlt_native::check::discover(&name.to_ascii_lowercase(), &cfg, root, &settings)?;
        println!(
            "{} ({module}): @dlt.source functions: {}",
            rel.display(),
            if found.sources.is_empty() {
                "none".into()
            } else {
                found.sources.join(", ")
            }
        );
        cfg.source_name = pick_function(&rel, args.function.as_deref(), &found)?;
    }
    let entry = entry_text(&name, &rel, &cfg);
    let new_text = insert_entry(&text, &entry);
    let check = SourcesFile::parse(&new_text, &sources_path)?;
    if check.sources.len() != file.sources.len() + 1 || check.get(&name).is_none() {
        bail!(
            "cannot add the entry to {} without changing other sources; add it by hand:\n{entry}",
            sources_path.display()
        );
    }
    crate::storage::write_atomic(&sources_path, new_text.as_bytes())?;
    println!(
        "Added source `{name}` (type dlt_native: {module}.{}) to {}.",
        cfg.source_name,
        sources_path.display()
    );
    match dlt_native::check::validate(&name.to_ascii_lowercase(), &cfg, root, &settings) {
        Ok(line) => println!("Checked: {line}.\nRun `dango sync {name}` to load it."),
        Err(e) => println!(
            "Before `dango sync {name}`:\n  {}",
            crate::config::redact::redact(&e.to_string()).replace('\n', "\n  ")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The function to register: `--function` when it is a dlt function of the module, else the
/// module's only `@dlt.source`.
fn pick_function(
    rel: &Path,
    given: Option<&str>,
    found: &dlt_native::check::Discovered,
) -> anyhow::Result<String> {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    if let Some(f) = given {
        if !found.found.iter().any(|x| x == f) {
            bail!(
                "{} has no @dlt.source or @dlt.resource function `{f}`; found: {}",
                rel.display(),
                list(&found.found)
            );
        }
        return Ok(f.to_string());
    }
    match found.sources.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "{} has no @dlt.source function (@dlt.resource functions: {}). Add one, or pass --function <name> to run a resource",
            rel.display(),
            list(&found.found)
        ),
        many => bail!(
            "{} has several @dlt.source functions ({}); pick one with --function <name>",
            rel.display(),
            many.join(", ")
        ),
    }
}

/// The sources.yml entry (two-space list indent; [`insert_entry`] re-indents it).
fn entry_text(name: &str, rel: &Path, cfg: &DltNativeConfig) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "- name: {name}\n  type: dlt_native\n  enabled: true\n  description: {}\n  dlt_native:\n    source_module: {}\n    source_name: {}\n",
        q(&format!(
            "dlt source {}() from {}",
            cfg.source_name,
            rel.display()
        )),
        q(&cfg.source_module),
        q(&cfg.source_name)
    )
}

/// `text` with `entry` appended to its `sources:` list, everything else (comments included)
/// kept: after the list's last item, at the indent of its items (two spaces when empty).
fn insert_entry(text: &str, entry: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("sources:")) else {
        let mut out = text.trim_end().to_string();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("sources:\n");
        out.push_str(&indent(entry, "  "));
        return out;
    };
    let top_level = |l: &str| !l.is_empty() && !l.starts_with([' ', '\t', '#', '-']);
    let mut end = lines[start + 1..]
        .iter()
        .position(|l| top_level(l))
        .map_or(lines.len(), |p| start + 1 + p);
    // Keep blank lines and comments that follow the list with what comes after it.
    while end > start + 1 && {
        let t = lines[end - 1].trim();
        t.is_empty() || t.starts_with('#')
    } {
        end -= 1;
    }
    let item_indent = lines[start + 1..end]
        .iter()
        .find(|l| l.trim_start().starts_with("- ") || l.trim_start() == "-")
        .map(|l| &l[..l.len() - l.trim_start().len()])
        .unwrap_or("  ");
    let mut out: Vec<String> = Vec::new();
    let head = lines[start].trim_end();
    out.extend(lines[..start].iter().map(|l| l.to_string()));
    // `sources: []` (or any inline list) becomes a block list.
    out.push(if head == "sources:" || head.starts_with("sources: #") {
        head.to_string()
    } else {
        "sources:".to_string()
    });
    out.extend(lines[start + 1..end].iter().map(|l| l.to_string()));
    out.push(indent(entry, item_indent).trim_end().to_string());
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "- name: b\n  type: dlt_native\n";

    #[test]
    fn entries_go_after_the_last_item_at_its_indent() {
        let text = "# top\nversion: \"1.0\"\nsources:\n    - name: a   # first\n      type: csv\n\n# tail comment\ndestination: duckdb\n";
        assert_eq!(
            insert_entry(text, ENTRY),
            "# top\nversion: \"1.0\"\nsources:\n    - name: a   # first\n      type: csv\n    - name: b\n      type: dlt_native\n\n# tail comment\ndestination: duckdb\n"
        );
        assert_eq!(
            insert_entry("version: \"1.0\"\nsources: []\n", ENTRY),
            "version: \"1.0\"\nsources:\n  - name: b\n    type: dlt_native\n"
        );
        assert_eq!(
            insert_entry("version: \"1.0\"\n", ENTRY),
            "version: \"1.0\"\nsources:\n  - name: b\n    type: dlt_native\n"
        );
        assert_eq!(
            insert_entry(
                "version: \"1.0\"\nsources:\n- name: a\n  type: csv\n",
                ENTRY
            ),
            "version: \"1.0\"\nsources:\n- name: a\n  type: csv\n- name: b\n  type: dlt_native\n"
        );
    }

    #[test]
    fn module_paths_follow_the_file() {
        assert_eq!(
            module_of(Path::new("custom_sources/my_api.py")).unwrap(),
            "custom_sources.my_api"
        );
        assert_eq!(module_of(Path::new("pkg/__init__.py")).unwrap(), "pkg");
        assert!(module_of(Path::new("../x.py")).is_err());
        assert!(module_of(Path::new("custom_sources/my-api.py")).is_err());
    }
}
