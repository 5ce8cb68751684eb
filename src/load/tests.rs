//! The load protocol over `dyn Destination`, with a destination that records what it is asked
//! to do: the order of the calls, rollback on errors, and job-by-job resume for
//! non-transactional destinations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::destinations::{Capabilities, Sample};
use crate::schema::{Schema, Table};
use crate::storage::NormalizedJob;

#[derive(Default)]
struct Log {
    calls: Vec<String>,
    /// Load ids in `_dlt_loads`.
    loads: Vec<String>,
    /// Fail `load_job` for this job index once.
    fail_job: Option<usize>,
}

struct Recording {
    transactional: bool,
    log: Arc<Mutex<Log>>,
}

impl Recording {
    fn call(&self, c: String) {
        self.log.lock().unwrap().calls.push(c);
    }
}

impl Destination for Recording {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional_loads: self.transactional,
            ..crate::destinations::duckdb::capabilities()
        }
    }
    fn health_check(&mut self) -> Result<()> {
        Ok(())
    }
    fn dataset_tables(&self, _: &str) -> Result<HashMap<String, Vec<String>>> {
        Ok(HashMap::new())
    }
    fn table_columns(&self, _: &str, _: &str) -> Result<Option<Vec<(String, String)>>> {
        Ok(None)
    }
    fn row_count(&self, _: &str, _: &str) -> Result<u64> {
        Ok(0)
    }
    fn rows_of_load(&self, _: &str, _: &str, _: &str) -> Result<u64> {
        Ok(0)
    }
    fn sample(&self, _: &str, _: &str, _: usize) -> Result<Sample> {
        Ok((Vec::new(), Vec::new()))
    }
    fn has_load(&self, _: &str, load_id: &str) -> Result<bool> {
        Ok(self.log.lock().unwrap().loads.iter().any(|l| l == load_id))
    }
    fn last_load(&self, _: &str, _: &str) -> Result<Option<(String, String)>> {
        Ok(None)
    }
    fn stored_state(&self, _: &str, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
    fn stored_state_hash(&self, _: &str, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
    fn stored_schema(&self, _: &str, _: &str) -> Result<Option<Schema>> {
        Ok(None)
    }
    fn has_schema_version(&self, _: &str, _: &str) -> Result<bool> {
        Ok(false)
    }
    fn begin_load(&mut self, plan: &LoadPlan<'_>) -> Result<()> {
        self.call(format!("begin {} jobs", plan.jobs.len()));
        Ok(())
    }
    fn initialize_storage(&mut self, dataset: &str, _: bool) -> Result<()> {
        self.call(format!("init {dataset}"));
        Ok(())
    }
    fn update_stored_schema(
        &mut self,
        _: &str,
        _: &Schema,
        _: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        self.call("migrate".into());
        Ok(Vec::new())
    }
    fn truncate_tables(&mut self, _: &str, _: &[String]) -> Result<()> {
        Ok(())
    }
    fn prepare_staging(&mut self, _: &str, _: &Schema, _: &[String]) -> Result<()> {
        Ok(())
    }
    fn load_job(&mut self, index: usize, job: &JobFile, _: &str) -> Result<()> {
        assert!(
            job.path.is_file(),
            "job file {} is where it is said to be",
            job.path.display()
        );
        let folder = job
            .path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        self.call(format!("job {index} from {folder}"));
        let mut log = self.log.lock().unwrap();
        if log.fail_job == Some(index) {
            log.fail_job = None;
            return Err(Error::Destination {
                context: "loading".into(),
                reason: "injected failure".into(),
            });
        }
        Ok(())
    }
    fn merge_table(&mut self, _: &str, _: &str, _: &Schema, _: &str, _: &str) -> Result<()> {
        Ok(())
    }
    fn replace_from_staging(&mut self, _: &str, _: &str, _: &Table) -> Result<()> {
        Ok(())
    }
    fn store_schema(&mut self, _: &str, _: &Schema) -> Result<()> {
        self.call("store_schema".into());
        Ok(())
    }
    fn store_state(&mut self, _: &str, _: &crate::destinations::StateRow, _: &str) -> Result<()> {
        self.call("store_state".into());
        Ok(())
    }
    fn complete_load(&mut self, _: &str, load_id: &str, _: &Schema) -> Result<()> {
        self.call("complete_load".into());
        self.log.lock().unwrap().loads.push(load_id.to_string());
        Ok(())
    }
    fn commit_load(&mut self) -> Result<()> {
        self.call("commit".into());
        Ok(())
    }
    fn rollback_load(&mut self) {
        self.call("rollback".into());
    }
    fn drop_tables(&mut self, _: &str, _: &[String]) -> Result<()> {
        Ok(())
    }
}

const LOAD_ID: &str = "1700000000.5";

/// A recording destination starting from `log`, and the log to inspect.
fn recording(transactional: bool, log: Log) -> (Recording, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(log));
    let dest = Recording {
        transactional,
        log: log.clone(),
    };
    (dest, log)
}

/// The calls recorded so far (the log starts over).
fn take_calls(log: &Mutex<Log>) -> Vec<String> {
    std::mem::take(&mut log.lock().unwrap().calls)
}

