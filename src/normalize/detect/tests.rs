use super::*;

/// (input, `iso_timestamp` detection, text → timestamp, text → date, text → time), in UTC
/// microseconds / days / microseconds since midnight, generated with dlt 1.31 (pendulum 3.3):
/// `is_iso_timestamp`, then `coerce_value("timestamp"|"date"|"time", "text", s)`.
#[allow(clippy::type_complexity)]
const CASES: &[(&str, Option<i64>, Option<i64>, Option<i32>, Option<i64>)] = &[
    (
        "2024-01-01T10:00:00Z",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01 10:00:00",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "20240101T100000",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00+02:00",
        Some(1704096000000000),
        Some(1704096000000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00-0530",
        Some(1704123000000000),
        Some(1704123000000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00+05",
        Some(1704085200000000),
        Some(1704085200000000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01",
        None,
        Some(1704067200000000),
        Some(19723),
        None,
    ),
    ("2024", None, Some(1704067200000000), Some(19723), None),
    ("10:00:00", None, None, None, Some(36000000000)),
    (
        "1704103200",
        None,
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    ("2024-13-01T00:00:00", None, None, None, None),
    (
        "2024-01-01T10:00:00.1",
        Some(1704103200100000),
        Some(1704103200100000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.12",
        Some(1704103200120000),
        Some(1704103200120000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.123",
        Some(1704103200123000),
        Some(1704103200123000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.1234",
        Some(1704103200123400),
        Some(1704103200123400),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.12345",
        Some(1704103200123450),
        Some(1704103200123450),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.123456",
        Some(1704103200123456),
        Some(1704103200123456),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.1234567",
        Some(1704103200123456),
        Some(1704103200123456),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.12345678",
        Some(1704103200123456),
        Some(1704103200123456),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00.123456789Z",
        Some(1704103200123456),
        Some(1704103200123456),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00:00,5",
        Some(1704103200500000),
        Some(1704103200500000),
        Some(19723),
        None,
    ),
    (
        "2024-01-01T10:00",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024-W01-1T10:00",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024W011T10",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024-W01T10",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2020-W53-5T00:00",
        Some(1609459200000000),
        Some(1609459200000000),
        Some(18628),
        None,
    ),
    ("2024-W53-1T10", None, None, None, None),
    (
        "2024-W00-1T10",
        Some(1703498400000000),
        Some(1703498400000000),
        Some(19716),
        None,
    ),
    (
        "2024-060T12:00",
        Some(1709208000000000),
        Some(1709208000000000),
        Some(19782),
        None,
    ),
    (
        "2024-366T12:00",
        Some(1735646400000000),
        Some(1735646400000000),
        Some(20088),
        None,
    ),
    ("2023-366T12:00", None, None, None, None),
    (
        "2024001T10",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    ("2024-01-01T24:00:00", None, None, None, None),
    ("2024-12-31T23:59:60", None, None, None, None),
    ("2024-01-01t10:00:00", None, None, None, None),
    ("2024-01-01T10:00:00z", None, None, None, None),
    ("2024-01-01T10:00:00+24:00", None, None, None, None),
    (
        "2024-01-01T10:00:00+23:59",
        Some(1704016860000000),
        Some(1704016860000000),
        Some(19722),
        None,
    ),
    ("2024-01-01T100000", None, None, None, None),
    (
        "20240101T10:00",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    ("20240101T10:00:00", None, None, None, None),
    (
        "2024/01/15 10:00",
        Some(1705312800000000),
        Some(1705312800000000),
        Some(19737),
        None,
    ),
    (
        "2024:01:15 10:00:00.5",
        Some(1705312800500000),
        Some(1705312800500000),
        Some(19737),
        None,
    ),
    (
        "2024 10:00",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    (
        "2024011510:00",
        Some(1705312800000000),
        Some(1705312800000000),
        Some(19737),
        None,
    ),
    ("202401:00", None, None, None, None),
    ("2024 10:", None, None, None, None),
    (
        "٢٠٢٤/٠١/١٥ ١٠:٠٠",
        Some(1705312800000000),
        Some(1705312800000000),
        Some(19737),
        None,
    ),
    ("0001-01-01T00:00:00+01:00", None, None, None, None),
    ("9999-12-31T23:59:59-01:00", None, None, None, None),
    ("0000-01-01T00:00:00", None, None, None, None),
    ("", None, None, None, None),
    (" ", None, None, None, None),
    ("T10:00", None, None, None, Some(36000000000)),
    ("T10:00:00", None, None, None, None),
    ("10:00+02:00", None, None, None, Some(28800000000)),
    ("01:00+02:00", None, None, None, Some(82800000000)),
    ("10:00:00|5", None, None, None, Some(36000500000)),
    ("P1D", None, None, None, None),
    ("2024-01-01T10:00:00/2024-01-02", None, None, None, None),
    (
        " 1704103200.5 ",
        None,
        Some(1704103200500000),
        Some(19723),
        None,
    ),
    ("1e9", None, Some(1000000000000000), Some(11574), None),
    ("nan", None, None, None, None),
    ("inf", None, None, None, None),
    ("20240101", None, Some(1704067200000000), Some(19723), None),
    ("20240101 1", None, None, Some(19723), None),
    ("2024-W01", None, Some(1704067200000000), Some(19723), None),
    ("2024W011", None, Some(1704067200000000), Some(19723), None),
    ("abc", None, None, None, None),
    ("xxx2024-01-01T10:00:00", None, None, None, None),
    (
        "2024-01-01T10:00:00.0000000000000000000000000001Z",
        Some(1704103200000000),
        Some(1704103200000000),
        Some(19723),
        None,
    ),
    ("253402300800", None, None, None, None),
    (
        "-62135596800",
        None,
        Some(-62135596800000000),
        Some(-719162),
        None,
    ),
];

#[test]
fn matches_dlt() {
    for &(input, det, ts, date, time) in CASES {
        assert_eq!(detect_iso_timestamp(input), det, "detect {input:?}");
        assert_eq!(parse_timestamp_any(input), ts, "timestamp {input:?}");
        assert_eq!(parse_date(input), date, "date {input:?}");
        assert_eq!(parse_time(input), time, "time {input:?}");
    }
}

#[test]
fn long_and_odd_inputs_do_not_panic() {
    let long_fraction = format!("2024-01-01T10:00:00.{}Z", "1".repeat(100_000));
    assert_eq!(
        detect_iso_timestamp(&long_fraction),
        Some(1_704_103_200_111_111)
    );
    assert_eq!(detect_iso_timestamp(&"1".repeat(1_000_000)), None);
    assert_eq!(detect_iso_timestamp(&"\u{663}".repeat(10_000)), None);
    // a deterministic pseudo-random walk over the characters the parsers care about
    let alphabet: Vec<char> = "0123456789-:T Z/.,+W|tPz\u{663}\u{e9}".chars().collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let s: String = (0..len)
            .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
            .collect();
        let _ = (detect_iso_timestamp(&s), parse_timestamp_any(&s));
        let _ = (parse_date(&s), parse_time(&s), parse_py_float(&s));
    }
}
