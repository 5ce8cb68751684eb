//! Where the files are: a local directory or an S3 bucket (object_store's `aws`). Both list
//! files with their size, modification time and (S3) ETag, and hand each file to the readers
//! as a local path: an S3 object is downloaded in ranges into a temporary file first, so
//! memory stays flat whatever its size.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};

use crate::error::{Error, Result};
use crate::sources::BuildContext;

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to `bucket_url`, with `/` separators (dlt's `file_name`).
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, RFC 3339 in UTC.
    pub mtime: String,
    /// ETag (S3).
    pub etag: Option<String>,
}

/// A file system to read from.
pub enum Store {
    /// A local directory.
    Local {
        /// The directory.
        root: PathBuf,
    },
    /// An S3 bucket.
    S3 {
        /// The client.
        store: Arc<dyn ObjectStore>,
        /// `s3://bucket/prefix` as written (for messages).
        url: String,
        /// Key prefix (no trailing `/`; empty for the whole bucket).
        prefix: String,
        /// The runtime the client runs on.
        rt: tokio::runtime::Runtime,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Local { root } => write!(f, "Local({})", root.display()),
            Store::S3 { url, .. } => write!(f, "S3({url})"),
        }
    }
}

/// A local directory for `bucket_url` (a path or `file://`), or `None` for another scheme.
pub fn local_root(bucket_url: &str, base: &Path) -> Option<PathBuf> {
    let p = if let Some(rest) = bucket_url.strip_prefix("file://") {
        PathBuf::from(rest)
    } else if bucket_url.contains("://") {
        return None;
    } else {
        PathBuf::from(bucket_url)
    };
    Some(if p.is_absolute() { p } else { base.join(p) })
}

impl Store {
    /// Opens `bucket_url` for source `source`: S3 credentials come from secrets along dlt's
    /// chain (`[sources.filesystem.<name>.credentials]`, `[sources.filesystem.credentials]`,
    /// `[sources.<name>.credentials]`, ...).
    pub fn open(bucket_url: &str, source: &str, cx: &BuildContext<'_>) -> Result<Store> {
        if let Some(root) = local_root(bucket_url, cx.project_root) {
            if !root.is_dir() {
                return Err(Error::Config(format!(
                    "source `{source}`: {} is not a directory. Create it or fix the path (`bucket_url`, `directory`) in .dango/sources.yml",
                    root.display()
                )));
            }
            return Ok(Store::Local { root });
        }
        let Some(rest) = bucket_url.strip_prefix("s3://") else {
            return Err(Error::Config(format!(
                "source `{source}`: bucket_url `{bucket_url}` has an unsupported scheme; use a local path, file:// or s3://"
            )));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Config(format!(
                "source `{source}`: bucket_url `{bucket_url}` names no bucket (s3://<bucket>/<prefix>)"
            )));
        }
        let store = super::s3::client(bucket, source, cx)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the S3 client runtime: {e}")))?;
        Ok(Store::S3 {
            store,
            url: bucket_url.trim_end_matches('/').to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            rt,
        })
    }

    /// The files whose relative path matches `glob`, sorted by path.
    pub fn list(&self, glob: &glob::Pattern) -> Result<Vec<FileEntry>> {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let mut out = match self {
            Store::Local { root } => {
                let mut out = Vec::new();
                walk(root, "", &mut out)?;
                out
            }
            Store::S3 {
                store, prefix, rt, ..
            } => rt.block_on(list_s3(store.as_ref(), prefix))?,
        };
        out.retain(|f| glob.matches_with(&f.rel, opts));
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// The display name of a file (a path or an `s3://` URL).
    pub fn describe(&self, rel: &str) -> String {
        match self {
            Store::Local { root } => root.join(rel).display().to_string(),
            Store::S3 { url, .. } => format!("{url}/{rel}"),
        }
    }

    /// A local path holding `file`: the file itself, or a temporary download of the object
    /// (removed when the returned value is dropped). The download fails if the object
    /// changed since it was listed (its ETag).
    pub fn fetch(&self, file: &FileEntry, cancel: &crate::extract::CancelToken) -> Result<Local> {
        match self {
            Store::Local { root } => Ok(Local {
                path: root.join(&file.rel),
                temp: false,
            }),
            Store::S3 {
                store, prefix, rt, ..
            } => {
                let key = if prefix.is_empty() {
                    file.rel.clone()
                } else {
                    format!("{prefix}/{}", file.rel)
                };
                let path = temp_path(&file.rel);
                let local = Local { path, temp: true };
                rt.block_on(download(store.as_ref(), &key, file, &local.path, cancel))
                    .map_err(|e| match e {
                        Error::Interrupted => e,
                        other => {
                            Error::Config(format!("reading {}: {other}", self.describe(&file.rel)))
                        }
                    })?;
                Ok(local)
            }
        }
    }
}

