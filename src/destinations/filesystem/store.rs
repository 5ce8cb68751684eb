//! Blocking access to the bucket (a local directory or S3) over `object_store`, with paths
//! relative to the bucket URL.

use std::sync::Arc;

use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::config::Bucket;
use crate::error::{Error, Result};

/// The bucket: a local folder, or an object store with a key prefix and a runtime to drive
/// it.
pub struct Store {
    inner: Option<Arc<dyn ObjectStore>>,
    local: Option<std::path::PathBuf>,
    prefix: String,
    rt: tokio::runtime::Runtime,
    location: String,
}

/// An object listed by [`Store::list`]: its name (last path part) and size.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The last part of the path.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

impl Store {
    /// Opens the bucket. A local bucket directory is created when `create` (else a missing
    /// directory reads as empty).
    pub fn open(bucket: &Bucket, create: bool) -> Result<Store> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the I/O runtime: {e}")))?;
        let location = bucket.display();
        let (inner, prefix): (Option<Arc<dyn ObjectStore>>, String) = match bucket {
            Bucket::Local(dir) => {
                if create {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                return Ok(Store {
                    inner: None,
                    local: Some(dir.clone()),
                    prefix: String::new(),
                    rt,
                    location,
                });
            }
            Bucket::S3 {
                bucket,
                prefix,
                credentials: c,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&c.region);
                if let Some(k) = &c.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &c.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                if let Some(t) = &c.session_token {
                    b = b.with_token(t);
                }
                if let Some(e) = &c.endpoint_url {
                    b = b
                        .with_endpoint(e)
                        .with_allow_http(e.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if c.access_key_id.is_none() {
                    b = b.with_skip_signature(true);
                }
                let s3 = b
                    .build()
                    .map_err(|e| store_error(&location, "configuring", e))?;
                (Some(Arc::new(s3)), prefix.clone())
            }
        };
        Ok(Store {
            inner,
            local: None,
            prefix,
            rt,
            location,
        })
    }

    /// The bucket URL (no credentials).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, rel: &str) -> ObjPath {
        let rel = rel.trim_matches('/');
        if self.prefix.is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn store(&self) -> Result<&Arc<dyn ObjectStore>> {
        self.inner.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "the filesystem destination's bucket {} does not exist",
                self.location
            ))
        })
    }

    /// The object at `rel`, or `None` if there is none.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        if let Some(root) = &self.local {
            let p = local_path(root, rel);
            return match std::fs::read(&p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(&p, e)),
            };
        }
        let Some(store) = self.inner.as_ref() else {
            return Ok(None);
        };
        let path = self.path(rel);
        let out = self.rt.block_on(async {
            match store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        out.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| store_error(&self.location, &format!("reading {rel}"), e))
    }

    /// The Parquet file at `rel`, decoded (`None` if it is not there).
    pub fn read_parquet(&self, rel: &str) -> Result<Option<Vec<arrow::array::RecordBatch>>> {
        if let Some(root) = &self.local {
            let p = local_path(root, rel);
            return match std::fs::File::open(&p) {
                Ok(f) => super::data::decode_parquet(f, rel).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(&p, e)),
            };
        }
        let Some(store) = self.inner.as_ref() else {
            return Ok(None);
        };
        let path = self.path(rel);
        let out = self.rt.block_on(async {
            match store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match out.map_err(|e| store_error(&self.location, &format!("reading {rel}"), e))? {
            Some(bytes) => super::data::decode_parquet(bytes, rel).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `data` to `rel` (replacing it).
    pub fn put(&self, rel: &str, data: Vec<u8>) -> Result<()> {
        if let Some(root) = &self.local {
            let p = local_path(root, rel);
            return crate::storage::write_atomic(&p, &data);
        }
        let store = self.store()?;
        let path = self.path(rel);
        self.rt
            .block_on(store.put(&path, PutPayload::from(data)))
            .map(|_| ())
            .map_err(|e| store_error(&self.location, &format!("writing {rel}"), e))
    }

    /// Writes the object `rel` with `write` (replacing it); returns its size. A local file is
    /// written in place under a temporary name and renamed (nothing is held in memory); an
    /// object store gets one put of the bytes.
    pub fn put_with(
        &self,
        rel: &str,
        write: impl FnOnce(&mut (dyn std::io::Write + Send)) -> Result<()>,
    ) -> Result<u64> {
        use std::io::Write;
        if let Some(root) = &self.local {
            let p = local_path(root, rel);
            let dir = p.parent().unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let tmp = dir.join(format!(".{}.tmp", uuid4()));
            let done = (|| -> Result<u64> {
                let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                write(&mut w)?;
                w.flush().map_err(|e| Error::io(&tmp, e))?;
                let f = w
                    .into_inner()
                    .map_err(|e| Error::io(&tmp, e.into_error()))?;
                f.sync_all().map_err(|e| Error::io(&tmp, e))?;
                let size = f.metadata().map_err(|e| Error::io(&tmp, e))?.len();
                std::fs::rename(&tmp, &p).map_err(|e| Error::io(&p, e))?;
                Ok(size)
            })();
            if done.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            return done;
        }
        let mut buf: Vec<u8> = Vec::new();
        write(&mut buf)?;
        let size = buf.len() as u64;
        self.put(rel, buf)?;
        Ok(size)
    }

    /// Writes `data` to `rel` only if nothing is there; `false` if something was.
    pub fn put_if_absent(&self, rel: &str, data: Vec<u8>) -> Result<bool> {
        if let Some(root) = &self.local {
            return local_create(&local_path(root, rel), &data);
        }
        let store = self.store()?;
        let path = self.path(rel);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .rt
            .block_on(store.put_opts(&path, PutPayload::from(data), opts))
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(store_error(&self.location, &format!("committing {rel}"), e)),
        }
    }

    /// Objects directly under the folder `rel` (not recursive), sorted by name.
    pub fn list(&self, rel: &str) -> Result<Vec<Entry>> {
        Ok(self.list_dir(rel)?.0)
    }

    /// Folders directly under `rel`, sorted.
    pub fn folders(&self, rel: &str) -> Result<Vec<String>> {
        Ok(self.list_dir(rel)?.1)
    }

    fn list_dir(&self, rel: &str) -> Result<(Vec<Entry>, Vec<String>)> {
        if let Some(root) = &self.local {
            return local_list(&local_path(root, rel));
        }
        let Some(store) = self.inner.as_ref() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let path = self.path(rel);
        let listed = match self.rt.block_on(store.list_with_delimiter(Some(&path))) {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok((Vec::new(), Vec::new())),
            Err(e) => {
                return Err(store_error(&self.location, &format!("listing {rel}"), e));
            }
        };
        let mut files: Vec<Entry> = listed
            .objects
            .into_iter()
            .filter_map(|o| {
                Some(Entry {
                    name: o.location.filename()?.to_string(),
                    size: o.size,
                })
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut dirs: Vec<String> = listed
            .common_prefixes
            .into_iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        dirs.sort();
        Ok((files, dirs))
    }

    /// Deletes the object `rel` (nothing if it is not there).
    pub fn delete(&self, rel: &str) -> Result<()> {
        if let Some(root) = &self.local {
            let p = local_path(root, rel);
            return match std::fs::remove_file(&p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(&p, e)),
            };
        }
        let store = self.store()?;
        let path = self.path(rel);
        match self.rt.block_on(store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(&self.location, &format!("deleting {rel}"), e)),
        }
    }

    /// Deletes everything under the folder `rel`.
    pub fn delete_tree(&self, rel: &str) -> Result<()> {
        if let Some(root) = &self.local {
            let p = local_path(root, rel);
            return match std::fs::remove_dir_all(&p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(&p, e)),
            };
        }
        if self.inner.is_none() {
            return Ok(());
        }
        let (files, dirs) = self.list_dir(rel)?;
        for f in files {
            self.delete(&format!("{rel}/{}", f.name))?;
        }
        for d in dirs {
            self.delete_tree(&format!("{rel}/{d}"))?;
        }
        Ok(())
    }
}

/// An object store error as a destination error; the message names the bucket (never a
/// credential).
fn store_error(location: &str, what: &str, e: object_store::Error) -> Error {
    Error::Destination {
        context: format!("{what} in {location}"),
        reason: crate::config::redact::redact(&e.to_string()),
    }
}

fn local_path(root: &std::path::Path, rel: &str) -> std::path::PathBuf {
    let rel = rel.trim_matches('/');
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Creates `path` with `data` only if it does not exist, atomically: the data goes to a
/// temporary file that is hard-linked to the name (a link fails if the name exists).
fn local_create(path: &std::path::Path, data: &[u8]) -> Result<bool> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(".{}.tmp", uuid4()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Files (not hidden) and folders directly in `dir`, sorted.
fn local_list(dir: &std::path::Path) -> Result<(Vec<Entry>, Vec<String>)> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let meta = entry.metadata().map_err(|e| Error::io(&entry.path(), e))?;
        if meta.is_dir() {
            dirs.push(name);
        } else {
            files.push(Entry {
                name,
                size: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    dirs.sort();
    Ok((files, dirs))
}

/// A random UUID (version 4) in its text form.
pub fn uuid4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
