"""Labels in the index, clothes-changing filters inside the search, pages past the first,
and dynamic batching that never mixes two requests' answers."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")
pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from serve_helpers import served_in_thread  # noqa: E402

from ccreid.data import DatasetError  # noqa: E402
from ccreid.data.filelabels import FileLabels  # noqa: E402
from ccreid.retrieval.batching import Batcher  # noqa: E402
from ccreid.retrieval.filters import SearchFilter  # noqa: E402
from ccreid.retrieval.index import GalleryIndex  # noqa: E402
from ccreid.retrieval.searcher import Query, Searcher  # noqa: E402
from ccreid.retrieval.server import create_app  # noqa: E402
from ccreid.retrieval.service import build_index  # noqa: E402

LOCAL = "http://127.0.0.1"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gallery(tiny_synthetic: Path) -> tuple[Path, Path]:
    return tiny_synthetic / "VC-Clothes" / "gallery", tiny_synthetic / "masks/VC-Clothes/gallery"


@pytest.fixture(scope="module")
def labelled(gallery, tiny_checkpoint: Path, tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("labelled") / "idx"
    build_index(tiny_checkpoint, gallery[0], index, gallery[1])  # layout auto
    return index


@pytest.fixture(scope="module")
def searcher(labelled: Path) -> Searcher:
    return Searcher(labelled)


def _name_labels(path: str) -> FileLabels:
    """VC-Clothes names, read here independently: <pid>-<cam>-<clothes>-<n>.jpg."""
    pid, cam, clothes, _ = Path(path).stem.split("-")
    return FileLabels(int(pid), int(cam), str(int(clothes)))


def test_auto_layout_stores_identity_camera_and_outfit_from_the_names(labelled: Path) -> None:
    info = json.loads((labelled / "info.json").read_text())
    assert info["layout"] == "vcclothes"
    index = GalleryIndex.load(labelled)
    assert index.rows and all(
        FileLabels(r["pid"], r["camid"], r["clothes"]) == _name_labels(r["path"])
        for r in index.rows
    )


def test_no_layout_keeps_labels_unknown_and_a_wrong_layout_names_the_file(
    gallery, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    build_index(tiny_checkpoint, gallery[0], tmp_path / "none", gallery[1], layout="none")
    with (tmp_path / "none/meta.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["pid"] == r["camid"] == r["clothes"] == "" for r in rows)
    assert all(r["pid"] is None for r in GalleryIndex.load(tmp_path / "none").rows)
    with pytest.raises(DatasetError, match=r"is not named by the ltcc layout's rules"):
        build_index(tiny_checkpoint, gallery[0], tmp_path / "ltcc", gallery[1], layout="ltcc")
    assert not (tmp_path / "ltcc").exists()


def test_old_indexes_with_minus_one_read_as_unknown(labelled: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(labelled, old)
    lines = (old / "meta.csv").read_text().splitlines()
    rows = [lines[0]] + [line.split(",")[0] + ",-1,-1,-1" for line in lines[1:]]
    (old / "meta.csv").write_text("\n".join(rows) + "\n")
    index = GalleryIndex.load(old)
    assert all(r["pid"] is None and r["camid"] is None and r["clothes"] is None for r in index.rows)


def _reference(scores: np.ndarray, rows: list[FileLabels], query: FileLabels, k: int,
               exclude_camera: bool, other_clothes: bool, cameras=None) -> list[int]:  # fmt: skip
    """The filters from their definition: rank every row by score, keep those that pass."""
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        r = rows[i]
        if cameras is not None and r.camid not in cameras:
            continue
        if exclude_camera and (r.camid is None or r.camid == query.camid):
            continue
        if other_clothes and not (r.pid != query.pid or r.clothes != query.clothes):
            continue
        kept.append(int(i))
    return kept[:k]


@pytest.mark.reliability(
    tried="search with exclude_same_camera / other_clothes_only / a camera list",
    happens="applied inside the FAISS search: k allowed results, the same as filtering a full ranking",
)
@pytest.mark.parametrize(
    ("exclude_camera", "other_clothes", "cameras"),
    [(True, False, None), (False, True, None), (True, True, None), (False, False, (1, 2))],
)
def test_filters_match_a_plain_filtered_ranking_and_fill_the_page(
    searcher: Searcher, gallery, exclude_camera, other_clothes, cameras
) -> None:
    index = searcher.index
    rows = index.labels()
    paths = [Path(index.absolute(r["path"])) for r in index.rows]
    feats = searcher.model.embed(
        paths[:3], [gallery[1] / p.with_suffix(".png").name for p in paths[:3]]
    )
    vectors = index.index.reconstruct_n(0, index.index.ntotal)
    for q, feat in zip(paths[:3], feats.numpy(), strict=True):
        query = _name_labels(str(q))
        filt = SearchFilter(query, exclude_camera, other_clothes, cameras)
        hits = index.search(feat[None], 8, filters=[filt])[0]
        expected = _reference(
            vectors @ feat, rows, query, 8, exclude_camera, other_clothes, cameras
        )
        assert [h.row for h in hits] == expected and len(hits) == min(8, len(expected))
        assert len(expected) == 8  # the gallery holds more allowed rows: the page is full


def test_pages_continue_the_ranking(searcher: Searcher, gallery) -> None:
    image = sorted(gallery[0].glob("*.jpg"))[3]
    mask = (gallery[1] / image.with_suffix(".png").name).read_bytes()
    query = dict(image=image.read_bytes(), mask=mask, filename=image.name, other_clothes_only=True)
    whole = searcher.run(Query(top_k=12, **query)).hits
    pages = [searcher.run(Query(top_k=4, offset=o, **query)).hits for o in (0, 4, 8)]
    assert [h.row for p in pages for h in p] == [h.row for h in whole]
    assert [h.rank for p in pages for h in p] == list(range(1, 13))


@pytest.fixture(scope="module")
def client(searcher: Searcher) -> TestClient:
    return TestClient(create_app(searcher), LOCAL)


def _form(image: Path, masks: Path, **fields) -> dict:
    files = {"image": (image.name, image.read_bytes(), "image/jpeg"),
             "mask": ("m.png", (masks / image.with_suffix(".png").name).read_bytes(), "image/png")}  # fmt: skip
    return {"files": files, "data": {k: str(v) for k, v in fields.items()}}


def test_http_filters_use_the_query_name_or_the_labels_given(client: TestClient, gallery) -> None:
    image = sorted(gallery[0].glob("*.jpg"))[0]
    own = _name_labels(image.name)
    body = client.post("/api/search", **_form(image, gallery[1], top_k=10,
                                               exclude_same_camera="true")).json()  # fmt: skip
    assert body["query"] == {"pid": own.pid, "camid": own.camid, "clothes": own.clothes}
    assert body["results"] and all(h["camid"] != own.camid for h in body["results"])
    assert all(h["same"]["camera"] is False for h in body["results"])
    # A name without labels: the filter needs the camera, given in the request.
    renamed = {"files": {**_form(image, gallery[1])["files"],
                         "image": ("query.jpg", image.read_bytes(), "image/jpeg")}}  # fmt: skip
    refused = client.post("/api/search", **renamed, data={"exclude_same_camera": "true"})
    assert refused.status_code == 422 and "query's camera" in refused.json()["error"]
    given = client.post("/api/search", **renamed, data={"exclude_same_camera": "true",
                                                         "camid": str(own.camid)})  # fmt: skip
    assert [h["path"] for h in given.json()["results"]] == [h["path"] for h in body["results"]]


def test_the_answer_shows_the_mask_the_model_was_given(client: TestClient, gallery) -> None:
    image = sorted(gallery[0].glob("*.jpg"))[0]
    body = client.post("/api/search", **_form(image, gallery[1])).json()
    assert body["mask_source"] == "upload" and body["mask"].startswith("data:image/png;base64,")
    assert client.get(body["results"][0]["image"]).headers["content-type"] == "image/jpeg"


@pytest.mark.reliability(
    tried="24 different queries sent at once to one server",
    happens="embedded in shared batches; each answer equals the same query sent alone",
)
def test_concurrent_queries_each_get_their_own_answer(searcher: Searcher, gallery) -> None:
    images = sorted(gallery[0].glob("*.jpg"))[:24]
    app = create_app(searcher, max_batch=8, max_wait_ms=50)
    with TestClient(app, LOCAL) as http:
        alone = [http.post("/api/search", **_form(i, gallery[1], top_k=6)).json() for i in images]
        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(
                lambda i: http.post("/api/search", **_form(i, gallery[1], top_k=6)).json(), images))  # fmt: skip
    for a, b in zip(alone, together, strict=True):
        assert [h["path"] for h in a["results"]] == [h["path"] for h in b["results"]]
        np.testing.assert_allclose([h["score"] for h in a["results"]],
                                   [h["score"] for h in b["results"]], atol=1e-4)  # fmt: skip
    assert max(app.state.batcher.batch_sizes) > 1  # they did share batches


def test_batcher_waits_only_for_requests_still_arriving() -> None:
    seen: list[list[int]] = []
    batcher = Batcher(lambda items: seen.append(list(items)) or [i * 10 for i in items],
                      max_batch=4, max_wait_ms=10_000)  # fmt: skip
    assert batcher.submit(1).result(timeout=5) == 10  # alone: run at once, not after 10 s
    with batcher.arriving():  # a second request is being decoded: the batch waits for it
        first = batcher.submit(2)
        time.sleep(0.2)
        second = batcher.submit(3)
    assert (first.result(timeout=5), second.result(timeout=5)) == (20, 30)
    assert seen == [[1], [2, 3]]


def test_one_bad_item_fails_alone() -> None:
    def run(items: list[int]) -> list[int]:
        if -1 in items:
            raise ValueError("bad item")
        return items

    batcher = Batcher(run, max_batch=8, max_wait_ms=500)
    with batcher.arriving():
        futures = [batcher.submit(i) for i in (1, -1, 3)]
    assert futures[0].result(timeout=5) == 1 and futures[2].result(timeout=5) == 3
    with pytest.raises(ValueError, match="bad item"):
        futures[1].result(timeout=5)


@pytest.mark.slow
def test_the_page_shows_labels_filters_mask_and_more(searcher: Searcher, gallery) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when it can)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    image = sorted(gallery[0].glob("*.jpg"))[0]
    own = _name_labels(image.name)
    artifacts = Path(os.environ.get("CCREID_TEST_ARTIFACTS", REPO / "build/test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    with served_in_thread(create_app(searcher)) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto(url)
        assert "same identity as the query" in page.inner_text(".legend")
        page.fill("#topk", "5")
        page.set_input_files("#mask", str(gallery[1] / image.with_suffix(".png").name))
        page.set_input_files("#image", str(image))
        page.wait_for_function("document.querySelectorAll('.hit').length === 5")
        assert f"id {own.pid} / cam {own.camid} / outfit {own.clothes}" in page.inner_text("#query")
        assert page.query_selector(".query.mask img") is not None  # the body mask beside it
        first = page.inner_text(".hit")
        assert f"id {own.pid} / cam {own.camid}" in first and "id = cam = outfit =" in first
        page.click("#more")
        page.wait_for_function("document.querySelectorAll('.hit').length === 10")
        page.check("#exclude_same_camera")
        page.wait_for_function(
            f"[...document.querySelectorAll('.hit')].length === 5 && "
            f"[...document.querySelectorAll('.hit')].every(h => !h.innerText.includes('cam {own.camid} /'))"
        )
        page.click(".hit")
        assert page.is_visible("#enlarged") and "cam" in page.inner_text("#enlarged-text")
        page.screenshot(path=str(artifacts / "search-page.png"), full_page=True)
        browser.close()
    assert (artifacts / "search-page.png").stat().st_size > 10_000
