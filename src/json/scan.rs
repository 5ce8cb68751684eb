//! The low-level JSON reader: position, whitespace, strings, numbers, literals, nesting, errors.

use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of arrays and objects accepted (serde_json's recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Why a JSON text could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub message: &'static str,
    /// 1-based line of the offending byte.
    pub line: usize,
    /// 1-based column (in bytes) of the offending byte.
    pub column: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for ParseError {}

/// A cursor over a JSON text. Readers move it past tokens; a failure is recorded with
/// [`Scanner::fail`] and travels as `None`, so the hot path moves small values.
pub(crate) struct Scanner<'a> {
    /// The whole text.
    pub(crate) text: &'a str,
    /// `text` as bytes.
    pub(crate) bytes: &'a [u8],
    /// Byte offset of the next unread byte.
    pub(crate) pos: usize,
    /// Arrays and objects entered and not yet left.
    pub(crate) depth: usize,
    /// What went wrong, at `pos`.
    failure: Option<&'static str>,
}

/// Bytes that end the fast scan of a string: `"`, `\` and control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first `"`, `\\` or control character at or after `from`, or `bytes.len()`.
#[inline]
fn string_run_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions always exist;
        // every load reads 16 bytes at `i` with `i + 16 <= bytes.len()`, so in bounds.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control = _mm_set1_epi8(0x1f);
            while i + 16 <= bytes.len() {
                let v = _mm_loadu_si128(bytes.as_ptr().add(i) as *const __m128i);
                let stops = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                    // v <= 0x1f (unsigned) exactly when min(v, 0x1f) == v
                    _mm_cmpeq_epi8(_mm_min_epu8(v, control), v),
                );
                let mask = _mm_movemask_epi8(stops) as u32;
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    while i < bytes.len() && !STRING_STOP[bytes[i] as usize] {
        i += 1;
    }
    i
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            failure: None,
        }
    }

    /// Records a failure at the current position.
    #[cold]
    pub(crate) fn fail<T>(&mut self, message: &'static str) -> Option<T> {
        self.failure = Some(message);
        None
    }

    /// The recorded failure with its line and column.
    pub(crate) fn error(&self) -> ParseError {
        let message = self.failure.unwrap_or("invalid JSON");
        let upto = &self.bytes[..self.pos.min(self.bytes.len())];
        let line = 1 + upto.iter().filter(|b| **b == b'\n').count();
        let line_start = upto.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        ParseError {
            message,
            line,
            column: self.pos.min(self.bytes.len()) - line_start + 1,
        }
    }

    /// The next byte, not consumed.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Moves past JSON whitespace.
    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Moves past `word` (`true`, `false`, `null`).
    #[inline]
    pub(crate) fn word(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            self.fail("expected value")
        }
    }

    /// Moves past the `[` or `{` at the current position, one level deeper.
    #[inline]
    pub(crate) fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("recursion limit exceeded");
        }
        self.pos += 1;
        Some(())
    }

    /// A string whose opening quote was consumed.
    #[inline]
    pub(crate) fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let i = string_run_end(self.bytes, self.pos);
        match self.bytes.get(i) {
            Some(b'"') => {
                self.pos = i + 1;
                // The stop bytes are ASCII, so both ends are char boundaries.
                Some(Cow::Borrowed(&self.text[start..i]))
            }
            Some(b'\\') => {
                let mut out = String::with_capacity(i - start + 16);
                out.push_str(&self.text[start..i]);
                self.pos = i;
                self.escaped_string(out).map(Cow::Owned)
            }
            Some(_) => {
                self.pos = i;
                self.fail("control character (\\u0000-\\u001F) found while parsing a string")
            }
            None => {
                self.pos = i;
                self.fail("EOF while parsing a string")
            }
        }
    }

    /// The rest of a string with escapes, from a backslash or a plain run.
    fn escaped_string(&mut self, mut out: String) -> Option<String> {
        loop {
            let start = self.pos;
            let i = string_run_end(self.bytes, self.pos);
            out.push_str(&self.text[start..i]);
            self.pos = i;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Some(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    return self
                        .fail("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => return self.fail("EOF while parsing a string"),
            }
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self, out: &mut String) -> Option<()> {
        let Some(b) = self.peek() else {
            return self.fail("EOF while parsing a string");
        };
        self.pos += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                match hi {
                    0xD800..=0xDBFF => {
                        if self.bytes[self.pos..].starts_with(b"\\u") {
                            self.pos += 2;
                            let lo = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&lo) {
                                return self.fail("lone leading surrogate in hex escape");
                            }
                            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            char::from_u32(code)
                                .or_else(|| self.fail("invalid unicode code point"))?
                        } else {
                            return self.fail("lone leading surrogate in hex escape");
                        }
                    }
                    0xDC00..=0xDFFF => {
                        return self.fail("lone trailing surrogate in hex escape");
                    }
                    _ => char::from_u32(hi).or_else(|| self.fail("invalid unicode code point"))?,
                }
            }
            _ => {
                self.pos -= 1;
                return self.fail("invalid escape");
            }
        };
        out.push(c);
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let Some(digits) = self.bytes.get(self.pos..self.pos + 4) else {
            self.pos = self.bytes.len();
            return self.fail("EOF while parsing a string");
        };
        let mut n = 0u32;
        for d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.fail("invalid escape"),
            };
            n = n * 16 + u32::from(v);
        }
        self.pos += 4;
        Some(n)
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Checks a number's grammar and moves past it: the range of its integer digits, and
    /// whether it has a fraction or exponent.
    #[inline]
    pub(crate) fn scan_number(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("invalid number"),
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
            is_float = true;
        }
        if self.pos < self.bytes.len()
            && !matches!(
                self.bytes[self.pos],
                b',' | b']' | b'}' | b' ' | b'\n' | b'\t' | b'\r'
            )
        {
            // such as `01` or `1x`
            return self.fail("invalid number");
        }
        Some((int_start, int_end, is_float))
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn string_run_end_finds_the_first_stop_byte() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let len = rng.random_range(0..80);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.random_range(0..40) {
                    0 => b'"',
                    1 => b'\\',
                    2 => rng.random_range(0..0x20),
                    3 => rng.random_range(0x80..=0xff),
                    _ => rng.random_range(0x20..0x7f),
                })
                .collect();
            let from = rng.random_range(0..=len);
            let naive = (from..len)
                .find(|&i| STRING_STOP[bytes[i] as usize])
                .unwrap_or(len);
            assert_eq!(string_run_end(&bytes, from), naive, "{bytes:?} from {from}");
        }
    }
}
