//! Filesystem destination settings, as dlt reads them:
//!
//! ```toml
//! [destination.filesystem]
//! bucket_url = "s3://my-bucket/lake"     # or a local path, or file:///abs/path
//! table_format = "delta"                 # or file_format = "parquet" for plain files
//!
//! [destination.filesystem.credentials]   # secrets.toml (or DESTINATION__FILESYSTEM__CREDENTIALS__*)
//! aws_access_key_id = "..."
//! aws_secret_access_key = "..."
//! region_name = "us-east-1"
//! endpoint_url = "http://127.0.0.1:9000"
//! ```

use std::path::PathBuf;

use crate::config::settings::Settings;
use crate::destinations::config::DestinationSettings;
use crate::error::{Error, Result};

/// How tables are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Delta Lake tables (`table_format = "delta"`).
    Delta,
    /// Plain Parquet files, `<table>/<load_id>.<file_id>.parquet` (`file_format = "parquet"`).
    Parquet,
}

/// Where the bucket is.
#[derive(Clone, PartialEq, Eq)]
pub enum Bucket {
    /// A local directory.
    Local(PathBuf),
    /// An S3 (or S3-compatible) bucket and a key prefix inside it.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix (no leading or trailing `/`; may be empty).
        prefix: String,
        /// The S3 credentials and endpoint.
        credentials: S3Credentials,
    },
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Bucket {
    /// The bucket URL without credentials, for messages.
    pub fn display(&self) -> String {
        match self {
            Bucket::Local(p) => p.display().to_string(),
            Bucket::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("s3://{bucket}"),
            Bucket::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// dlt's `AwsCredentials` (`[destination.filesystem.credentials]`). Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Credentials {
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<String>,
    /// `aws_session_token`.
    pub session_token: Option<String>,
    /// `region_name` (dlt's default `us-east-1`).
    pub region: String,
    /// `endpoint_url` (an S3-compatible server).
    pub endpoint_url: Option<String>,
}

/// The filesystem destination's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemConfig {
    /// The bucket.
    pub bucket: Bucket,
    /// Delta tables or plain Parquet files.
    pub format: TableFormat,
}

impl FilesystemConfig {
    /// Reads `[destination.filesystem]`; a relative local `bucket_url` is taken from the
    /// project root.
    pub fn from_settings(root: &std::path::Path, settings: &Settings) -> Result<FilesystemConfig> {
        let ds = DestinationSettings::new(settings, "filesystem");
        let Some(url) = ds.value("bucket_url")? else {
            return Err(Error::Config(
                "the filesystem destination needs a bucket: set `bucket_url` under \
                 [destination.filesystem] in .dlt/config.toml (a local path or s3://bucket/prefix), \
                 or DESTINATION__FILESYSTEM__BUCKET_URL"
                    .into(),
            ));
        };
        let url = url.as_string();
        let format = table_format(&ds)?;
        let bucket = if let Some(rest) = url.strip_prefix("s3://") {
            let rest = rest.trim_end_matches('/');
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Config(format!(
                    "[destination.filesystem] bucket_url `{url}` names no bucket: write s3://<bucket>/<optional prefix>"
                )));
            }
            Bucket::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
                credentials: s3_credentials(&ds)?,
            }
        } else if let Some(path) = url.strip_prefix("file://") {
            Bucket::Local(PathBuf::from(path))
        } else if url.contains("://") {
            let scheme = url.split("://").next().unwrap_or_default();
            return Err(Error::Config(format!(
                "[destination.filesystem] bucket_url: the `{scheme}://` protocol is not supported by dango; use a local path, file:// or s3://"
            )));
        } else {
            let p = PathBuf::from(&url);
            Bucket::Local(if p.is_absolute() { p } else { root.join(p) })
        };
        Ok(FilesystemConfig { bucket, format })
    }
}

/// `table_format` / `file_format` of `[destination.filesystem]`.
fn table_format(ds: &DestinationSettings<'_>) -> Result<TableFormat> {
    if let Some(tf) = ds.value("table_format")? {
        return match tf.as_string().as_str() {
            "delta" => Ok(TableFormat::Delta),
            other => Err(Error::Config(format!(
                "{}: table format `{other}` is not supported by dango; use `delta` (or leave it out and set file_format = \"parquet\")",
                tf.describe()
            ))),
        };
    }
    match ds.value("file_format")? {
        None => Ok(TableFormat::Delta),
        Some(ff) => match ff.as_string().as_str() {
            "parquet" => Ok(TableFormat::Parquet),
            other => Err(Error::Config(format!(
                "{}: file format `{other}` is not supported by dango's filesystem destination; use `parquet`, or table_format = \"delta\"",
                ff.describe()
            ))),
        },
    }
}

/// The format a source entry's `table_format` / `file_format` choose (`None`: the entry sets
/// neither). `table_format: delta` wins (Delta's files are Parquet); `file_format: parquet`
/// alone means plain Parquet files, whatever `[destination.filesystem]` says.
pub fn entry_format(entry: &crate::destinations::EntrySettings) -> Result<Option<TableFormat>> {
    if let Some(tf) = &entry.table_format {
        return match tf.as_str() {
            "delta" => Ok(Some(TableFormat::Delta)),
            other => Err(Error::Config(entry_format_error("table_format", other))),
        };
    }
    match entry.file_format.as_deref() {
        None => Ok(None),
        Some("parquet") => Ok(Some(TableFormat::Parquet)),
        Some(other) => Err(Error::Config(entry_format_error("file_format", other))),
    }
}

/// The message for an unsupported `table_format` / `file_format` value on a source entry.
pub fn entry_format_error(key: &str, value: &str) -> String {
    match key {
        "table_format" => format!(
            "table format `{value}` is not supported by dango; use `table_format: delta` (or leave it out and set `file_format: parquet` for plain Parquet files)"
        ),
        _ => format!(
            "file format `{value}` is not supported by dango's filesystem destination; use `file_format: parquet`, or `table_format: delta`"
        ),
    }
}

fn s3_credentials(ds: &DestinationSettings<'_>) -> Result<S3Credentials> {
    let creds = ds.credentials(&[
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    ])?;
    // Region and endpoint are not secrets (they stay readable in messages).
    let plain = |key: &str| -> Result<Option<String>> {
        for sections in [
            &["destination", "filesystem", "credentials"][..],
            &["destination", "credentials"][..],
        ] {
            if let Some(r) = ds.settings().get(sections, key)? {
                return Ok(Some(r.as_string()));
            }
        }
        Ok(None)
    };
    let get = |key: &str| -> Result<Option<String>> {
        match creds.part(key) {
            Some(r) => Ok(Some(r.as_string())),
            None => plain(key),
        }
    };
    Ok(S3Credentials {
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: get("aws_secret_access_key")?,
        session_token: get("aws_session_token")?,
        region: get("region_name")?.unwrap_or_else(|| "us-east-1".into()),
        endpoint_url: get("endpoint_url")?,
    })
}
