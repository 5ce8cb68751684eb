//! `type: singer`: any Singer tap (any language). dango runs the tap's command, reads the
//! Singer messages from its stdout (SCHEMA, RECORD, STATE; the Singer spec), and loads each
//! stream as a table: merge on the stream's `key_properties`, append when it has none. The
//! tap's last STATE is kept in the pipeline state (`sources.<source>.singer_state`), committed
//! with the data, and passed back with `--state` on the next run. The tap's stderr goes to the
//! pipeline's log.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};
use serde_norway::Value as Yaml;

use crate::config::Env;
use crate::error::{Error, Result};
use crate::extract::{ItemWriter, Resource};
use crate::schema::WriteDisposition;
use crate::sources::Source;
use crate::sources::registry::{
    BuildContext, Plan, SourceConfig, SourceType, check_typed_blocks, missing_var_error,
    typed_block,
};
use crate::storage::ResourceHints;

/// The `singer:` block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SingerConfig {
    /// The tap's command line (argv): `[tap-csv]`, `[python, my_tap.py]`. Relative paths of
    /// the program are taken from the project root.
    pub command: Vec<String>,
    /// The tap's config, written to a temporary file passed with `--config`; `${VAR}` is
    /// substituted.
    #[serde(default)]
    pub config: Option<BTreeMap<String, serde_json::Value>>,
    /// A catalog file passed with `--catalog` (relative to the project root).
    #[serde(default)]
    pub catalog: Option<String>,
    /// Streams to sync: dango runs the tap with `--discover`, marks these streams selected
    /// and passes that catalog.
    #[serde(default)]
    pub select: Option<Vec<String>>,
}

/// The registry entry of `type: singer`.
pub struct SingerType;

impl SourceType for SingerType {
    fn name(&self) -> &'static str {
        "singer"
    }

    fn check_text(&self, text: &str) -> Option<serde_norway::Error> {
        check_typed_blocks::<SingerConfig>(text, self.block_key())
    }

    fn parse(&self, source: &str, block: &Yaml, env: &Env) -> Result<Box<dyn SourceConfig>> {
        let mut cfg: SingerConfig = typed_block(block).map_err(|e| {
            Error::Config(format!(
                "source `{source}`: singer: {e}. Fix it in .dango/sources.yml"
            ))
        })?;
        if cfg.command.is_empty() {
            return Err(Error::Config(format!(
                "source `{source}`: singer: `command` is empty; give the tap's command line, e.g. `command: [tap-csv]`"
            )));
        }
        let mut missing = Vec::new();
        if let Some(c) = cfg.config.as_mut() {
            for (k, v) in c.iter_mut() {
                crate::config::env::substitute_json(v, env, Some(k), &mut missing);
            }
        }
        for a in cfg.command.iter_mut() {
            let (v, m) = crate::config::env::substitute(a, env);
            *a = v;
            missing.extend(m);
        }
        if let Some(var) = missing.first() {
            return Err(missing_var_error(source, var));
        }
        Ok(Box::new(cfg))
    }

    fn write_disposition(&self, _block: Option<&Yaml>) -> String {
        "merge on key_properties, else append".into()
    }
}

impl SingerConfig {
    fn program(&self, root: &Path) -> PathBuf {
        let p = Path::new(&self.command[0]);
        if p.components().count() > 1 && p.is_relative() {
            root.join(p)
        } else {
            p.to_path_buf()
        }
    }
}

impl SourceConfig for SingerConfig {
    fn plan(&self, _source: &str, _cx: &BuildContext<'_>) -> Result<Plan> {
        let cmd = self.command.join(" ");
        let mut plan = Plan {
            summary: format!("Singer tap `{cmd}`"),
            lines: vec![format!("Singer tap: {cmd}")],
            ..Plan::default()
        };
        if let Some(s) = &self.select {
            plan.lines.push(format!("streams: {}", s.join(", ")));
        }
        plan.details.insert("command".into(), json!(self.command));
        Ok(plan)
    }

    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source> {
        let r = SingerResource {
            hints: ResourceHints {
                name: source.to_string(),
                table_name: source.to_string(),
                ..ResourceHints::default()
            },
            cfg: self.clone(),
            source: source.to_string(),
            root: cx.project_root.to_path_buf(),
        };
        Ok(Source::new(source, vec![Box::new(r)]))
    }
}

