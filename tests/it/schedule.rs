//! Schedules: `dango schedule list|add|remove|enable|disable` on `.dango/schedules.yml`, and
//! `dango run-scheduler` with a test clock (`DANGO_SCHEDULER_NOW`) two seconds before a
//! schedule's time: it loads data, records history with trigger `schedule:<name>`, catches up
//! exactly one missed run, never syncs one source twice at once, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::ops_history::history;
use crate::util::{TestProject, orders_jsonl};

const NOW_ENV: &str = "DANGO_SCHEDULER_NOW";

fn project(n: usize) -> TestProject {
    let p = TestProject::new();
    p.write("input/orders.jsonl", &orders_jsonl(n, 1));
    p.local_source("shop", "input", "*.jsonl", "      table_name: orders\n");
    p
}

fn schedules_text(p: &TestProject) -> String {
    std::fs::read_to_string(p.path().join(".dango/schedules.yml")).unwrap()
}

fn ok(p: &TestProject, args: &[&str]) -> String {
    let out = p.dango().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(p: &TestProject, args: &[&str]) -> String {
    let out = p.dango().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn list_json(p: &TestProject, now: &str) -> Vec<serde_json::Value> {
    let out = p
        .dango()
        .args(["schedule", "list", "--json"])
        .env(NOW_ENV, now)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn add_list_enable_disable_remove_round_trip_keeps_comments() {
    let p = project(3);
    p.write("input2/a.jsonl", "{\"id\": 1}\n");
    p.write(
        ".dango/sources.yml",
        "version: \"1.0\"\nsources:\n  - name: shop\n    type: local_files\n    local_files:\n      directory: input\n      file_pattern: \"*.jsonl\"\n  - name: other\n    type: local_files\n    local_files:\n      directory: input2\n      file_pattern: \"*.jsonl\"\n",
    );
    assert!(ok(&p, &["schedule", "list"]).contains("No schedules"));
    ok(
        &p,
        &[
            "schedule",
            "add",
            "nightly",
            "--preset",
            "daily",
            "--timezone",
            "Europe/Berlin",
        ],
    );
    let text = schedules_text(&p);
    assert!(
        text.contains("schedules:\n  - name: nightly\n    type: sync\n    preset: daily\n    enabled: true\n    timezone: Europe/Berlin\n"),
        "{text}"
    );
    // A comment written by hand survives every later edit.
    std::fs::write(
        p.path().join(".dango/schedules.yml"),
        format!("# ours: keep this\n{text}"),
    )
    .unwrap();
    ok(
        &p,
        &[
            "schedule",
            "add",
            "often",
            "--cron",
            "*/30 6-20 * * MON-FRI",
            "--sources",
            "shop,other",
            "--disabled",
        ],
    );
    let text = schedules_text(&p);
    assert!(text.starts_with("# ours: keep this\n"), "{text}");
    assert!(
        text.contains("  - name: often\n    type: sync\n    cron: \"*/30 6-20 * * MON-FRI\"\n    sources: [shop, other]\n    enabled: false\n"),
        "{text}"
    );
    let l = list_json(&p, "2026-01-01T00:00:00Z");
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["name"], "nightly");
    assert_eq!(l[0]["when"], "preset daily");
    assert_eq!(l[1]["enabled"], false);
    assert_eq!(l[1]["sources"], serde_json::json!(["shop", "other"]));
    assert_eq!(l[1]["next_run_utc"], serde_json::Value::Null);

    ok(&p, &["schedule", "enable", "often"]);
    ok(&p, &["schedule", "disable", "nightly"]);
    let text = schedules_text(&p);
    assert!(
        text.contains("preset: daily\n    enabled: false\n"),
        "{text}"
    );
    assert!(
        text.contains("sources: [shop, other]\n    enabled: true\n"),
        "{text}"
    );
    assert!(text.starts_with("# ours: keep this\n"), "{text}");
    let l = list_json(&p, "2026-01-01T00:00:00Z");
    assert_eq!(l[0]["enabled"], false);
    // Thursday 2026-01-01 00:00: the first run is 06:00 the same day; on Friday at 20:30,
    // the next one is Monday 06:00.
    assert_eq!(l[1]["next_run_utc"], "2026-01-01T06:00:00Z");
    assert_eq!(
        list_json(&p, "2026-01-02T20:30:00Z")[1]["next_run_utc"],
        "2026-01-05T06:00:00Z"
    );
    let table = ok(&p, &["schedule", "list"]);
    assert!(
        table.contains("(disabled)") && table.contains("cron */30 6-20 * * MON-FRI"),
        "{table}"
    );

    ok(&p, &["schedule", "remove", "nightly"]);
    let text = schedules_text(&p);
    assert!(!text.contains("nightly"), "{text}");
    assert!(
        text.starts_with("# ours: keep this\n# Schedules for `dango run-scheduler`")
            && text.contains("\nschedules:\n  - name: often\n"),
        "{text}"
    );
    ok(&p, &["schedule", "remove", "often"]);
    assert!(schedules_text(&p).contains("schedules: []"));
    assert!(list_json(&p, "2026-01-01T00:00:00Z").is_empty());
}

#[test]
fn user_errors_name_the_schedule_the_field_and_what_is_allowed() {
    let p = project(1);
    let e = fails(&p, &["schedule", "add", "x", "--cron", "61 * * * *"]);
    assert!(
        e.contains("minute 61 is out of range; allowed: 0-59"),
        "{e}"
    );
    let e = fails(&p, &["schedule", "add", "x", "--preset", "hourly"]);
    assert!(
        e.contains("every_15m, every_hour, every_6h, daily, weekly"),
        "{e}"
    );
    let e = fails(
        &p,
        &[
            "schedule",
            "add",
            "x",
            "--preset",
            "daily",
            "--timezone",
            "Europe/Berln",
        ],
    );
    assert!(e.contains("unknown time zone `Europe/Berln`"), "{e}");
    let e = fails(
        &p,
        &[
            "schedule",
            "add",
            "x",
            "--preset",
            "daily",
            "--sources",
            "nope",
        ],
    );
    assert!(
        e.contains("no source `nope`") && e.contains("Known sources: shop"),
        "{e}"
    );
    ok(&p, &["schedule", "add", "x", "--preset", "daily"]);
    let e = fails(&p, &["schedule", "add", "x", "--preset", "daily"]);
    assert!(e.contains("already exists"), "{e}");
    let e = fails(&p, &["schedule", "enable", "y"]);
    assert!(
        e.contains("no schedule `y`") && e.contains("Known schedules: x"),
        "{e}"
    );
    assert!(!schedules_text(&p).contains("- name: y"));

    p.write(
        ".dango/schedules.yml",
        "schedules:\n  - name: a\n    type: sync\n    preset: dayly\n  - name: b\n    cron: \"0 0 * * FUNDAY\"\n    timezone: Mars/Base\n",
    );
    let e = fails(&p, &["schedule", "list"]);
    assert!(
        e.contains("schedule `a`, field `preset`: preset `dayly` is not one of every_15m"),
        "{e}"
    );
    assert!(e.contains("line 4"), "{e}");
    assert!(
        e.contains("schedule `b`, field `cron`") && e.contains("not a valid day of week"),
        "{e}"
    );
    let e = fails(&p, &["run-scheduler"]);
    assert!(e.contains("schedule `a`, field `preset`"), "{e}");
    p.write(
        ".dango/schedules.yml",
        "schedules:\n  - name: a\n    preset: daily\n    cronn: x\n",
    );
    let e = fails(&p, &["schedule", "list"]);
    assert!(e.contains("unknown field `cronn`"), "{e}");
}

#[test]
fn list_shows_the_next_run_of_each_preset_in_utc_and_local_time() {
    let p = project(1);
    // Dango's file as it writes it, with every preset.
    p.write(
        ".dango/schedules.yml",
        "schedules:\n\
         - {name: q, type: sync, preset: every_15m, sources: [], enabled: true}\n\
         - {name: h, type: sync, preset: every_hour, sources: [shop], enabled: true, timezone: UTC}\n\
         - {name: six, type: sync, preset: every_6h, enabled: true}\n\
         - {name: d, type: sync, preset: daily, enabled: true, timezone: Europe/Berlin}\n\
         - {name: w, type: sync, preset: weekly, enabled: true}\n\
         - {name: ny, type: sync, cron: '0 9 * * *', enabled: true, timezone: America/New_York}\n",
    );
    // Saturday 2026-03-28, the night Europe/Berlin moves to summer time.
    let l = list_json(&p, "2026-03-28T22:10:00Z");
    let next: Vec<(&str, &str, &str)> = l
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["next_run_utc"].as_str().unwrap(),
                s["next_run_local"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        next,
        [
            ("q", "2026-03-28T22:15:00Z", "2026-03-28T22:15:00+00:00"),
            ("h", "2026-03-28T23:00:00Z", "2026-03-28T23:00:00+00:00"),
            ("six", "2026-03-29T00:00:00Z", "2026-03-29T00:00:00+00:00"),
            ("d", "2026-03-28T23:00:00Z", "2026-03-29T00:00:00+01:00"),
            ("w", "2026-03-29T00:00:00Z", "2026-03-29T00:00:00+00:00"),
            ("ny", "2026-03-29T13:00:00Z", "2026-03-29T09:00:00-04:00"),
        ]
    );
    // The day after the change, Berlin's midnight is 22:00 UTC.
    let l = list_json(&p, "2026-03-29T12:00:00Z");
    assert_eq!(l[3]["next_run_utc"], "2026-03-29T22:00:00Z");
    assert_eq!(l[3]["next_run_local"], "2026-03-30T00:00:00+02:00");
    let table = ok(&p, &["schedule", "list"]);
    assert!(
        table.contains("preset every_15m") && table.contains("(all enabled)"),
        "{table}"
    );
}

/// A running `dango run-scheduler` whose stdout lines arrive on a channel.
struct Scheduler {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Scheduler {
    fn start(p: &TestProject, now: &str) -> Scheduler {
        let mut cmd = p.dango_std();
        cmd.arg("run-scheduler")
            .env(NOW_ENV, now)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let out: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Scheduler {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `what` (panics with everything seen after 120 s).
    fn wait_for(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(l.clone());
                if l.contains(what) {
                    return l;
                }
            }
        }
        panic!("no line with `{what}`; seen:\n{}", self.seen.join("\n"));
    }

    /// SIGTERM; returns the exit code and every line.
    fn stop(mut self) -> (Option<i32>, Vec<String>) {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(l);
        }
        (status.code(), self.seen)
    }
}

#[test]
fn the_scheduler_fires_on_time_loads_data_and_records_history() {
    let p = project(25);
    ok(
        &p,
        &[
            "schedule",
            "add",
            "nightly",
            "--preset",
            "daily",
            "--sources",
            "shop",
        ],
    );
    let mut s = Scheduler::start(&p, "2026-01-01T23:59:58Z");
    s.wait_for("schedule nightly: preset daily, next run 2026-01-02T00:00:00Z");
    let fired = s.wait_for("fired nightly");
    assert!(
        fired.contains("sync shop (due 2026-01-02T00:00:00Z"),
        "{fired}"
    );
    let done = s.wait_for("finished nightly");
    assert!(
        done.contains("success") && done.contains("shop ok, "),
        "{done}"
    );
    let (code, lines) = s.stop();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("scheduler stopped")),
        "{lines:#?}"
    );
    assert_eq!(p.count("raw_shop.orders"), 25);
    let h = history(&p);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0]["status"], "success");
    assert_eq!(h[0]["trigger"], "schedule:nightly");
    // What the scheduler remembers, and what `list` shows of it.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".dango/state/scheduler.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["schedules"]["nightly"]["last_status"], "success");
    assert_eq!(
        list_json(&p, "2026-01-02T00:00:05Z")[0]["last_run_status"],
        "success"
    );
    let log = std::fs::read_to_string(p.path().join(".dango/logs/schedule-nightly.log")).unwrap();
    assert!(log.contains("schedule nightly: dango sync shop"), "{log}");
}

