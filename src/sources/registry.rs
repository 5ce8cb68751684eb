//! The source registry: one entry per source type.
//!
//! A source type is a folder `src/sources/<type>/` and one line in [`SOURCE_TYPES`]. Everything
//! that depends on the type goes through its entry, a [`SourceType`]:
//!
//! - reading its block in `.dango/sources.yml` ([`SourceType::block_key`],
//!   [`SourceType::check_text`], [`SourceType::parse`]);
//! - `dango validate` and `dango sync --dry-run` ([`SourceConfig::plan`]);
//! - `dango source list` ([`SourceType::write_disposition`]);
//! - `dango sync` ([`SourceConfig::build`], with a [`BuildContext`] from the caller: a source
//!   never reads the project itself).
//!
//! # Adding a source type
//!
//! 1. Create `src/sources/<type>/` with `config.rs`: a `<Type>Config` struct with
//!    `#[serde(deny_unknown_fields)]` and a doc comment written for users on every field.
//! 2. Implement [`SourceConfig`] for it: `plan` checks what can be checked without extracting
//!    (paths, URLs, secrets) and describes the run; `build` returns a [`Source`] whose
//!    resources write items into the [`ItemWriter`](crate::extract::ItemWriter).
//! 3. A resource that loads incrementally declares its cursor in
//!    [`Resource::cursors`](super::Resource::cursors): extract binds the stored cursor,
//!    filters the items and saves the new cursor (dlt's `dlt.sources.incremental`).
//! 4. Implement [`SourceType`] on a unit struct (`name`, `parse`; `check_text` with
//!    [`check_typed_blocks`] for a serde config, so a typo is reported with its line).
//! 5. Add `&<type>::<Type>Type` to [`SOURCE_TYPES`]. Parsing, `validate`, `--dry-run`,
//!    `source list` and `sync` now know the type.
//! 6. Unit tests in `src/sources/<type>/tests.rs`; tests through the real binary in
//!    `tests/it/<type>.rs`.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde_norway::Value;

use super::Source;
use super::rest_api::client::HttpSettings;
use crate::config::{Env, RuntimeSettings, Settings};
use crate::error::Result;

/// A source type: how its block in sources.yml is read, and what it builds.
pub trait SourceType: Sync {
    /// The `type:` of a source entry (`local_files`).
    fn name(&self) -> &'static str;

    /// The key of the entry's config block (the type name unless overridden).
    fn block_key(&self) -> &'static str {
        self.name()
    }

    /// Other keys the entry's block may have instead (Dango's `generic_config:` for
    /// `sql_database`); none by default. The block is the first present of
    /// [`SourceType::block_key`] and these.
    fn alt_block_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks every block of this type's key in the text of sources.yml as the file is read.
    /// A problem found here has a line and column and makes the whole file invalid (`dango
    /// sync` runs nothing). `None` (the default) leaves all checks to [`SourceType::parse`],
    /// which fails only the source that uses the block.
    fn check_text(&self, _text: &str) -> Option<serde_norway::Error> {
        None
    }

    /// Parses the block of source `source` (as written; `${VAR}` resolved from `env` by the
    /// type) into its typed config. Errors name the source and say how to fix the block.
    fn parse(&self, source: &str, block: &Value, env: &Env) -> Result<Box<dyn SourceConfig>>;

    /// The write disposition `dango source list` shows for a block as written (`None`: the
    /// entry has no block).
    fn write_disposition(&self, _block: Option<&Value>) -> String {
        "-".into()
    }
}

/// A parsed config block, ready to be checked and built.
pub trait SourceConfig: fmt::Debug + Send + Sync {
    /// What `dango sync` would do, checked without extracting anything: files exist, the
    /// config is consistent. Used by `dango validate` and `dango sync --dry-run`.
    fn plan(&self, source: &str, cx: &BuildContext<'_>) -> Result<Plan>;

    /// Builds the source `source` (the pipeline name): checks everything that can fail
    /// before extracting (URLs, auth, patterns) and returns its resources.
    fn build(&self, source: &str, cx: &BuildContext<'_>) -> Result<Source>;
}

/// What a source needs from its caller to build: nothing else of the project is visible.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    /// Config and secrets along dlt's lookup chain (environment and `.env`, the project's
    /// `.dlt/` before the global dir).
    pub settings: &'a Settings,
    /// The project root: relative paths in a config block are resolved from it.
    pub project_root: &'a Path,
    /// `[runtime]`, parsed once by the caller.
    pub runtime: &'a RuntimeSettings,
}

impl BuildContext<'_> {
    /// The HTTP settings of `[runtime]` (timeouts, retries, error bodies).
    pub fn http(&self) -> Result<HttpSettings> {
        HttpSettings::from_runtime(self.runtime)
    }
}