/// A normalized package with three jobs of table `t`.
fn package(tmp: &std::path::Path) -> PipelineDir {
    let dir = PipelineDir::new(tmp.join("pipe"));
    dir.create().unwrap();
    let pkg = dir.normalized(LOAD_ID);
    jobs::create_folders(&pkg).unwrap();
    let mut manifest = NormalizedManifest {
        load_id: LOAD_ID.into(),
        created_at: "2024-01-01T00:00:00+00:00".into(),
        schema_name: "s".into(),
        jobs: Vec::new(),
        truncate_tables: Vec::new(),
        items: 3,
    };
    for i in 0..3 {
        let file = format!("t.{i}.arrow");
        std::fs::write(pkg.join(jobs::NEW_JOBS).join(&file), b"rows").unwrap();
        manifest.jobs.push(NormalizedJob {
            table: "t".into(),
            file,
            rows: 1,
            size: 4,
            columns: vec!["id".into()],
        });
    }
    storage::write_json(&pkg.join("package.json"), &manifest).unwrap();
    let schema = dlt_dict::new_schema("s");
    std::fs::write(
        pkg.join("schema.json"),
        dlt_dict::to_json_string_pretty(&schema),
    )
    .unwrap();
    dir
}

fn states(pkg: &std::path::Path) -> Vec<JobState> {
    (0..3)
        .map(|i| jobs::locate(pkg, &format!("t.{i}.arrow")).unwrap().0)
        .collect()
}

#[test]
fn non_transactional_loads_resume_job_by_job() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = package(tmp.path());
    let (mut dest, log) = recording(
        false,
        Log {
            fail_job: Some(1),
            ..Log::default()
        },
    );
    let state = PipelineState::new("p", "ds", "s");
    let err = load_package(&dir, LOAD_ID, &mut dest, "ds", &state).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let pkg = dir.normalized(LOAD_ID);
    // The refused job is marked failed, with its error beside it.
    assert_eq!(
        states(&pkg),
        [JobState::Completed, JobState::Failed, JobState::New]
    );
    assert!(
        jobs::exception(&pkg, "t.1.arrow")
            .unwrap()
            .contains("injected failure")
    );
    let calls = take_calls(&log);
    assert_eq!(
        calls,
        [
            "begin 3 jobs",
            "init ds",
            "migrate",
            "job 0 from started_jobs",
            "job 1 from started_jobs",
            "rollback"
        ]
    );

    // The next attempt loads the started job again and the new one, not the completed one.
    let loaded = load_package(&dir, LOAD_ID, &mut dest, "ds", &state).unwrap();
    assert!(!loaded.already_committed);
    let calls = take_calls(&log);
    assert_eq!(
        calls,
        [
            "begin 3 jobs",
            "init ds",
            "migrate",
            "job 1 from started_jobs",
            "job 2 from started_jobs",
            "store_schema",
            "store_state",
            "complete_load",
            "commit"
        ]
    );
    assert!(!pkg.exists());
    assert_eq!(states(&dir.loaded(LOAD_ID)), [JobState::Completed; 3]);
}

#[test]
fn transactional_loads_complete_jobs_after_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = package(tmp.path());
    let (mut dest, log) = recording(true, Log::default());
    let state = PipelineState::new("p", "ds", "s");
    load_package(&dir, LOAD_ID, &mut dest, "ds", &state).unwrap();
    let calls = take_calls(&log);
    assert_eq!(
        calls,
        [
            "begin 3 jobs",
            "init ds",
            "migrate",
            "job 0 from new_jobs",
            "job 1 from new_jobs",
            "job 2 from new_jobs",
            "store_schema",
            "store_state",
            "complete_load",
            "commit"
        ]
    );
    let loaded = dir.loaded(LOAD_ID);
    assert_eq!(states(&loaded), [JobState::Completed; 3]);
    assert!(loaded.join("package_completed.json").is_file());
}

#[test]
fn a_package_already_in_loads_is_only_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = package(tmp.path());
    let (mut dest, log) = recording(
        true,
        Log {
            loads: vec![LOAD_ID.into()],
            ..Log::default()
        },
    );
    let state = PipelineState::new("p", "ds", "s");
    let loaded = load_package(&dir, LOAD_ID, &mut dest, "ds", &state).unwrap();
    assert!(loaded.already_committed);
    assert!(log.lock().unwrap().calls.is_empty());
    assert_eq!(states(&dir.loaded(LOAD_ID)), [JobState::Completed; 3]);
}

#[test]
fn a_refused_job_of_a_transactional_load_is_marked_failed_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = package(tmp.path());
    let (mut dest, log) = recording(
        true,
        Log {
            fail_job: Some(2),
            ..Log::default()
        },
    );
    let state = PipelineState::new("p", "ds", "s");
    load_package(&dir, LOAD_ID, &mut dest, "ds", &state).unwrap_err();
    let pkg = dir.normalized(LOAD_ID);
    // The whole transaction rolled back: no job is completed; the refused one is failed.
    assert_eq!(
        states(&pkg),
        [JobState::New, JobState::New, JobState::Failed]
    );
    assert!(
        log.lock()
            .unwrap()
            .calls
            .ends_with(&["rollback".to_string()])
    );
    log.lock().unwrap().calls.clear();

    load_package(&dir, LOAD_ID, &mut dest, "ds", &state).unwrap();
    let calls = take_calls(&log);
    assert!(
        calls.contains(&"job 2 from failed_jobs".to_string()),
        "{calls:?}"
    );
    let loaded = dir.loaded(LOAD_ID);
    assert_eq!(states(&loaded), [JobState::Completed; 3]);
    assert_eq!(jobs::exception(&loaded, "t.2.arrow"), None);
}
