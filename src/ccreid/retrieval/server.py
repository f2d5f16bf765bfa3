"""`ccreid serve`: search an index from a web page and an HTTP API (FastAPI).

Safe by default: the CLI binds to 127.0.0.1; uploads are size-limited and decoded in memory
(never written to disk); thumbnails are served by index row only, so no path from a
request ever reaches the file system; a bad request gets a JSON error and a 4xx status and
the service keeps running."""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at
# definition time, and its types are imported inside create_app (fastapi is an extra).
import io
from pathlib import Path

from ccreid.errors import require
from ccreid.retrieval.searcher import QueryError, Searcher
from ccreid.retrieval.service import pid_from_name
from ccreid.web import STATIC, stylesheet, templates

MAX_UPLOAD_BYTES = 10 * 2**20
MAX_TOP_K = 100
THUMBNAIL_SIZE = (96, 192)


def create_app(searcher: Searcher, max_upload_bytes: int = MAX_UPLOAD_BYTES):
    """The FastAPI application around a loaded :class:`Searcher`."""
    fastapi = require("fastapi", "serve", "ccreid serve")
    require("python_multipart", "serve", "uploads to ccreid serve")
    from fastapi import File, Form, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    app = fastapi.FastAPI(title="ccreid search", docs_url="/api/docs", redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    async def read_limited(upload: UploadFile, what: str) -> bytes:
        data = await upload.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise _TooLarge(f"{what} is larger than {max_upload_bytes // 2**20} MiB")
        return data

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (
            templates()
            .get_template("search.html")
            .render(title="ccreid search", css=stylesheet(), info=searcher.info(), max_k=MAX_TOP_K)
        )

    @app.get("/api/info")
    def info() -> dict:
        return searcher.info()

    @app.post("/api/search")
    async def search(
        image: UploadFile = File(...), mask: UploadFile | None = File(None),
        top_k: int = Form(10),
    ):  # fmt: skip
        if not 1 <= top_k <= MAX_TOP_K:
            return error(422, f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
        try:
            image_bytes = await read_limited(image, "the query")
            mask_bytes = await read_limited(mask, "the mask") if mask is not None else None
            answer = searcher.search(image_bytes, mask_bytes, top_k)
        except _TooLarge as exc:
            return error(413, str(exc))
        except QueryError as exc:
            status = 422 if "needs a body mask" in str(exc) else 400
            return error(status, str(exc))
        return {
            "query_pid": pid_from_name(image.filename),
            "mask_source": answer.mask_source,
            "results": [
                {
                    "rank": h.rank,
                    "score": h.score,
                    "path": h.path,
                    "pid": h.pid,
                    "camid": h.camid,
                    "clothes": h.clothes,
                    "thumbnail": f"/api/thumbnail/{h.row}",
                }
                for h in answer.hits
            ],  # fmt: skip
        }

    @app.get("/api/thumbnail/{row}")
    def thumbnail(row: int):
        if not 0 <= row < len(searcher.index.rows):
            return error(404, f"no indexed image number {row}")
        from PIL import Image

        path = searcher.index.absolute(searcher.index.rows[row]["path"])
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail(THUMBNAIL_SIZE)
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=85)
        except OSError:
            return error(404, f"indexed image number {row} cannot be read any more")
        return Response(buf.getvalue(), media_type="image/jpeg")

    return app


class _TooLarge(Exception):
    """An upload over the size limit (answered with 413)."""


ENV_PREFIX = "CCREID_SERVE_"


def app_from_env():
    """The app for uvicorn's worker processes, configured by ``CCREID_SERVE_*`` variables
    (``ccreid serve --workers N`` sets them)."""
    import os

    env = {
        k.removeprefix(ENV_PREFIX).lower(): v
        for k, v in os.environ.items()
        if k.startswith(ENV_PREFIX)
    }
    return create_app(load_searcher(Path(env["index"]), env.get("checkpoint"), env.get("parser")),
                      int(env.get("max_upload_bytes", MAX_UPLOAD_BYTES)))  # fmt: skip


def load_searcher(
    index_dir: Path, checkpoint: str | None = None, parser: str | None = None
) -> Searcher:
    """A searcher, with a SegFormer parser making query masks when ``parser`` names one."""
    parse = None
    if parser:
        from ccreid.parsing.parser import SegFormerParser

        model = SegFormerParser(parser)
        parse = lambda rgb: model([rgb])[0]  # noqa: E731
    return Searcher(index_dir, Path(checkpoint) if checkpoint else None, parse)
