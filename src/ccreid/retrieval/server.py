"""`ccreid serve`: search an index from a web page and an HTTP API (FastAPI).

Safe by default: the CLI binds to 127.0.0.1 and the app answers only requests whose
``Host`` is a loopback name, the bound address or an ``--allowed-host`` (a web page on a
rebinding domain cannot read it); the request body is read as it arrives and refused at
the first byte over the limit (413, at once when Content-Length says so), its parts held
in memory, never written to disk; decoding runs in worker threads and the model in one
batching thread (`ccreid.retrieval.batching`: concurrent queries are embedded together, a
lone one at once), so one slow query does not stall the others; thumbnails are served by index row only, so no path
from a request ever reaches the file system, and no response carries an absolute server
path (gallery paths are relative to the gallery root, the checkpoint is named by its file
name); every error is JSON ``{"error": ...}`` with a 4xx status and the service keeps
running."""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at
# definition time, and its types are imported inside create_app (fastapi is an extra).
import asyncio
import io
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ccreid.data.filelabels import FileLabels
from ccreid.errors import InputError, require
from ccreid.imagefiles import IMAGE_SUFFIXES, PIL_FORMATS
from ccreid.retrieval.batching import MAX_BATCH, MAX_WAIT_MS, Batcher
from ccreid.retrieval.index import GalleryIndex, Hit
from ccreid.retrieval.searcher import (
    DAMAGED,
    Answer,
    Query,
    QueryError,
    QueryTooLarge,
    QueryUnprocessable,
    Searcher,
)
from ccreid.web import STATIC, stylesheet, templates

MAX_UPLOAD_BYTES = 10 * 2**20
MAX_TOP_K = 100  # results per page
MAX_DEPTH = 1000  # how far down the ranking pages may go (offset + top_k)
THUMBNAIL_SIZE = (96, 192)
ENLARGED_SIZE = (384, 768)  # a clicked hit
THUMBNAIL_MAX_PIXELS = 8192 * 8192  # a gallery file above this is refused, not decoded
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LABEL_FIELDS = ("pid", "camid", "clothes")  # the query's own labels, when the caller knows them
FLAG_FIELDS = ("exclude_same_camera", "other_clothes_only")
FORM_FIELDS = ("image", "mask", "top_k", "offset", *FLAG_FIELDS, "cameras", *LABEL_FIELDS)
PREPARE_THREADS = 4  # requests decoded at once; the model runs in the batching thread


def normal_host(name: str) -> str:
    """A host name as the Host check compares it: lower case, no brackets, no final dot."""
    return name.strip().strip("[]").rstrip(".").lower()