struct SingerResource {
    hints: ResourceHints,
    cfg: SingerConfig,
    source: String,
    root: PathBuf,
}

impl Resource for SingerResource {
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn tables(&self) -> Vec<ResourceHints> {
        Vec::new()
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        let scratch = tempfile_dir(&self.root, &self.source)?;
        let result = self.run(&scratch, out);
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }
}

fn tempfile_dir(root: &Path, source: &str) -> Result<PathBuf> {
    let dir = root
        .join(".dlt")
        .join("pipelines")
        .join(source)
        .join("singer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

impl SingerResource {
    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(self.cfg.program(&self.root));
        cmd.args(&self.cfg.command[1..])
            .args(extra)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        cmd
    }

    fn spawn_error(&self, e: std::io::Error) -> Error {
        Error::Config(format!(
            "source `{}`: cannot run the Singer tap `{}`: {e}. Check `command` in the singer block of .dango/sources.yml (is the tap installed and on PATH?)",
            self.source,
            self.cfg.command.join(" ")
        ))
    }

    /// `--discover`, with `select` marked selected.
    fn catalog(&self, args: &[String]) -> Result<Option<Value>> {
        let Some(select) = &self.cfg.select else {
            return Ok(None);
        };
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.push("--discover");
        let out = self.command(&a).output().map_err(|e| self.spawn_error(e))?;
        if !out.status.success() {
            return Err(Error::Source {
                source_name: self.source.clone(),
                reason: format!(
                    "the Singer tap's --discover failed ({}): {}",
                    out.status,
                    crate::config::redact::redact(String::from_utf8_lossy(&out.stderr).trim())
                ),
            });
        }
        let mut catalog: Value =
            serde_json::from_slice(&out.stdout).map_err(|e| Error::Source {
                source_name: self.source.clone(),
                reason: format!("the Singer tap's --discover did not print a JSON catalog: {e}"),
            })?;
        let mut found = Vec::new();
        if let Some(streams) = catalog.get_mut("streams").and_then(Value::as_array_mut) {
            for s in streams {
                let name = s
                    .get("tap_stream_id")
                    .or_else(|| s.get("stream"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let selected = select.contains(&name);
                found.push(name);
                if let Some(obj) = s.as_object_mut() {
                    obj.insert("selected".into(), json!(selected));
                    let md = obj.entry("metadata").or_insert_with(|| json!([]));
                    if let Some(md) = md.as_array_mut() {
                        md.retain(|m| m.get("breadcrumb").is_none_or(|b| b != &json!([])));
                        md.push(json!({"breadcrumb": [], "metadata": {"selected": selected}}));
                    }
                }
            }
        }
        if let Some(missing) = select.iter().find(|s| !found.contains(s)) {
            return Err(Error::Config(format!(
                "source `{}`: the Singer tap has no stream `{missing}`; its streams: {}. Fix `select` in .dango/sources.yml",
                self.source,
                found.join(", ")
            )));
        }
        Ok(Some(catalog))
    }

    fn run(&self, scratch: &Path, out: &mut ItemWriter<'_>) -> Result<()> {
        let mut args: Vec<String> = Vec::new();
        if let Some(c) = &self.cfg.config {
            let p = scratch.join("config.json");
            crate::storage::write_json(&p, c)?;
            args.extend(["--config".into(), p.display().to_string()]);
        }
        let mut run_args = args.clone();
        if let Some(c) = &self.cfg.catalog {
            run_args.extend(["--catalog".into(), self.root.join(c).display().to_string()]);
        } else if let Some(catalog) = self.catalog(&args)? {
            let p = scratch.join("catalog.json");
            crate::storage::write_json(&p, &catalog)?;
            run_args.extend(["--catalog".into(), p.display().to_string()]);
        }
        if let Some(state) = out.state().doc().get("singer_state") {
            let p = scratch.join("state.json");
            crate::storage::write_json(&p, state)?;
            run_args.extend(["--state".into(), p.display().to_string()]);
        }
        let a: Vec<&str> = run_args.iter().map(String::as_str).collect();
        let mut child = self.command(&a).spawn().map_err(|e| self.spawn_error(e))?;
        let stderr = child.stderr.take();
        let source = self.source.clone();
        let log = std::thread::spawn(move || {
            let mut tail = Vec::new();
            if let Some(s) = stderr {
                for line in BufReader::new(s).lines() {
                    let Ok(line) = line else { break };
                    let line = crate::config::redact::redact(&line);
                    tracing::info!(source = %source, "tap: {line}");
                    tail.push(line);
                    if tail.len() > 5 {
                        tail.remove(0);
                    }
                }
            }
            tail
        });
        let stdout = child.stdout.take();
        let read = match stdout {
            Some(s) => self.read_messages(BufReader::new(s), out),
            None => Ok(None),
        };
        if read.is_err() || out.cancel_token().is_cancelled() {
            let _ = child.kill();
        }
        let status = child
            .wait()
            .map_err(|e| Error::io(Path::new("singer tap"), e))?;
        let tail = log.join().unwrap_or_default();
        out.cancel_token().check()?;
        let state = read?;
        if !status.success() {
            return Err(Error::Source {
                source_name: self.source.clone(),
                reason: format!(
                    "the Singer tap `{}` failed ({status}); nothing was loaded and its state did not move. Its last stderr lines:\n{}",
                    self.cfg.command.join(" "),
                    tail.join("\n")
                ),
            });
        }
        if let Some(state) = state {
            out.state().with_source(|s| {
                s.insert("singer_state".into(), state);
            });
        }
        Ok(())
    }

    /// Reads SCHEMA / RECORD / STATE messages; returns the last STATE's value.
    fn read_messages(
        &self,
        reader: impl BufRead,
        out: &mut ItemWriter<'_>,
    ) -> Result<Option<Value>> {
        let mut writers: HashMap<String, ItemWriter<'_>> = HashMap::new();
        let mut state = None;
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| Error::io(Path::new("singer tap stdout"), e))?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| Error::BadInput {
                origin: format!("stdout of the Singer tap `{}`", self.cfg.command.join(" ")),
                line: n as u64 + 1,
                reason,
            };
            let msg: Value = serde_json::from_str(&line)
                .map_err(|e| bad(format!("not a Singer message (JSON): {e}")))?;
            let stream = msg
                .get("stream")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match msg.get("type").and_then(Value::as_str) {
                Some("SCHEMA") => {
                    let keys: Vec<String> = msg
                        .get("key_properties")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|k| k.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    let hints = ResourceHints {
                        name: stream.to_string(),
                        table_name: stream.to_string(),
                        write_disposition: if keys.is_empty() {
                            WriteDisposition::Append
                        } else {
                            WriteDisposition::Merge
                        },
                        primary_key: keys,
                        ..ResourceHints::default()
                    };
                    out.declare(&hints);
                    if !writers.contains_key(stream) {
                        writers.insert(stream.to_string(), out.sibling(stream));
                    }
                }
                Some("RECORD") => {
                    let Some(w) = writers.get_mut(stream) else {
                        return Err(bad(format!(
                            "RECORD of stream `{stream}` before its SCHEMA message"
                        )));
                    };
                    let record = msg
                        .get("record")
                        .ok_or_else(|| bad("RECORD without `record`".into()))?;
                    w.write_item(record)?;
                    if w.items() % 1024 == 0 {
                        w.page_read(0)?;
                    }
                }
                Some("STATE") => state = msg.get("value").cloned(),
                _ => {}
            }
        }
        for (_, mut w) in writers {
            w.close()?;
        }
        Ok(state)
    }
}
