//! The paging loop: requests, response actions, JSON, selectors, paginators, items into the
//! package, and for every item the fetches of dependent resources.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::Node;
use super::Param;
use super::client::{HttpClient, HttpFailure, Request, Response};
use super::paginators::{Paginator, param_text};
use super::rawpage;
use super::resolve;
use super::selector::{Path, detect_data_selector};
use crate::error::{Error, Result};
use crate::extract::ItemWriter;

/// Writers of a tree: the root's, and siblings for dependent resources.
pub(crate) struct Writers<'w, 'p> {
    root: &'w mut ItemWriter<'p>,
    others: HashMap<String, ItemWriter<'p>>,
}

impl<'w, 'p> Writers<'w, 'p> {
    pub(crate) fn new(root: &'w mut ItemWriter<'p>) -> Self {
        Writers {
            root,
            others: HashMap::new(),
        }
    }

    fn get(&mut self, node: &Node) -> &mut ItemWriter<'p> {
        if self.root.resource_name() == node.name {
            return &mut *self.root;
        }
        let root = &*self.root;
        self.others
            .entry(node.name.clone())
            .or_insert_with(|| root.sibling(&node.name))
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        for w in self.others.values_mut() {
            w.close()?;
        }
        self.root.close()
    }
}

/// Where the pages of a node go: the package ([`Writers`], in order), or memory
/// ([`super::parallel::Collected`], a dependent resource fetched concurrently).
pub(crate) trait Sink {
    /// No more items of `node` are wanted (the `--limit` is reached).
    fn full(&mut self, node: &Node) -> bool;
    /// A `--limit` applies to `node` (no request ahead of need).
    fn limited(&mut self, node: &Node) -> bool;
    /// A page of `bytes` was read for `node`.
    fn page_read(&mut self, node: &Node, bytes: u64) -> Result<()>;
    /// Items of the page, as the API sent them (the fast path).
    fn raw(&mut self, node: &Node, items: &[&str]) -> Result<()>;
    /// Items of the page, parsed (filters, parent fields and dependent resources apply).
    fn items(
        &mut self,
        run: &Run<'_>,
        node: &Node,
        parent: Option<(&str, &Value)>,
        items: Vec<Value>,
    ) -> Result<()>;
}

impl Sink for Writers<'_, '_> {
    fn full(&mut self, node: &Node) -> bool {
        self.get(node).is_full()
    }

    fn limited(&mut self, node: &Node) -> bool {
        self.get(node).has_limit()
    }

    fn page_read(&mut self, node: &Node, bytes: u64) -> Result<()> {
        self.get(node).page_read(bytes)
    }

    fn raw(&mut self, node: &Node, items: &[&str]) -> Result<()> {
        rawpage::write(self.get(node), items)
    }

    fn items(
        &mut self,
        run: &Run<'_>,
        node: &Node,
        parent: Option<(&str, &Value)>,
        items: Vec<Value>,
    ) -> Result<()> {
        run.write_items(node, parent, items, self)
    }
}

/// A request's outcome (auth errors aside).
type Sent = Result<std::result::Result<Response, HttpFailure>>;

/// One run of a tree.
pub(crate) struct Run<'a> {
    pub(crate) client: &'a HttpClient,
    pub(crate) source: &'a str,
}

impl Node {
    fn ignored(&self, status: u16, body: &[u8]) -> bool {
        self.response_actions.iter().any(|a| {
            let code_ok = a.status_code.is_none_or(|c| c == status);
            let content_ok = a
                .content
                .as_ref()
                .is_none_or(|c| String::from_utf8_lossy(body).contains(c.as_str()));
            code_ok && content_ok
        })
    }

    /// Value of a placeholder for one parent item.
    fn lookup(&self, expr: &str, parent: Option<&Value>) -> Result<Value> {
        if let Some(name) = expr.strip_prefix("incremental.") {
            return Ok(self
                .incremental
                .as_ref()
                .map(|i| i.placeholder(name))
                .unwrap_or(Value::Null));
        }
        let r = self
            .parent_refs
            .iter()
            .find(|r| format!("resources.{}.{}", r.parent, r.field) == expr)
            .ok_or_else(|| Error::Internal(format!("unbound placeholder {expr}")))?;
        let item = parent.ok_or_else(|| Error::Internal("no parent item".into()))?;
        match r.path.first(item) {
            Some(v) if !v.is_null() => Ok(v.clone()),
            _ => Err(Error::Config(format!(
                "Resource expects a field `{}` to be present in the incoming data from resource `{}` in order to bind it to `{{{expr}}}` of resource `{}`. Available fields: {}",
                r.field,
                r.parent,
                self.name,
                item.as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ))),
        }
    }

