//! dlt's relational normalizer: flattens dicts into `__` columns and turns lists into nested
//! tables linked by `_dlt_parent_id`, `_dlt_list_idx` and `_dlt_id`.
//!
//! This follows `dlt/common/normalizers/json/relational.py` step by step, including the LIFO
//! order in which nested dicts are flattened (it decides column order), the intermediate
//! `{"list": …}` rows for lists of lists, and how nested row ids derive from the parent id.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

mod ids;
mod keccak4;

pub use ids::{ID_LEN, RowId, RowIds};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::naming;
use super::value::Value;
use crate::pycompat::hash::shake128;
use crate::pycompat::json::{self, Keys};
use crate::pycompat::unicode::py_strip;

/// `_dlt_id` column name.
pub const C_DLT_ID: &str = "_dlt_id";
/// `_dlt_load_id` column name.
pub const C_DLT_LOAD_ID: &str = "_dlt_load_id";
/// `_dlt_root_id` column name.
pub const C_DLT_ROOT_ID: &str = "_dlt_root_id";
/// `_dlt_parent_id` column name.
pub const C_DLT_PARENT_ID: &str = "_dlt_parent_id";
/// `_dlt_list_idx` column name.
pub const C_DLT_LIST_IDX: &str = "_dlt_list_idx";
/// Column holding list elements that are not dicts.
pub const C_VALUE: &str = "value";
/// Number of random / hashed bytes in a `_dlt_id`.
pub const DLT_ID_LENGTH_BYTES: usize = 10;

/// How the `_dlt_id` of root rows is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootIdKind {
    /// Random 10 bytes (append, replace, merge delete-insert).
    Random,
    /// Hash of the primary key values (upsert, insert-only).
    KeyHash(Vec<String>),
    /// Hash of the whole item without `_dlt*` keys (scd2).
    RowHash,
}

/// Per-root-table settings of the normalizer.
#[derive(Debug, Clone)]
pub struct TableSettings {
    /// Root table name (normalized).
    pub root_table: String,
    /// `max_table_nesting` for this root.
    pub max_nesting: i64,
    /// Whether `_dlt_root_id` is propagated into nested tables.
    pub propagate_root_id: bool,
    /// How root row ids are made.
    pub root_id: RootIdKind,
    /// The naming convention (the destination's identifier limit).
    pub naming: naming::Naming,
}

/// A cell of a normalized row.
#[derive(Debug, Clone)]
pub enum Cell<'v, 'a> {
    /// A value from the item.
    V(&'v Value<'a>),
    /// A generated string (ids, load id).
    Str(Rc<str>),
    /// A generated integer (list index).
    Int(i64),
    /// A nested row id the sink computes later ([`RowId::Pending`]).
    Id(u32),
}

impl<'v, 'a> Cell<'v, 'a> {
    /// The cell of a row id.
    pub fn of_id(id: &RowId) -> Cell<'v, 'a> {
        match id {
            RowId::Known(s) => Cell::Str(s.clone()),
            RowId::Pending(h) => Cell::Id(*h),
        }
    }
}

/// Receives normalized rows, parents before their nested rows.
pub trait RowSink<'a> {
    /// Error type of the sink.
    type Error;
    /// One row of `table` (with `parent` for nested tables). Column names are normalized.
    /// Returns `Ok(false)` to skip the nested rows of this row.
    fn row<'v>(
        &mut self,
        table: &Rc<str>,
        parent: Option<&Rc<str>>,
        cells: &[(Rc<str>, Cell<'v, 'a>)],
    ) -> Result<bool, Self::Error>;

    /// The id of row `idx` of nested `table` under the row `parent`:
    /// `digest128(f"{parent_id}_{table}_{idx}")`. A sink may hand out a [`RowId::Pending`]
    /// from its own [`RowIds`] and compute the ids in a batch before its output is read.
    fn nested_id(&mut self, parent: &RowId, table: &Rc<str>, idx: i64) -> RowId;
}

