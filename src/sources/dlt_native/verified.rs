//! Dango's API source types (`stripe`, `hubspot`, `github`, … with a `generic_config:` block):
//! each runs the matching dlt verified source (the module `dlt init <name> duckdb` puts in the
//! project) through `dlt_native`, with the block as the function's keyword arguments.
//!
//! ```yaml
//! - name: payments
//!   type: stripe
//!   generic_config:
//!     stripe_secret_key_env: STRIPE_KEY   # *_env and ${VAR} as everywhere; unset: dlt resolves it
//!     start_date: "2024-01-01"
//!     resources: [Customer, Invoice]      # optional: dlt's `with_resources`
//! ```

use serde_json::Value;
use serde_norway::Value as Yaml;

use super::{DltNativeConfig, resolve_kwargs};
use crate::config::Env;
use crate::error::{Error, Result};
use crate::sources::registry::{SourceConfig, SourceType};

/// A Dango API source type and the dlt verified source it runs.
#[derive(Debug)]
pub struct VerifiedType {
    /// Dango's type name (`stripe`).
    pub name: &'static str,
    /// The verified source's package, as `dlt init <package> duckdb` names and creates it
    /// (`stripe_analytics`).
    pub module: &'static str,
    /// Its `@dlt.source` function (`stripe_source`).
    pub function: &'static str,
}

const fn v(name: &'static str, module: &'static str, function: &'static str) -> VerifiedType {
    VerifiedType {
        name,
        module,
        function,
    }
}

/// Dango's API types and their dlt verified sources (Dango's own registry's pairs).
pub static VERIFIED: &[VerifiedType] = &[
    v("google_sheets", "google_sheets", "google_spreadsheet"),
    v("facebook_ads", "facebook_ads", "facebook_ads_combined"),
    v("google_analytics", "google_analytics", "google_analytics"),
    v("hubspot", "hubspot", "hubspot"),
    v("salesforce", "salesforce", "salesforce_source"),
    v("stripe", "stripe_analytics", "stripe_source"),
    v("shopify", "shopify_dlt", "shopify_source"),
    v("github", "github", "github_reactions"),
    v("slack", "slack", "slack_source"),
    v("zendesk", "zendesk", "zendesk_support"),
    v("google_ads", "google_ads", "google_ads"),
    v("matomo", "matomo", "matomo_reports"),
    v("mux", "mux", "mux_source"),
    v("airtable", "airtable", "airtable_source"),
    v("pipedrive", "pipedrive", "pipedrive_source"),
    v("freshdesk", "freshdesk", "freshdesk_source"),
    v("jira", "jira", "jira"),
    v("workable", "workable", "workable_source"),
    v("asana", "asana_dlt", "asana_source"),
    v("notion", "notion", "notion_databases"),
    v("inbox", "inbox", "inbox_source"),
    v("mongodb", "mongodb", "mongodb"),
    v("kafka", "kafka", "kafka_consumer"),
    v("kinesis", "kinesis", "kinesis_stream"),
    v("chess", "chess", "source"),
    v("strapi", "strapi", "strapi_source"),
    v("personio", "personio", "personio_source"),
];

/// Keys of Dango's entry that are not arguments of the function (dropped, as Dango does).
const DANGO_ONLY: &[&str] = &["deduplication", "enabled", "description", "lookback_days"];

/// The verified-source type named `name`.
pub fn find(name: &str) -> Option<&'static dyn SourceType> {
    VERIFIED
        .iter()
        .find(|t| t.name == name)
        .map(|t| t as &dyn SourceType)
}

/// The names of the verified-source types.
pub fn names() -> impl Iterator<Item = &'static str> {
    VERIFIED.iter().map(|t| t.name)
}

impl VerifiedType {
    /// The `dlt_native` config that runs this type's verified source with `block` as its
    /// arguments (`*_env` and `${VAR}` resolved; `resources:` selects resources).
    pub fn config(&self, source: &str, block: &Yaml, env: &Env) -> Result<DltNativeConfig> {
        let bad = |what: String| {
            Error::Config(format!(
                "source `{source}` (type {}): generic_config: {what}. Fix it in .dango/sources.yml",
                self.name
            ))
        };
        let json: Value = match block {
            Yaml::Null => Value::Object(Default::default()),
            b => serde_json::to_value(b).map_err(|e| bad(e.to_string()))?,
        };
        let Value::Object(map) = json else {
            return Err(bad(
                "expected a mapping of the verified source's arguments".into()
            ));
        };
        let mut kwargs = std::collections::BTreeMap::new();
        let mut resources = None;
        for (k, v) in map {
            if DANGO_ONLY.contains(&k.as_str()) {
                continue;
            }
            if k == "resources" {
                let list: Option<Vec<String>> = v
                    .as_array()
                    .and_then(|a| a.iter().map(|r| r.as_str().map(str::to_string)).collect());
                resources =
                    Some(list.ok_or_else(|| {
                        bad("`resources` must be a list of resource names".into())
                    })?);
                continue;
            }
            kwargs.insert(k, v);
        }
        let (function_kwargs, unset_env) = resolve_kwargs(source, &kwargs, env)?;
        Ok(DltNativeConfig {
            source_module: self.module.to_string(),
            source_name: self.function.to_string(),
            function_kwargs,
            unset_env,
            python: None,
            pipeline_name: None,
            dataset_name: None,
            resources,
            verified_type: Some(self.name.to_string()),
        })
    }
}

impl SourceType for VerifiedType {
    fn name(&self) -> &'static str {
        self.name
    }

    fn block_key(&self) -> &'static str {
        "generic_config"
    }

    fn parse(&self, source: &str, block: &Yaml, env: &Env) -> Result<Box<dyn SourceConfig>> {
        Ok(Box::new(self.config(source, block, env)?))
    }

    fn write_disposition(&self, _block: Option<&Yaml>) -> String {
        "per resource".into()
    }
}
