//! Positions of nodes in the text of sources.yml (serde gives none for values it accepted).

/// One step of a path into the YAML document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

pub(super) fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

pub(super) fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t == "---"
}

/// Finds the 1-based (line, column) of the node at `path` in block-style YAML `text`.
/// Returns the deepest position found when the full path does not exist.
pub fn locate(text: &str, path: &[Seg<'_>]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // Scope: children start after line `from`, with indent > `parent` (or == for "- " items
    // under a key when `dash_equal`), and optionally an inline first child at (line, col).
    let mut from = 0usize;
    let mut parent: isize = -1;
    let mut dash_equal = false;
    let mut inline: Option<(usize, usize)> = None;
    let mut found: Option<(usize, usize)> = None;
    for seg in path {
        let mut children: Vec<(usize, usize)> = Vec::new();
        if let Some(p) = inline {
            children.push(p);
        }
        let mut level: Option<usize> = inline.map(|p| p.1);
        for (i, line) in lines.iter().enumerate().skip(from) {
            if is_blank(line) {
                continue;
            }
            let ind = indent_of(line);
            let dash = line[ind..].starts_with("- ") || line[ind..].trim_end() == "-";
            if (ind as isize) < parent || (ind as isize == parent && !(dash_equal && dash)) {
                break;
            }
            match level {
                None => {
                    level = Some(ind);
                    children.push((i, ind));
                }
                Some(l) if l == ind => children.push((i, ind)),
                Some(l) if ind < l => break,
                _ => {}
            }
        }
        match seg {
            Seg::Key(k) => {
                let Some(hit) = children.iter().copied().find(|&(l, c)| {
                    let rest = &lines[l][c..];
                    let rest = rest.trim_start_matches(['"', '\'']);
                    rest.strip_prefix(k).is_some_and(|r| {
                        let r = r.trim_start_matches(['"', '\'']);
                        r.starts_with(':')
                    })
                }) else {
                    break;
                };
                // Point at an inline value (as serde does), else at the key.
                let line = lines[hit.0];
                let value_col = line[hit.1..].find(':').map(|i| {
                    let after = &line[hit.1 + i + 1..];
                    (
                        hit.1 + i + 1 + (after.len() - after.trim_start().len()),
                        after.trim(),
                    )
                });
                found = match value_col {
                    Some((col, v)) if !v.is_empty() && !v.starts_with('#') => Some((hit.0, col)),
                    _ => Some(hit),
                };
                from = hit.0 + 1;
                parent = hit.1 as isize;
                dash_equal = true;
                inline = None;
            }
            Seg::Index(n) => {
                let items: Vec<(usize, usize)> = children
                    .iter()
                    .copied()
                    .filter(|&(l, c)| lines[l][c..].starts_with('-'))
                    .collect();
                let Some(&hit) = items.get(*n) else {
                    break;
                };
                let after = &lines[hit.0][hit.1 + 1..];
                let content = hit.1 + 1 + (after.len() - after.trim_start().len());
                found = Some((hit.0, content));
                from = hit.0 + 1;
                parent = hit.1 as isize;
                dash_equal = false;
                inline = if after.trim().is_empty() {
                    None
                } else {
                    Some((hit.0, content))
                };
            }
        }
    }
    found.map(|(l, c)| (l + 1, c + 1))
}

/// The lines (0-based, end exclusive) of item `index` of `sources:`.
pub(super) fn item_lines(text: &str, index: usize) -> Option<(usize, usize)> {
    let (line, col) = locate(text, &[Seg::Key("sources"), Seg::Index(index)])?;
    let lines: Vec<&str> = text.lines().collect();
    let start = line - 1;
    let dash_col = lines[start][..col - 1].rfind('-')?;
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            let ind = indent_of(l);
            if ind <= dash_col {
                break;
            }
        }
        end += 1;
    }
    // Trailing blank/comment lines belong to what follows.
    while end > start + 1 && is_blank(lines[end - 1]) {
        end -= 1;
    }
    Some((start, end))
}