/// Tells the normalizer which columns are `json` (kept whole instead of flattened).
pub trait JsonColumns {
    /// Whether `column` of `table` has (or prefers) the `json` type.
    fn is_json(&self, table: &str, column: &str) -> bool;
}

impl JsonColumns for () {
    fn is_json(&self, _: &str, _: &str) -> bool {
        false
    }
}

/// Fast hasher for the normalizer's hot maps (keys come from the user's own data).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Marks an empty slot in [`PathNode::hot`].
const NO_KEY: u32 = u32::MAX;

#[derive(Default)]
struct KeyInfo {
    /// The key as it appears in items.
    key: Box<str>,
    /// Flattened column name at this path (interned, see [`Namer::intern`]).
    column: Rc<str>,
    /// Path id for a nested dict at this key.
    dict_path: Option<u32>,
    /// Nested table name for a list at this key.
    list_table: Option<Rc<str>>,
    /// Whether the column is `json` ([`JsonColumns::is_json`], asked once).
    json: Option<bool>,
}

struct PathNode {
    /// Table this path belongs to.
    table: Rc<str>,
    /// Flattened prefix (`a__b`), empty at the table root.
    prefix: Rc<str>,
    /// Key → index into `infos`.
    keys: FastMap<Box<str>, u32>,
    infos: Vec<KeyInfo>,
    /// Key position in the item → index into `infos` of the key last seen there. Items of one
    /// resource mostly share their key order, so this resolves most keys with one comparison.
    hot: Vec<u32>,
}

impl PathNode {
    fn new(table: Rc<str>, prefix: Rc<str>) -> PathNode {
        PathNode {
            table,
            prefix,
            keys: FastMap::default(),
            infos: Vec::new(),
            hot: Vec::new(),
        }
    }
}

/// Caches normalized names per (table, dict path, key) so hot rows allocate nothing.
///
/// Column names are interned: two keys that normalize to the same name share one `Rc`, so
/// rows can compare column names by pointer.
struct Namer {
    nodes: Vec<PathNode>,
    table_roots: FastMap<Rc<str>, u32>,
    /// Tables of recent rows and their root paths, found by pointer before `table_roots`.
    recent_roots: Vec<(Rc<str>, u32)>,
    names: FastMap<Rc<str>, ()>,
    /// Names that must stay interned across [`Namer::clear_if_huge`].
    pinned: Vec<Rc<str>>,
    naming: naming::Naming,
}

impl Namer {
    fn new(pinned: Vec<Rc<str>>, naming: naming::Naming) -> Namer {
        let mut namer = Namer {
            nodes: Vec::new(),
            table_roots: FastMap::default(),
            recent_roots: Vec::new(),
            names: FastMap::default(),
            pinned,
            naming,
        };
        namer.seed();
        namer
    }

    fn seed(&mut self) {
        for name in &self.pinned {
            self.names.insert(name.clone(), ());
        }
    }

    /// The one shared `Rc` for a column name.
    fn intern(&mut self, name: &str) -> Rc<str> {
        if let Some((rc, _)) = self.names.get_key_value(name) {
            return rc.clone();
        }
        let rc: Rc<str> = Rc::from(name);
        self.names.insert(rc.clone(), ());
        rc
    }

    fn clear_if_huge(&mut self) {
        let total: usize = self.nodes.iter().map(|n| n.infos.len()).sum();
        if total + self.names.len() > 200_000 {
            self.nodes.clear();
            self.table_roots.clear();
            self.recent_roots.clear();
            self.names.clear();
            self.seed();
        }
    }

    fn table_root(&mut self, table: &Rc<str>) -> u32 {
        if let Some((_, id)) = self.recent_roots.iter().find(|(t, _)| Rc::ptr_eq(t, table)) {
            return *id;
        }
        let id = self.table_root_slow(table);
        if self.recent_roots.len() >= 8 {
            self.recent_roots.remove(0);
        }
        self.recent_roots.push((table.clone(), id));
        id
    }

