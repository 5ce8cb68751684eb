//! Edits of `.dango/schedules.yml` that keep the rest of the text (comments, order, quoting):
//! a schedule's lines are added, removed or its `enabled:` value changed in place. Each edit
//! is checked by reading the new text back; when the file is not in the block style these
//! edits understand (e.g. flow style `[{...}]`), the file is written anew from its content and
//! [`Edited::comments_lost`] says so.

use std::path::Path;

use super::file::{ScheduleEntry, SchedulesFile};
use crate::sources::file::{Seg, locate};
use crate::{Error, Result};

/// The new text of the file.
#[derive(Debug)]
pub struct Edited {
    /// The whole new text.
    pub text: String,
    /// The file was rewritten from its content and had comments that are gone.
    pub comments_lost: bool,
}

const HEADER: &str = "# Schedules for `dango run-scheduler` (see `dango schedule --help`).\n";

/// A YAML scalar: plain when that reads back as the same string, else double-quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '+' | '.'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    }
}

/// The lines of one schedule, its dash at column `indent`.
fn entry_lines(e: &ScheduleEntry, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent + 2);
    let mut v = vec![format!("{}- name: {}", " ".repeat(indent), scalar(&e.name))];
    v.push(format!("{pad}type: {}", scalar(&e.kind)));
    if let Some(c) = &e.cron {
        v.push(format!(
            "{pad}cron: {}",
            serde_json::to_string(c).unwrap_or_default()
        ));
    }
    if let Some(p) = &e.preset {
        v.push(format!("{pad}preset: {}", scalar(p)));
    }
    if let Some(s) = &e.sources {
        let items: Vec<String> = s.iter().map(|x| scalar(x)).collect();
        v.push(format!("{pad}sources: [{}]", items.join(", ")));
    }
    v.push(format!("{pad}enabled: {}", e.enabled));
    if let Some(t) = &e.timezone {
        v.push(format!("{pad}timezone: {}", scalar(t)));
    }
    if let Some(d) = &e.description {
        v.push(format!(
            "{pad}description: {}",
            serde_json::to_string(d).unwrap_or_default()
        ));
    }
    v
}

