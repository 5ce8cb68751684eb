//! Python number semantics dlt relies on: arbitrary-size `int` parsing and `float` `repr`.

use std::fmt::Write as _;

use crate::normalize::coerce::MAX_INT_STR_DIGITS;
use crate::normalize::detect::py_numeric_to_ascii;

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

/// Splits Rust's `{:e}` output into its significant digits and decimal exponent.
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// The shortest round-trip digits of a finite, non-zero `|f|` and its decimal exponent `k`
/// (`f = d.ddd × 10^k`), as Python's `repr` and orjson produce them.
///
/// Rust's shortest formatting rounds a tie between two equally short candidates up, where
/// Python (David Gay's dtoa) and orjson (Ryu) pick the even last digit, e.g. for
/// `933977814697490.25`: `...490.2`, not `...490.3`.
fn shortest_digits(f: f64) -> (String, i32) {
    let a = f.abs();
    let (digits, k) = split_sci(&format!("{a:e}"));
    let n = digits.len();
    // A tie needs the exact value to have n + 1 significant digits, the last a 5. With
    // `a = m × 2^e`, `m` odd, the exact expansion ends at decimal place `min(e, 0)` (a 5 is
    // impossible for e > 0, an even integer), so only `e == k - n` can tie: cheap to rule out.
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    let e = e + m.trailing_zeros() as i32;
    if e > 0 || e != k - n as i32 {
        return (digits, k);
    }
    // here the expansion has exactly n + 1 digits, so this formatting is exact
    let (exact, ek) = split_sci(&format!("{a:.n$e}"));
    let is_tie = ek == k && exact.len() == n + 1 && exact.as_bytes()[n] == b'5';
    if !is_tie {
        return (digits, k);
    }
    let lo = exact[..n].to_string();
    let hi = increment_digits(&lo, k);
    let lo = (lo.trim_end_matches('0').to_string(), k);
    let lo_even =
        lo.0.as_bytes()
            .last()
            .is_some_and(|d| (d - b'0').is_multiple_of(2))
            || lo.0.is_empty();
    let (first, second) = if lo_even { (lo, hi) } else { (hi, lo) };
    let round_trips = |(d, k): &(String, i32)| -> bool {
        !d.is_empty() && format!("{d}e{}", k - (d.len() as i32 - 1)).parse::<f64>() == Ok(a)
    };
    if round_trips(&first) {
        first
    } else if round_trips(&second) {
        second
    } else {
        (digits, k)
    }
}

/// Adds one unit in the last place to decimal digits with exponent `k`, trailing zeros
/// stripped (`"99"`, 0 → `"1"`, 1).
fn increment_digits(digits: &str, k: i32) -> (String, i32) {
    let mut bytes = digits.as_bytes().to_vec();
    let mut i = bytes.len();
    loop {
        if i == 0 {
            bytes.insert(0, b'1');
            bytes.pop();
            let s = String::from_utf8(bytes).unwrap_or_default();
            return (s.trim_end_matches('0').to_string(), k + 1);
        }
        i -= 1;
        if bytes[i] == b'9' {
            bytes[i] = b'0';
        } else {
            bytes[i] += 1;
            break;
        }
    }
    let s = String::from_utf8(bytes).unwrap_or_default();
    (s.trim_end_matches('0').to_string(), k)
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
        let (digits, k) = shortest_digits(f);
        if (-4..16).contains(&k) {
            positional(&mut out, &digits, k);
        } else {
            scientific(&mut out, &digits, k, 2);
        }
    }
    out
}

/// orjson's float format, used by dlt for JSON text: `1.0`, `1e+16`, `1e-6`, `0.00001`, `-0.0`;
/// `None` for non-finite values (which orjson writes as `null` and dlt's `json.loads` rejects).
pub fn orjson_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
    } else {
        let (digits, k) = shortest_digits(f);
        if (-5..16).contains(&k) {
            positional(&mut out, &digits, k);
        } else {
            scientific(&mut out, &digits, k, 1);
        }
    }
    Some(out)
}