    fn request(&self, parent: Option<&Value>) -> Result<Request> {
        let lookup = |e: &str| self.lookup(e, parent);
        let path = self.path.render(&lookup)?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            url::Url::parse(&path)
        } else {
            self.base_url.join(path.trim_start_matches('/'))
        }
        .map_err(|e| {
            Error::Config(format!(
                "resource `{}`: path `{path}` does not make a valid URL with base_url {}: {e}",
                self.name, self.base_url
            ))
        })?;
        let mut params = indexmap::IndexMap::new();
        for (k, p) in &self.params {
            let v = match p {
                Param::Tpl(t) => match t.lone_expr() {
                    Some(e) => lookup(e)?,
                    None => Value::String(t.render(&lookup)?),
                },
                Param::Fixed(v) => v.clone(),
            };
            if !v.is_null() {
                params.insert(k.clone(), param_text(&v));
            }
        }
        // Deprecated form: start/end params set from the bound cursor.
        if let Some(inc) = &self.incremental {
            for (param, v) in [
                (&inc.cfg.start_param, inc.placeholder("start_value")),
                (&inc.cfg.end_param, inc.placeholder("end_value")),
            ] {
                if let Some(param) = param
                    && !v.is_null()
                {
                    params.insert(param.clone(), param_text(&v));
                }
            }
        }
        let mut headers = indexmap::IndexMap::new();
        for (k, t) in &self.headers {
            headers.insert(k.clone(), t.render(&lookup)?);
        }
        let json = self.json.as_ref().map(|j| j.render(&lookup)).transpose()?;
        let form = match &self.data {
            None => None,
            Some(d) => match d.render(&lookup)? {
                Value::Object(m) => Some(
                    m.into_iter()
                        .map(|(k, v)| (k, resolve::value_text(&v)))
                        .collect(),
                ),
                other => {
                    return Err(Error::Config(format!(
                        "resource `{}`: `data` must be a mapping of form fields, got `{other}`",
                        self.name
                    )));
                }
            },
        };
        Ok(Request {
            method: self.method.clone(),
            url,
            params,
            headers,
            json,
            form,
        })
    }
}

