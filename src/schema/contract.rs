//! Schema contracts: dlt's `schema_contract` setting and the `DataValidationError` raised when
//! data breaks it (reference: `dlt-warehouse-layout.md` §8).
//!
//! A contract has a mode per entity: `tables` (new tables), `columns` (new columns of existing
//! tables) and `data_type` (variant columns, i.e. values that do not fit their column's type).
//! Each is `evolve` (the default), `freeze` (fail), `discard_row` (drop the row with its nested
//! rows) or `discard_value` (drop the offending value). A single string sets all three.
//!
//! Where it is set, most specific first: the resource (`schema_contract` in a `local_files`
//! block or a `rest_api` resource, [`crate::storage::ResourceHints::schema_contract`]), the
//! source (`schema_contract` at the top of a `rest_api` block, `[sources.<name>]
//! schema_contract`), then `.dlt/config.toml` (`[schema] schema_contract`, or Dango's
//! `allow_new_columns`). As in dlt, the most specific setting replaces the others whole.

use serde_json::Value;

/// What happens to data that breaks the contract of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContractMode {
    /// Accept the change (dlt's default).
    #[default]
    Evolve,
    /// Fail with a [`DataValidationError`].
    Freeze,
    /// Drop the whole row (and its nested rows).
    DiscardRow,
    /// Drop only the offending value (a new table's rows are dropped).
    DiscardValue,
}

impl ContractMode {
    /// dlt's names.
    pub const NAMES: &'static [&'static str] =
        &["evolve", "freeze", "discard_row", "discard_value"];

    /// Parses dlt's name.
    pub fn parse(s: &str) -> Option<ContractMode> {
        Some(match s {
            "evolve" => ContractMode::Evolve,
            "freeze" => ContractMode::Freeze,
            "discard_row" => ContractMode::DiscardRow,
            "discard_value" => ContractMode::DiscardValue,
            _ => return None,
        })
    }

    /// dlt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractMode::Evolve => "evolve",
            ContractMode::Freeze => "freeze",
            ContractMode::DiscardRow => "discard_row",
            ContractMode::DiscardValue => "discard_value",
        }
    }
}

/// The entity a contract governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// New tables.
    Tables,
    /// New columns of existing tables.
    Columns,
    /// Variant columns (values that do not fit the column type).
    DataType,
}

impl Entity {
    /// dlt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Tables => "tables",
            Entity::Columns => "columns",
            Entity::DataType => "data_type",
        }
    }
}

/// A resolved contract: one mode per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaContract {
    /// `tables`.
    pub tables: ContractMode,
    /// `columns`.
    pub columns: ContractMode,
    /// `data_type`.
    pub data_type: ContractMode,
}

impl SchemaContract {
    /// Parses dlt's form: a mode name (all entities) or a dict `{tables, columns, data_type}`
    /// (missing entities evolve). The error says what is wrong.
    pub fn parse(v: &Value) -> Result<SchemaContract, String> {
        let mode = |v: &Value, what: &str| -> Result<ContractMode, String> {
            v.as_str().and_then(ContractMode::parse).ok_or_else(|| {
                format!(
                    "{what} `{v}` is not a contract mode; use one of {}",
                    ContractMode::NAMES.join(", ")
                )
            })
        };
        match v {
            Value::String(_) => {
                let m = mode(v, "schema_contract")?;
                Ok(SchemaContract {
                    tables: m,
                    columns: m,
                    data_type: m,
                })
            }
            Value::Object(o) => {
                let mut c = SchemaContract::default();
                for (k, v) in o {
                    let m = mode(v, &format!("schema_contract.{k}"))?;
                    match k.as_str() {
                        "tables" => c.tables = m,
                        "columns" => c.columns = m,
                        "data_type" => c.data_type = m,
                        other => {
                            return Err(format!(
                                "unknown key `{other}` in schema_contract; use tables, columns or data_type"
                            ));
                        }
                    }
                }
                Ok(c)
            }
            other => Err(format!(
                "schema_contract must be a mode ({}) or a map of tables/columns/data_type to modes, got `{other}`",
                ContractMode::NAMES.join(", ")
            )),
        }
    }

    /// Whether every entity evolves (nothing to check).
    pub fn is_evolve(&self) -> bool {
        *self == SchemaContract::default()
    }

    /// The mode of an entity.
    pub fn mode(&self, e: Entity) -> ContractMode {
        match e {
            Entity::Tables => self.tables,
            Entity::Columns => self.columns,
            Entity::DataType => self.data_type,
        }
    }
}

