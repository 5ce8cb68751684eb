//! Sources and resources: where items come from.
//!
//! A [`Source`] is a named group of [`Resource`]s. A resource yields pages of JSON items into an
//! [`ItemWriter`] and carries its hints (table name, write disposition, keys, column hints,
//! `max_table_nesting`): the Rust counterpart of dlt's `@dlt.source` / `@dlt.resource`.
//!
//! Source types are registered in [`registry`]: one folder `src/sources/<type>/` and one line
//! in [`types::SOURCE_TYPES`] each (the module doc lists the steps). A resource that loads
//! incrementally declares its cursor ([`Resource::cursors`]); extract does the rest.

/// The builder methods of the library resources ([`IterResource`], [`ArrowResource`]): each
/// sets one field of the resource's `hints` ([`ResourceHints`]).
macro_rules! hint_builders {
    () => {
        /// Sets the table name.
        pub fn table_name(mut self, t: impl Into<String>) -> Self {
            self.hints.table_name = t.into();
            self
        }

        /// Sets the write disposition.
        pub fn write_disposition(mut self, wd: $crate::schema::WriteDisposition) -> Self {
            self.hints.write_disposition = wd;
            self
        }

        /// Sets `write_disposition: merge` with a merge strategy.
        pub fn merge_strategy(mut self, strategy: $crate::schema::MergeStrategy) -> Self {
            self.hints.write_disposition = $crate::schema::WriteDisposition::Merge;
            self.hints.merge_strategy = Some(strategy);
            self
        }

        /// Sets the primary key.
        pub fn primary_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
            self.hints.primary_key = cols.into_iter().map(Into::into).collect();
            self
        }

        /// Sets the merge key.
        pub fn merge_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
            self.hints.merge_key = cols.into_iter().map(Into::into).collect();
            self
        }

        /// Sets `max_table_nesting`.
        pub fn max_table_nesting(mut self, n: i64) -> Self {
            self.hints.max_table_nesting = Some(n);
            self
        }

        /// Sets dlt's `schema_contract` (`json!("freeze")` or `json!({"columns": "discard_value"})`);
        /// see [`crate::schema::contract`].
        pub fn schema_contract(mut self, contract: serde_json::Value) -> Self {
            self.hints.schema_contract = Some(contract);
            self
        }

        /// Adds a column hint (`{"data_type": "text", "nullable": false, …}`).
        pub fn column(mut self, name: impl Into<String>, hint: serde_json::Value) -> Self {
            self.hints.columns.insert(name.into(), hint);
            self
        }
    };
}

mod arrow_resource;
pub mod dlt_native;
pub mod file;
pub mod filesystem;
pub mod local_files;
pub mod registry;
pub mod rest_api;
pub mod singer;
pub mod sql_database;
pub mod types;

pub use crate::extract::{Resource, Source};
pub use arrow_resource::ArrowResource;
pub use file::{
    DANGO_TYPES, Problem, ResolvedBlock, SourceEntry, SourcesFile, known_types, supported_types,
};
pub use registry::{BuildContext, Plan, SourceConfig, SourceType};

use crate::error::Result;
use crate::extract::ItemWriter;
use crate::incremental::ResourceCursor;
use crate::schema::{MergeStrategy, WriteDisposition};
use crate::storage::ResourceHints;

/// A resource's `write_disposition` as written in config: dlt's name (`append`, `replace`,
/// `merge`) or its dict form (`{disposition: merge, strategy: upsert}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteDispositionConfig {
    /// The disposition.
    pub disposition: WriteDisposition,
    /// The merge strategy (dict form only; merge only).
    pub strategy: Option<MergeStrategy>,
    /// scd2 only: the names of the validity columns (`[valid_from, valid_to]`), dlt's
    /// `validity_column_names`; `_dlt_valid_from` / `_dlt_valid_to` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_column_names: Option<Vec<String>>,
}

