//! Python number semantics dlt relies on: `int()` and `float()` of text (Unicode digits, `_`,
//! arbitrary-size integers), `repr(float)`, and orjson's float format.
//!
//! Shortest round-trip digits come from Ryu, which breaks a tie between two equally short
//! candidates towards the even digit, as CPython's `repr` (David Gay's dtoa) and orjson do.

use std::fmt::Write as _;

use super::unicode::{decimal_digit, is_py_space, py_strip};

/// Python's `sys.int_info.default_max_str_digits`: longer decimal text is rejected by `int()`.
pub const MAX_INT_STR_DIGITS: usize = 4300;

/// A Python `int` parsed from text: sign and magnitude as little-endian 32-bit limbs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyInt {
    neg: bool,
    limbs: Vec<u32>,
}

impl PyInt {
    /// Builds a magnitude from ASCII digits of `radix` (10 or 16), `_` already removed.
    pub(crate) fn from_digits(digits: &[u8], radix: u32, neg: bool) -> Option<PyInt> {
        let mut limbs: Vec<u32> = Vec::new();
        if radix == 16 {
            // four bits per digit, packed from the least significant end
            for chunk in digits.rchunks(8) {
                let mut limb = 0u32;
                for &d in chunk {
                    limb = (limb << 4) | char::from(d).to_digit(16)?;
                }
                limbs.push(limb);
            }
        } else {
            for chunk in digits.chunks(9) {
                let mut chunk_val = 0u32;
                for &d in chunk {
                    chunk_val = chunk_val * 10 + char::from(d).to_digit(10)?;
                }
                let mul = 10u64.pow(chunk.len() as u32);
                let mut carry = u64::from(chunk_val);
                for limb in limbs.iter_mut() {
                    let x = u64::from(*limb) * mul + carry;
                    *limb = x as u32;
                    carry = x >> 32;
                }
                if carry > 0 {
                    limbs.push(carry as u32);
                }
            }
        }
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        Some(PyInt { neg, limbs })
    }

    /// The value as `i128`, if it fits.
    pub(crate) fn to_i128(&self) -> Option<i128> {
        if self.limbs.len() > 4 {
            return None;
        }
        let mag = self
            .limbs
            .iter()
            .rev()
            .fold(0u128, |acc, &l| (acc << 32) | u128::from(l));
        if self.neg {
            0i128.checked_sub_unsigned(mag)
        } else {
            i128::try_from(mag).ok()
        }
    }

    /// The value as `i64`, if it fits.
    pub(crate) fn to_i64(&self) -> Option<i64> {
        i64::try_from(self.to_i128()?).ok()
    }

    /// Python's `float(int)`: correctly rounded, `None` on overflow.
    pub(crate) fn to_f64(&self) -> Option<f64> {
        if self.limbs.is_empty() {
            return Some(0.0);
        }
        let bits =
            self.limbs.len() * 32 - self.limbs.last().map_or(32, |l| l.leading_zeros() as usize);
        let f = if bits <= 64 {
            self.limbs
                .iter()
                .rev()
                .fold(0u64, |acc, &l| (acc << 32) | u64::from(l)) as f64
        } else {
            // top 64 bits plus a sticky bit for everything below: rounds like the full value
            let shift = bits - 64;
            let mut top = 0u64;
            for k in 0..64 {
                let bit = shift + 63 - k;
                let set = (self.limbs[bit / 32] >> (bit % 32)) & 1;
                top = (top << 1) | u64::from(set);
            }
            let sticky = (0..shift).any(|bit| (self.limbs[bit / 32] >> (bit % 32)) & 1 == 1);
            let mantissa = (top | u64::from(sticky)) as f64;
            let exp = i32::try_from(shift).ok()?;
            if exp > 1100 {
                return None;
            }
            mantissa * 2f64.powi(exp)
        };
        let f = if self.neg { -f } else { f };
        f.is_finite().then_some(f)
    }

    /// Minimal little-endian bytes of the magnitude (`int.to_bytes(..., "little")`).
    pub(crate) fn to_le_bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }
}

