"""`ccreid serve`: the HTTP API with FastAPI's test client, and the page in a real browser."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import struct
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

fastapi = pytest.importorskip("fastapi", reason="the serve extra is not installed")
from fastapi.testclient import TestClient  # noqa: E402
from serve_helpers import served_in_thread  # noqa: E402

from ccreid.retrieval.searcher import Searcher  # noqa: E402
from ccreid.retrieval.server import create_app  # noqa: E402
from ccreid.retrieval.service import build_index  # noqa: E402


@pytest.fixture(scope="module")
def served(tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path_factory) -> dict:
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    masks = tiny_synthetic / "masks" / "VC-Clothes" / "gallery"
    index = tmp_path_factory.mktemp("serve") / "idx"
    build_index(tiny_checkpoint, gallery, index, masks)
    image = sorted(gallery.glob("*.jpg"))[0]
    return {"index": index, "image": image, "mask": masks / image.with_suffix(".png").name}


LOCAL = "http://127.0.0.1"  # the Host check refuses TestClient's default "testserver"


@pytest.fixture(scope="module")
def client(served: dict) -> TestClient:
    return TestClient(create_app(Searcher(served["index"]), max_upload_bytes=200_000), LOCAL)


def _post(
    client: TestClient, image: bytes, mask: bytes | None = None, top_k: int = 5, name: str = "q.jpg"
):
    files = {"image": (name, image, "image/jpeg")}
    if mask is not None:
        files["mask"] = ("m.png", mask, "image/png")
    return client.post("/api/search", files=files, data={"top_k": str(top_k)})


def test_info_and_page(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert info["needs_mask"] is True and info["size"] == 32 and info["dim"] == 512
    page = client.get("/")
    assert (
        page.status_code == 200 and "Drop a query image" in page.text and "search.js" in page.text
    )
    assert client.get("/static/search.js").status_code == 200


def test_a_gallery_image_finds_itself_first_with_its_thumbnail(
    client: TestClient, served: dict
) -> None:
    res = _post(
        client, served["image"].read_bytes(), served["mask"].read_bytes(), name=served["image"].name
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["mask_source"] == "upload" and len(body["results"]) == 5
    top = body["results"][0]
    assert top["path"] == served["image"].name and top["score"] == pytest.approx(1.0, abs=1e-3)
    assert body["query_pid"] == int(served["image"].name.split("-")[0])
    thumb = client.get(top["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg", (
        top,
        thumb.text,
    )
    assert Image.open(io.BytesIO(thumb.content)).size[1] <= 192


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("not an image", 400, "is not an image"),
        ("wrong mask size", 400, "must have the same size"),
        ("colour mask", 400, "expected an 8-bit label PNG"),
        ("no mask", 422, "needs a body mask"),
        ("top_k 0", 422, "top_k must be between 1 and 100"),
        ("top_k 101", 422, "top_k must be between 1 and 100"),
        ("too large", 413, "larger than"),
        ("no image field", 422, "image"),
    ],
)
def test_bad_requests_get_a_json_error_and_the_service_keeps_working(
    client: TestClient, served: dict, case: str, status: int, message: str
) -> None:
    image, mask = served["image"].read_bytes(), served["mask"].read_bytes()
    small = io.BytesIO()
    Image.fromarray(np.zeros((10, 5), np.uint8)).save(small, format="PNG")
    colour = io.BytesIO()
    Image.new("RGB", Image.open(served["image"]).size).save(colour, format="PNG")
    if case == "no image field":
        res = client.post("/api/search", data={"top_k": "5"})
    else:
        args = {
            "not an image": (b"definitely not a jpeg", mask, 5),
            "wrong mask size": (image, small.getvalue(), 5),
            "colour mask": (image, colour.getvalue(), 5),
            "no mask": (image, None, 5),
            "top_k 0": (image, mask, 0),
            "top_k 101": (image, mask, 101),
            "too large": (b"x" * 300_000, mask, 5),
        }[case]
        res = _post(client, *args)
    assert res.status_code == status and message in res.json()["error"], res.text
    assert _post(client, image, mask).status_code == 200  # still answering


def test_thumbnails_are_served_by_row_only(client: TestClient) -> None:
    assert client.get("/api/thumbnail/999").status_code == 404
    traversal = client.get("/api/thumbnail/..%2F..%2Fetc%2Fpasswd")
    assert traversal.status_code in (404, 422) and "root:" not in traversal.text
    assert client.get("/api/thumbnail/-1").status_code == 404


def test_a_configured_parser_makes_the_query_mask(served: dict) -> None:
    labels = np.array(Image.open(served["mask"]))
    client = TestClient(create_app(Searcher(served["index"], parser=lambda rgb: labels)), LOCAL)
    res = _post(client, served["image"].read_bytes())
    assert res.status_code == 200 and res.json()["mask_source"] == "parser"


@pytest.mark.slow
def test_the_page_in_headless_chromium(served: dict) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when it can)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    app = create_app(Searcher(served["index"]))
    with served_in_thread(app) as url, playwright.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Exception as exc:  # e.g. a chromium too old or too new for this driver
            pytest.skip(f"playwright cannot drive {chromium}: {str(exc).splitlines()[0]}")
        page = browser.new_page()
        page.goto(url)
        page.set_input_files("#mask", str(served["mask"]))
        page.set_input_files("#image", str(served["image"]))
        page.wait_for_selector(".hit img", timeout=30_000)
        page.wait_for_function("[...document.querySelectorAll('.hit img')].every(i => i.complete)")
        first = page.query_selector(".hit")
        assert first.get_attribute("data-path") == served["image"].name
        assert "same" in first.get_attribute("class")  # green frame: the query's identity
        widths = page.eval_on_selector_all(".hit img", "imgs => imgs.map(i => i.naturalWidth)")
        assert widths and all(w > 0 for w in widths)  # every thumbnail loaded
        browser.close()


# --- Security and denial of service -------------------------------------------------------


@pytest.fixture(scope="module")
def searcher(served: dict) -> Searcher:
    """A searcher of its own, for apps built in a test (tests may patch it with monkeypatch)."""
    return Searcher(served["index"])


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` 1-bit pixels in a few dozen bytes: what a
    decompression bomb looks like to a reader of headers (its pixel data is a stub)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))  # fmt: skip


def _call_asgi(app, headers: list[tuple[bytes, bytes]], chunks) -> tuple[int, dict, int]:
    """POST /api/search straight through ASGI with a body streamed from ``chunks``: the
    status, the JSON answer, and how many body bytes the app pulled before answering."""
    consumed, messages = 0, []

    async def receive() -> dict:
        nonlocal consumed
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/search",
             "raw_path": b"/api/search", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), *headers],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, json.loads(body), consumed


def _no_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    for name in ("SpooledTemporaryFile", "NamedTemporaryFile", "TemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", refuse)


BOUNDARY = b"ccreidtestboundary"
MULTIPART = (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)


def _huge_body(total: int, chunk: int = 64 * 1024):
    yield (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="image"; '
           b'filename="q.jpg"\r\nContent-Type: image/jpeg\r\n\r\n')  # fmt: skip
    for _ in range(total // chunk):
        yield b"x" * chunk
    yield b"\r\n--" + BOUNDARY + b"--\r\n"


@pytest.mark.reliability(
    tried="body over `--max-upload-mb`, chunked or with a large Content-Length",
    happens=(
        "413 JSON at the first chunk over the limit (before reading when Content-Length says "
        "so); parts in memory, no temp file"
    ),
    also=("test_a_content_length_over_the_limit_is_refused_before_reading",),
)
def test_an_upload_over_the_limit_stops_being_read_and_never_reaches_disk(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_temp_files(monkeypatch)
    status, body, consumed = _call_asgi(client.app, [MULTIPART], _huge_body(5 * 2**20))
    assert status == 413 and "larger than" in body["error"], body
    assert consumed <= 200_000 + 64 * 1024  # stopped at the first chunk over the limit


def test_a_content_length_over_the_limit_is_refused_before_reading(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_temp_files(monkeypatch)
    headers = [MULTIPART, (b"content-length", str(300 * 2**20).encode())]
    status, body, consumed = _call_asgi(client.app, headers, _huge_body(5 * 2**20))
    assert status == 413 and "larger than" in body["error"] and consumed == 0, body


@pytest.mark.reliability(
    tried="slow search in flight, then `GET /api/info`",
    happens="answered at once: decode, model and search run in a worker thread",
)
def test_info_answers_while_a_slow_search_runs(
    searcher: Searcher, served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real = searcher.prepare

    def slow(*args, **kwargs):
        started.set()
        release.wait(timeout=5)  # blocking, like decoding
        return real(*args, **kwargs)

    monkeypatch.setattr(searcher, "prepare", slow)
    image, mask = served["image"].read_bytes(), served["mask"].read_bytes()
    with TestClient(create_app(searcher), LOCAL) as http:  # one event loop for both requests
        answers = []
        worker = threading.Thread(target=lambda: answers.append(_post(http, image, mask)))
        worker.start()
        assert started.wait(timeout=30)
        start = time.monotonic()
        info = http.get("/api/info")
        waited = time.monotonic() - start
        release.set()
        worker.join(timeout=30)
    assert info.status_code == 200 and waited < 2.5, waited
    assert answers and answers[0].status_code == 200


@pytest.mark.reliability(
    tried="16 KB PNG declaring 4096x4096",
    happens=(
        '413 "at most 4096 pixels a side and 4194304 pixels in all", from the header, never decoded'
    ),
)
def test_a_query_over_the_pixel_budget_is_refused_before_decoding(
    client: TestClient, served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("the oversized query was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    res = _post(client, _png_header(4096, 4096), served["mask"].read_bytes())
    assert res.status_code == 413 and "4096x4096" in res.json()["error"], res.text
    assert "pixels in all" in res.json()["error"]


@pytest.mark.reliability(
    tried="`Host: attacker.example` (DNS rebinding)",
    happens=(
        "400 JSON naming `--allowed-host`; loopback names, `--host` and `--allowed-host` names "
        "answered (also with `--workers N`)"
    ),
    also=("test_serve_answers_its_bound_and_allowed_hosts_only",),
)
@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "evil.127.0.0.1"])
def test_requests_for_another_host_are_refused(client: TestClient, host: str) -> None:
    res = client.get("/api/info", headers={"host": host})
    assert res.status_code == 400 and "--allowed-host" in res.json()["error"], res.text
    assert "checkpoint" not in res.text


def test_loopback_names_and_allowed_hosts_are_answered(searcher: Searcher) -> None:
    client = TestClient(create_app(searcher, hosts=["reid.lan", "[fd00::5]"]), LOCAL)
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:8000", "reid.lan:80",
                 "reid.lan.", "[fd00::5]:8000"):  # fmt: skip
        assert client.get("/api/info", headers={"host": host}).status_code == 200, host
    assert client.get("/api/info", headers={"host": "other.lan"}).status_code == 400


@pytest.mark.reliability(
    tried="read absolute paths from `/api/info`, hits, page or `alt`",
    happens="checkpoint by file name, gallery files relative to the gallery root",
)
def test_no_response_carries_an_absolute_server_path(
    client: TestClient, served: dict, tiny_checkpoint: Path
) -> None:
    secrets = {str(served["image"].resolve().parent), str(tiny_checkpoint.resolve().parent)}
    info = client.get("/api/info")
    assert info.json()["checkpoint"] == tiny_checkpoint.name
    res = _post(client, served["image"].read_bytes(), served["mask"].read_bytes())
    gallery = served["image"].resolve().parent
    names = {p.relative_to(gallery).as_posix() for p in gallery.rglob("*.jpg")}
    assert res.status_code == 200 and {h["path"] for h in res.json()["results"]} <= names
    for text in (info.text, res.text, client.get("/").text):
        assert not any(secret in text for secret in secrets), text[:500]


@pytest.mark.reliability(
    tried="EPS or GIF query",
    happens='400 "expected JPEG, PNG, BMP or WebP"; Pillow\'s EPS reader never runs; WebP accepted',
)
def test_only_the_pipelines_formats_are_opened(
    client: TestClient, served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import EpsImagePlugin

    opened = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(self))
    mask = served["mask"].read_bytes()
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n"
    gif = io.BytesIO()
    Image.open(served["image"]).save(gif, format="GIF")
    for data in (eps, gif.getvalue()):
        res = _post(client, data, mask)
        assert res.status_code == 400 and "JPEG, PNG, BMP or WebP" in res.json()["error"]
    assert not opened  # Pillow's EPS reader (Ghostscript) was never reached
    webp = io.BytesIO()
    Image.open(served["image"]).save(webp, format="WEBP", lossless=True)
    res = _post(client, webp.getvalue(), mask, name=served["image"].with_suffix(".webp").name)
    assert res.status_code == 200 and res.json()["results"][0]["score"] > 0.99, res.text


def test_the_format_list_is_one_list(tmp_path: Path) -> None:
    from ccreid.imagefiles import IMAGE_FORMATS, IMAGE_SUFFIXES, PIL_FORMATS, list_images

    assert set(IMAGE_FORMATS) == set(IMAGE_SUFFIXES) and set(IMAGE_FORMATS.values()) == set(
        PIL_FORMATS
    )
    for name in ("a.webp", "b.BMP", "c.eps", "d.gif"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.webp", "b.BMP"]


@pytest.mark.reliability(
    tried="JPEG uploaded as a mask",
    happens='400 "expected an 8-bit label PNG (mode L or P)"',
)
def test_a_jpeg_mask_is_refused(client: TestClient, served: dict) -> None:
    size = Image.open(served["image"]).size
    jpeg = io.BytesIO()
    Image.new("L", size).save(jpeg, format="JPEG")  # all background: a valid label map as data
    res = _post(client, served["image"].read_bytes(), jpeg.getvalue())
    assert res.status_code == 400 and "label PNG" in res.json()["error"], res.text


@pytest.mark.reliability(
    tried="gallery file replaced by a decompression bomb or garbage",
    happens="`/api/thumbnail/N` answers 422 (bomb, not decoded) or 404 (unreadable), as JSON",
)
@pytest.mark.parametrize(
    ("content", "status"),
    [(_png_header(30_000, 30_000), 422), (_png_header(9_000, 9_000), 422), (b"garbage", 404)],
    ids=["bomb", "over the thumbnail budget", "not an image"],
)
def test_a_replaced_gallery_file_gets_a_json_error(
    searcher: Searcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes,
    status: int
) -> None:  # fmt: skip
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("the oversized gallery file was decoded")

    replaced = tmp_path / "0.png"
    replaced.write_bytes(content)
    monkeypatch.setitem(searcher.index.rows[0], "path", str(replaced))
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    res = TestClient(create_app(searcher), LOCAL).get("/api/thumbnail/0")
    assert res.status_code == status and "indexed image number 0" in res.json()["error"]
    assert str(tmp_path) not in res.text


@pytest.mark.reliability(
    tried="unreadable or truncated query",
    happens="400 message without object reprs",
)
def test_errors_name_no_python_objects(client: TestClient, served: dict) -> None:
    for image in (b"definitely not a jpeg", served["image"].read_bytes()[:200]):
        res = _post(client, image, served["mask"].read_bytes())
        assert res.status_code == 400 and "is not an image" in res.json()["error"]
        assert " at 0x" not in res.text and "<_io" not in res.text, res.text


@pytest.mark.reliability(
    tried=(
        "unknown route, wrong method, missing boundary, truncated form, duplicate field, "
        "`/api/docs`"
    ),
    happens=(
        '`{"error": ...}` with 404/405/400/422; `/api/docs` is off (it loaded scripts from a CDN)'
    ),
)
@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("get", "/no/such/page", {}, 404),
        ("get", "/api/search", {}, 405),
        ("put", "/api/info", {}, 405),
        ("get", "/api/thumbnail/abc", {}, 422),
        ("get", "/static/missing.js", {}, 404),
        ("post", "/api/search", {"headers": {"content-type": "multipart/form-data"},
                                 "content": b"--x\r\n"}, 400),  # no boundary
        ("post", "/api/search", {"headers": {"content-type": "multipart/form-data; boundary=x"},
                                 "content": b"--x\r\nContent-Disposition: form-data; "
                                            b'name="image"\r\n\r\nabc'}, 400),  # truncated
        ("post", "/api/search", {"files": {"other": ("a", b"1")}}, 422),
        ("post", "/api/search", {"files": [("image", ("a", b"1")), ("image", ("b", b"2"))]},
         422),
        ("post", "/api/search", {"files": {"image": ("a", b"1")}, "data": {"top_k": "ten"}},
         422),
        ("get", "/api/docs", {}, 404),
    ],
)  # fmt: skip
def test_framework_errors_are_json_errors(
    client: TestClient, served: dict, method: str, url: str, kwargs: dict, status: int
) -> None:
    res = getattr(client, method)(url, **kwargs)
    assert res.status_code == status and set(res.json()) == {"error"}, res.text
    assert (
        _post(client, served["image"].read_bytes(), served["mask"].read_bytes()).status_code == 200
    )


def test_the_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/").text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), page
    assert client.get("/openapi.json").json()["paths"]["/api/search"]["post"]["requestBody"]


class _MaskFree(torch.nn.Module):
    """Attention that uses no body mask (as model.attention=none does)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return x


