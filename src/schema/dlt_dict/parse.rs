//! Reading dlt's schema JSON back into a [`Schema`].

use super::*;

/// The JSON kind of a value, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a schema from dlt's dict (`to_dict()`, with or without defaults removed). Keys are
/// checked for type; unknown keys are kept verbatim. Only engine version 11 is accepted.
pub fn from_json(v: &Value) -> Result<Schema, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("schema: expected an object, got {}", kind(v)))?;
    let mut version = None;
    let mut version_hash = None;
    let mut engine_version = None;
    let mut name = None;
    let mut tables = None;
    let mut settings = Value::Object(Map::new());
    let mut normalizers = default_normalizers();
    let mut previous_hashes = Vec::new();
    let mut extra = IndexMap::new();
    for (k, val) in obj {
        match k.as_str() {
            "version" => {
                version = Some(val.as_i64().ok_or_else(|| {
                    format!("schema: `version` must be an integer, got {}", kind(val))
                })?)
            }
            "version_hash" => {
                version_hash = Some(
                    val.as_str()
                        .ok_or_else(|| {
                            format!("schema: `version_hash` must be a string, got {}", kind(val))
                        })?
                        .to_string(),
                )
            }
            "engine_version" => engine_version = Some(val),
            "name" => {
                name = Some(
                    val.as_str()
                        .ok_or_else(|| {
                            format!("schema: `name` must be a string, got {}", kind(val))
                        })?
                        .to_string(),
                )
            }
            "tables" => {
                let tobj = val.as_object().ok_or_else(|| {
                    format!("schema: `tables` must be an object, got {}", kind(val))
                })?;
                let mut ts = IndexMap::new();
                for (tn, tv) in tobj {
                    ts.insert(tn.clone(), table_from_json(tn, tv)?);
                }
                tables = Some(ts);
            }
            "settings" => match val {
                Value::Object(_) => settings = val.clone(),
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "schema: `settings` must be an object, got {}",
                        kind(val)
                    ));
                }
            },
            "normalizers" => match val {
                Value::Object(_) => normalizers = val.clone(),
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "schema: `normalizers` must be an object, got {}",
                        kind(val)
                    ));
                }
            },
            "previous_hashes" => match val {
                Value::Array(a) => {
                    for h in a {
                        previous_hashes.push(
                            h.as_str()
                                .ok_or_else(|| {
                                    format!(
                                        "schema: `previous_hashes` must hold strings, got {}",
                                        kind(h)
                                    )
                                })?
                                .to_string(),
                        );
                    }
                }
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "schema: `previous_hashes` must be an array, got {}",
                        kind(val)
                    ));
                }
            },
            _ => {
                extra.insert(k.clone(), val.clone());
            }
        }
    }
    match engine_version {
        None => return Err("schema: missing `engine_version`".into()),
        Some(ev) if ev.as_i64() != Some(SCHEMA_ENGINE_VERSION) => {
            return Err(format!(
                "schema: unsupported `engine_version` {ev} (only {SCHEMA_ENGINE_VERSION} is read; \
                 let dlt 1.31 migrate the schema first)"
            ));
        }
        Some(_) => {}
    }
    Ok(Schema {
        name: name.ok_or("schema: missing `name`")?,
        version: version.ok_or("schema: missing `version`")?,
        version_hash: version_hash.ok_or("schema: missing `version_hash`")?,
        previous_hashes,
        tables: tables.ok_or("schema: missing `tables`")?,
        settings,
        normalizers,
        extra,
    })
}

/// Reads a string-or-null key: `Ok(Some)` for a string, `Ok(None)` for null (kept in extra by the
/// caller), an error otherwise.
fn opt_string(ctx: &str, key: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        _ => Err(format!("{ctx}: `{key}` must be a string, got {}", kind(v))),
    }
}

/// Reads a bool-or-null key, like [`opt_string`].
fn opt_bool(ctx: &str, key: &str, v: &Value) -> Result<Option<bool>, String> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        _ => Err(format!("{ctx}: `{key}` must be a boolean, got {}", kind(v))),
    }
}