def host_of(header: str) -> str:
    """The host name of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``)."""
    header = header.strip()
    if header.startswith("["):
        return normal_host(header[1:].partition("]")[0])
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return normal_host(header)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    host = normal_host(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_hosts(host: str, allowed: Iterable[str]) -> tuple[list[str], str | None]:
    """The Host names a server bound to ``host`` answers besides loopback (``host`` and the
    ``--allowed-host`` names, checked), and the warning to print when ``host`` is not a
    loopback address."""
    hosts = [host, *allowed]
    bad = [h for h in hosts if not normal_host(h) or any(c in h for c in ", /")]
    if bad:
        raise InputError(f"--host / --allowed-host must be host names or addresses, got {bad}")
    warning = None
    if not is_loopback(host):
        names = ", ".join(dict.fromkeys(map(normal_host, (*LOOPBACK_HOSTS, *hosts))))
        warning = (f"warning: --host {host} makes the server reachable from other machines, "
                   f"with no authentication; it answers requests for {names} only (give the "
                   "names clients use with --allowed-host)")  # fmt: skip
    return hosts, warning


class _HostCheck:
    """ASGI middleware: refuse (400) a request whose Host header is not an allowed name,
    which is what a DNS-rebinding page would send."""

    def __init__(self, app, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            from starlette.datastructures import Headers
            from starlette.responses import JSONResponse

            host = host_of(Headers(scope=scope).get("host", ""))
            if host not in self.allowed:
                shown = host[:100] or "NAME"
                message = (f"this server does not answer for host {shown!r}: start ccreid "
                           f"serve with --allowed-host {shown} to serve it")  # fmt: skip
                await JSONResponse({"error": message}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _size_text(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n} bytes"


@dataclass
class _Part:
    name: str
    filename: str | None
    data: io.BytesIO = field(default_factory=io.BytesIO)


class _FormReader:
    """python-multipart's streaming parser with callbacks that keep each part in memory and
    check its name as soon as its headers are read."""

    def __init__(self, boundary: bytes) -> None:
        from python_multipart import MultipartParser

        self.parts: dict[str, _Part] = {}
        self.part: _Part | None = None
        self.headers: dict[bytes, bytes] = {}
        self.field, self.value = bytearray(), bytearray()
        self.ended = False
        on = {"part_begin": self._begin, "header_field": self._field,
              "header_value": self._value, "header_end": self._header_end,
              "headers_finished": self._headers_done, "part_data": self._data,
              "part_end": self._part_end, "end": self._end}  # fmt: skip
        self.parser = MultipartParser(boundary, {f"on_{k}": v for k, v in on.items()})

    def _begin(self) -> None:
        self.headers, self.part = {}, None

    def _field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def _header_end(self) -> None:
        self.headers[bytes(self.field).lower()] = bytes(self.value)
        self.field, self.value = bytearray(), bytearray()

    def _headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        kind, options = parse_options_header(self.headers.get(b"content-disposition"))
        name = options.get(b"name")
        if kind != b"form-data" or name is None:
            raise QueryError("a part of the form has no 'Content-Disposition: form-data; name=...'")
        name_text = name.decode("utf-8", "replace")
        if name_text not in FORM_FIELDS:
            raise QueryUnprocessable(f"unexpected form field {name_text!r}: expected "
                             f"{', '.join(FORM_FIELDS)}")  # fmt: skip
        if name_text in self.parts:
            raise QueryUnprocessable(f"the form field {name_text!r} is given twice")
        filename = options.get(b"filename")
        self.part = _Part(
            name_text, None if filename is None else filename.decode("utf-8", "replace")
        )

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.part.data.write(data[start:end])

    def _part_end(self) -> None:
        self.parts[self.part.name] = self.part

    def _end(self) -> None:
        self.ended = True

    def write(self, chunk: bytes) -> None:
        from python_multipart.exceptions import MultipartParseError

        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise QueryError(f"the request body is not valid multipart/form-data ({exc})") from None

    def finish(self) -> dict[str, _Part]:
        if not self.ended:
            raise QueryError("the request body ends before the multipart form does (truncated)")
        return self.parts


def _form_boundary(content_type: str | None) -> bytes:
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise QueryUnprocessable("the request must be multipart/form-data with the query image as its "
                         "'image' field")  # fmt: skip
    if not options.get(b"boundary"):
        raise QueryError("the multipart/form-data Content-Type has no boundary")
    return options[b"boundary"]


async def read_form(request, limit: int) -> dict[str, _Part]:
    """The multipart form of ``request``, read as it streams in and refused (413) as soon as
    the body is over ``limit`` bytes, or before reading anything when Content-Length is."""
    reader = _FormReader(_form_boundary(request.headers.get("content-type")))
    too_large = QueryTooLarge(
        f"the upload is larger than the {_size_text(limit)} limit (--max-upload-mb)"
    )
    declared = request.headers.get("content-length")
    if declared is not None and not declared.strip().isdigit():
        raise QueryError(f"Content-Length {declared!r} is not a number of bytes")
    if declared is not None and int(declared) > limit:
        raise too_large
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large
        reader.write(chunk)
    return reader.finish()


def _text(form: dict[str, _Part], name: str) -> str | None:
    if name not in form:
        return None
    return form[name].data.getvalue().decode("utf-8", "replace").strip()


def _int_field(form: dict[str, _Part], name: str, default: int | None, low: int,
               high: int | None = None) -> int | None:  # fmt: skip
    text = _text(form, name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryUnprocessable(f"{name} must be an integer, got {text[:20]!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise QueryUnprocessable(f"{name} must be {bounds}, got {value}")
    return value


def _flag(form: dict[str, _Part], name: str) -> bool:
    text = (_text(form, name) or "false").lower()
    if text not in ("true", "false", "1", "0", "on", "off", ""):
        raise QueryUnprocessable(f"{name} must be true or false, got {text[:20]!r}")
    return text in ("true", "1", "on")


def _cameras(form: dict[str, _Part]) -> tuple[int, ...] | None:
    text = _text(form, "cameras")
    if not text:
        return None
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise QueryUnprocessable(
            f"cameras must be comma-separated integers, got {text[:40]!r}"
        ) from None


def _search_args(form: dict[str, _Part]) -> Query:
    """The query, its page, labels and filters from the form, each checked."""
    if "image" not in form:
        raise QueryUnprocessable("image: the query image is missing (multipart field 'image')")
    top_k = _int_field(form, "top_k", 10, 1, MAX_TOP_K)
    offset = _int_field(form, "offset", 0, 0, MAX_DEPTH - top_k)
    given = FileLabels(_int_field(form, "pid", None, 0), _int_field(form, "camid", None, 0),
                       _text(form, "clothes") or None)  # fmt: skip
    mask = form["mask"].data.getvalue() if "mask" in form else None
    return Query(form["image"].data.getvalue(), mask or None, top_k, offset, form["image"].filename,
                 given, _flag(form, FLAG_FIELDS[0]), _flag(form, FLAG_FIELDS[1]), _cameras(form))  # fmt: skip


def shown_path(index: GalleryIndex, row: int) -> str:
    """How a response names an indexed file: relative to the gallery root; a file outside
    it (or an index without a root) by its file name only, never an absolute path."""
    stored = index.rows[row]["path"]
    if index.root != "/" and not Path(stored).is_absolute():
        return stored
    return Path(stored).name


def _thumbnail_jpeg(path: str, what: str, size: tuple[int, int] = THUMBNAIL_SIZE) -> bytes:
    """A small JPEG of a gallery file, opened with the accepted readers only and refused
    (QueryError 422) before decoding when it has more pixels than a gallery image should."""
    from PIL import Image

    with Image.open(path, formats=list(PIL_FORMATS)) as im:
        if im.width * im.height > THUMBNAIL_MAX_PIXELS:
            raise QueryUnprocessable(f"{what} is {im.width}x{im.height} pixels, more than a thumbnail "
                             f"is made from ({THUMBNAIL_MAX_PIXELS})")  # fmt: skip
        im.draft("RGB", size)  # JPEG: decode at a reduced scale
        rgb = im.convert("RGB")
    rgb.thumbnail(size)
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


SEARCH_FORM_SCHEMA = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "format": "binary"},
            "mask": {"type": "string", "format": "binary", "description": "label PNG"},
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 10},
            "offset": {"type": "integer", "minimum": 0, "default": 0,
                       "description": f"results to skip (offset + top_k <= {MAX_DEPTH})"},
            "exclude_same_camera": {"type": "boolean", "default": False},
            "other_clothes_only": {"type": "boolean", "default": False},
            "cameras": {"type": "string", "description": "only these cameras, e.g. 1,3"},
            "pid": {"type": "integer", "description": "the query's identity, if known"},
            "camid": {"type": "integer", "description": "the query's camera, if known"},
            "clothes": {"type": "string", "description": "the query's outfit, if known"},
        }}}}},
}  # fmt: skip


