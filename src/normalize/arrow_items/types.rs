//! dlt's column types for Arrow types (`get_column_type_from_py_arrow` in
//! `dlt/common/libs/pyarrow.py`) and the adjustment dlt's Arrow extractor applies for the
//! destination (`adjust_column_schema_to_capabilities`).

use arrow::datatypes::{DataType as ArrowType, TimeUnit};

use crate::schema::{Column, DataType};

/// The dlt type of an Arrow type: data type, precision, scale and timezone flag (`Some(false)`
/// for naive timestamps). `Ok(None)` for Arrow's `null` type (dlt leaves the column incomplete);
/// an error names an Arrow type dlt does not support (durations, intervals, …).
pub fn dlt_type(t: &ArrowType) -> Result<Option<ColumnType>, String> {
    use ArrowType as A;
    let plain = |data_type| ColumnType {
        data_type,
        precision: None,
        scale: None,
        timezone: None,
    };
    Ok(Some(match t {
        A::Utf8 | A::LargeUtf8 | A::Utf8View => plain(DataType::Text),
        A::Float16 | A::Float32 | A::Float64 => plain(DataType::Double),
        A::Boolean => plain(DataType::Bool),
        A::Timestamp(unit, tz) => ColumnType {
            precision: Some(unit_precision(unit)),
            timezone: if tz.is_none() { Some(false) } else { None },
            ..plain(DataType::Timestamp)
        },
        A::Date32 | A::Date64 => plain(DataType::Date),
        A::Time32(unit) | A::Time64(unit) => ColumnType {
            precision: Some(unit_precision(unit)),
            ..plain(DataType::Time)
        },
        A::Int8 | A::UInt8 => int(8),
        A::Int16 | A::UInt16 => int(16),
        A::Int32 | A::UInt32 => int(32),
        A::Int64 | A::UInt64 => int(64),
        A::FixedSizeBinary(n) => ColumnType {
            precision: u32::try_from(*n).ok(),
            ..plain(DataType::Binary)
        },
        A::Binary | A::LargeBinary | A::BinaryView => plain(DataType::Binary),
        A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal128(p, s) | A::Decimal256(p, s) => {
            let scale =
                u32::try_from(*s).map_err(|_| format!("decimal type {t} has a negative scale"))?;
            ColumnType {
                precision: Some(u32::from(*p)),
                scale: Some(scale),
                ..plain(DataType::Decimal)
            }
        }
        A::List(_)
        | A::LargeList(_)
        | A::FixedSizeList(..)
        | A::ListView(_)
        | A::LargeListView(_)
        | A::Struct(_)
        | A::Map(..)
        | A::Union(..) => plain(DataType::Json),
        A::Dictionary(_, value) => return dlt_type(value),
        A::Null => return Ok(None),
        other => return Err(format!("dlt has no data type for the Arrow type {other}")),
    }))
}

/// A dlt column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnType {
    /// The data type.
    pub data_type: DataType,
    /// Bits of an integer, digits of a decimal, fractional second digits of a time.
    pub precision: Option<u32>,
    /// Decimal scale.
    pub scale: Option<u32>,
    /// `Some(false)` for a naive timestamp.
    pub timezone: Option<bool>,
}

impl ColumnType {
    /// What dlt's Arrow extractor keeps for a destination with the given default and maximum
    /// timestamp precision: timestamp and time precision capped at the maximum and omitted
    /// when it is the default; the timezone flag dropped.
    pub fn for_destination(mut self, default_precision: u32, max_precision: u32) -> ColumnType {
        if matches!(self.data_type, DataType::Timestamp | DataType::Time) {
            let p = self
                .precision
                .unwrap_or(default_precision)
                .min(max_precision);
            self.precision = (p != default_precision).then_some(p);
            self.timezone = None;
        }
        self
    }

    /// Sets the type on `c`.
    pub fn apply(&self, c: &mut Column) {
        c.data_type = Some(self.data_type);
        c.precision = self.precision;
        c.scale = self.scale;
        c.timezone = self.timezone;
    }
}

fn int(bits: u32) -> ColumnType {
    ColumnType {
        data_type: DataType::Bigint,
        // 64 bits is dlt's default bigint
        precision: (bits != 64).then_some(bits),
        scale: None,
        timezone: None,
    }
}

/// dlt's `get_precision_from_datetime_unit`.
fn unit_precision(unit: &TimeUnit) -> u32 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// The type dlt infers for the Python value a dict-path row holds for an Arrow value of type
/// `t` (`py_type_to_sc_type`): `decimal`, `timestamp`, `date`, `time` and `binary` without
/// precision. `None` where the normalizer's own inference from the converted value is already
/// dlt's (numbers, text, bool) or for nested types.
pub fn python_value_type(t: &ArrowType) -> Option<DataType> {
    use ArrowType as A;
    Some(match t {
        A::Decimal32(..) | A::Decimal64(..) | A::Decimal128(..) | A::Decimal256(..) => {
            DataType::Decimal
        }
        A::Timestamp(..) => DataType::Timestamp,
        A::Date32 | A::Date64 => DataType::Date,
        A::Time32(_) | A::Time64(_) => DataType::Time,
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => DataType::Binary,
        A::Dictionary(_, v) => return python_value_type(v),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn arrow_types_map_as_dlt_maps_them() {
        let t = |a: ArrowType| dlt_type(&a).unwrap().unwrap();
        let dec = t(ArrowType::Decimal128(10, 2));
        assert_eq!(
            (dec.data_type, dec.precision, dec.scale),
            (DataType::Decimal, Some(10), Some(2))
        );
        let naive = t(ArrowType::Timestamp(TimeUnit::Millisecond, None));
        assert_eq!((naive.precision, naive.timezone), (Some(3), Some(false)));
        let utc = t(ArrowType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ));
        assert_eq!((utc.precision, utc.timezone), (Some(6), None));
        assert_eq!(t(ArrowType::Int32).precision, Some(32));
        assert_eq!(t(ArrowType::Int64).precision, None);
        let list = ArrowType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            ArrowType::Int64,
            true,
        )));
        assert_eq!(t(list).data_type, DataType::Json);
        assert_eq!(dlt_type(&ArrowType::Null).unwrap(), None);
        assert!(dlt_type(&ArrowType::Duration(TimeUnit::Second)).is_err());
        // the Arrow extractor's adjustment for DuckDB (default 6, max 9)
        let adj = naive.for_destination(6, 9);
        assert_eq!((adj.precision, adj.timezone), (Some(3), None));
        assert_eq!(utc.for_destination(6, 9).precision, None);
    }
}