/// Reads one table of dlt's dict, keyed `name` in `tables`.
pub fn table_from_json(name: &str, v: &Value) -> Result<Table, String> {
    let ctx = format!("table `{name}`");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{ctx}: expected an object, got {}", kind(v)))?;
    let mut t = Table::new(name);
    let mut order = Vec::with_capacity(obj.len());
    for (k, val) in obj {
        order.push(k.clone());
        let keep = match k.as_str() {
            "name" => {
                opt_string(&ctx, k, val)?;
                false
            }
            "columns" => {
                let cobj = val.as_object().ok_or_else(|| {
                    format!("{ctx}: `columns` must be an object, got {}", kind(val))
                })?;
                for (cn, cv) in cobj {
                    t.columns
                        .insert(cn.clone(), column_from_json(name, cn, cv)?);
                }
                false
            }
            "write_disposition" => match val.as_str().map(|s| (s, parse_write_disposition(s))) {
                Some((_, Some(wd))) => {
                    t.write_disposition = Some(wd);
                    false
                }
                Some((_, None)) => true,
                None => opt_string(&ctx, k, val)?.is_none(),
            },
            "parent" => set_opt(&mut t.parent, opt_string(&ctx, k, val)?),
            "resource" => set_opt(&mut t.resource, opt_string(&ctx, k, val)?),
            "description" => set_opt(&mut t.description, opt_string(&ctx, k, val)?),
            _ => true,
        };
        if keep {
            t.extra.insert(k.clone(), val.clone());
        }
    }
    t.key_order = KeyOrder(Some(order));
    Ok(t)
}

/// Stores `Some` in a typed field; returns whether the raw value (a `null`) belongs in `extra`.
fn set_opt<T>(field: &mut Option<T>, v: Option<T>) -> bool {
    match v {
        Some(v) => {
            *field = Some(v);
            false
        }
        None => true,
    }
}

/// Stores a read bool in a flag; returns whether the raw value (a `null`) belongs in `extra`.
fn set_flag(field: &mut bool, v: Option<bool>) -> bool {
    match v {
        Some(b) => {
            *field = b;
            false
        }
        None => true,
    }
}

/// `append` / `replace` / `merge`; other dispositions (`skip`) have no typed form.
fn parse_write_disposition(s: &str) -> Option<WriteDisposition> {
    match s {
        "append" => Some(WriteDisposition::Append),
        "replace" => Some(WriteDisposition::Replace),
        "merge" => Some(WriteDisposition::Merge),
        _ => None,
    }
}

/// Reads one column of dlt's dict, keyed `name` in table `table`. A missing `nullable` means
/// nullable, as in dlt; the legacy type `complex` is read as `json`.
pub fn column_from_json(table: &str, name: &str, v: &Value) -> Result<Column, String> {
    let ctx = format!("table `{table}` column `{name}`");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{ctx}: expected an object, got {}", kind(v)))?;
    let mut c = Column {
        name: name.to_string(),
        nullable: true,
        ..Column::default()
    };
    let mut order = Vec::with_capacity(obj.len());
    for (k, val) in obj {
        order.push(k.clone());
        let keep = match k.as_str() {
            "name" => {
                opt_string(&ctx, k, val)?;
                false
            }
            "data_type" => match opt_string(&ctx, k, val)? {
                Some(s) => {
                    c.data_type = Some(
                        DataType::parse(&s)
                            .ok_or_else(|| format!("{ctx}: unknown `data_type` `{s}`"))?,
                    );
                    false
                }
                None => true,
            },
            "nullable" => set_flag(&mut c.nullable, opt_bool(&ctx, k, val)?),
            "primary_key" => set_flag(&mut c.primary_key, opt_bool(&ctx, k, val)?),
            "merge_key" => set_flag(&mut c.merge_key, opt_bool(&ctx, k, val)?),
            "unique" => set_flag(&mut c.unique, opt_bool(&ctx, k, val)?),
            "row_key" => set_flag(&mut c.row_key, opt_bool(&ctx, k, val)?),
            "parent_key" => set_flag(&mut c.parent_key, opt_bool(&ctx, k, val)?),
            "root_key" => set_flag(&mut c.root_key, opt_bool(&ctx, k, val)?),
            "variant" => set_flag(&mut c.variant, opt_bool(&ctx, k, val)?),
            "hard_delete" => set_flag(&mut c.hard_delete, opt_bool(&ctx, k, val)?),
            "timezone" => set_opt(&mut c.timezone, opt_bool(&ctx, k, val)?),
            "description" => set_opt(&mut c.description, opt_string(&ctx, k, val)?),
            // dlt allows `false` here (no dedup sort): keep non-strings verbatim
            "dedup_sort" => match val {
                Value::String(s) => set_opt(&mut c.dedup_sort, Some(s.clone())),
                _ => true,
            },
            "precision" | "scale" => {
                let n = match val {
                    Value::Null => None,
                    _ => Some(
                        val.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                format!(
                                    "{ctx}: `{k}` must be a small non-negative integer, got {val}"
                                )
                            })?,
                    ),
                };
                if k == "precision" {
                    set_opt(&mut c.precision, n)
                } else {
                    set_opt(&mut c.scale, n)
                }
            }
            _ => true,
        };
        if keep {
            c.extra.insert(k.clone(), val.clone());
        }
    }
    c.key_order = KeyOrder(Some(order));
    Ok(c)
}
