//! `destination:` in sources.yml: the destination type of the whole file and of one source
//! (the source's wins; DuckDB when neither says).

use super::{Problem, Seg, SourceEntry, SourcesFile};

/// The destination of sources that name none anywhere.
pub const DEFAULT_DESTINATION: &str = "duckdb";

impl SourcesFile {
    /// The destination type `entry` loads into: its own `destination:`, else the file's,
    /// else `duckdb`.
    pub fn destination_of<'a>(&'a self, entry: &'a SourceEntry) -> &'a str {
        entry
            .destination
            .as_deref()
            .or(self.destination.as_deref())
            .unwrap_or(DEFAULT_DESTINATION)
    }
}

impl SourceEntry {
    /// The destination type this source loads into: its own `destination:`, else the file's
    /// (remembered when the file was read), else `duckdb`.
    pub fn destination_type(&self) -> &str {
        self.destination
            .as_deref()
            .or(self.file_destination.as_deref())
            .unwrap_or(DEFAULT_DESTINATION)
    }

    /// The destination settings the entry sets for itself (`table_format`, `file_format`).
    pub fn destination_settings(&self) -> crate::destinations::EntrySettings {
        crate::destinations::EntrySettings {
            table_format: self.table_format.clone(),
            file_format: self.file_format.clone(),
        }
    }

    /// The destination this source loads into, configured from `settings` with the entry's
    /// own settings winning ([`crate::destinations::configured_for_entry`]).
    pub fn destination(
        &self,
        project: &crate::config::Project,
        settings: &crate::config::Settings,
    ) -> crate::error::Result<std::sync::Arc<dyn crate::destinations::DestinationFactory>> {
        crate::destinations::configured_for_entry(
            self.destination_type(),
            &self.destination_settings(),
            project,
            settings,
        )
    }
}

/// Checks an entry's `table_format` / `file_format`: values dango supports, on a source that
/// loads into the filesystem destination.
fn check_formats(
    s: &SourceEntry,
    at: &dyn Fn(&[Seg<'_>], String) -> Problem,
    problems: &mut Vec<Problem>,
) {
    let keys = [
        ("table_format", s.table_format.as_deref(), "delta"),
        ("file_format", s.file_format.as_deref(), "parquet"),
    ];
    for (key, value, supported) in keys {
        let Some(value) = value else { continue };
        let pos = [Seg::Key("sources"), Seg::Index(s.index), Seg::Key(key)];
        if s.destination_type() != "filesystem" {
            problems.push(at(
                &pos,
                format!(
                    "`{key}` applies to the filesystem destination only, and source `{}` loads into `{}`: remove it, or set `destination: filesystem` on the source",
                    s.name,
                    s.destination_type()
                ),
            ));
        } else if value != supported {
            problems.push(at(
                &pos,
                format!(
                    "source `{}`: {}",
                    s.name,
                    crate::destinations::filesystem::entry_format_error(key, value)
                ),
            ));
        }
    }
}

/// Checks that every `destination:` names a destination type this build has (offline: no
/// settings are read, nothing is contacted).
pub(super) fn check(
    file: &SourcesFile,
    at: &dyn Fn(&[Seg<'_>], String) -> Problem,
    problems: &mut Vec<Problem>,
) {
    let known = crate::destinations::names();
    let message = |kind: &str, whose: &str| {
        format!(
            "unknown destination `{kind}`{whose}; dango supports: {}",
            known.join(", ")
        )
    };
    if let Some(kind) = &file.destination
        && !known.contains(&kind.as_str())
    {
        problems.push(at(&[Seg::Key("destination")], message(kind, "")));
    }
    for s in &file.sources {
        if let Some(kind) = &s.destination
            && !known.contains(&kind.as_str())
        {
            problems.push(at(
                &[
                    Seg::Key("sources"),
                    Seg::Index(s.index),
                    Seg::Key("destination"),
                ],
                message(kind, &format!(" for source `{}`", s.name)),
            ));
        }
        check_formats(s, at, problems);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const ENTRY: &str = "    type: local_files\n    local_files:\n      directory: d\n      file_pattern: \"*.jsonl\"\n";

    fn parse(text: &str) -> crate::error::Result<SourcesFile> {
        SourcesFile::parse(text, Path::new("sources.yml"))
    }

    #[test]
    fn entry_wins_over_file_then_duckdb() {
        let f = parse(&format!(
            "version: \"1.0\"\ndestination: postgres\nsources:\n  - name: a\n{ENTRY}  - name: b\n    destination: duckdb\n{ENTRY}"
        ))
        .unwrap();
        assert_eq!(f.destination_of(&f.sources[0]), "postgres");
        assert_eq!(f.destination_of(&f.sources[1]), "duckdb");
        assert_eq!(f.sources[0].destination_type(), "postgres");
        assert_eq!(f.sources[1].destination_type(), "duckdb");
        let f = parse(&format!("version: \"1.0\"\nsources:\n  - name: a\n{ENTRY}")).unwrap();
        assert_eq!(f.destination_of(&f.sources[0]), "duckdb");
    }

    #[test]
    fn entry_formats_are_checked_offline() {
        let f = parse(&format!(
            "version: \"1.0\"\ndestination: filesystem\nsources:\n  - name: a\n    file_format: parquet\n{ENTRY}  - name: b\n    table_format: delta\n{ENTRY}"
        ))
        .unwrap();
        assert_eq!(f.sources[0].file_format.as_deref(), Some("parquet"));
        assert_eq!(
            f.sources[1].destination_settings().table_format.as_deref(),
            Some("delta")
        );
        let e = parse(&format!(
            "version: \"1.0\"\nsources:\n  - name: a\n    file_format: parquet\n{ENTRY}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("sources.yml:4:18: `file_format` applies to the filesystem destination only, and source `a` loads into `duckdb`"),
            "{e}"
        );
        let e = parse(&format!(
            "version: \"1.0\"\ndestination: filesystem\nsources:\n  - name: a\n    table_format: iceberg\n{ENTRY}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "sources.yml:5:19: source `a`: table format `iceberg` is not supported by dango"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_destination_is_positioned() {
        let e = parse(&format!(
            "version: \"1.0\"\nsources:\n  - name: a\n    destination: oracle\n{ENTRY}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("sources.yml:4:18: unknown destination `oracle` for source `a`; dango supports: duckdb"),
            "{e}"
        );
        let e = parse("version: \"1.0\"\ndestination: snowflake\nsources: []\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("sources.yml:2:14: unknown destination `snowflake`"),
            "{e}"
        );
    }
}
