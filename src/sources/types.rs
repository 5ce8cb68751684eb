//! The registration list: every source type this build can run. Adding a source type is one
//! folder `src/sources/<type>/` plus one line here (see [`super::registry`] for the traits).

use super::registry::SourceType;

/// Every source type this build can run, in the order `dango` lists them.
pub static SOURCE_TYPES: &[&dyn SourceType] = &[
    &super::local_files::LocalFilesType,
    &super::filesystem::FilesystemType,
    &super::filesystem::dango_csv::DangoCsvType,
    &super::rest_api::RestApiType,
    &super::dlt_native::DltNativeType,
    &super::singer::SingerType,
    &super::sql_database::SqlDatabaseType,
    &super::sql_database::PostgresType,
];

/// The registered type named `name` (Dango's API types run dlt verified sources:
/// [`super::dlt_native::verified`]).
pub fn find(name: &str) -> Option<&'static dyn SourceType> {
    SOURCE_TYPES
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .or_else(|| super::dlt_native::verified::find(name))
}

/// Names of the registered types, in registration order.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SOURCE_TYPES.iter().map(|t| t.name()).collect();
    v.extend(super::dlt_native::verified::names());
    v
}