#[test]
fn exactly_one_missed_run_is_caught_up_after_downtime() {
    let p = project(4);
    ok(&p, &["schedule", "add", "nightly", "--preset", "daily"]);
    // The scheduler last ran on Jan 2 at noon; it is now Jan 5, 12:00: three runs were missed.
    p.write(
        ".dango/state/scheduler.json",
        r#"{"schedules": {"nightly": {"expr": "0 0 * * *", "timezone": "UTC", "handled_until": "2026-01-02T12:00:00Z"}}}"#,
    );
    let mut s = Scheduler::start(&p, "2026-01-05T12:00:00Z");
    let fired = s.wait_for("fired nightly");
    assert!(
        fired.contains("catch-up of the missed run due 2026-01-03T00:00:00Z"),
        "{fired}"
    );
    s.wait_for("finished nightly");
    // Give a second missed run the chance to show up (it must not).
    std::thread::sleep(Duration::from_secs(2));
    let (code, lines) = s.stop();
    assert_eq!(code, Some(0));
    assert_eq!(
        lines.iter().filter(|l| l.contains("fired")).count(),
        1,
        "{lines:#?}"
    );
    assert_eq!(history(&p).len(), 1);
    // A restart right away catches up nothing.
    let mut s = Scheduler::start(&p, "2026-01-05T12:00:10Z");
    s.wait_for("next run 2026-01-06T00:00:00Z");
    std::thread::sleep(Duration::from_secs(2));
    let (code, lines) = s.stop();
    assert_eq!(code, Some(0));
    assert!(!lines.iter().any(|l| l.contains("fired")), "{lines:#?}");
    assert_eq!(history(&p).len(), 1);
    assert_eq!(p.count("raw_shop.orders"), 4);
}

