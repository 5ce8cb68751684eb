//! Python's Unicode character classes as `str` methods and `re` see them, as of the Unicode 14
//! database of Python 3.11: decimal digits ([`decimal_digit`]: `\d`, `str.isdecimal()`, what
//! `int()` and `float()` accept) and whitespace ([`is_py_space`]: `str.isspace()`,
//! `str.strip()`).

/// First code point of every run of ten Unicode `Nd` (decimal digit) characters, sorted.
///
/// Python 3.11 (Unicode 14.0.0) has exactly 66 such runs, each mapping to the values 0–9.
const ND_STARTS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of `c` if it is a Unicode decimal digit (category `Nd`, Python's `\d` and what
/// `int()` accepts), else `None`. ASCII `0`–`9` included.
pub fn decimal_digit(c: char) -> Option<u32> {
    let cp = c as u32;
    if (0x30..=0x39).contains(&cp) {
        return Some(cp - 0x30);
    }
    if cp < 0x660 {
        return None;
    }
    let idx = ND_STARTS.partition_point(|&start| start <= cp);
    let start = ND_STARTS[idx.checked_sub(1)?];
    (cp - start < 10).then_some(cp - start)
}

/// Whether `c` is whitespace for Python's `str.isspace()` / `str.strip()`.
///
/// Differs from Rust's `char::is_whitespace`: it includes U+001C–U+001F and excludes nothing
/// else of note.
pub fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `str.strip()` with no arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_tables() {
        assert_eq!(decimal_digit('7'), Some(7));
        assert_eq!(decimal_digit('\u{663}'), Some(3));
        assert_eq!(decimal_digit('\u{ff10}'), Some(0));
        assert_eq!(decimal_digit('\u{1fbf9}'), Some(9));
        assert_eq!(decimal_digit('\u{b2}'), None); // superscript two is not Nd
        assert_eq!(decimal_digit('a'), None);
        assert_eq!(decimal_digit('\u{10ffff}'), None);
        assert!(is_py_space('\u{1c}') && is_py_space('\u{85}') && is_py_space('\u{3000}'));
        assert!(!is_py_space('\u{200b}') && !is_py_space('a'));
        assert_eq!(py_strip("\u{a0} x \u{2029}"), "x");
    }
}