    fn table_root_slow(&mut self, table: &Rc<str>) -> u32 {
        if let Some(id) = self.table_roots.get(table) {
            return *id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(PathNode::new(table.clone(), Rc::from("")));
        self.table_roots.insert(table.clone(), id);
        id
    }

    /// Index into the node's `infos` of `key`, seen at position `pos` of its dict.
    fn key_idx(&mut self, path: u32, pos: usize, key: &str) -> usize {
        let node = &self.nodes[path as usize];
        if let Some(&i) = node.hot.get(pos)
            && i != NO_KEY
            && same_key(&node.infos[i as usize].key, key)
        {
            return i as usize;
        }
        let i = match node.keys.get(key) {
            Some(&i) => i,
            None => {
                let norm_key = row_key_name(self.naming, key);
                let column = if node.prefix.is_empty() {
                    norm_key
                } else {
                    self.naming.shorten_fragments(&[&node.prefix, &norm_key])
                };
                let column = self.intern(&column);
                let node = &mut self.nodes[path as usize];
                let i = node.infos.len() as u32;
                node.infos.push(KeyInfo {
                    key: key.into(),
                    column,
                    dict_path: None,
                    list_table: None,
                    json: None,
                });
                node.keys.insert(key.into(), i);
                i
            }
        };
        let node = &mut self.nodes[path as usize];
        if node.hot.len() <= pos {
            node.hot.resize(pos + 1, NO_KEY);
        }
        node.hot[pos] = i;
        i as usize
    }

    /// Whether the column of key `i` at `path` is `json`, asked of `json` once.
    fn is_json<J: JsonColumns>(&mut self, path: u32, i: usize, json: &J) -> bool {
        let node = &mut self.nodes[path as usize];
        let info = &mut node.infos[i];
        *info
            .json
            .get_or_insert_with(|| json.is_json(&node.table, &info.column))
    }

    /// Forgets the cached [`JsonColumns`] answers.
    fn forget_json(&mut self) {
        for node in &mut self.nodes {
            for info in &mut node.infos {
                info.json = None;
            }
        }
    }

    fn dict_path(&mut self, path: u32, pos: usize, key: &str) -> u32 {
        let i = self.key_idx(path, pos, key);
        let info = &self.nodes[path as usize].infos[i];
        if let Some(id) = info.dict_path {
            return id;
        }
        let column = info.column.clone();
        let table = self.nodes[path as usize].table.clone();
        let id = self.nodes.len() as u32;
        self.nodes.push(PathNode::new(table, column));
        self.nodes[path as usize].infos[i].dict_path = Some(id);
        id
    }

    fn list_table(&mut self, path: u32, pos: usize, key: &str) -> Rc<str> {
        let i = self.key_idx(path, pos, key);
        if let Some(t) = &self.nodes[path as usize].infos[i].list_table {
            return t.clone();
        }
        let node = &self.nodes[path as usize];
        let table = node.table.clone();
        let prefix = node.prefix.clone();
        let frag = if py_strip(key).is_empty() {
            naming::EMPTY_KEY.to_string()
        } else {
            self.naming.normalize_tables_path(key)
        };
        let frag = if frag.is_empty() {
            naming::EMPTY_KEY.to_string()
        } else {
            frag
        };
        let name: Rc<str> = if prefix.is_empty() {
            Rc::from(self.naming.shorten_fragments(&[&table, &frag]))
        } else {
            Rc::from(self.naming.shorten_fragments(&[&table, &prefix, &frag]))
        };
        self.nodes[path as usize].infos[i].list_table = Some(name.clone());
        name
    }
}

/// The relational normalizer for one root table.
pub struct Normalizer {
    settings: TableSettings,
    root: Rc<str>,
    load_id: Rc<str>,
    namer: Namer,
    rng_state: u64,
    /// Address of the [`JsonColumns`] whose answers the namer caches.
    json_src: usize,
    /// Emptied buffers of earlier rows, reused (see [`recycle`]).
    cell_bufs: Vec<Vec<(Rc<str>, Cell<'static, 'static>)>>,
    list_bufs: Vec<Vec<(Rc<str>, &'static [Value<'static>])>>,
    frame_bufs: Vec<Vec<Frame<'static, 'static>>>,
    c_dlt_id: Rc<str>,
    c_load_id: Rc<str>,
    c_root_id: Rc<str>,
    c_parent_id: Rc<str>,
    c_list_idx: Rc<str>,
    c_value: Rc<str>,
}

