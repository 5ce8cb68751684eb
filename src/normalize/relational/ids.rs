//! Nested row ids computed in batches.
//!
//! dlt's id of a nested row is `digest128(f"{parent_row_id}_{nested_table}_{list_idx}")`:
//! `shake_128`, 10 bytes, unpadded base64. A sink that collects rows (the chunk writer) hands
//! out [`RowId::Pending`] handles from a [`RowIds`] table while it receives rows, and computes
//! every id of the chunk at the end with [`RowIds::resolve`]: level by level (a row's id needs
//! its parent's), four ids at a time with AVX2 ([`super::keccak4`]), the scalar `tiny-keccak`
//! path otherwise. The bytes are the same either way.

use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::DLT_ID_LENGTH_BYTES;
use super::keccak4;
use crate::pycompat::hash::shake128;

/// Length of a computed `_dlt_id`: unpadded base64 of 10 bytes.
pub const ID_LEN: usize = 14;

/// The id of a row as the normalizer passes it on.
#[derive(Debug, Clone)]
pub enum RowId {
    /// Known text (a random or hashed root id, or a `_dlt_id` the item carries).
    Known(Rc<str>),
    /// A nested row id in the sink's [`RowIds`] table, computed later.
    Pending(u32),
}

struct Entry {
    parent: RowId,
    table: Rc<str>,
    idx: i64,
    /// Pending ancestors: 0 when the parent is known.
    depth: u32,
}

/// A table of nested row ids to compute (see the module doc).
#[derive(Default)]
pub struct RowIds {
    entries: Vec<Entry>,
    /// The ids as base64 text; all zero bytes while not computed (base64 has no zero byte).
    ids: Vec<[u8; ID_LEN]>,
    /// Whether every entry is computed.
    resolved: bool,
}

impl RowIds {
    /// Adds the id of row `idx` of `table` under `parent`, to be computed later.
    pub fn push(&mut self, parent: &RowId, table: &Rc<str>, idx: i64) -> RowId {
        let depth = match parent {
            RowId::Known(_) => 0,
            RowId::Pending(p) => self.entries[*p as usize].depth + 1,
        };
        let Ok(handle) = u32::try_from(self.entries.len()) else {
            return RowId::Known(self.known_now(parent, table, idx));
        };
        self.entries.push(Entry {
            parent: parent.clone(),
            table: table.clone(),
            idx,
            depth,
        });
        self.ids.push([0; ID_LEN]);
        self.resolved = false;
        RowId::Pending(handle)
    }

    /// The id of row `idx` of `table` under `parent`, computed now.
    pub fn known_now(&mut self, parent: &RowId, table: &str, idx: i64) -> Rc<str> {
        let mut input = Vec::new();
        match parent {
            RowId::Known(p) => input.extend_from_slice(p.as_bytes()),
            RowId::Pending(h) => input.extend_from_slice(self.get_now(*h)),
        }
        push_suffix(&mut input, table, idx);
        let id = scalar_id(&input);
        Rc::from(std::str::from_utf8(&id).unwrap_or_default())
    }

    /// The text of pending id `handle`, computing it (and its pending ancestors) if needed.
    pub fn get_now(&mut self, handle: u32) -> &[u8; ID_LEN] {
        let mut chain = vec![handle as usize];
        while let Some(&h) = chain.last()
            && self.ids[h][0] == 0
            && let RowId::Pending(p) = self.entries[h].parent
            && self.ids[p as usize][0] == 0
        {
            chain.push(p as usize);
        }
        let mut input = Vec::new();
        for &h in chain.iter().rev() {
            if self.ids[h][0] == 0 {
                self.input_of(h, &mut input);
                self.ids[h] = scalar_id(&input);
            }
        }
        &self.ids[handle as usize]
    }

    /// The text of id `handle` once computed ([`RowIds::resolve`]).
    pub fn get(&self, handle: u32) -> Option<&[u8; ID_LEN]> {
        self.ids.get(handle as usize).filter(|id| id[0] != 0)
    }

    /// Computes every pending id.
    pub fn resolve(&mut self) {
        if self.resolved {
            return;
        }
        // Order the ids still to compute by depth (a counting sort), so parents come first.
        let max_depth = self.entries.iter().map(|e| e.depth).max().unwrap_or(0) as usize;
        let mut starts = vec![0usize; max_depth + 2];
        for (e, id) in self.entries.iter().zip(&self.ids) {
            if id[0] == 0 {
                starts[e.depth as usize + 1] += 1;
            }
        }
        for d in 1..starts.len() {
            starts[d] += starts[d - 1];
        }
        let mut order = vec![0u32; starts[max_depth + 1]];
        let mut next = starts.clone();
        for (i, (e, id)) in self.entries.iter().zip(&self.ids).enumerate() {
            if id[0] == 0 {
                order[next[e.depth as usize]] = i as u32;
                next[e.depth as usize] += 1;
            }
        }
        let mut inputs: [Vec<u8>; 4] = Default::default();
        for d in 0..=max_depth {
            let level = &order[starts[d]..starts[d + 1]];
            let mut groups = level.chunks_exact(4);
            for group in &mut groups {
                self.compute4(group, &mut inputs);
            }
            for &h in groups.remainder() {
                self.input_of(h as usize, &mut inputs[0]);
                self.ids[h as usize] = scalar_id(&inputs[0]);
            }
        }
        self.resolved = true;
    }