@pytest.mark.reliability(
    tried="wrong-size or non-image mask sent to a model that uses no mask",
    happens='200, `mask_source: "ignored"`, the mask is not read',
)
def test_a_model_without_masks_ignores_an_uploaded_mask(
    searcher: Searcher, served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searcher.model.model, "attention", _MaskFree())
    assert not searcher.needs_mask
    client = TestClient(create_app(searcher), LOCAL)
    wrong = io.BytesIO()
    Image.fromarray(np.zeros((10, 5), np.uint8)).save(wrong, format="PNG")
    image = served["image"].read_bytes()
    for mask in (wrong.getvalue(), b"not even an image"):
        res = _post(client, image, mask)
        assert res.status_code == 200 and res.json()["mask_source"] == "ignored", res.text
    assert _post(client, image).json()["mask_source"] == "none"


def _served_app(cli, served: dict, monkeypatch: pytest.MonkeyPatch, *args: str):
    """``ccreid serve INDEX ARGS`` with uvicorn.run replaced: the result and what uvicorn
    would have run (the app, or for --workers the factory's app)."""
    import uvicorn

    from ccreid.retrieval.server import ENV_PREFIX, app_from_env

    for key in ("OPTIONS",):
        monkeypatch.setenv(ENV_PREFIX + key, "")  # restored (removed) after the test
        monkeypatch.delenv(ENV_PREFIX + key)
    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(app_from_env() if kw.get(
        "factory") else app))  # fmt: skip
    result = cli("serve", served["index"], *args, expect=0)
    return result, TestClient(ran[0], LOCAL)