struct Frame<'v, 'a> {
    dict: &'v [(Cow<'a, str>, Value<'a>)],
    lvl: i64,
    path: u32,
}

impl Normalizer {
    /// A normalizer for `settings.root_table` writing `load_id` into root rows.
    pub fn new(settings: TableSettings, load_id: &str, seed: u64) -> Normalizer {
        let root = Rc::from(settings.root_table.as_str());
        let [
            c_dlt_id,
            c_load_id,
            c_root_id,
            c_parent_id,
            c_list_idx,
            c_value,
        ] = [
            C_DLT_ID,
            C_DLT_LOAD_ID,
            C_DLT_ROOT_ID,
            C_DLT_PARENT_ID,
            C_DLT_LIST_IDX,
            C_VALUE,
        ]
        .map(Rc::<str>::from);
        let pinned = vec![
            c_dlt_id.clone(),
            c_load_id.clone(),
            c_root_id.clone(),
            c_parent_id.clone(),
            c_list_idx.clone(),
            c_value.clone(),
        ];
        let naming = settings.naming;
        Normalizer {
            settings,
            root,
            load_id: Rc::from(load_id),
            namer: Namer::new(pinned, naming),
            rng_state: seed ^ 0x9E37_79B9_7F4A_7C15,
            json_src: 0,
            cell_bufs: Vec::new(),
            list_bufs: Vec::new(),
            frame_bufs: Vec::new(),
            c_dlt_id,
            c_load_id,
            c_root_id,
            c_parent_id,
            c_list_idx,
            c_value,
        }
    }

    /// The root table name.
    pub fn root_table(&self) -> &Rc<str> {
        &self.root
    }

    /// Normalizes one item into rows of the root table and its nested tables.
    ///
    /// The answers of `json` are cached per column while the same `json` object is passed:
    /// it must not change between the calls of one normalizer (a chunk's schema snapshot).
    pub fn normalize_item<'a, S: RowSink<'a>, J: JsonColumns>(
        &mut self,
        item: &Value<'a>,
        json: &J,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        self.namer.clear_if_huge();
        let src = json as *const J as *const () as usize;
        if src != self.json_src {
            self.namer.forget_json();
            self.json_src = src;
        }
        let root = self.root.clone();
        let lvl = self.settings.max_nesting;
        match item {
            Value::Object(fields) => {
                self.normalize_row(fields, item, None, &root, None, 0, lvl, json, sink)
            }
            other => {
                let wrapped = [(Cow::Borrowed(C_VALUE), other.clone())];
                self.normalize_row(&wrapped, other, None, &root, None, 0, lvl, json, sink)
            }
        }
    }