#[test]
fn one_source_is_never_synced_by_two_runs_at_once() {
    let p = project(6);
    ok(
        &p,
        &[
            "schedule",
            "add",
            "a",
            "--preset",
            "daily",
            "--sources",
            "shop",
        ],
    );
    ok(&p, &["schedule", "add", "b", "--cron", "0 0 * * *"]);
    let mut s = Scheduler::start(&p, "2026-01-01T23:59:58Z");
    s.wait_for("fired a: sync shop");
    let skipped = s.wait_for("skipped b");
    assert!(
        skipped.contains("source shop is still being synced by schedule a"),
        "{skipped}"
    );
    s.wait_for("finished a: success");
    let (code, lines) = s.stop();
    assert_eq!(code, Some(0));
    assert_eq!(
        lines.iter().filter(|l| l.contains("fired")).count(),
        1,
        "{lines:#?}"
    );
    let h = history(&p);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0]["trigger"], "schedule:a");
    assert_eq!(p.count("raw_shop.orders"), 6);
}

#[test]
fn sigterm_interrupts_the_running_sync_cleanly_and_exits_0() {
    let p = TestProject::new();
    p.write("big/a.jsonl", &orders_jsonl(60_000, 1));
    p.local_source("big", "big", "*.jsonl", "");
    ok(&p, &["schedule", "add", "nightly", "--preset", "daily"]);
    let mut s = Scheduler::start(&p, "2026-01-01T23:59:59Z");
    s.wait_for("fired nightly");
    std::thread::sleep(Duration::from_millis(300));
    let (code, lines) = s.stop();
    assert_eq!(code, Some(0), "{lines:#?}");
    let text = lines.join("\n");
    assert!(
        text.contains("stopping: interrupting 1 running sync(s)"),
        "{text}"
    );
    let done = lines
        .iter()
        .find(|l| l.contains("finished nightly"))
        .expect(&text);
    // Nothing half-loaded: either the whole load committed or none of it.
    let committed = p.warehouse().exists() && p.tables("raw_big").contains(&"big".to_string());
    if committed {
        assert_eq!(p.count("raw_big.big"), 60_000, "{text}");
    }
    assert!(
        done.contains("interrupted") || (done.contains("success") && committed),
        "{text}"
    );
    // The next sync completes it, without duplicates.
    p.dango().arg("sync").assert().success();
    assert_eq!(p.count("raw_big.big"), 60_000);
}

/// `dango validate` and `dango doctor` read `.dango/schedules.yml`: a good file is counted, a
/// schedule naming an undeclared source is a problem that names the schedule and the source.
#[test]
fn validate_and_doctor_check_the_schedules_file() {
    let p = project(3);
    p.write(
        ".dango/schedules.yml",
        "schedules:\n  - name: nightly\n    type: sync\n    preset: daily\n    sources: [shop]\n",
    );
    let out = p.dango().args(["validate"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("schedules.yml: 1 schedule(s)"), "{text}");
    let out = p.dango().args(["doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("schedules") && text.contains("1 schedule(s)"),
        "{text}"
    );

    p.write(
        ".dango/schedules.yml",
        "schedules:\n  - name: nightly\n    type: sync\n    preset: daily\n    sources: [shop, billing]\n",
    );
    let out = p.dango().args(["validate"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("schedule `nightly` names source `billing`"),
        "{text}"
    );
    let out = p.dango().args(["doctor"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("names source `billing`"), "{text}");
}
