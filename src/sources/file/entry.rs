//! Reading one entry of `sources:`: the fixed keys, and one config block per key the format
//! or the source registry declares. An unknown key is rejected where it stands, with the
//! allowed keys (serde's `unknown field` message, as for any struct).

use std::fmt;
use std::sync::LazyLock;

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_norway::Value;

use super::{SourceEntry, block_keys};

/// The keys of an entry, fixed ones first.
static FIELDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut v = vec![
        "name",
        "type",
        "enabled",
        "description",
        "tags",
        "destination",
        "table_format",
        "file_format",
    ];
    v.extend(block_keys());
    v
});

/// A key of an entry.
enum Field {
    Name,
    Type,
    Enabled,
    Description,
    Tags,
    Destination,
    TableFormat,
    FileFormat,
    Block(&'static str),
}

/// Reads a key; an unknown one fails here, so the error points at the key.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            "name" => Field::Name,
            "type" => Field::Type,
            "enabled" => Field::Enabled,
            "description" => Field::Description,
            "tags" => Field::Tags,
            "destination" => Field::Destination,
            "table_format" => Field::TableFormat,
            "file_format" => Field::FileFormat,
            other => match FIELDS[8..].iter().find(|k| **k == other) {
                Some(k) => Field::Block(k),
                None => return Err(E::unknown_field(other, FIELDS.as_slice())),
            },
        })
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = SourceEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct SourceEntry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourceEntry, A::Error> {
        let mut name: Option<String> = None;
        let mut source_type: Option<String> = None;
        let mut enabled: Option<bool> = None;
        let mut description: Option<Option<String>> = None;
        let mut tags: Option<Vec<String>> = None;
        let mut destination: Option<Option<String>> = None;
        let mut table_format: Option<Option<String>> = None;
        let mut file_format: Option<Option<String>> = None;
        let mut blocks: IndexMap<String, Value> = IndexMap::new();
        let mut seen_blocks: Vec<&'static str> = Vec::new();
        fn once<T, E: de::Error>(slot: &Option<T>, key: &'static str) -> Result<(), E> {
            match slot {
                Some(_) => Err(E::duplicate_field(key)),
                None => Ok(()),
            }
        }
        while let Some(key) = map.next_key_seed(FieldSeed)? {
            match key {
                Field::Name => {
                    once(&name, "name")?;
                    name = Some(map.next_value()?);
                }
                Field::Type => {
                    once(&source_type, "type")?;
                    source_type = Some(map.next_value()?);
                }
                Field::Enabled => {
                    once(&enabled, "enabled")?;
                    enabled = Some(map.next_value()?);
                }
                Field::Description => {
                    once(&description, "description")?;
                    description = Some(map.next_value()?);
                }
                Field::Tags => {
                    once(&tags, "tags")?;
                    tags = Some(map.next_value()?);
                }
                Field::Destination => {
                    once(&destination, "destination")?;
                    destination = Some(map.next_value()?);
                }
                Field::TableFormat => {
                    once(&table_format, "table_format")?;
                    table_format = Some(map.next_value()?);
                }
                Field::FileFormat => {
                    once(&file_format, "file_format")?;
                    file_format = Some(map.next_value()?);
                }
                Field::Block(k) => {
                    if seen_blocks.contains(&k) {
                        return Err(de::Error::duplicate_field(k));
                    }
                    seen_blocks.push(k);
                    // `key: ~` is no block.
                    if let Some(v) = map.next_value::<Option<Value>>()? {
                        blocks.insert(k.to_string(), v);
                    }
                }
            }
        }
        Ok(SourceEntry {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            source_type: source_type.ok_or_else(|| de::Error::missing_field("type"))?,
            enabled: enabled.unwrap_or(true),
            description: description.flatten(),
            tags: tags.unwrap_or_default(),
            destination: destination.flatten(),
            table_format: table_format.flatten(),
            file_format: file_format.flatten(),
            blocks,
            index: 0,
            file_destination: None,
        })
    }
}

impl<'de> Deserialize<'de> for SourceEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SourceEntry, D::Error> {
        d.deserialize_struct("SourceEntry", FIELDS.as_slice(), EntryVisitor)
    }
}
