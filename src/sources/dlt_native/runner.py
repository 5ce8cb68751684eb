# dango's dlt_native runner: runs a user's dlt source with dlt's own `pipeline.extract()`.
#
# Embedded in the dango binary and written next to the scratch pipelines dir of one run.
# Usage: python runner.py <request.json>. The request names the project, the module and the
# function, the pipeline, the state and schema to start from; the runner extracts into the
# scratch pipelines dir and writes <result> (JSON): the extracted package's folder and the dlt
# source name, or the error (type, message, the user's frames, the HTTP status, the secrets
# the source takes). Public dlt APIs only, so dlt's semantics come exactly.
import json
import os
import sys
import traceback

SUPPORTED = ((1, 31), (1, 32))  # dlt >= 1.31, < 1.32
SUPPORTED_TEXT = "1.31.x"
RUNNER_FILE = os.path.abspath(__file__)


def write_result(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def user_frames(tb, project_root):
    """The traceback's frames inside the project (the user's code), innermost last."""
    frames = []
    for fs in traceback.extract_tb(tb):
        fn = os.path.abspath(fs.filename)
        if fn == RUNNER_FILE:
            continue
        if fn.startswith(project_root + os.sep) and "site-packages" not in fn:
            frames.append({"file": os.path.relpath(fn, project_root), "line": fs.lineno,
                           "function": fs.name, "code": (fs.line or "").strip()})
    return frames


def chain(exc):
    """The exception and its causes, outermost first."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or getattr(exc, "exception", None) or exc.__context__
    return seen


def describe(exc, project_root):
    causes = chain(exc)
    # The innermost exception raised from the user's code, else the innermost one.
    inner = causes[-1]
    for e in reversed(causes):
        if user_frames(e.__traceback__, project_root):
            inner = e
            break
    frames = []
    for e in causes:
        frames = user_frames(e.__traceback__, project_root) or frames
    status = None
    url = None
    for e in causes:
        resp = getattr(e, "response", None)
        code = getattr(resp, "status_code", None)
        if isinstance(code, int):
            status, url = code, str(getattr(resp, "url", "") or "")
            break
    kind = type(inner).__name__
    module = type(inner).__module__
    if module not in ("builtins", "__main__"):
        kind = module + "." + kind
    return {"kind": "exception", "type": kind, "message": str(inner), "frames": frames[-5:],
            "http_status": status, "url": url}


def secret_args(factory):
    import inspect
    f = getattr(factory, "_f", None) or factory
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return []
    out = []
    for name, p in sig.parameters.items():
        if "dlt.secrets.value" in repr(p.default):
            out.append(name)
    return out


def main():
    req = json.load(open(sys.argv[1], encoding="utf-8"))
    result_path = req["result"]
    if req.get("stream_fd") is not None:
        # The item stream is the runner's only: a subprocess of the user's module must not
        # hold it open (dango reads it to its end).
        os.set_inheritable(req["stream_fd"], False)
    root = os.path.abspath(req["project_root"])
    os.chdir(root)
    os.environ["DLT_PROJECT_DIR"] = root
    for p in (os.path.join(root, "custom_sources"), root):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        import dlt
    except ImportError as e:
        write_result(result_path, {"error": {"kind": "no_dlt", "message": str(e),
                                             "python": sys.executable}})
        return 3
    except BaseException as e:  # e.g. a module of the project shadowing one dlt imports
        write_result(result_path, {"error": describe(e, root)})
        return 3
    version = tuple(int(x) for x in dlt.__version__.split(".")[:2] if x.isdigit())
    if not (SUPPORTED[0] <= version < SUPPORTED[1]):
        write_result(result_path, {"error": {"kind": "dlt_version", "version": dlt.__version__,
                                             "supported": SUPPORTED_TEXT,
                                             "python": sys.executable}})
        return 3
    import importlib
    modname = req["module"]
    try:
        module = importlib.import_module(modname)
    except ModuleNotFoundError as e:
        # Not found (the module itself) vs. an import inside it that fails.
        if e.name and (modname == e.name or modname.startswith(e.name + ".")):
            write_result(result_path, {"error": {"kind": "no_module", "module": modname,
                                                 "message": str(e), "sys_path": sys.path[:2]}})
            return 3
        write_result(result_path, {"error": describe(e, root)})
        return 3
    except BaseException as e:  # the module's own error, as raised
        write_result(result_path, {"error": describe(e, root)})
        return 3
    from dlt.extract.decorators import DltSourceFactoryWrapper
    from dlt.extract.resource import DltResource
    found = sorted(n for n, v in vars(module).items()
                   if isinstance(v, (DltSourceFactoryWrapper, DltResource)))
    if req.get("discover"):
        sources = sorted(n for n, v in vars(module).items()
                         if isinstance(v, DltSourceFactoryWrapper))
        write_result(result_path, {"ok": True, "found": found, "sources": sources,
                                   "file": getattr(module, "__file__", None)})
        return 0
    fname = req["function"]
    factory = getattr(module, fname, None)
    if factory is None or not callable(factory):
        write_result(result_path, {"error": {"kind": "no_function", "module": modname,
                                             "function": fname, "found": found,
                                             "file": getattr(module, "__file__", None)}})
        return 3
    if req.get("describe"):
        sources = sorted(n for n, v in vars(module).items()
                         if isinstance(v, DltSourceFactoryWrapper))
        doc = {"ok": True, "found": found, "sources": sources,
               "secrets": secret_args(factory), "file": getattr(module, "__file__", None)}
        doc.update(check_config(factory, req.get("kwargs") or {}))
        write_result(result_path, doc)
        return 0
    secrets = secret_args(factory)
    try:
        return extract(req, factory, secrets, result_path)
    except BaseException as e:
        err = describe(e, root)
        err["secrets"] = secrets
        err["source"] = getattr(e, "_dango_source", None)
        write_result(result_path, {"error": err})
        return 2


def check_config(factory, kwargs):
    """Resolves the function's config and secret arguments as dlt does when it is called (the
    module section, then the function's), without calling it: which are missing, and the
    keys dlt looked under. Values are never reported."""
    from dlt.common.configuration import get_fun_spec
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.common.configuration.resolve import resolve_configuration
    from dlt.common.configuration.specs.base_configuration import is_secret_hint
    from dlt.extract.resource import DltResource
    if isinstance(factory, DltResource):
        spec = get_fun_spec(factory._pipe.gen) if callable(factory._pipe.gen) else None
        sections = ("sources", factory.section, factory.name)
    else:
        ref = factory.ref
        spec, sections = ref.SPEC, ("sources", ref.section, ref.name)
    if spec is None:
        return {"fields": [], "missing": []}
    fields = spec.get_resolvable_fields()
    out = {"fields": sorted(fields), "missing": [], "sections": list(sections)}
    explicit = {k: v for k, v in kwargs.items() if k in fields}
    try:
        resolve_configuration(spec(), sections=sections, explicit_value=explicit)
    except ConfigFieldMissingException as e:
        for name in e.fields:
            traces = e.traces.get(name, [])
            out["missing"].append({
                "name": name, "secret": bool(is_secret_hint(fields.get(name))),
                "tried": [[t.provider, t.key] for t in traces]})
    return out


def window_value(day, sample):
    """The date `day` (YYYY-MM-DD) in the type of the cursor's initial value."""
    import datetime
    d = datetime.date.fromisoformat(day)
    if isinstance(sample, datetime.datetime):
        tz = sample.tzinfo
        return datetime.datetime(d.year, d.month, d.day, tzinfo=tz)
    if isinstance(sample, datetime.date):
        return d
    midnight = datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.timezone.utc)
    if isinstance(sample, bool):
        return day
    if isinstance(sample, int):
        return int(midnight.timestamp())
    if isinstance(sample, float):
        return midnight.timestamp()
    if isinstance(sample, str) and len(sample) == 10:
        return day
    return day + "T00:00:00Z"


