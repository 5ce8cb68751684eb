//! The JSON parser of the normalize hot path.
//!
//! It builds a [`Value`] straight from the text, reading tokens with the shared
//! [`Scanner`](crate::json) (the REST source's splitter uses the same one, so both accept the
//! same texts): strings without escapes borrow from the input, integers are read exactly
//! (`Int` when they fit `i64`, else `BigInt` with their digits), and floats are parsed from
//! their own digits with correct rounding. serde_json with `arbitrary_precision` (which dango
//! needs elsewhere) would allocate a string for every number instead; this parser is about
//! twice as fast on typical API items.
//!
//! It accepts exactly RFC 8259 JSON, as serde_json does: no `NaN`/`Infinity`, no control
//! characters inside strings, no lone surrogates, no trailing characters. Nesting deeper than
//! [`MAX_DEPTH`] is an error, never a stack overflow.

use super::Value;
use crate::json::Scanner;
pub use crate::json::{MAX_DEPTH, ParseError};

/// Parses one JSON document, borrowing strings from `text` where possible.
pub fn parse_json(text: &str) -> Result<Value<'_>, ParseError> {
    let mut p = Parser::new(text);
    p.s.skip_ws();
    let parsed = p.value().and_then(|v| {
        p.s.skip_ws();
        if p.s.pos < p.s.bytes.len() {
            return p.s.fail("trailing characters");
        }
        Some(v)
    });
    match parsed {
        Some(v) => Ok(v),
        None => Err(p.s.error()),
    }
}

/// Depths whose last container size is remembered as the capacity of the next one.
const SIZE_HINTS: usize = 8;

struct Parser<'a> {
    /// The tokens.
    s: Scanner<'a>,
    /// Length of the last array or object seen at each depth.
    sizes: [usize; SIZE_HINTS],
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            s: Scanner::new(text),
            sizes: [0; SIZE_HINTS],
        }
    }

    // Inlined into the container loops, so scalars go straight into their slot and only
    // nested containers cross a call (moving enums across calls stalls store forwarding).
    #[inline(always)]
    fn value(&mut self) -> Option<Value<'a>> {
        match self.s.peek() {
            Some(b'"') => {
                self.s.pos += 1;
                Some(Value::Str(self.s.string()?))
            }
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(_) => self.s.fail("expected value"),
            None => self.s.fail("EOF while parsing a value"),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value<'a>) -> Option<Value<'a>> {
        self.s.word(word).map(|()| v)
    }

    /// Capacity for a new container: the size of the last one at this depth (items of a
    /// list tend to have the same shape), at least 1 and at most 64.
    #[inline]
    fn size_hint(&self) -> usize {
        self.sizes
            .get(self.s.depth)
            .map_or(4, |n| (*n).clamp(1, 64))
    }

    #[inline]
    fn leave(&mut self, len: usize) {
        if let Some(n) = self.sizes.get_mut(self.s.depth) {
            *n = len;
        }
        self.s.depth -= 1;
    }

    #[inline(never)]
    fn array(&mut self) -> Option<Value<'a>> {
        self.s.enter()?;
        self.s.skip_ws();
        if self.s.peek() == Some(b']') {
            self.s.pos += 1;
            self.s.depth -= 1;
            return Some(Value::Array(Vec::new()));
        }
        let mut items = Vec::with_capacity(self.size_hint());
        loop {
            self.s.skip_ws();
            items.push(self.value()?);
            self.s.skip_ws();
            match self.s.peek() {
                Some(b',') => self.s.pos += 1,
                Some(b']') => {
                    self.s.pos += 1;
                    self.leave(items.len());
                    return Some(Value::Array(items));
                }
                Some(_) => return self.s.fail("expected `,` or `]`"),
                None => return self.s.fail("EOF while parsing a list"),
            }
        }
    }

    #[inline(never)]
    fn object(&mut self) -> Option<Value<'a>> {
        self.s.enter()?;
        self.s.skip_ws();
        if self.s.peek() == Some(b'}') {
            self.s.pos += 1;
            self.s.depth -= 1;
            return Some(Value::Object(Vec::new()));
        }
        let mut fields = Vec::with_capacity(self.size_hint());
        loop {
            self.s.skip_ws();
            match self.s.peek() {
                Some(b'"') => self.s.pos += 1,
                Some(_) => return self.s.fail("key must be a string"),
                None => return self.s.fail("EOF while parsing an object"),
            }
            let key = self.s.string()?;
            self.s.skip_ws();
            match self.s.peek() {
                Some(b':') => self.s.pos += 1,
                Some(_) => return self.s.fail("expected `:`"),
                None => return self.s.fail("EOF while parsing an object"),
            }
            self.s.skip_ws();
            let v = self.value()?;
            fields.push((key, v));
            self.s.skip_ws();
            match self.s.peek() {
                Some(b',') => self.s.pos += 1,
                Some(b'}') => {
                    self.s.pos += 1;
                    self.leave(fields.len());
                    return Some(Value::Object(fields));
                }
                Some(_) => return self.s.fail("expected `,` or `}`"),
                None => return self.s.fail("EOF while parsing an object"),
            }
        }
    }

    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.s.pos;
        let negative = self.s.peek() == Some(b'-');
        let (int_start, int_end, is_float) = self.s.scan_number()?;
        let text = &self.s.text[start..self.s.pos];
        if is_float {
            // Rust's parser rounds correctly; out-of-range magnitudes become ±inf or ±0.0, as
            // Python's float() does.
            return text
                .parse::<f64>()
                .map(Value::Float)
                .ok()
                .or_else(|| self.s.fail("invalid number"));
        }
        let digits = &self.s.bytes[int_start..int_end];
        if digits.len() <= 18 {
            let mut n: i64 = 0;
            for d in digits {
                n = n * 10 + i64::from(d - b'0');
            }
            return Some(Value::Int(if negative { -n } else { n }));
        }
        Some(match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(text.into()),
        })
    }
}

#[cfg(test)]
mod tests;