/// The whole file written from its content.
pub fn render(file: &SchedulesFile) -> String {
    let mut out = String::from(HEADER);
    if file.schedules.is_empty() {
        out.push_str("schedules: []\n");
        return out;
    }
    out.push_str("schedules:\n");
    for e in &file.schedules {
        for l in entry_lines(e, 2) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The lines (0-based, end exclusive) of schedule `index`, the column of its dash and of its
/// keys.
fn item_lines(text: &str, index: usize) -> Option<(usize, usize, usize, usize)> {
    let (line, col) = locate(text, &[Seg::Key("schedules"), Seg::Index(index)])?;
    let lines: Vec<&str> = text.lines().collect();
    let start = line - 1;
    let dash = lines.get(start)?.get(..col - 1)?.rfind('-')?;
    let mut end = start + 1;
    while end < lines.len() {
        if !is_blank(lines[end]) && indent_of(lines[end]) <= dash {
            break;
        }
        end += 1;
    }
    while end > start + 1 && is_blank(lines[end - 1]) {
        end -= 1;
    }
    Some((start, end, dash, col - 1))
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Keeps `new_text` when it reads back as `want`, else writes `want` anew.
fn checked(
    old: &str,
    new_text: Option<String>,
    want: &SchedulesFile,
    path: &Path,
) -> Result<Edited> {
    let same = |t: &str| {
        SchedulesFile::parse(t, path).ok().is_some_and(|f| {
            serde_norway::to_value(&f.schedules).ok()
                == serde_norway::to_value(&want.schedules).ok()
        })
    };
    if let Some(t) = new_text.filter(|t| same(t)) {
        return Ok(Edited {
            text: t,
            comments_lost: false,
        });
    }
    let text = render(want);
    if !same(&text) {
        return Err(Error::Internal(format!(
            "the new text of {} does not read back as written",
            path.display()
        )));
    }
    Ok(Edited {
        text,
        comments_lost: old.lines().any(|l| l.trim_start().starts_with('#')),
    })
}

/// Adds `entry` at the end of the list (`old`: the current text, if the file exists).
pub fn add(old: Option<&str>, entry: &ScheduleEntry, path: &Path) -> Result<Edited> {
    let file = match old {
        Some(t) => SchedulesFile::parse(t, path)?,
        None => SchedulesFile::default(),
    };
    if file.get(&entry.name).is_some() {
        return Err(Error::Config(format!(
            "a schedule named `{}` already exists in {}; pick another name or remove it first (`dango schedule remove {}`)",
            entry.name,
            path.display(),
            entry.name
        )));
    }
    let mut want = file.clone();
    want.schedules.push(entry.clone());
    let Some(old) = old.filter(|t| !t.trim().is_empty()) else {
        return checked("", None, &want, path);
    };
    let mut lines: Vec<String> = old.lines().map(String::from).collect();
    let new_text = if let Some(last) = file.schedules.len().checked_sub(1) {
        item_lines(old, last).map(|(_, end, dash, _)| {
            lines.splice(end..end, entry_lines(entry, dash));
            join(&lines)
        })
    } else {
        let re = regex::Regex::new(r"^schedules:\s*(\[\s*\])?\s*(#.*)?$").ok();
        match lines
            .iter()
            .position(|l| re.as_ref().is_some_and(|re| re.is_match(l)))
        {
            Some(i) => {
                lines[i] = "schedules:".into();
                lines.splice(i + 1..i + 1, entry_lines(entry, 2));
                Some(join(&lines))
            }
            None if !lines.iter().any(|l| l.starts_with("schedules")) => {
                lines.push("schedules:".into());
                lines.extend(entry_lines(entry, 2));
                Some(join(&lines))
            }
            None => None,
        }
    };
    checked(old, new_text, &want, path)
}

fn missing(name: &str, file: &SchedulesFile, path: &Path) -> Error {
    Error::Config(format!(
        "no schedule `{name}` in {}. Known schedules: {}",
        path.display(),
        file.names_or_none()
    ))
}

/// Removes schedule `name`.
pub fn remove(old: &str, name: &str, path: &Path) -> Result<Edited> {
    let file = SchedulesFile::parse(old, path)?;
    let (index, _) = file.get(name).ok_or_else(|| missing(name, &file, path))?;
    let mut want = file.clone();
    want.schedules.remove(index);
    let new_text = item_lines(old, index).map(|(start, end, _, _)| {
        let mut lines: Vec<String> = old.lines().map(String::from).collect();
        lines.drain(start..end);
        if want.schedules.is_empty()
            && let Some(l) = lines.iter_mut().find(|l| l.trim_end() == "schedules:")
        {
            *l = "schedules: []".into();
        }
        join(&lines)
    });
    checked(old, new_text, &want, path)
}

/// Sets `enabled:` of schedule `name`.
pub fn set_enabled(old: &str, name: &str, enabled: bool, path: &Path) -> Result<Edited> {
    let file = SchedulesFile::parse(old, path)?;
    let (index, _) = file.get(name).ok_or_else(|| missing(name, &file, path))?;
    let mut want = file.clone();
    want.schedules[index].enabled = enabled;
    let new_text = item_lines(old, index).map(|(start, end, _, key_col)| {
        let mut lines: Vec<String> = old.lines().map(String::from).collect();
        let found = (start..end).find(|&i| {
            let l = &lines[i];
            (i == start || indent_of(l) == key_col)
                && l.get(key_col..)
                    .is_some_and(|k| k.starts_with("enabled:") || k.starts_with("enabled :"))
        });
        match found {
            Some(i) => {
                let line = &lines[i];
                let colon = key_col + line[key_col..].find(':').unwrap_or(0) + 1;
                let after = &line[colon..];
                let value_at = colon + (after.len() - after.trim_start().len());
                let rest = &line[value_at..];
                let value_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let new_line = format!("{} {enabled}{}", &line[..colon], &rest[value_len..]);
                lines[i] = new_line;
            }
            None => lines.insert(
                start + 1,
                format!("{}enabled: {enabled}", " ".repeat(key_col)),
            ),
        }
        join(&lines)
    });
    checked(old, new_text, &want, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> ScheduleEntry {
        ScheduleEntry {
            name: name.into(),
            kind: "sync".into(),
            cron: Some("*/5 * * * *".into()),
            preset: None,
            sources: Some(vec!["orders".into()]),
            enabled: true,
            timezone: Some("Europe/Berlin".into()),
            description: None,
        }
    }

    const P: &str = "schedules.yml";

    #[test]
    fn edits_keep_comments() {
        let old = "# top comment\nschedules:\n  # the nightly one\n  - name: nightly   # keep me\n    type: sync\n    preset: daily\n    enabled: true  # on\n\n# trailing comment\n";
        let p = Path::new(P);
        let added = add(Some(old), &entry("five"), p).unwrap();
        assert!(!added.comments_lost);
        assert!(added.text.contains("# keep me"));
        assert!(
            added
                .text
                .contains("  - name: five\n    type: sync\n    cron: \"*/5 * * * *\"\n")
        );
        assert!(added.text.ends_with("# trailing comment\n"));
        let off = set_enabled(&added.text, "nightly", false, p).unwrap();
        assert!(
            off.text.contains("    enabled: false  # on\n"),
            "{}",
            off.text
        );
        let off5 = set_enabled(&off.text, "five", false, p).unwrap();
        let f = SchedulesFile::parse(&off5.text, p).unwrap();
        assert!(f.schedules.iter().all(|s| !s.enabled));
        let gone = remove(&off5.text, "nightly", p).unwrap();
        assert!(
            gone.text
                .starts_with("# top comment\nschedules:\n  # the nightly one\n  - name: five"),
            "{}",
            gone.text
        );
        let none = remove(&gone.text, "five", p).unwrap();
        assert!(none.text.contains("schedules: []"));
        assert!(
            SchedulesFile::parse(&none.text, p)
                .unwrap()
                .schedules
                .is_empty()
        );
        let again = add(Some(&none.text), &entry("x"), p).unwrap();
        assert_eq!(
            SchedulesFile::parse(&again.text, p)
                .unwrap()
                .schedules
                .len(),
            1
        );
        assert!(again.text.contains("# top comment"));
    }

    #[test]
    fn missing_enabled_is_inserted_and_flow_style_is_rewritten() {
        let p = Path::new(P);
        let old = "schedules:\n- name: a\n  preset: daily\n";
        let e = set_enabled(old, "a", false, p).unwrap();
        assert_eq!(
            e.text,
            "schedules:\n- name: a\n  enabled: false\n  preset: daily\n"
        );
        let flow = "# c\nschedules: [{name: a, preset: daily}]\n";
        let e = set_enabled(flow, "a", false, p).unwrap();
        assert!(e.comments_lost);
        assert!(!SchedulesFile::parse(&e.text, p).unwrap().schedules[0].enabled);
        let new = add(None, &entry("n"), p).unwrap();
        assert!(new.text.starts_with(HEADER));
        assert!(
            add(Some(&new.text), &entry("n"), p)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
        assert!(
            remove(&new.text, "zz", p)
                .unwrap_err()
                .to_string()
                .contains("Known schedules: n")
        );
    }

    #[test]
    fn scalars_read_back() {
        for s in ["abc", "yes", "123", "a b", "Etc/GMT+5", "x:y", ""] {
            let v: String = serde_norway::from_str(&scalar(s)).unwrap();
            assert_eq!(v, s);
        }
    }
}
