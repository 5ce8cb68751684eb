//! A thin, safe wrapper over DuckDB's C API for what the `duckdb` crate does not expose: opening
//! a database with our settings, and exposing Arrow streams to SQL with DuckDB's native Arrow
//! scan (`duckdb_arrow_scan`), so job files are bulk-inserted without converting values in Rust.
//!
//! `duckdb_arrow_scan` creates a *persistent* view over a process-local stream. In a file
//! database that view would be written to the WAL, which DuckDB refuses ("Cannot serialize a
//! table function with process-local bind input"). So the scan connection attaches an in-memory
//! scratch catalog and creates its views there; the load transaction reads them by their
//! qualified name and only writes to the warehouse.

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;

use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::RecordBatchReader;
use duckdb::ffi;

/// An open DuckDB database (the file) with its settings applied.
pub struct RawDatabase {
    db: ffi::duckdb_database,
}

// SAFETY: a duckdb_database handle may be used from any thread (DuckDB is thread-safe at the
// database level); we never share one connection between threads.
unsafe impl Send for RawDatabase {}

/// Settings applied to every database we open: nothing is ever downloaded.
const SETTINGS: &[(&str, &str)] = &[
    ("autoinstall_known_extensions", "false"),
    ("autoload_known_extensions", "true"),
];

impl RawDatabase {
    /// Opens (or creates) the database file at `path`.
    /// `extra` settings (name, value) are applied after ours, so they win.
    pub fn open(
        path: &Path,
        read_only: bool,
        extra: &[(String, String)],
    ) -> Result<RawDatabase, String> {
        let cpath = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| "the warehouse path contains a NUL byte".to_string())?;
        let mut config: ffi::duckdb_config = ptr::null_mut();
        // SAFETY: out-pointer is valid; config is destroyed below.
        if unsafe { ffi::duckdb_create_config(&mut config) } != ffi::DuckDBSuccess {
            return Err("cannot create a DuckDB config".into());
        }
        let mut settings: Vec<(&str, &str)> = SETTINGS.to_vec();
        if read_only {
            settings.push(("access_mode", "READ_ONLY"));
        }
        for (k, v) in extra {
            settings.push((k.as_str(), v.as_str()));
        }
        for (k, v) in settings {
            let (k, v) = (
                CString::new(k).unwrap_or_default(),
                CString::new(v).unwrap_or_default(),
            );
            // SAFETY: valid config and NUL-terminated strings.
            if unsafe { ffi::duckdb_set_config(config, k.as_ptr(), v.as_ptr()) }
                != ffi::DuckDBSuccess
            {
                // SAFETY: config was created above.
                unsafe { ffi::duckdb_destroy_config(&mut config) };
                return Err(format!(
                    "invalid DuckDB setting {}={}: unknown name or bad value",
                    k.to_string_lossy(),
                    v.to_string_lossy()
                ));
            }
        }
        let mut db: ffi::duckdb_database = ptr::null_mut();
        let mut err: *mut std::os::raw::c_char = ptr::null_mut();
        // SAFETY: all pointers valid for the call.
        let state = unsafe { ffi::duckdb_open_ext(cpath.as_ptr(), &mut db, config, &mut err) };
        // SAFETY: config was created above.
        unsafe { ffi::duckdb_destroy_config(&mut config) };
        if state != ffi::DuckDBSuccess {
            let msg = if err.is_null() {
                "unknown error".to_string()
            } else {
                // SAFETY: DuckDB returns a NUL-terminated message we must free.
                let m = unsafe { CStr::from_ptr(err) }
                    .to_string_lossy()
                    .into_owned();
                unsafe { ffi::duckdb_free(err as *mut std::ffi::c_void) };
                m
            };
            return Err(msg);
        }
        Ok(RawDatabase { db })
    }

    /// A new connection.
    pub fn connect(&self) -> Result<RawConnection, String> {
        let mut con: ffi::duckdb_connection = ptr::null_mut();
        // SAFETY: db is open; out-pointer valid.
        if unsafe { ffi::duckdb_connect(self.db, &mut con) } != ffi::DuckDBSuccess {
            return Err("cannot connect to the warehouse".into());
        }
        let raw = RawConnection {
            con,
            views: 0,
            streams: Vec::new(),
            catalogs: Vec::new(),
        };
        raw.execute(&format!(
            "ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}; USE {SCRATCH};"
        ))?;
        Ok(raw)
    }

    /// A `duckdb::Connection` on the same database, for queries with results.
    pub fn connection(&self) -> Result<duckdb::Connection, String> {
        // SAFETY: the database outlives the connection: callers drop connections before
        // the RawDatabase (enforced by struct field order in the client).
        unsafe { duckdb::Connection::open_from_raw(self.db) }.map_err(|e| e.to_string())
    }
}

impl Drop for RawDatabase {
    fn drop(&mut self) {
        // SAFETY: db was opened by us and is closed once.
        unsafe { ffi::duckdb_close(&mut self.db) };
    }
}