def apply_window(source, window):
    """--since/--until: each incremental resource loads [since, until) in its cursor's type,
    through dlt's own `end_value` (the stored cursor is not used; dango keeps it as it was)."""
    import inspect
    import dlt
    from dlt.extract.incremental import Incremental
    from dlt.extract.resource import DltResource
    resources = [source] if isinstance(source, DltResource) else list(source.resources.values())
    done = []
    for r in resources:
        inc = None
        wrapper = r.incremental
        if wrapper is not None and getattr(wrapper, "incremental", None) is not None:
            inc = wrapper.incremental
        else:
            try:
                params = inspect.signature(r._pipe.gen).parameters.values()
            except (TypeError, ValueError, AttributeError):
                params = []
            for p in params:
                if isinstance(p.default, Incremental):
                    inc = p.default
        if inc is None:
            continue
        sample = inc.initial_value
        since = window.get("since")
        until = window.get("until")
        new = dlt.sources.incremental(
            inc.cursor_path,
            initial_value=window_value(since, sample) if since else sample,
            end_value=window_value(until, sample) if until else None,
            last_value_func=inc.last_value_func,
            primary_key=inc.primary_key,
            range_start=inc.range_start,
            range_end=inc.range_end,
        )
        r.apply_hints(incremental=new)
        done.append(r.name)
    return done