    fn random_id(&mut self) -> Rc<str> {
        // splitmix64: ids only need to be unique, not secret
        let mut bytes = [0u8; 16];
        for chunk in bytes.chunks_mut(8) {
            self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.rng_state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        base64_rc(&bytes[..DLT_ID_LENGTH_BYTES])
    }

    #[allow(clippy::too_many_arguments)]
    fn normalize_row<'v, 'a, S: RowSink<'a>, J: JsonColumns>(
        &mut self,
        dict: &'v [(Cow<'a, str>, Value<'a>)],
        original: &'v Value<'a>,
        extend: Option<&RowId>,
        table: &Rc<str>,
        parent: Option<(&Rc<str>, &RowId, i64)>,
        _pos: i64,
        lvl: i64,
        json: &J,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let is_root = parent.is_none();
        let mut cells: Vec<(Rc<str>, Cell<'v, 'a>)> =
            recycle(self.cell_bufs.pop().unwrap_or_default());
        let mut lists: Vec<(Rc<str>, &'v [Value<'a>])> =
            recycle(self.list_bufs.pop().unwrap_or_default());
        let root_path = self.namer.table_root(table);
        let mut stack: Vec<Frame<'v, 'a>> = recycle(self.frame_bufs.pop().unwrap_or_default());
        stack.push(Frame {
            dict,
            lvl,
            path: root_path,
        });
        while let Some(frame) = stack.pop() {
            for (pos, (k, v)) in frame.dict.iter().enumerate() {
                let ki = self.namer.key_idx(frame.path, pos, k);
                let col = self.namer.nodes[frame.path as usize].infos[ki]
                    .column
                    .clone();
                match v {
                    Value::Object(inner) => {
                        if !(frame.lvl <= 0 || self.namer.is_json(frame.path, ki, json)) {
                            let p = self.namer.dict_path(frame.path, pos, k);
                            stack.push(Frame {
                                dict: inner,
                                lvl: frame.lvl - 1,
                                path: p,
                            });
                            continue;
                        }
                        set_cell(&mut cells, col, Cell::V(v));
                    }
                    Value::Array(items) => {
                        if !(frame.lvl <= 0 || self.namer.is_json(frame.path, ki, json)) {
                            let t = self.namer.list_table(frame.path, pos, k);
                            if let Some(pos) = lists.iter().position(|(n, _)| *n == t) {
                                lists[pos].1 = items;
                            } else {
                                lists.push((t, items));
                            }
                            continue;
                        }
                        set_cell(&mut cells, col, Cell::V(v));
                    }
                    _ => set_cell(&mut cells, col, Cell::V(v)),
                }
            }
        }
        self.frame_bufs.push(recycle(stack));
        if let Some(root_id) = extend {
            set_cell(&mut cells, self.c_root_id.clone(), Cell::of_id(root_id));
        }
        if is_root {
            set_cell(
                &mut cells,
                self.c_load_id.clone(),
                Cell::Str(self.load_id.clone()),
            );
        }
        let existing_id = cells.iter().find_map(|(n, c)| match c {
            Cell::V(Value::Str(s)) if Rc::ptr_eq(n, &self.c_dlt_id) && !s.is_empty() => {
                Some(RowId::Known(Rc::from(s.as_ref())))
            }
            _ => None,
        });
        let row_id: RowId = match existing_id {
            Some(id) => id,
            None => {
                let id = match parent {
                    Some((_, parent_id, idx)) => {
                        set_cell(&mut cells, self.c_parent_id.clone(), Cell::of_id(parent_id));
                        set_cell(&mut cells, self.c_list_idx.clone(), Cell::Int(idx));
                        sink.nested_id(parent_id, table, idx)
                    }
                    None => RowId::Known(match &self.settings.root_id {
                        RootIdKind::Random => self.random_id(),
                        RootIdKind::KeyHash(keys) => Rc::from(key_hash(&cells, keys)),
                        RootIdKind::RowHash => Rc::from(row_hash(original)),
                    }),
                };
                set_cell(&mut cells, self.c_dlt_id.clone(), Cell::of_id(&id));
                id
            }
        };
        let descend = sink.row(table, parent.map(|p| p.0), &cells)?;
        self.cell_bufs.push(recycle(cells));
        if !descend || lists.is_empty() {
            self.list_bufs.push(recycle(lists));
            return Ok(());
        }
        let extend_next: Option<RowId> = if self.settings.propagate_root_id {
            match extend {
                Some(e) => Some(e.clone()),
                None => Some(row_id.clone()),
            }
        } else {
            None
        };
        for (nested, items) in &lists {
            self.normalize_list(
                items,
                extend_next.as_ref(),
                nested,
                table,
                &row_id,
                lvl - 1,
                json,
                sink,
            )?;
        }
        self.list_bufs.push(recycle(lists));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn normalize_list<'v, 'a, S: RowSink<'a>, J: JsonColumns>(
        &mut self,
        items: &'v [Value<'a>],
        extend: Option<&RowId>,
        table: &Rc<str>,
        parent_table: &Rc<str>,
        parent_id: &RowId,
        lvl: i64,
        json: &J,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        for (idx, v) in items.iter().enumerate() {
            let idx = idx as i64;
            match v {
                Value::Object(fields) => {
                    self.normalize_row(
                        fields,
                        v,
                        extend,
                        table,
                        Some((parent_table, parent_id, idx)),
                        idx,
                        lvl,
                        json,
                        sink,
                    )?;
                }
                Value::Array(_) => {
                    let wrapped = [(Cow::Borrowed("list"), v.clone())];
                    // The wrapper lives on this frame; nested rows only borrow it for the call.
                    let wrapped: &[(Cow<'a, str>, Value<'a>)] = &wrapped;
                    self.normalize_row_owned(
                        wrapped,
                        extend,
                        table,
                        (parent_table, parent_id, idx),
                        lvl - 1,
                        json,
                        sink,
                    )?;
                }
                scalar => {
                    let mut cells: Vec<(Rc<str>, Cell<'v, 'a>)> = Vec::with_capacity(5);
                    cells.push((self.c_value.clone(), Cell::V(scalar)));
                    if let Some(root_id) = extend {
                        cells.push((self.c_root_id.clone(), Cell::of_id(root_id)));
                    }
                    cells.push((self.c_parent_id.clone(), Cell::of_id(parent_id)));
                    cells.push((self.c_list_idx.clone(), Cell::Int(idx)));
                    let id = sink.nested_id(parent_id, table, idx);
                    cells.push((self.c_dlt_id.clone(), Cell::of_id(&id)));
                    sink.row(table, Some(parent_table), &cells)?;
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn normalize_row_owned<'w, 'a, S: RowSink<'a>, J: JsonColumns>(
        &mut self,
        wrapped: &'w [(Cow<'a, str>, Value<'a>)],
        extend: Option<&RowId>,
        table: &Rc<str>,
        parent: (&Rc<str>, &RowId, i64),
        lvl: i64,
        json: &J,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let original = &wrapped[0].1;
        self.normalize_row(
            wrapped,
            original,
            extend,
            table,
            Some(parent),
            parent.2,
            lvl,
            json,
            sink,
        )
    }
}

/// `a == b` for the short keys of items, compared eight bytes at a time in line (`==` calls
/// `memcmp`, which costs more than the comparison for keys of a few bytes).
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let n = a.len();
    if n < 8 {
        if n < 4 {
            return a.iter().zip(b).all(|(x, y)| x == y);
        }
        let half = |s: &[u8], at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&s[at..at + 4]);
            u32::from_ne_bytes(w)
        };
        return half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4);
    }
    let mut at = 0;
    while at + 8 <= n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last (overlapping) word covers the tail.
    word(a, n - 8) == word(b, n - 8)
}