    /// Computes four ids whose parents are known or computed.
    fn compute4(&mut self, group: &[u32], inputs: &mut [Vec<u8>; 4]) {
        for (k, &h) in group.iter().enumerate() {
            self.input_of(h as usize, &mut inputs[k]);
        }
        let refs = [
            &inputs[0][..],
            &inputs[1][..],
            &inputs[2][..],
            &inputs[3][..],
        ];
        match keccak4::shake128_x4(refs) {
            Some(digests) => {
                for (&h, digest) in group.iter().zip(&digests) {
                    self.ids[h as usize] = encode(&digest[..DLT_ID_LENGTH_BYTES]);
                }
            }
            None => {
                for (k, &h) in group.iter().enumerate() {
                    self.ids[h as usize] = scalar_id(&inputs[k]);
                }
            }
        }
    }

    /// `f"{parent_id}_{table}_{idx}"` of entry `h` into `out` (the parent must be computed).
    fn input_of(&self, h: usize, out: &mut Vec<u8>) {
        out.clear();
        let e = &self.entries[h];
        match &e.parent {
            RowId::Known(p) => out.extend_from_slice(p.as_bytes()),
            RowId::Pending(p) => out.extend_from_slice(&self.ids[*p as usize]),
        }
        push_suffix(out, &e.table, e.idx);
    }
}

/// Appends `_{table}_{idx}`.
pub(super) fn push_suffix(out: &mut Vec<u8>, table: &str, idx: i64) {
    out.push(b'_');
    out.extend_from_slice(table.as_bytes());
    out.push(b'_');
    let mut digits = [0u8; 20];
    let mut n = idx.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if idx < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

/// `digest128(input)` with the scalar Keccak.
pub(super) fn scalar_id(input: &[u8]) -> [u8; ID_LEN] {
    let mut digest = [0u8; DLT_ID_LENGTH_BYTES];
    shake128(input, &mut digest);
    encode(&digest)
}

/// Unpadded base64 of a 10-byte digest.
fn encode(digest: &[u8]) -> [u8; ID_LEN] {
    let mut buf = [0u8; 16];
    let n = STANDARD_NO_PAD
        .encode_slice(digest, &mut buf)
        .unwrap_or_default();
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&buf[..n.min(ID_LEN)]);
    id
}

#[cfg(test)]
mod tests {
    use super::super::nested_row_id;
    use super::*;

    /// A random tree of pending ids, resolved in batches, equals the ids computed one by one.
    #[test]
    fn batched_ids_equal_one_by_one() {
        let mut ids = RowIds::default();
        let tables: Vec<Rc<str>> = ["t__a", "t__a__b", &"x".repeat(200), "t__ü"]
            .into_iter()
            .map(Rc::from)
            .collect();
        let mut expected: Vec<(RowId, String)> = Vec::new();
        let roots: Vec<RowId> = ["root1", "Zm9vYmFyYmF6cXV4", ""]
            .into_iter()
            .map(|r| RowId::Known(Rc::from(r)))
            .collect();
        for i in 0..3000usize {
            let (parent, parent_text) = if expected.is_empty() || i % 3 == 0 {
                let r = &roots[i % roots.len()];
                let RowId::Known(t) = r else { unreachable!() };
                (r.clone(), t.to_string())
            } else {
                let (p, t) = &expected[rand::random_range(0..expected.len())];
                (p.clone(), t.clone())
            };
            let table = &tables[i % tables.len()];
            let idx = rand::random_range(-3..100_000i64);
            let id = ids.push(&parent, table, idx);
            let text = nested_row_id(&parent_text, table, idx).to_string();
            expected.push((id, text));
        }
        // One computed ahead of the batch, as a sink with a contract does.
        let RowId::Pending(h) = expected[2000].0 else {
            panic!("pending")
        };
        assert_eq!(ids.get_now(h), expected[2000].1.as_bytes());
        ids.resolve();
        for (id, text) in &expected {
            let RowId::Pending(h) = id else {
                panic!("pending")
            };
            assert_eq!(ids.get(*h).map(|b| &b[..]), Some(text.as_bytes()));
        }
    }
}