/// Dango's `[schema] allow_new_columns` / `allow_column_removal` as a contract (README):
/// `allow_new_columns = false` freezes columns; `true` (and absent) is dlt's default, evolve.
/// `allow_column_removal = false` is what dlt always does (a column missing from new data stays,
/// NULL); `true` cannot be honoured and is an error.
pub fn from_seed_settings(
    allow_new_columns: Option<bool>,
    allow_column_removal: Option<bool>,
) -> Result<Option<Value>, String> {
    if allow_column_removal == Some(true) {
        return Err("[schema] allow_column_removal = true is not supported: like dlt, dango never drops a column that disappears from the source (it stays, NULL for new rows). Remove the setting or set it to false".into());
    }
    Ok(match allow_new_columns {
        Some(false) => Some(serde_json::json!({"columns": "freeze"})),
        Some(true) => Some(serde_json::json!({"columns": "evolve"})),
        None => None,
    })
}

/// Data that breaks a schema contract in `freeze` mode (dlt's `DataValidationError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataValidationError {
    /// Schema (= source) name.
    pub schema_name: String,
    /// Table.
    pub table_name: String,
    /// Column (none for a new table).
    pub column_name: Option<String>,
    /// The entity whose contract is broken.
    pub entity: Entity,
    /// The contract mode (`freeze`).
    pub mode: ContractMode,
    /// `_dlt_id` of the offending row, when known.
    pub row_id: Option<String>,
    /// Whether the load package stays pending (normalize) or nothing was kept (extract).
    pub pending: bool,
}

impl std::fmt::Display for DataValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, t, e, m) = (
            &self.schema_name,
            &self.table_name,
            self.entity.as_str(),
            self.mode.as_str(),
        );
        let col = self
            .column_name
            .as_ref()
            .map(|c| format!("Column: `{c}`"))
            .unwrap_or_default();
        write!(
            f,
            "In schema `{s}`: In Table: `{t}` {col} . Contract on `{e}` with `contract_mode={m}` is violated. "
        )?;
        let c = self.column_name.as_deref().unwrap_or_default();
        match self.entity {
            Entity::Tables => write!(f, "Can't add table `{t}` because `tables` are frozen.")?,
            Entity::Columns => write!(
                f,
                "Can't add table column `{c}` to table `{t}` because `columns` are frozen."
            )?,
            Entity::DataType => write!(
                f,
                "Can't add variant column `{c}` for table `{t}` because `data_types` are frozen."
            )?,
        }
        if let Some(id) = &self.row_id {
            write!(f, " Offending data item: _dlt_id: {id}.")?;
        }
        let allow = format!("schema_contract: {{{e}: evolve}}");
        if self.pending {
            write!(
                f,
                "\nThe load package stays pending and is retried by the next `dango sync {s}`. To load it, allow the change with `{allow}` (or `discard_row` / `discard_value` to drop the data) on the source in .dango/sources.yml (or [schema] schema_contract in .dlt/config.toml) and sync again; or run `dango sync {s} --full-refresh` to drop the pending package and reload the source into new tables"
            )
        } else {
            write!(
                f,
                "\nNothing was extracted. To load it, allow new tables with `{allow}` (or `discard_row` to skip the data) on the source in .dango/sources.yml (or [schema] schema_contract in .dlt/config.toml)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_shorthand_and_dict() {
        let all = SchemaContract::parse(&json!("freeze")).unwrap();
        assert_eq!(all.tables, ContractMode::Freeze);
        assert_eq!(all.data_type, ContractMode::Freeze);
        let c = SchemaContract::parse(&json!({"columns": "discard_value"})).unwrap();
        assert_eq!(c.columns, ContractMode::DiscardValue);
        assert_eq!(c.tables, ContractMode::Evolve);
        assert!(SchemaContract::parse(&json!({"colums": "freeze"})).is_err());
        let e = SchemaContract::parse(&json!("frozen")).unwrap_err();
        assert!(
            e.contains("evolve, freeze, discard_row, discard_value"),
            "{e}"
        );
    }

    #[test]
    fn message_has_dlts_shape() {
        let e = DataValidationError {
            schema_name: "s".into(),
            table_name: "items".into(),
            column_name: Some("extra".into()),
            entity: Entity::Columns,
            mode: ContractMode::Freeze,
            row_id: Some("abc".into()),
            pending: true,
        };
        assert!(e.to_string().starts_with(
            "In schema `s`: In Table: `items` Column: `extra` . Contract on `columns` with `contract_mode=freeze` is violated. Can't add table column `extra` to table `items` because `columns` are frozen. Offending data item: _dlt_id: abc."
        ));
    }

    #[test]
    fn seed_settings_map_onto_contracts() {
        assert_eq!(
            from_seed_settings(Some(false), Some(false)).unwrap(),
            Some(json!({"columns": "freeze"}))
        );
        assert_eq!(from_seed_settings(None, None).unwrap(), None);
        assert!(from_seed_settings(Some(true), Some(true)).is_err());
    }
}