/// A source's plan: what `dango validate` and `dango sync --dry-run` show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// One line for `dango validate` (`3 file(s) match`).
    pub summary: String,
    /// Fields added to the source in `dango sync --dry-run --json` (`files`, `resources`).
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Lines printed under the source by `dango sync --dry-run`.
    pub lines: Vec<String>,
}

/// Reads a block (as written) into `C` the way serde reads it from the file, so a plain
/// scalar such as `2024` is accepted for a text field there and here alike.
pub fn typed_block<C: DeserializeOwned>(
    block: &Value,
) -> std::result::Result<C, serde_norway::Error> {
    serde_norway::from_str(&serde_norway::to_string(block)?)
}

/// Deserializes every `key:` block of the `sources:` entries in `text` as `C` and returns the
/// first error, with serde's path (`sources[0].local_files: unknown field ...`) and position.
/// The implementation of [`SourceType::check_text`] for a type whose config is a serde struct.
pub fn check_typed_blocks<C: DeserializeOwned>(
    text: &str,
    key: &str,
) -> Option<serde_norway::Error> {
    let de = serde_norway::Deserializer::from_str(text);
    let probe = Probe::<C> {
        key,
        level: Level::File,
        _config: std::marker::PhantomData,
    };
    probe.deserialize(de).err()
}

/// Where [`Probe`] is in the document.
#[derive(Clone, Copy)]
enum Level {
    File,
    Sources,
    Entry,
}

/// Walks `{sources: [{<key>: C, ...}, ...], ...}`, ignoring everything else.
struct Probe<'k, C> {
    key: &'k str,
    level: Level,
    _config: std::marker::PhantomData<fn() -> C>,
}

impl<C> Probe<'_, C> {
    fn at(&self, level: Level) -> Self {
        Probe {
            key: self.key,
            level,
            _config: std::marker::PhantomData,
        }
    }
}

impl<'de, C: DeserializeOwned> DeserializeSeed<'de> for Probe<'_, C> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        match self.level {
            Level::Sources => d.deserialize_seq(self),
            Level::File | Level::Entry => d.deserialize_map(self),
        }
    }
}

impl<'de, C: DeserializeOwned> de::Visitor<'de> for Probe<'_, C> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(k) = map.next_key::<Value>()? {
            let k = k.as_str().unwrap_or_default();
            match self.level {
                Level::File if k == "sources" => map.next_value_seed(self.at(Level::Sources))?,
                Level::Entry if k == self.key => {
                    map.next_value::<Option<C>>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(self.at(Level::Entry))?.is_some() {}
        Ok(())
    }

    // The first pass already rejected other shapes; anything else is not ours to report.
    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
}

/// The error for `${VAR}` references in the block of `source` whose variable is not set.
pub fn missing_var_error(source: &str, var: &str) -> crate::Error {
    crate::Error::Config(format!(
        "source `{source}`: `${{{var}}}` is used in sources.yml but {var} is not set. Set it in the environment or the project's .env"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::types::{SOURCE_TYPES, find, names};

    #[test]
    fn names_and_block_keys_are_unique() {
        let mut names = names();
        names.sort();
        names.dedup();
        let all = crate::sources::types::names().len();
        assert_eq!(names.len(), all);
        assert!(all > SOURCE_TYPES.len());
        assert_eq!(
            find("local_files").map(|t| t.block_key()),
            Some("local_files")
        );
        assert_eq!(find("rest_api").map(|t| t.block_key()), Some("rest_api"));
        assert_eq!(
            find("stripe").map(|t| t.block_key()),
            Some("generic_config")
        );
        assert!(find("scrapy").is_none());
    }

    #[test]
    fn typed_blocks_are_checked_with_positions() {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cfg {
            directory: String,
        }
        let text = "version: \"1.0\"\nsources:\n  - name: a\n    other: {x: 1}\n    blk:\n      directory: d\n  - name: b\n    blk:\n      directry: d\n";
        let e = check_typed_blocks::<Cfg>(text, "blk").unwrap();
        let loc = e.location().unwrap();
        assert_eq!((loc.line(), loc.column()), (9, 7));
        assert!(
            e.to_string()
                .starts_with("sources[1].blk: unknown field `directry`"),
            "{e}"
        );
        let good = "version: \"1.0\"\nsources:\n  - name: a\n    blk: {directory: d}\n  - name: b\n    blk: ~\n";
        assert!(check_typed_blocks::<Cfg>(good, "blk").is_none());
        assert!(check_typed_blocks::<Cfg>("version: \"1.0\"\nsources: []\n", "blk").is_none());
        let block: Value = serde_norway::from_str("directory: 2024\n").unwrap();
        assert_eq!(typed_block::<Cfg>(&block).unwrap().directory, "2024");
    }
}