/// A file on local disk; a temporary one is removed on drop.
pub struct Local {
    /// Its path.
    pub path: PathBuf,
    temp: bool,
}

impl Drop for Local {
    fn drop(&mut self) {
        if self.temp {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn temp_path(rel: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // Keep the extension: DuckDB and the readers look at it.
    let name = rel.rsplit('/').next().unwrap_or("file");
    std::env::temp_dir().join(format!("dango-fs-{}-{n}-{name}", std::process::id()))
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<FileEntry>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            walk(&path, &child_rel, out)?;
        } else if meta.is_file() {
            let mtime = meta
                .modified()
                .map(|t| rfc3339(chrono::DateTime::<chrono::Utc>::from(t)))
                .unwrap_or_default();
            out.push(FileEntry {
                rel: child_rel,
                size: meta.len(),
                mtime,
                etag: None,
            });
        }
    }
    Ok(())
}

fn store_error(e: object_store::Error) -> Error {
    // object_store's messages name the bucket and key, never the credentials.
    Error::Config(format!(
        "{e}. Check bucket_url and [sources.filesystem.credentials] (endpoint_url, aws_access_key_id, aws_secret_access_key)"
    ))
}

async fn list_s3(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    let mut todo = vec![if prefix.is_empty() {
        None
    } else {
        Some(ObjectPath::from(prefix))
    }];
    while let Some(p) = todo.pop() {
        let res = store
            .list_with_delimiter(p.as_ref())
            .await
            .map_err(store_error)?;
        todo.extend(res.common_prefixes.into_iter().map(Some));
        for o in res.objects {
            let key = o.location.to_string();
            let rel = if prefix.is_empty() {
                key
            } else {
                match key.strip_prefix(prefix).and_then(|k| k.strip_prefix('/')) {
                    Some(r) => r.to_string(),
                    None => continue,
                }
            };
            out.push(FileEntry {
                rel,
                size: o.size,
                mtime: rfc3339(o.last_modified),
                etag: o.e_tag,
            });
        }
    }
    Ok(out)
}

/// Bytes per ranged GET.
const RANGE: u64 = 16 << 20;

async fn download(
    store: &dyn ObjectStore,
    key: &str,
    file: &FileEntry,
    dest: &Path,
    cancel: &crate::extract::CancelToken,
) -> Result<()> {
    use std::io::Write;
    let location = ObjectPath::from(key);
    let f = std::fs::File::create(dest).map_err(|e| Error::io(dest, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut at = 0;
    while at < file.size {
        cancel.check()?;
        let end = (at + RANGE).min(file.size);
        let opts = GetOptions {
            if_match: file.etag.clone(),
            range: Some(GetRange::Bounded(at..end)),
            ..GetOptions::default()
        };
        let bytes = store
            .get_opts(&location, opts)
            .await
            .map_err(|e| match e {
                object_store::Error::Precondition { .. } => {
                    Error::Config("the object changed while it was read; run the sync again".into())
                }
                other => store_error(other),
            })?
            .bytes()
            .await
            .map_err(store_error)?;
        if bytes.is_empty() {
            break;
        }
        w.write_all(&bytes).map_err(|e| Error::io(dest, e))?;
        at += bytes.len() as u64;
    }
    w.flush().map_err(|e| Error::io(dest, e))
}