class ItemStream:
    """dlt's object items, streamed to dango as dlt's extract hands them to its item storage
    (after every extract step: incremental, limit, transformers, table names, hints and
    contracts are dlt's own), instead of dlt's buffered, gzipped typed-jsonl job files.

    Frames on the pipe, one per line: `=<table name as JSON>` switches the table, every other
    line is one call's item or list of items, encoded by dlt's own `typed_dumpb` (the bytes of
    a typed-jsonl job's items). Arrow tables and pandas frames keep dlt's Parquet jobs."""

    def __init__(self, fd):
        from dlt.common.data_writers.writers import count_rows_in_items
        from dlt.common.json import json
        self.f = os.fdopen(fd, "wb", buffering=1 << 20)
        self.table = None
        self.count = count_rows_in_items
        self.dumpb = json.dumpb
        self.typed_dumpb = json.typed_dumpb

    def write(self, table, item):
        n = 1 if type(item) is dict else self.count(item)
        if isinstance(item, list) and not item:
            return n
        f = self.f
        if table != self.table:
            f.write(b"=" + self.dumpb(table) + b"\n")
            self.table = table
        f.write(self.typed_dumpb(item) + b"\n")
        return n

    def close(self):
        self.f.close()


def open_stream(fd):
    """Routes dlt's object items to the pipe `fd` (see ItemStream); None without one."""
    if fd is None:
        return None
    from dlt.extract.storage import ExtractorItemStorage
    stream = ItemStream(fd)
    original = ExtractorItemStorage.write_data_item

    def write_data_item(self, load_id, schema_name, table_name, item, columns):
        # dlt's own tables (its state row) stay in its package, which dango skips.
        if self.writer_spec.data_item_format != "object" or table_name.startswith("_dlt_"):
            return original(self, load_id, schema_name, table_name, item, columns)
        return stream.write(table_name, item)

    ExtractorItemStorage.write_data_item = write_data_item
    return stream


BATCH = 500


def batched(gen, size=BATCH):
    """The items of the generator `gen`, consecutive plain dicts grouped into lists of up to
    `size` (dlt's extract treats a yielded list as its items, one by one, in order). The first
    dict, and the first after anything else (a `with_table_name`/`with_hints` mark, a list, an
    Arrow table), comes alone, as dlt would see it: dlt computes a table's hints and contract from
    the first item it gets."""
    buf = []
    alone = True
    try:
        for item in gen:
            if type(item) is dict:
                if alone:
                    alone = False
                    yield item
                    continue
                buf.append(item)
                if len(buf) >= size:
                    yield buf
                    buf = []
            else:
                if buf:
                    yield buf
                    buf = []
                alone = True
                yield item
        if buf:
            yield buf
    finally:
        gen.close()