/// Python's `int(s, base)` for base 10 or 16: whitespace, sign, Unicode digits, `_` between
/// digits, an optional `0x` prefix for base 16, at most 4300 decimal digits.
pub(crate) fn parse_py_int(s: &str, radix: u32) -> Option<PyInt> {
    let ascii = py_numeric_to_ascii(s)?;
    let mut body = ascii.as_str();
    let neg = body.starts_with('-');
    body = body.strip_prefix(['+', '-']).unwrap_or(body);
    if radix == 16
        && let Some(rest) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"))
    {
        body = rest.strip_prefix('_').unwrap_or(rest);
    }
    let b = body.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' {
        return None;
    }
    let mut digits = Vec::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            if b.get(i + 1) == Some(&b'_') {
                return None;
            }
            continue;
        }
        char::from(c).to_digit(radix)?;
        digits.push(c);
    }
    if radix == 10 && digits.len() > MAX_INT_STR_DIGITS {
        return None;
    }
    PyInt::from_digits(&digits, radix, neg)
}

/// Parses text as Python's `float()`: surrounding whitespace, Unicode digits, `_` between
/// digits, `inf`/`infinity`/`nan` in any case. Returns `None` where `float()` raises.
pub fn parse_py_float(s: &str) -> Option<f64> {
    let ascii = py_numeric_to_ascii(s)?;
    let body = ascii.strip_prefix(['+', '-']).unwrap_or(&ascii);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        let neg = ascii.starts_with('-');
        let v = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if neg { -v } else { v });
    }
    // grammar: digitpart ["." [digitpart]] [exp] | "." digitpart [exp]
    let bytes = body.as_bytes();
    let mut i = 0;
    let int_digits = scan_digitpart(bytes, &mut i)?;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = scan_digitpart(bytes, &mut i)?;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if scan_digitpart(bytes, &mut i)? == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    let cleaned: String = ascii.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok()
}

/// Scans `digit (["_"] digit)*` (possibly empty) at `*i`; `None` for a misplaced `_`.
fn scan_digitpart(bytes: &[u8], i: &mut usize) -> Option<usize> {
    let mut n = 0;
    while let Some(&b) = bytes.get(*i) {
        if b.is_ascii_digit() {
            n += 1;
            *i += 1;
        } else if b == b'_' {
            if n == 0 || !bytes.get(*i + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            *i += 1;
        } else {
            break;
        }
    }
    Some(n)
}

/// CPython's `_PyUnicode_TransformDecimalAndSpaceToASCII` followed by a strip: Unicode digits
/// become ASCII digits; any other non-ASCII character makes the text invalid (`None`).
pub fn py_numeric_to_ascii(s: &str) -> Option<String> {
    let s = py_strip(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if is_py_space(c) {
            out.push(' ');
        } else {
            let d = decimal_digit(c)?;
            out.push(char::from(b'0' + d as u8));
        }
    }
    Some(out)
}

/// Shortest round-trip decimal digits of a float: `digits × 10^(k - len + 1)`.
struct Digits {
    /// ASCII digits, the first and last non-zero (17 at most for an `f64`).
    buf: [u8; 24],
    len: usize,
    /// Decimal exponent of the first digit.
    k: i32,
}

impl Digits {
    /// The shortest digits of a finite, non-zero `|f|`, as Python's `repr` and orjson choose
    /// them.
    fn of(f: f64) -> Digits {
        let mut ryu = ryu::Buffer::new();
        // Ryu writes `123.45`, `0.00012`, `1e16` or `1.2345e-7`: read digits and exponent back
        let text = ryu.format_finite(f.abs());
        let (mantissa, exp) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut d = Digits {
            buf: [b'0'; 24],
            len: 0,
            k: exp + int.len() as i32 - 1,
        };
        for &b in int.as_bytes().iter().chain(frac.as_bytes()) {
            if d.len == 0 && b == b'0' {
                d.k -= 1;
            } else if d.len < d.buf.len() {
                d.buf[d.len] = b;
                d.len += 1;
            }
        }
        while d.len > 1 && d.buf[d.len - 1] == b'0' {
            d.len -= 1;
        }
        d
    }

    fn as_str(&self) -> &str {
        // only ASCII digits are stored
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0")
    }
}

/// Formats `digits × 10^(k - len + 1)` in positional notation, with `.0` when integral.
fn positional(out: &mut String, digits: &str, k: i32) {
    if k < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-k - 1) as usize));
        out.push_str(digits);
        return;
    }
    let int_len = k as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// Formats `f` in scientific notation: `d[.ddd]e±x`, the exponent padded to `exp_width` digits.
fn scientific(out: &mut String, digits: &str, k: i32, exp_width: usize) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if k < 0 { '-' } else { '+' });
    let _ = write!(out, "{:0width$}", k.unsigned_abs(), width = exp_width);
}