/// The column name of a row key. A key that normalizes to nothing (such as `__`) becomes
/// `_empty`, like an empty key; dlt would fail the load on it.
fn row_key_name(naming: naming::Naming, key: &str) -> String {
    let n = naming.normalize_key(key);
    if n.is_empty() {
        naming::EMPTY_KEY.to_string()
    } else {
        n
    }
}

/// An empty vector with the allocation of `v`. `T` and `U` differ only in lifetimes, so the
/// standard library's in-place collection keeps the buffer: rows reuse their vectors.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

// Inlined: a cell passed through memory was written in parts and read back whole, which
// stalled store forwarding on every call.
#[inline(always)]
fn set_cell<'v, 'a>(cells: &mut Vec<(Rc<str>, Cell<'v, 'a>)>, name: Rc<str>, cell: Cell<'v, 'a>) {
    // Keys that normalize to the same name overwrite each other; the last write wins but
    // the column keeps its first position (Python dict semantics).
    // Names are interned by the Namer, so equal names are the same `Rc`.
    if let Some(slot) = cells.iter_mut().find(|(n, _)| Rc::ptr_eq(n, &name)) {
        slot.1 = cell;
    } else {
        cells.push((name, cell));
    }
}

/// dlt's `digest128`: base64 of shake_128 with `len` bytes, `=` stripped.
pub fn digest128(data: &[u8], len: usize) -> String {
    let mut out = vec![0u8; len];
    shake128(data, &mut out);
    STANDARD_NO_PAD.encode(out)
}

