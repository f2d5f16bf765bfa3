"""`ccreid serve`: the HTTP API with FastAPI's test client, and the page in a real browser."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

fastapi = pytest.importorskip("fastapi", reason="the serve extra is not installed")
from fastapi.testclient import TestClient  # noqa: E402

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


@pytest.fixture(scope="module")
def client(served: dict) -> TestClient:
    return TestClient(create_app(Searcher(served["index"]), max_upload_bytes=200_000))


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
    assert top["path"] == str(served["image"].resolve()) and top["score"] == pytest.approx(
        1.0, abs=1e-3
    )
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
    client = TestClient(create_app(Searcher(served["index"], parser=lambda rgb: labels)))
    res = _post(client, served["image"].read_bytes())
    assert res.status_code == 200 and res.json()["mask_source"] == "parser"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_page_in_headless_chromium(served: dict) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when it can)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Searcher(served["index"])), host="127.0.0.1",
                                           port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        with playwright.sync_playwright() as p:
            try:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            except Exception as exc:  # e.g. a chromium too old or too new for this driver
                pytest.skip(f"playwright cannot drive {chromium}: {str(exc).splitlines()[0]}")
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#mask", str(served["mask"]))
            page.set_input_files("#image", str(served["image"]))
            page.wait_for_selector(".hit img", timeout=30_000)
            page.wait_for_function(
                "[...document.querySelectorAll('.hit img')].every(i => i.complete)"
            )
            first = page.query_selector(".hit")
            assert first.get_attribute("data-path") == str(served["image"].resolve())
            assert "same" in first.get_attribute("class")  # green frame: the query's identity
            widths = page.eval_on_selector_all(".hit img", "imgs => imgs.map(i => i.naturalWidth)")
            assert widths and all(w > 0 for w in widths)  # every thumbnail loaded
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