/// Python's `str(float)` / `repr(float)`: `1.0`, `1e+16`, `1e-05`, `0.0001`, `-0.0`, `inf`, `nan`.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if f.is_infinite() {
        out.push_str("inf");
    } else if f == 0.0 {
        out.push_str("0.0");
    } else {
        let d = Digits::of(f);
        if (-4..16).contains(&d.k) {
            positional(&mut out, d.as_str(), d.k);
        } else {
            scientific(&mut out, d.as_str(), d.k, 2);
        }
    }
    out
}

/// orjson's float format, used by dlt for JSON text: `1.0`, `1e+16`, `1e-6`, `0.00001`, `-0.0`;
/// `None` for non-finite values (which orjson writes as `null` and dlt's `json.loads` rejects).
pub fn orjson_float(f: f64) -> Option<String> {
    let mut out = String::new();
    write_orjson_float(f, &mut out).then_some(out)
}

/// Appends [`orjson_float`] of `f` to `out`; for a non-finite `f` appends nothing and returns
/// `false`.
pub fn write_orjson_float(f: f64, out: &mut String) -> bool {
    if !f.is_finite() {
        return false;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
    } else {
        let d = Digits::of(f);
        if (-5..16).contains(&d.k) {
            positional(out, d.as_str(), d.k);
        } else {
            scientific(out, d.as_str(), d.k, 1);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_floats_like_python_and_orjson() {
        // (value, repr(value), orjson.dumps(value))
        let cases = [
            (1.0, "1.0", "1.0"),
            (-0.0, "-0.0", "-0.0"),
            (0.1, "0.1", "0.1"),
            (1e16, "1e+16", "1e+16"),
            (1e15, "1000000000000000.0", "1000000000000000.0"),
            (1e-4, "0.0001", "0.0001"),
            (1e-5, "1e-05", "0.00001"),
            (1e-6, "1e-06", "1e-6"),
            (1.5e-7, "1.5e-07", "1.5e-7"),
            (1e22, "1e+22", "1e+22"),
            (5e-324, "5e-324", "5e-324"),
            (
                1.797_693_134_862_315_7e308,
                "1.7976931348623157e+308",
                "1.7976931348623157e+308",
            ),
            (
                123_456_789_012_345_680.0,
                "1.2345678901234568e+17",
                "1.2345678901234568e+17",
            ),
            (
                1_234_567_890_123_456.8,
                "1234567890123456.8",
                "1234567890123456.8",
            ),
            // ties between two shortest candidates go to the even digit
            (
                933_977_814_697_490.2,
                "933977814697490.2",
                "933977814697490.2",
            ),
            (
                982_318_492_793_036.2,
                "982318492793036.2",
                "982318492793036.2",
            ),
        ];
        for (f, repr, orjson) in cases {
            assert_eq!(py_float_repr(f), repr);
            assert_eq!(orjson_float(f).as_deref(), Some(orjson));
        }
        assert_eq!(py_float_repr(f64::INFINITY), "inf");
        assert_eq!(py_float_repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(py_float_repr(f64::NAN), "nan");
        assert_eq!(orjson_float(f64::NAN), None);
    }

    #[test]
    fn parses_floats_like_python() {
        let cases = [
            ("1_000.5", Some(1000.5)),
            (" 1e3 ", Some(1000.0)),
            ("\u{663}.\u{665}", Some(3.5)),
            ("1.", Some(1.0)),
            (".5", Some(0.5)),
            ("1.e5", Some(100_000.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("in_f", None),
            ("1e", None),
            ("", None),
            (".", None),
            ("0x10", None),
        ];
        for (s, expected) in cases {
            assert_eq!(parse_py_float(s), expected, "{s:?}");
        }
        assert!(parse_py_float("-nan").is_some_and(f64::is_nan));
    }

    #[test]
    fn digits_are_shortest_and_round_trip() {
        // a xorshift walk over all bit patterns: every finite non-zero float
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if !f.is_finite() || f == 0.0 {
                continue;
            }
            let d = Digits::of(f);
            let digits = d.as_str();
            let back: f64 = format!("{digits}e{}", d.k - (digits.len() as i32 - 1))
                .parse()
                .unwrap();
            assert_eq!(back, f.abs(), "{f:e}: {digits} k={}", d.k);
            // as short as Rust's own shortest formatting
            let rust = format!("{:e}", f.abs());
            let rust_len = rust.split('e').next().unwrap().replace('.', "").len();
            assert_eq!(digits.len(), rust_len, "{f:e}: {digits}");
            assert!(
                !digits.ends_with('0') && !digits.starts_with('0'),
                "{digits}"
            );
        }
    }
}