/// The in-memory catalog that holds Arrow scan views.
pub const SCRATCH: &str = "__dango_scratch";

/// One connection whose default catalog is the in-memory scratch catalog; it exposes Arrow
/// streams as views there.
pub struct RawConnection {
    con: ffi::duckdb_connection,
    views: u64,
    /// Registered views (qualified names) with their streams.
    streams: Vec<(String, Box<FFI_ArrowArrayStream>)>,
    /// Scratch catalogs attached for [`Self::register_arrow_late`].
    catalogs: Vec<String>,
}

// SAFETY: the connection is used by one thread at a time (it is moved, never shared).
unsafe impl Send for RawConnection {}

impl RawConnection {
    /// Runs one or more statements, discarding results.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        let csql = CString::new(sql).map_err(|_| "SQL contains a NUL byte".to_string())?;
        // SAFETY: zeroed duckdb_result is the documented initial state.
        let mut result: ffi::duckdb_result = unsafe { std::mem::zeroed() };
        // SAFETY: connection open, pointers valid.
        let state = unsafe { ffi::duckdb_query(self.con, csql.as_ptr(), &mut result) };
        let out = if state != ffi::DuckDBSuccess {
            // SAFETY: result is valid after a failed query; message owned by the result.
            let p = unsafe { ffi::duckdb_result_error(&mut result) };
            Err(if p.is_null() {
                "unknown error".to_string()
            } else {
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            })
        } else {
            Ok(())
        };
        // SAFETY: result is destroyed exactly once.
        unsafe { ffi::duckdb_destroy_result(&mut result) };
        out
    }

    /// Registers `reader` as a view in the scratch catalog, scanned by DuckDB's native Arrow
    /// scan, and returns its qualified name. The stream stays alive until
    /// [`Self::unregister_all`]. Each view can be scanned once. A load transaction sees the
    /// view only if it was registered before the transaction first read the scratch catalog:
    /// register before `BEGIN`, or use [`Self::register_arrow_late`].
    pub fn register_arrow(
        &mut self,
        reader: Box<dyn RecordBatchReader + Send>,
    ) -> Result<String, String> {
        self.scan_view(SCRATCH, reader)
    }

    /// Like [`Self::register_arrow`], for a transaction that is already open: the view goes
    /// into an in-memory catalog attached just for it. DuckDB starts a transaction's snapshot
    /// of an attached database when the transaction first touches that database, so the open
    /// load transaction sees a view in a catalog it has not read before (and would not see a
    /// new view in one it has). The catalogs are detached by [`Self::unregister_all`], after
    /// the transaction ends.
    pub fn register_arrow_late(
        &mut self,
        reader: Box<dyn RecordBatchReader + Send>,
    ) -> Result<String, String> {
        // Unique in the process, whatever connection attaches it.
        static LATE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = LATE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let catalog = format!("{SCRATCH}_{}_{n}", std::process::id());
        self.execute(&format!("ATTACH ':memory:' AS \"{catalog}\""))?;
        self.catalogs.push(catalog.clone());
        self.execute(&format!("USE \"{catalog}\""))?;
        let view = self.scan_view(&catalog, reader);
        self.execute(&format!("USE {SCRATCH}"))?;
        view
    }

    /// Creates the Arrow scan view over `reader` in `catalog`, the connection's current one.
    fn scan_view(
        &mut self,
        catalog: &str,
        reader: Box<dyn RecordBatchReader + Send>,
    ) -> Result<String, String> {
        self.views += 1;
        let view = format!("__dango_arrow_{}_{}", std::process::id(), self.views);
        let cview = CString::new(view.as_str()).map_err(|e| e.to_string())?;
        let mut stream = Box::new(FFI_ArrowArrayStream::new(reader));
        let stream_ptr: *mut FFI_ArrowArrayStream = &mut *stream;
        // SAFETY: the boxed stream has a stable address and lives in `self.streams` until the
        // view is dropped in `unregister_all`.
        let state = unsafe {
            ffi::duckdb_arrow_scan(
                self.con,
                cview.as_ptr(),
                stream_ptr as ffi::duckdb_arrow_stream,
            )
        };
        let qualified = format!("\"{catalog}\".main.\"{view}\"");
        self.streams.push((qualified.clone(), stream));
        if state != ffi::DuckDBSuccess {
            return Err("DuckDB could not scan the Arrow job file".into());
        }
        Ok(qualified)
    }

    /// Drops every registered view, releases its stream and detaches the late catalogs.
    pub fn unregister_all(&mut self) {
        for (view, _) in std::mem::take(&mut self.streams) {
            let _ = self.execute(&format!("DROP VIEW IF EXISTS {view}"));
        }
        for catalog in std::mem::take(&mut self.catalogs) {
            let _ = self.execute(&format!("DETACH DATABASE IF EXISTS \"{catalog}\""));
        }
    }
}

impl Drop for RawConnection {
    fn drop(&mut self) {
        self.unregister_all();
        // SAFETY: connection opened by us, closed once.
        unsafe { ffi::duckdb_disconnect(&mut self.con) };
    }
}