impl<'de> serde::Deserialize<'de> for WriteDispositionConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Dict(std::collections::BTreeMap<String, serde_json::Value>),
        }
        let bad_name = |s: &str| {
            D::Error::custom(format!(
                "unknown write_disposition `{s}`; use append, replace or merge"
            ))
        };
        let parse = |s: &str| match s {
            "append" => Ok(WriteDisposition::Append),
            "replace" => Ok(WriteDisposition::Replace),
            "merge" => Ok(WriteDisposition::Merge),
            other => Err(bad_name(other)),
        };
        match Raw::deserialize(d)? {
            Raw::Name(s) => Ok(WriteDispositionConfig {
                disposition: parse(&s)?,
                strategy: None,
                validity_column_names: None,
            }),
            Raw::Dict(m) => {
                let mut out = WriteDispositionConfig {
                    disposition: WriteDisposition::Append,
                    strategy: None,
                    validity_column_names: None,
                };
                let mut seen = false;
                for (k, v) in &m {
                    if k == "validity_column_names" {
                        let names: Option<Vec<String>> = v.as_array().and_then(|a| {
                            a.iter().map(|n| n.as_str().map(str::to_string)).collect()
                        });
                        match names {
                            Some(n) if n.len() == 2 => out.validity_column_names = Some(n),
                            _ => {
                                return Err(D::Error::custom(format!(
                                    "write_disposition.validity_column_names must be a list of two column names ([valid_from, valid_to]), got {v}"
                                )));
                            }
                        }
                        continue;
                    }
                    let Some(v) = v.as_str() else {
                        return Err(D::Error::custom(format!(
                            "write_disposition.{k} must be a string, got {v}"
                        )));
                    };
                    match k.as_str() {
                        "disposition" => {
                            out.disposition = parse(v)?;
                            seen = true;
                        }
                        "strategy" => {
                            out.strategy = Some(MergeStrategy::parse(v).ok_or_else(|| {
                                D::Error::custom(format!(
                                    "unknown merge strategy `{v}`; use one of {}",
                                    MergeStrategy::NAMES.join(", ")
                                ))
                            })?)
                        }
                        other => {
                            return Err(D::Error::custom(format!(
                                "unknown key `{other}` in write_disposition; allowed: disposition, strategy, validity_column_names"
                            )));
                        }
                    }
                }
                if !seen {
                    return Err(D::Error::custom(
                        "write_disposition needs `disposition` (append, replace or merge)",
                    ));
                }
                if out.strategy.is_some() && out.disposition != WriteDisposition::Merge {
                    return Err(D::Error::custom(
                        "a merge `strategy` needs `disposition: merge`",
                    ));
                }
                if out.validity_column_names.is_some() && out.strategy != Some(MergeStrategy::Scd2)
                {
                    return Err(D::Error::custom(
                        "`validity_column_names` needs `disposition: merge` with `strategy: scd2`",
                    ));
                }
                Ok(out)
            }
        }
    }
}

/// A resource built from an iterator of pages, for library users and tests.
///
/// ```
/// use dango::sources::IterResource;
/// use dango::schema::WriteDisposition;
/// let pages = vec![vec![serde_json::json!({"id": 1})]];
/// let r = IterResource::new("users", pages.into_iter())
///     .write_disposition(WriteDisposition::Merge)
///     .primary_key(["id"]);
/// ```
pub struct IterResource<I> {
    hints: ResourceHints,
    pages: I,
    incremental: Option<crate::incremental::IncrementalConfig>,
}

impl<I> IterResource<I>
where
    I: Iterator<Item = Vec<serde_json::Value>> + Send,
{
    /// A resource named `name` (also its table name) over `pages`.
    pub fn new(name: impl Into<String>, pages: I) -> IterResource<I> {
        let name = name.into();
        IterResource {
            hints: ResourceHints {
                table_name: name.clone(),
                name,
                ..ResourceHints::default()
            },
            pages,
            incremental: None,
        }
    }

    /// Loads only items past the stored cursor (dlt's `dlt.sources.incremental`); the cursor
    /// is saved in the pipeline state with the loaded data.
    ///
    /// ```
    /// use dango::incremental::IncrementalConfig;
    /// use dango::sources::IterResource;
    /// let pages = vec![vec![serde_json::json!({"id": 1, "updated_at": "2024-01-02T00:00:00Z"})]];
    /// let r = IterResource::new("users", pages.into_iter())
    ///     .incremental(IncrementalConfig::new("updated_at")
    ///         .initial_value(serde_json::json!("2024-01-01T00:00:00Z")));
    /// ```
    pub fn incremental(mut self, cfg: crate::incremental::IncrementalConfig) -> Self {
        self.incremental = Some(cfg);
        self
    }

    hint_builders!();
}

impl<I> Resource for IterResource<I>
where
    I: Iterator<Item = Vec<serde_json::Value>> + Send,
{
    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn extract(&mut self, out: &mut ItemWriter<'_>) -> Result<()> {
        for page in self.pages.by_ref() {
            out.write_page(&page)?;
            if out.should_stop() {
                break;
            }
        }
        Ok(())
    }

    fn cursors(&self) -> Vec<ResourceCursor<'_>> {
        ResourceCursor::own(&self.hints, self.incremental.as_ref())
    }
}