def batch_plain_resources(source):
    """Lets dlt's extract take the dicts of plain generator resources in lists (see `batched`),
    so its per-item machinery runs once per list. Only resources whose pipe is nothing but
    their generator function (no incremental, limit, map, filter or validator step) and that
    feed no transformer: for them a list is handled exactly as its items one by one."""
    import inspect
    from dlt.extract.resource import DltResource
    if isinstance(source, DltResource):
        resources = [source]
    else:
        resources = list(source.resources.selected.values())
    parents = set()
    for r in resources:
        p = r._pipe.parent
        while p is not None:
            parents.add(id(p))
            p = p.parent
    for r in resources:
        pipe = r._pipe
        gen = pipe.gen
        if len(pipe.steps) != 1 or pipe.has_parent or id(pipe) in parents:
            continue
        if inspect.isgenerator(gen):
            pipe.replace_gen(batched(gen))
        elif callable(gen):
            pipe.replace_gen(lazy_batched(gen))


def lazy_batched(gen):
    """`gen` (called by dlt when it starts the pipe), its generator wrapped in `batched`."""
    import functools
    import inspect

    @functools.wraps(gen)
    def lazy():
        g = gen()
        return batched(g) if inspect.isgenerator(g) else g

    return lazy


def extract(req, factory, secrets, result_path):
    import dlt
    from dlt.extract.resource import DltResource
    kwargs = req.get("kwargs") or {}
    if isinstance(factory, DltResource) and not kwargs:
        source = factory
    else:
        source = factory(**kwargs)
    lone = isinstance(source, DltResource)
    # dlt wraps a lone resource in a source whose schema (and state key) is the pipeline's
    # default schema: the pipeline's name on a fresh pipeline.
    source_name = req["pipeline_name"] if lone else source.name
    window = req.get("window")
    windowed = apply_window(source, window) if window else []
    selected = req.get("resources")
    if selected:
        if isinstance(source, DltResource):
            raise ValueError("`resources` selects resources of a @dlt.source; %s is a single "
                             "resource" % source.name)
        unknown = [r for r in selected if r not in source.resources]
        if unknown:
            raise ValueError("unknown resource(s) %s in `resources`; the source has: %s"
                             % (", ".join(unknown), ", ".join(source.resources)))
        source = source.with_resources(*selected)
    limit = req.get("limit")
    if limit is not None:
        source = source.add_limit(limit, count_rows=True)
    name = req["pipeline_name"]
    work = os.path.join(req["pipelines_dir"], name)
    os.makedirs(os.path.join(work, "schemas"), exist_ok=True)
    src_doc = req.get("source_state")
    if src_doc is not None:
        # dango's state of this source, in dlt's shape (typed values as dlt wrote them).
        state = {"_state_version": 1, "_state_engine_version": 4,
                 "_local": {"first_run": False, "_dev_mode": False},
                 "pipeline_name": name, "dataset_name": req["dataset_name"],
                 # The schema comes with the source (below); a lone resource gets a fresh
                 # one named after the pipeline (no schema file to load).
                 "default_schema_name": None, "schema_names": [],
                 "destination_type": "dlt.destinations.duckdb", "destination_name": None,
                 "sources": {source_name: src_doc}}
        with open(os.path.join(work, "state.json"), "w", encoding="utf-8") as f:
            json.dump(state, f)
    pipeline = dlt.pipeline(pipeline_name=name, pipelines_dir=req["pipelines_dir"],
                            destination=dlt.destinations.duckdb(req["scratch_duckdb"]),
                            dataset_name=req["dataset_name"])
    stored = req.get("schema")
    if stored and not isinstance(source, DltResource):
        # dango's stored schema of this source, under the dlt source's name: the extract
        # decides contracts and hints against the tables that exist, as in dlt.
        stored["name"] = source_name
        source.schema = dlt.Schema.from_dict(stored, bump_version=True)
    if req.get("stream_fd") is not None:
        batch_plain_resources(source)
    stream = open_stream(req.get("stream_fd"))
    try:
        info = pipeline.extract(source)
    finally:
        if stream is not None:
            stream.close()
    load_ids = list(info.loads_ids)
    package = None
    if load_ids:
        package = os.path.join(work, "normalize", "extracted", load_ids[-1])
    write_result(result_path, {"ok": True, "package": package, "source_name": source_name,
                               "windowed": windowed, "dlt_version": dlt.__version__})
    return 0


if __name__ == "__main__":
    sys.exit(main())