impl Run<'_> {
    /// dlt's `include_from_parent`: the parent item's fields, as `_<parent>_<field>`.
    fn include_from_parent(
        &self,
        node: &Node,
        parent: Option<(&str, &Value)>,
        item: &mut Value,
    ) -> Result<()> {
        let Some((pname, pitem)) = parent else {
            return Ok(());
        };
        for f in &node.include_from_parent {
            let v = pitem.get(f).cloned().ok_or_else(|| {
                self.fail(
                    node,
                    format!(
                        "include_from_parent: field `{f}` is not present in the item of parent resource `{pname}`"
                    ),
                )
            })?;
            if let Value::Object(m) = item {
                m.insert(format!("_{pname}_{f}"), v);
            }
        }
        Ok(())
    }

    fn fail(&self, node: &Node, reason: String) -> Error {
        Error::Source {
            source_name: self.source.to_string(),
            reason: self
                .client
                .redactor
                .redact(&format!("resource `{}`: {reason}", node.name)),
        }
    }

    /// Fetches every page of `node` (for one parent item, if it has a parent), writing items
    /// and running dependent resources for each.
    pub(crate) fn node<S: Sink>(
        &self,
        node: &Node,
        parent: Option<(&str, &Value)>,
        writers: &mut S,
    ) -> Result<()> {
        let mut req = node
            .request(parent.map(|p| p.1))
            .map_err(|e| self.fail(node, e.to_string()))?;
        let mut paginator: Option<Paginator> = node.paginator.clone();
        if let Some(p) = &paginator {
            p.init_request(&mut req);
        }
        let mut selector: Option<Path> = node.data_selector.clone();
        let mut first = true;
        // The next page, requested while the items of the current one are written.
        let mut prefetched: Option<Sent> = None;
        loop {
            if writers.full(node) {
                break;
            }
            let sent = match prefetched.take() {
                Some(s) => s,
                None => self.send(node, &req),
            };
            let resp = self.response(node, &req, sent?)?;
            writers.page_read(node, resp.body.len() as u64)?;
            if node.ignored(resp.status, &resp.body) {
                tracing::info!(
                    "resource `{}`: ignoring the response with status {} of {} (response_actions)",
                    node.name,
                    resp.status,
                    self.client.redactor.url(&resp.url)
                );
                break;
            }
            // Fast path: items written as sent (see `rawpage`).
            let raw_key = rawpage::eligible(node, selector.as_ref(), paginator.as_ref());
            if let Some(page) = raw_key.and_then(|k| rawpage::split(&resp.body, k)) {
                let pag = paginator.get_or_insert(Paginator::Single);
                pag.update_state(&resp, &page.skeleton, page.items.len())
                    .map_err(|e| self.fail(node, e.to_string()))?;
                let more = pag.has_next();
                if more {
                    pag.update_request(&mut req)
                        .map_err(|e| self.fail(node, e.to_string()))?;
                }
                let limited = writers.limited(node);
                prefetched = self.while_prefetching(node, &req, more && !limited, || {
                    writers.raw(node, &page.items)
                })?;
                if !more {
                    break;
                }
                continue;
            }
            let mut body: Value = if resp.body.iter().all(u8::is_ascii_whitespace) {
                Value::Null
            } else {
                serde_json::from_slice(&resp.body).map_err(|e| {
                    let mut m = format!(
                        "the response of {} {} is not valid JSON ({e})",
                        req.method,
                        self.client.redactor.url(&resp.url)
                    );
                    if self.client.settings.show_error_body {
                        let text = resp.text();
                        let cut: String = text
                            .chars()
                            .take(self.client.settings.max_error_body_length)
                            .collect();
                        m.push_str(&format!("\nResponse: {cut}"));
                    }
                    self.fail(node, m)
                })?
            };
            if first {
                first = false;
                if selector.is_none() {
                    let s = detect_data_selector(&body);
                    tracing::info!(
                        "resource `{}`: data_selector `{}` detected",
                        node.name,
                        s.text()
                    );
                    selector = Some(s);
                }
                if paginator.is_none() {
                    match Paginator::detect(&resp, &body) {
                        Some(p) => {
                            tracing::info!(
                                "resource `{}`: paginator {} detected",
                                node.name,
                                p.describe()
                            );
                            paginator = Some(p);
                        }
                        None => {
                            let list = selector
                                .as_ref()
                                .and_then(|s| s.first(&body))
                                .is_some_and(Value::is_array);
                            if list && !node.warned_fallback.swap(true, Ordering::Relaxed) {
                                tracing::warn!(
                                    "resource `{}`: Fallback `paginator` used: SinglePagePaginator at {}. Please provide paginator manually (the response has no next link, cursor or page count)",
                                    node.name,
                                    self.client.redactor.url(&resp.url)
                                );
                            }
                            paginator = Some(Paginator::Single);
                        }
                    }
                }
            }
            let root = Path::Root;
            let sel = selector.as_ref().unwrap_or(&root);
            let count = match sel.first(&body) {
                None | Some(Value::Null) => 0,
                Some(Value::Array(a)) => a.len(),
                Some(_) => 1,
            };
            let pag = paginator.get_or_insert(Paginator::Single);
            pag.update_state(&resp, &body, count)
                .map_err(|e| self.fail(node, e.to_string()))?;
            let items = sel.take_items(&mut body);
            drop(body);
            let more = pag.has_next();
            if more {
                pag.update_request(&mut req)
                    .map_err(|e| self.fail(node, e.to_string()))?;
            }
            // Sequential children fetch per item: no prefetch, so requests keep their order
            // (parallelized ones do not). With `row_order`, the items decide whether there
            // is a next request.
            let prefetch = more
                && node.children.iter().all(parallel_ok)
                && !writers.limited(node)
                && !node.incremental.as_ref().is_some_and(|i| i.stops_paging());
            prefetched = self.while_prefetching(node, &req, prefetch, || {
                writers.items(self, node, parent, items)
            })?;
            if !more {
                break;
            }
            if node.incremental.as_ref().is_some_and(|i| i.should_stop()) {
                tracing::info!(
                    "resource `{}`: rows left the incremental range (row_order); no more pages are fetched",
                    node.name
                );
                break;
            }
        }
        Ok(())
    }

    /// Sends `req` for `node` (with its auth) once, retries included.
    fn send(
        &self,
        node: &Node,
        req: &Request,
    ) -> Result<std::result::Result<Response, HttpFailure>> {
        let mut attempt_req = req.clone();
        node.auth
            .apply(&mut attempt_req, self.client, self.source)
            .map_err(|e| match e {
                // Already say which source and request, and are classified.
                Error::Interrupted
                | Error::InvalidCredentials(_)
                | Error::RateLimited(_)
                | Error::Http { .. } => e,
                e => self.fail(node, e.to_string()),
            })?;
        Ok(self.client.send(&attempt_req, &|s, b| node.ignored(s, b)))
    }

    /// The response, or the error for a failed request.
    fn response(
        &self,
        node: &Node,
        req: &Request,
        sent: std::result::Result<Response, HttpFailure>,
    ) -> Result<Response> {
        sent.map_err(|f| {
            self.client.error(
                self.source,
                &format!("resource `{}`", node.name),
                &req.method,
                f,
                || node.auth.credential_hint(self.source),
            )
        })
    }

    /// Runs `work` (writing a page) while the next page `req` is fetched on another thread
    /// when `prefetch` is set; returns what that fetch got. The page is written first, so an
    /// error of the write wins over one of the next request.
    fn while_prefetching(
        &self,
        node: &Node,
        req: &Request,
        prefetch: bool,
        work: impl FnOnce() -> Result<()>,
    ) -> Result<Option<Sent>> {
        if !prefetch {
            work()?;
            return Ok(None);
        }
        std::thread::scope(|s| {
            let next = std::thread::Builder::new()
                .name("dango-prefetch".into())
                .spawn_scoped(s, || self.send(node, req))
                .map_err(|e| Error::Internal(format!("cannot start a fetch thread: {e}")))?;
            let written = work();
            let next = next
                .join()
                .map_err(|_| Error::Internal("the fetch thread panicked".into()))?;
            written.map(|()| Some(next))
        })
    }

    /// Writes the items of a page of `node` and fetches its dependent resources for each:
    /// one after the other, or, when a child is `parallelized`, that child's fetches
    /// concurrently (see [`super::parallel`]), written in the same order.
    pub(crate) fn write_items(
        &self,
        node: &Node,
        parent: Option<(&str, &Value)>,
        items: Vec<Value>,
        writers: &mut Writers<'_, '_>,
    ) -> Result<()> {
        if node.children.iter().any(parallel_ok) && !writers.get(node).has_limit() {
            return self.write_items_parallel(node, parent, items, writers);
        }
        for mut item in items {
            if let Some(inc) = &node.incremental
                && inc
                    .filter(&item)
                    .map_err(|e| self.fail(node, e.to_string()))?
                    == super::incremental::Decision::Skip
            {
                continue;
            }
            self.include_from_parent(node, parent, &mut item)?;
            if node.selected {
                let w = writers.get(node);
                if w.is_full() {
                    return Ok(());
                }
                // Already through the cursor above: not filtered twice.
                w.write_filtered(&item)?;
            }
            for child in &node.children {
                self.node(child, Some((node.name.as_str(), &item)), writers)?;
            }
        }
        Ok(())
    }

    /// [`Run::write_items`] with parallelized children: the page's own items first, then
    /// the children of each item in order, the parallelized ones fetched concurrently.
    fn write_items_parallel(
        &self,
        node: &Node,
        parent: Option<(&str, &Value)>,
        items: Vec<Value>,
        writers: &mut Writers<'_, '_>,
    ) -> Result<()> {
        let mut kept = Vec::with_capacity(items.len());
        for item in items {
            if let Some(item) = self.own_item(node, parent, item, writers)? {
                kept.push(item);
            }
        }
        let name = node.name.as_str();
        let parallel: Vec<&Node> = node.children.iter().filter(|c| parallel_ok(c)).collect();
        let per_item = parallel.len();
        let jobs: Vec<super::parallel::Job<'_>> = kept
            .iter()
            .flat_map(|item| parallel.iter().map(move |c| (*c, (name, item))))
            .collect();
        let workers = parallel.iter().map(|c| c.parallel).max().unwrap_or(1);
        let mut got: Vec<super::parallel::Collected> = Vec::with_capacity(per_item);
        let fetch = |(node, parent): super::parallel::Job<'_>| {
            let mut c = super::parallel::Collected::default();
            self.node(node, Some(parent), &mut c).map(|()| c)
        };
        super::parallel::run_ordered(&fetch, &jobs, workers, |i, collected| {
            got.push(collected);
            if got.len() < per_item {
                return Ok(());
            }
            // The last parallelized child of an item: write all its children in order.
            let item = &kept[i / per_item];
            let mut fetched = got.drain(..);
            for child in &node.children {
                if parallel_ok(child) {
                    let c = fetched.next().ok_or_else(|| {
                        Error::Internal("a dependent resource fetch is missing".into())
                    })?;
                    self.replay(child, (name, item), c, writers)?;
                } else {
                    self.node(child, Some((name, item)), writers)?;
                }
            }
            Ok(())
        })
    }

    /// Filters one item of `node` through its cursor, adds the parent fields and writes it
    /// (if `node` is selected); `None` if the cursor skips it.
    fn own_item(
        &self,
        node: &Node,
        parent: Option<(&str, &Value)>,
        mut item: Value,
        writers: &mut Writers<'_, '_>,
    ) -> Result<Option<Value>> {
        if let Some(inc) = &node.incremental
            && inc
                .filter(&item)
                .map_err(|e| self.fail(node, e.to_string()))?
                == super::incremental::Decision::Skip
        {
            return Ok(None);
        }
        self.include_from_parent(node, parent, &mut item)?;
        if node.selected {
            writers.get(node).write_filtered(&item)?;
        }
        Ok(Some(item))
    }

    /// Writes what a concurrent fetch of `child` for one parent item read, as the
    /// sequential fetch writes it.
    fn replay(
        &self,
        child: &Node,
        parent: (&str, &Value),
        collected: super::parallel::Collected,
        writers: &mut Writers<'_, '_>,
    ) -> Result<()> {
        for page in collected.pages {
            writers.get(child).page_read(page.bytes)?;
            if !page.raw.is_empty() {
                let raw: Vec<&str> = page.raw.iter().map(String::as_str).collect();
                rawpage::write(writers.get(child), &raw)?;
            }
            if !page.items.is_empty() {
                self.write_items(child, Some(parent), page.items, writers)?;
            }
        }
        Ok(())
    }
}

/// Whether `child` is fetched concurrently: `parallelized` with more than one worker, and no
/// cursor (a cursor may stop the paging on the items it filters, which needs them in order).
fn parallel_ok(child: &Node) -> bool {
    child.parallel > 1 && child.incremental.is_none()
}

/// A child fetched concurrently is read into memory, page by page.
impl Sink for super::parallel::Collected {
    fn full(&mut self, _node: &Node) -> bool {
        false
    }

    fn limited(&mut self, _node: &Node) -> bool {
        false
    }

    fn page_read(&mut self, _node: &Node, bytes: u64) -> Result<()> {
        self.pages.push(super::parallel::Page {
            bytes,
            raw: Vec::new(),
            items: Vec::new(),
        });
        Ok(())
    }

    fn raw(&mut self, _node: &Node, items: &[&str]) -> Result<()> {
        let page = self.last()?;
        page.raw.extend(items.iter().map(|s| s.to_string()));
        Ok(())
    }

    fn items(
        &mut self,
        _run: &Run<'_>,
        _node: &Node,
        _parent: Option<(&str, &Value)>,
        items: Vec<Value>,
    ) -> Result<()> {
        self.last()?.items.extend(items);
        Ok(())
    }
}