@pytest.mark.reliability(
    tried="`--host 0.0.0.0`",
    happens=(
        "stderr warning naming the hosts it answers; a malformed `--allowed-host` is `error: "
        "...`, exit 1"
    ),
    also=("test_serve_refuses_a_host_option_that_is_no_host_name",),
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_answers_its_bound_and_allowed_hosts_only(
    cli, served: dict, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    result, http = _served_app(cli, served, monkeypatch, "--host", "0.0.0.0", "--allowed-host",
                               "reid.lan", "--allowed-host", "10.0.0.7", "--workers", workers)  # fmt: skip
    assert "warning: --host 0.0.0.0" in result.err and "reid.lan" in result.err
    for host, status in [("reid.lan:8000", 200), ("10.0.0.7", 200), ("localhost", 200),
                         ("attacker.example", 400)]:  # fmt: skip
        assert http.get("/api/info", headers={"host": host}).status_code == status, host


def test_serve_on_loopback_prints_no_warning(
    cli, served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, http = _served_app(cli, served, monkeypatch, "--host", "::1")
    assert "warning" not in result.err and http.get("/api/info").status_code == 200
    assert http.get("/api/info", headers={"host": "[::1]:8000"}).status_code == 200


def test_serve_refuses_a_host_option_that_is_no_host_name(
    cli, served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("uvicorn was started"))
    result = cli("serve", served["index"], "--allowed-host", "a.lan,b.lan", expect=1)
    assert "error:" in result.err and "must be host names" in result.err
