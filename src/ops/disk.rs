//! Disk space: free space of a path's filesystem, package sizes, and the out-of-disk error
//! that says which path ran out, what the package needs and what to do.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Free bytes (for an unprivileged user) on the filesystem holding `path` (or its nearest
/// existing parent).
pub fn free_space(path: &Path) -> Option<u64> {
    let mut p = Some(path);
    while let Some(cur) = p {
        if cur.exists() {
            let c = std::ffi::CString::new(cur.as_os_str().as_encoded_bytes()).ok()?;
            // SAFETY: `c` is a valid C string and `st` a valid out-pointer.
            let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
            let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
            if rc != 0 {
                return None;
            }
            return Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64));
        }
        p = cur.parent();
    }
    None
}

/// Bytes of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return std::fs::metadata(dir).map(|m| m.len()).unwrap_or(0);
    };
    rd.filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dir_size(&p),
                _ => e.metadata().map(|m| m.len()).unwrap_or(0),
            }
        })
        .sum()
}

/// "12.3 MiB".
pub fn human(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// Whether `e` is (or wraps) "No space left on device" (ENOSPC, or EDQUOT).
pub fn is_out_of_space(e: &Error) -> bool {
    let text = e.to_string();
    text.contains("os error 28")
        || text.contains("No space left on device")
        || text.contains("os error 122")
        || text.contains("Disk quota exceeded")
}

/// What the out-of-disk error needs to know about the pipeline.
#[derive(Debug, Clone)]
pub struct SpaceContext {
    /// Pipeline name.
    pub pipeline: String,
    /// The pipeline's working dir (extract and normalize write there).
    pub working_dir: PathBuf,
    /// The warehouse file (load writes there), when the destination is a local file.
    pub warehouse: Option<PathBuf>,
}

/// Turns an out-of-disk failure into an error that says which path ran out, roughly what
/// the pending package needs, and what to do; `None` when `e` is something else.
pub fn out_of_space_error(e: &Error, cx: &SpaceContext) -> Option<Error> {
    if !is_out_of_space(e) {
        return None;
    }
    let (step, load_id) = match e {
        Error::StepFailed { step, load_id, .. } => (*step, load_id.clone()),
        _ => ("sync", None),
    };
    let path = match (step, &cx.warehouse) {
        ("load", Some(w)) => w.parent().unwrap_or(w).to_path_buf(),
        _ => cx.working_dir.clone(),
    };
    let pending: u64 = ["normalize/extracted", "load/normalized"]
        .iter()
        .map(|s| dir_size(&cx.working_dir.join(s)))
        .sum();
    let need = match step {
        // Normalize writes the package again (Arrow files), about as large as its input.
        "normalize" | "extract" => pending.saturating_mul(2),
        _ => pending,
    };
    let free = free_space(&path)
        .map(human)
        .unwrap_or_else(|| "unknown".into());
    let pkg = load_id
        .map(|id| format!(" (load package {id})"))
        .unwrap_or_default();
    let p = &cx.pipeline;
    Some(Error::Config(format!(
        "pipeline `{p}` ran out of disk space at step {step}{pkg}: the filesystem of {} is full ({free} free now). The pending package(s) take {} and need roughly {} free to finish. Committed data is untouched. To go on: free space on that filesystem (or move the project to a larger disk) and run `dango sync {p}` again, which resumes the pending package; or discard it with `dango pipeline {p} abort-packages` (the next sync extracts again). Cause: {}",
        path.display(),
        human(pending),
        human(need.max(1 << 20)),
        cause(e)
    )))
}

/// The innermost cause, without the "internal error … a bug" wording: running out of disk is
/// not a bug.
fn cause(e: &Error) -> String {
    let mut cur = e;
    while let Error::StepFailed { source, .. } = cur {
        cur = source;
    }
    let text = match cur {
        Error::Internal(m) => m.clone(),
        e => e.to_string(),
    };
    crate::config::redact::redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_is_explained_not_called_a_bug() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("normalize/extracted/1.2");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("f"), vec![0u8; 3000]).unwrap();
        let cx = SpaceContext {
            pipeline: "orders".into(),
            working_dir: tmp.path().to_path_buf(),
            warehouse: None,
        };
        let e = Error::Internal("writing x: No space left on device (os error 28)".into()).in_step(
            "orders",
            "normalize",
            Some("1.2"),
        );
        let msg = out_of_space_error(&e, &cx).unwrap().to_string();
        assert!(
            msg.contains("ran out of disk space at step normalize"),
            "{msg}"
        );
        assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
        assert!(msg.contains("abort-packages"), "{msg}");
        assert!(msg.contains("2.93 KiB"), "{msg}");
        assert!(!msg.contains("bug"), "{msg}");
        assert!(out_of_space_error(&Error::Config("x".into()), &cx).is_none());
        assert!(free_space(tmp.path()).unwrap() > 0);
    }
}