def _error(status: int, message: str, headers: dict | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _add_error_handlers(app) -> None:
    """Framework errors (unknown route, wrong method, bad path parameter) in the same
    ``{"error": ...}`` shape as the service's own."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")


def _match(a: object, b: object) -> bool | None:
    return None if a is None or b is None else a == b


def _hit_json(index: GalleryIndex, h: Hit, query: FileLabels) -> dict:
    return {"rank": h.rank, "score": h.score, "path": shown_path(index, h.row), "pid": h.pid,
            "camid": h.camid, "clothes": h.clothes, "thumbnail": f"/api/thumbnail/{h.row}",
            "image": f"/api/image/{h.row}",
            "same": {"identity": _match(h.pid, query.pid), "camera": _match(h.camid, query.camid),
                     "outfit": query.same_outfit(h.labels)}}  # fmt: skip


def _mask_png(mask) -> str | None:
    """The body mask BSGA was given, as a data URL (white body on black)."""
    if mask is None:
        return None
    import base64

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(mask.astype("uint8") * 255, mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _answer_json(index: GalleryIndex, query: Query, answer: Answer) -> dict:
    q = answer.query
    return {
        "query_pid": q.pid,
        "query": {"pid": q.pid, "camid": q.camid, "clothes": q.clothes},
        "mask_source": answer.mask_source,
        "mask": _mask_png(answer.body_mask),
        "offset": query.offset,
        "more": len(answer.hits) == query.top_k and query.offset + query.top_k < MAX_DEPTH,
        "results": [_hit_json(index, h, q) for h in answer.hits],
    }


def _thumbnail_response(index: GalleryIndex, row: int, size: tuple[int, int] = THUMBNAIL_SIZE):
    """The thumbnail of indexed row ``row``; a row that is not there or a file that cannot
    be read any more is 404, a file with too many pixels (a bomb) 422, never decoded."""
    from fastapi.responses import Response
    from PIL import Image

    if not 0 <= row < len(index.rows):
        return _error(404, f"no indexed image number {row}")
    what = f"indexed image number {row}"
    try:
        data = _thumbnail_jpeg(index.absolute(index.rows[row]["path"]), what, size)
    except QueryError as exc:
        return _error(exc.status, str(exc))
    except Image.DecompressionBombError:
        return _error(422, f"{what} has too many pixels for a thumbnail")
    except DAMAGED:
        return _error(404, f"{what} cannot be read any more")
    return Response(data, media_type="image/jpeg")


def create_app(searcher: Searcher, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               hosts: Iterable[str] = (), max_batch: int = MAX_BATCH,
               max_wait_ms: float = MAX_WAIT_MS):  # fmt: skip
    """The FastAPI application around a loaded `Searcher`, answering requests for
    the loopback names and ``hosts`` (the bound address, ``--allowed-host`` names) only.

    ``POST /api/search`` reports ``mask_source``: "upload", "parser", "predicted" (the
    model's mask head), "ignored" (a mask was uploaded but the model uses none: it is not
    even decoded) or "none"."""
    fastapi = require("fastapi", "serve", "ccreid serve")
    require("python_multipart", "serve", "uploads to ccreid serve")
    import anyio
    from fastapi import Request
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    # No /api/docs: FastAPI's docs page loads its scripts from a CDN. /openapi.json stays.
    app = fastapi.FastAPI(title="ccreid search", docs_url=None, redoc_url=None)
    app.add_middleware(_HostCheck, allowed=frozenset(map(normal_host, (*LOOPBACK_HOSTS, *hosts))))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    limiter = anyio.CapacityLimiter(PREPARE_THREADS)
    batcher = Batcher(searcher.answer_batch, max_batch, max_wait_ms)
    app.state.batcher = batcher

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return templates().get_template("search.html").render(
            title="ccreid search", css=stylesheet(), info=searcher.info(), max_k=MAX_TOP_K,
            cameras=sorted({r["camid"] for r in searcher.index.rows if r["camid"] is not None}),
            accept=",".join(IMAGE_SUFFIXES),
        )  # fmt: skip

    @app.get("/api/info")
    def info() -> dict:
        return searcher.info()

    @app.post("/api/search", openapi_extra=SEARCH_FORM_SCHEMA)
    async def search(request: Request):
        try:
            form = await read_form(request, max_upload_bytes)
            query = _search_args(form)
            with batcher.arriving():
                prepared = await anyio.to_thread.run_sync(searcher.prepare, query, limiter=limiter)
                future = batcher.submit(prepared)
            answer = await asyncio.wrap_future(future)
        except QueryError as exc:
            return _error(exc.status, str(exc))
        return _answer_json(searcher.index, query, answer)

    @app.get("/api/thumbnail/{row}")
    def thumbnail(row: int):
        return _thumbnail_response(searcher.index, row)

    @app.get("/api/image/{row}")
    def enlarged(row: int):
        return _thumbnail_response(searcher.index, row, ENLARGED_SIZE)

    return app


ENV_PREFIX = "CCREID_SERVE_"
OPTIONS_VARIABLE = ENV_PREFIX + "OPTIONS"  # how `--workers N` hands its options to workers


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``ccreid serve`` is started with."""

    index: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    checkpoint: Path | None = None  # the index's model, if it moved
    parser: str | None = None  # a SegFormer parser that makes query masks
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    allowed_hosts: tuple[str, ...] = ()
    device: str = "auto"
    max_batch: int = MAX_BATCH  # queries embedded together at most
    max_wait_ms: float = MAX_WAIT_MS  # how long a batch waits for queries being decoded

    def to_json(self) -> str:
        import json

        return json.dumps({k: str(v) if isinstance(v, Path) else v
                           for k, v in self.__dict__.items()})  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> "ServeOptions":
        import json

        raw = json.loads(text)
        raw["index"] = Path(raw["index"])
        raw["checkpoint"] = Path(raw["checkpoint"]) if raw["checkpoint"] else None
        raw["allowed_hosts"] = tuple(raw["allowed_hosts"])
        return cls(**raw)


def run_server(options: ServeOptions, say: Callable[[str], None] = print) -> None:
    """``ccreid serve``: load the index and its model, then serve until stopped (with
    ``workers`` > 1, uvicorn's worker processes each load them)."""
    import os

    uvicorn = require("uvicorn", "serve", "ccreid serve")
    hosts, warning = served_hosts(options.host, options.allowed_hosts)
    if warning:
        say(warning)
    searcher = load_searcher(options)
    say(f"serving {searcher.index.index.ntotal} images on http://{options.host}:{options.port}/")
    where = {"host": options.host, "port": options.port, "log_level": "warning"}
    if options.workers == 1:
        uvicorn.run(create_app(searcher, options.max_upload_bytes, hosts, options.max_batch,
                               options.max_wait_ms), **where)  # fmt: skip
        return
    final = ServeOptions(**{**options.__dict__, "allowed_hosts": tuple(hosts)})
    os.environ[OPTIONS_VARIABLE] = final.to_json()
    uvicorn.run("ccreid.retrieval.server:app_from_env", factory=True, workers=options.workers,
                **where)  # fmt: skip


def app_from_env():
    """The app of one of uvicorn's worker processes (``ccreid serve --workers N`` puts its
    options in ``CCREID_SERVE_OPTIONS``)."""
    import os

    options = ServeOptions.from_json(os.environ[OPTIONS_VARIABLE])
    return create_app(load_searcher(options), options.max_upload_bytes, options.allowed_hosts,
                      options.max_batch, options.max_wait_ms)  # fmt: skip


def load_searcher(options: ServeOptions) -> Searcher:
    """A searcher, with a SegFormer parser making query masks when ``options.parser`` names one."""
    parse = None
    if options.parser:
        from ccreid.parsing.parser import SegFormerParser

        model = SegFormerParser(options.parser)
        parse = lambda rgb: model([rgb])[0]  # noqa: E731
    return Searcher(options.index, options.checkpoint, parse, device=options.device)