/// Unpadded base64 of at most 16 bytes, as an `Rc<str>` (one allocation).
fn base64_rc(bytes: &[u8]) -> Rc<str> {
    let mut buf = [0u8; 24];
    let n = STANDARD_NO_PAD
        .encode_slice(bytes, &mut buf)
        .expect("16 bytes fit 24 base64 chars");
    Rc::from(std::str::from_utf8(&buf[..n]).expect("base64 is ASCII"))
}

/// Id of a nested row: `digest128(f"{parent_row_id}_{nested_table}_{list_idx}")`.
pub fn nested_row_id(parent_id: &str, table: &str, idx: i64) -> Rc<str> {
    let mut buf = String::with_capacity(parent_id.len() + table.len() + 8);
    buf.push_str(parent_id);
    buf.push('_');
    buf.push_str(table);
    buf.push('_');
    let _ = write!(buf, "{idx}");
    let mut digest = [0u8; DLT_ID_LENGTH_BYTES];
    shake128(buf.as_bytes(), &mut digest);
    base64_rc(&digest)
}

/// Writes a cell's value as sorted compact JSON.
fn cell_json(cell: &Cell<'_, '_>, out: &mut String) {
    match cell {
        Cell::V(v) => {
            json::write(*v, Keys::Sorted, out);
        }
        Cell::Str(s) => json::write_str(s, out),
        Cell::Int(i) => {
            let _ = write!(out, "{i}");
        }
        // Not computed yet; key and row hashes read only the item's own values.
        Cell::Id(_) => out.push_str("null"),
    }
}

/// Key hash of a root row: `digest128(orjson({pk: value}, sort_keys))`.
fn key_hash(cells: &[(Rc<str>, Cell<'_, '_>)], keys: &[String]) -> String {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut s = String::from("{");
    for (i, k) in sorted.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json::write_str(k, &mut s);
        s.push(':');
        match cells.iter().find(|(n, _)| n.as_ref() == k.as_str()) {
            Some((_, c)) => cell_json(c, &mut s),
            None => s.push_str("null"),
        }
    }
    s.push('}');
    digest128(s.as_bytes(), DLT_ID_LENGTH_BYTES)
}

/// Row hash of a root item: `digest128(orjson(item without _dlt* keys, sort_keys))`.
fn row_hash(item: &Value<'_>) -> String {
    let mut s = String::new();
    match item {
        Value::Object(fields) => {
            let kept = fields
                .iter()
                .filter(|(k, _)| !k.starts_with("_dlt"))
                .map(|(k, v)| (k.as_ref(), v));
            json::write_object(kept, Keys::Sorted, &mut s);
        }
        other => {
            json::write(other, Keys::Sorted, &mut s);
        }
    }
    digest128(s.as_bytes(), DLT_ID_LENGTH_BYTES)
}

#[cfg(test)]
mod tests;
