"""Metrics against hand-computed cases and an independent per-query reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ccreid.evaluation import evaluate, evaluate_features, pairwise_distance

# One query (pid 1, cam 0, clothes 10) against five gallery items, distances increasing.
HAND_DIST = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
HAND_G = dict(g_pids=[2, 1, 1, 3, 1], g_camids=[0, 0, 1, 1, 1], g_clothes=[5, 10, 10, 7, 11])
HAND_Q = dict(q_pids=[1], q_camids=[0], q_clothes=[10])


@pytest.mark.parametrize(
    ("mode", "first_rank", "ap"),
    [
        # general: item 1 is junk (same id, same cam); valid ranking neg, hit, neg, hit.
        ("general", 2, (1 / 2 + 2 / 4) / 2),
        # sc: item 4 (other clothes) also junk; valid ranking neg, hit, neg.
        ("sc", 2, 1 / 2),
        # cc: item 2 (same clothes) also junk; valid ranking neg, neg, hit.
        ("cc", 3, 1 / 3),
    ],
)
def test_hand_computed_single_query(mode: str, first_rank: int, ap: float) -> None:
    res = evaluate(HAND_DIST, **HAND_Q, **HAND_G, mode=mode, max_rank=5)
    expected_cmc = np.array([0.0] * (first_rank - 1) + [1.0] * (5 - first_rank + 1))
    np.testing.assert_allclose(res.cmc, expected_cmc)
    assert res.mAP == pytest.approx(ap)
    assert res.num_valid_queries == 1


def test_query_without_valid_match_is_skipped_and_counted() -> None:
    dist = np.vstack([HAND_DIST, [[0.9, 0.8, 0.7, 0.6, 0.5]]])
    # Second query: pid 3, cam 1. Its only gallery twin (item 3) shares its camera.
    res = evaluate(
        dist,
        q_pids=[1, 3],
        q_camids=[0, 1],
        q_clothes=[10, 7],
        **HAND_G,
        mode="general",
        max_rank=5,
    )
    assert res.num_valid_queries == 1
    assert res.num_skipped_queries == 1
    assert res.mAP == pytest.approx(0.5)


def test_no_valid_query_at_all_gives_zero_result() -> None:
    res = evaluate(np.zeros((1, 2)), [1], [2, 3], [0], [0, 0], max_rank=2)
    assert res.num_valid_queries == 0
    assert res.mAP == 0.0
    assert res.cmc.tolist() == [0.0, 0.0]


def test_summary_reports_percent_with_one_decimal() -> None:
    res = evaluate(HAND_DIST, **HAND_Q, **HAND_G, mode="cc", max_rank=10)
    assert res.summary() == {"top1": 0.0, "top5": 100.0, "top10": 100.0, "mAP": 33.3}


def test_ties_are_broken_by_gallery_index() -> None:
    # Equal distances: the match at index 0 precedes the negative at index 1.
    res = evaluate(np.zeros((1, 2)), [1], [1, 2], [0], [1, 1], max_rank=2)
    assert res.cmc.tolist() == [1.0, 1.0]


@pytest.mark.reliability(
    tried="metrics on NaN distances, mismatched lengths, empty sets",
    happens="`ValueError` naming the problem",
    also=("test_empty_sets_are_rejected",),
)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(distmat=np.zeros((2, 5))), "does not match"),
        (dict(q_pids=[1, 2]), "query label lengths differ"),
        (dict(distmat=np.array([[0.1, np.nan, 0.3, 0.4, 0.5]])), "NaN"),
        (dict(mode="cc", q_clothes=None), "needs clothes labels"),
        (dict(mode="bogus"), "unknown evaluation mode"),
        (dict(max_rank=0), "max_rank"),
    ],
)
def test_bad_input_gives_clear_error(kwargs: dict, message: str) -> None:
    args = dict(distmat=HAND_DIST, **HAND_Q, **HAND_G, mode="general")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        evaluate(**args)


def test_empty_sets_are_rejected() -> None:
    with pytest.raises(ValueError, match="query set is empty"):
        evaluate(np.zeros((0, 2)), [], [1, 2], [], [0, 1])
    with pytest.raises(ValueError, match="gallery is empty"):
        evaluate(np.zeros((1, 0)), [1], [], [0], [])


def reference_evaluate(dist, q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, mode, max_rank):
    """Textbook per-query loop with Python lists; independent of the library code."""
    cmc_hits = [0] * max_rank
    aps = []
    for i in range(len(q_pids)):
        ranked = sorted(range(len(g_pids)), key=lambda j: (dist[i][j], j))
        kept_matches = []
        for j in ranked:
            same_id = g_pids[j] == q_pids[i]
            if same_id and g_cams[j] == q_cams[i]:
                continue
            if same_id and mode == "sc" and g_clo[j] != q_clo[i]:
                continue
            if same_id and mode == "cc" and g_clo[j] == q_clo[i]:
                continue
            kept_matches.append(same_id)
        if not any(kept_matches):
            continue
        first = kept_matches.index(True)
        for r in range(first, max_rank):
            cmc_hits[r] += 1
        hits, precisions = 0, []
        for pos, is_match in enumerate(kept_matches):
            if is_match:
                hits += 1
                precisions.append(hits / (pos + 1))
        aps.append(sum(precisions) / len(precisions))
    n = len(aps)
    cmc = [h / n for h in cmc_hits] if n else [0.0] * max_rank
    return np.array(cmc), (sum(aps) / n if n else 0.0), n


@st.composite
def problems(draw):
    nq = draw(st.integers(1, 12))
    ng = draw(st.integers(1, 30))
    ids, cams, clothes = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # Quantised distances make ties frequent, which exercises the tie rule.
    dist = rng.integers(0, 6, size=(nq, ng)).astype(np.float64) / 5
    labels = [
        rng.integers(0, n, size=size)
        for n, size in [(ids, nq), (ids, ng), (cams, nq), (cams, ng), (clothes, nq), (clothes, ng)]
    ]
    mode = draw(st.sampled_from(["general", "sc", "cc"]))
    return dist, labels, mode


@settings(max_examples=150, deadline=None)
@given(problems())
def test_matches_reference_on_random_problems(problem) -> None:
    dist, (qp, gp, qc, gc, qcl, gcl), mode = problem
    max_rank = 10
    res = evaluate(dist, qp, gp, qc, gc, qcl, gcl, mode=mode, max_rank=max_rank)
    ref_cmc, ref_map, ref_n = reference_evaluate(
        dist.tolist(),
        qp.tolist(),
        gp.tolist(),
        qc.tolist(),
        gc.tolist(),
        qcl.tolist(),
        gcl.tolist(),
        mode,
        max_rank,
    )
    assert res.num_valid_queries == ref_n
    np.testing.assert_allclose(res.cmc, ref_cmc, atol=1e-6)
    assert res.mAP == pytest.approx(ref_map, abs=1e-6)


@st.composite
def spread_problems(draw):
    """Distances over a wide range (negative, huge, adjacent floats) so that bins of the
    rank counting hold several items, above and below the matches."""
    dist, labels, mode = draw(problems())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    base = np.float32(draw(st.sampled_from([0.5, -3.0, 1e20, -1e-30])))
    pool = np.array(
        [base, np.nextafter(base, np.float32(np.inf)), np.nextafter(base, np.float32(-np.inf)),
         base * 2, base - 1, 0.0, -0.0, 7.0, -1e20, 1e-38],
        dtype=np.float32,
    )  # fmt: skip
    return pool[rng.integers(0, len(pool), size=dist.shape)], labels, mode


@pytest.mark.parametrize("min_bins,bins_per_match", [(1024, 128), (2, 1)])
@settings(max_examples=60, deadline=None)
@given(problem=spread_problems())
def test_rank_counting_matches_reference_when_bins_are_shared(
    problem, min_bins: int, bins_per_match: int
) -> None:
    dist, (qp, gp, qc, gc, qcl, gcl), mode = problem
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ccreid.evaluation.match_ranks._MIN_BINS", min_bins)
        patch.setattr("ccreid.evaluation.match_ranks._BINS_PER_MATCH", bins_per_match)
        res = evaluate(dist, qp, gp, qc, gc, qcl, gcl, mode=mode, max_rank=10)
    as_lists = [a.tolist() for a in (dist, qp, gp, qc, gc, qcl, gcl)]
    ref_cmc, ref_map, ref_n = reference_evaluate(*as_lists, mode, 10)
    assert res.num_valid_queries == ref_n
    np.testing.assert_allclose(res.cmc, ref_cmc, atol=1e-6)
    assert res.mAP == pytest.approx(ref_map, abs=1e-6)


@pytest.mark.parametrize("mode", ["general", "sc", "cc"])
def test_matches_reference_on_a_larger_problem(mode: str) -> None:
    """Many matches per query and thousands of gallery items: the regime of real sets."""
    rng = np.random.default_rng(3)
    nq, ng = 40, 3000
    dist = rng.normal(1.0, 0.2, size=(nq, ng)).astype(np.float32)
    labels = [rng.integers(0, n, size=size) for n, size in
              [(30, nq), (30, ng), (4, nq), (4, ng), (3, nq), (3, ng)]]  # fmt: skip
    res = evaluate(dist, *labels, mode=mode, max_rank=20)
    ref_cmc, ref_map, ref_n = reference_evaluate(
        dist.tolist(), *[a.tolist() for a in labels], mode, 20
    )
    assert res.num_valid_queries == ref_n
    np.testing.assert_allclose(res.cmc, ref_cmc, atol=1e-6)
    assert res.mAP == pytest.approx(ref_map, abs=1e-6)


def test_chunked_evaluation_equals_one_shot(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    dist = rng.random((40, 30))
    labels = [
        rng.integers(0, 6, 40),
        rng.integers(0, 6, 30),
        rng.integers(0, 2, 40),
        rng.integers(0, 2, 30),
        rng.integers(0, 3, 40),
        rng.integers(0, 3, 30),
    ]
    whole = evaluate(dist, *labels, mode="cc")
    monkeypatch.setattr("ccreid.evaluation.metrics._CHUNK_ELEMENTS", 70)  # 2 rows per chunk
    chunked = evaluate(dist, *labels, mode="cc")
    np.testing.assert_allclose(chunked.cmc, whole.cmc)
    assert chunked.mAP == pytest.approx(whole.mAP)


def test_evaluate_features_equals_evaluate_on_distances() -> None:
    gen = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(20, 16, generator=gen), torch.randn(50, 16, generator=gen)
    rng = np.random.default_rng(1)
    labels = [
        rng.integers(0, 5, 20),
        rng.integers(0, 5, 50),
        rng.integers(0, 3, 20),
        rng.integers(0, 3, 50),
    ]
    for metric in ("cosine", "euclidean"):
        direct = evaluate(pairwise_distance(qf, gf, metric), *labels)
        streamed = evaluate_features(qf, gf, *labels, metric=metric)
        np.testing.assert_allclose(streamed.cmc, direct.cmc)
        assert streamed.mAP == pytest.approx(direct.mAP)


def _is_junk(mode: str, qp, qc, qo, gp, gc, go) -> bool:
    """docs/conventions.md#evaluation, written out for one (query, gallery) pair."""
    if qp == gp and qc == gc:
        return True
    if mode == "sc" and qp == gp and qo != go:
        return True
    return mode == "cc" and qp == gp and qo == go


@pytest.mark.reliability(
    tried="ranked-list pictures",
    happens="show the gallery as the metric ranks it (junk left out), outfit marked",
)
@pytest.mark.parametrize("mode", ["general", "sc", "cc"])
def test_ranked_lists_leave_out_what_the_metric_ignores(mode: str) -> None:
    from ccreid.evaluation import Labels, ranked_without_junk

    rng = np.random.default_rng(7)
    q = Labels(rng.integers(0, 4, 12), rng.integers(0, 3, 12), rng.integers(0, 2, 12))
    g = Labels(rng.integers(0, 4, 40), rng.integers(0, 3, 40), rng.integers(0, 2, 40))
    dist = rng.random((12, 40)).round(1)  # many ties: broken by gallery index
    lists = ranked_without_junk(dist, q, g, mode, top_k=10)
    for i in range(12):
        order = sorted(range(40), key=lambda j: (np.float32(dist[i, j]), j))
        kept = [j for j in order if not _is_junk(mode, q.pids[i], q.camids[i], q.clothes[i],
                                                 g.pids[j], g.camids[j], g.clothes[j])]  # fmt: skip
        assert list(lists[i]) == kept[:10]


# Distances of any float dtype are ranked in their own precision (float64 as float64, the
# narrower ones as float32, to which they convert exactly); +inf ranks last, -inf first.


def _assert_matches_reference(dist, reference_dist, labels, mode, bins=(1024, 128)) -> None:
    """evaluate() on ``dist`` equals the plain loop on ``reference_dist`` (Python floats),
    with the rank counting's bin counts set to ``bins`` (few bins: many items share one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ccreid.evaluation.match_ranks._MIN_BINS", bins[0])
        patch.setattr("ccreid.evaluation.match_ranks._BINS_PER_MATCH", bins[1])
        res = evaluate(dist, *labels, mode=mode, max_rank=10)
    ref_cmc, ref_map, ref_n = reference_evaluate(
        reference_dist, *[a.tolist() for a in labels], mode, 10
    )
    assert res.num_valid_queries == ref_n
    np.testing.assert_allclose(res.cmc, ref_cmc, atol=1e-6)
    assert res.mAP == pytest.approx(ref_map, abs=1e-6)


BIN_SETTINGS = pytest.mark.parametrize("bins", [(1024, 128), (2, 1)], ids=["bins", "few-bins"])


def test_float64_gaps_below_float32_resolution_decide_the_ranking() -> None:
    # In float32 both are 1.0 and the tie would put the negative (index 0) first.
    res = evaluate([[1 + 1e-9, 1.0]], [1], [2, 1], [0], [1, 1], max_rank=2)
    assert res.top(1) == 1.0 and res.mAP == 1.0


@st.composite
def near_tie_problems(draw):
    """float64 distances a few steps of a gap apart that float32 cannot tell apart."""
    dist, labels, mode = draw(problems())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    base = draw(st.sampled_from([1.0, -2.5, 1e6, 0.0]))
    gap = draw(st.sampled_from([1e-9, 2.0**-45, float(np.spacing(1.0)), 1e-300]))
    return base + rng.integers(-3, 4, size=dist.shape) * gap, labels, mode


@pytest.mark.reliability(
    tried="`evaluate([[1+1e-9, 1.0]], …)` and float64 matrices with gaps finer than float32",
    happens="ranked in float64, the same as a stable per-query sort (top-1 = 1)",
)
@BIN_SETTINGS
@settings(max_examples=60, deadline=None)
@given(problem=near_tie_problems())
def test_float64_near_ties_match_reference(problem, bins) -> None:
    dist, labels, mode = problem
    _assert_matches_reference(dist, dist.tolist(), labels, mode, bins)


@st.composite
def masked_problems(draw):
    """Distances with +inf (masked pairs) and some -inf, in float64 or float32; in some
    problems every true match of a query is at +inf."""
    dist, (qp, gp, *rest), mode = draw(problems())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    dist = dist.astype(draw(st.sampled_from([np.float64, np.float32])))
    dist[rng.random(dist.shape) < draw(st.sampled_from([0.2, 0.6, 1.0]))] = np.inf
    dist[rng.random(dist.shape) < draw(st.sampled_from([0.0, 0.1]))] = -np.inf
    if draw(st.booleans()):
        dist[qp[:, None] == gp[None, :]] = np.inf
    return dist, (qp, gp, *rest), mode


@pytest.mark.reliability(
    tried="a distance matrix with +inf (masked pairs) or -inf",
    happens="+inf ranks after every finite distance and -inf before; ties go by gallery index",
)
@BIN_SETTINGS
@settings(max_examples=60, deadline=None)
@given(problem=masked_problems())
def test_infinite_distances_rank_last_as_a_plain_sort_does(problem, bins) -> None:
    dist, labels, mode = problem
    _assert_matches_reference(dist, dist.tolist(), labels, mode, bins)


@st.composite
def low_precision_problems(draw):
    """bf16 / fp16 tensors (coarse: many ties), as a model under autocast gives them."""
    dist, labels, mode = draw(problems())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    scale = draw(st.sampled_from([1.0, 1e-3, 300.0]))
    dtype = draw(st.sampled_from([torch.bfloat16, torch.float16]))
    return torch.from_numpy(rng.normal(1.0, 0.05, size=dist.shape) * scale).to(dtype), labels, mode


@pytest.mark.reliability(
    tried="a bf16 or fp16 distance tensor (e.g. from autocast)",
    happens="converted to float32 (exact) block by block and ranked",
)
@BIN_SETTINGS
@settings(max_examples=40, deadline=None)
@given(problem=low_precision_problems())
def test_bf16_and_fp16_tensors_match_reference(problem, bins) -> None:
    dist, labels, mode = problem
    _assert_matches_reference(dist, dist.float().tolist(), labels, mode, bins)


@st.composite
def wide_range_problems(draw):
    """Finite distances spanning more than float32's range (float64 from 1e-300 to 1e300,
    both signs), or float32 ones at its largest magnitudes."""
    dist, labels, mode = draw(problems())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    if draw(st.booleans()):
        magnitude = 10.0 ** rng.uniform(-300, 300, size=dist.shape)
        return magnitude * rng.choice([-1.0, 1.0], size=dist.shape), labels, mode
    big = np.finfo(np.float32).max
    pool = np.array([big, -big, np.nextafter(big, np.float32(0)), 1e38, -1e38, 0.0, 1.0,
                     np.finfo(np.float32).tiny, -3.0e38], dtype=np.float32)  # fmt: skip
    return pool[rng.integers(0, len(pool), size=dist.shape)], labels, mode


@pytest.mark.reliability(
    tried=(
        "finite distances wider than float32's range (1e-300..1e300 in float64, float32 near its "
        "max)"
    ),
    happens="ranked correctly, no `bincount` crash",
)
@BIN_SETTINGS
@settings(max_examples=60, deadline=None)
@given(problem=wide_range_problems())
def test_finite_distances_of_any_range_match_reference(problem, bins) -> None:
    dist, labels, mode = problem
    _assert_matches_reference(dist, dist.tolist(), labels, mode, bins)


@pytest.mark.reliability(
    tried="NaN in the distance matrix",
    happens="`InputError` naming NaN and its first row and column",
)
def test_nan_is_an_error_naming_where_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccreid.errors import InputError

    dist = np.zeros((6, 5))
    dist[4, 2] = np.nan
    monkeypatch.setattr("ccreid.evaluation.metrics._CHUNK_ELEMENTS", 10)  # 2 rows per block
    with pytest.raises(InputError, match=r"NaN \(first at row 4, column 2\)"):
        evaluate(dist, [1] * 6, [1, 2, 1, 2, 1], [0] * 6, [1] * 5)


def test_complex_distances_are_refused() -> None:
    from ccreid.errors import InputError

    with pytest.raises(InputError, match="complex128 is not supported"):
        evaluate(np.zeros((1, 2), dtype=complex), [1], [1, 2], [0], [1, 1])


@pytest.mark.reliability(
    tried="`ranked_without_junk` on float64 near-ties, inf or a bf16 tensor",
    happens="ranks in the input's precision, the same as `sorted()`",
)
@pytest.mark.parametrize(
    "dist",
    [
        np.array([[1.0 + 2e-9, 1.0 + 1e-9, 1.0, np.inf, 1.0 + 3e-9, -np.inf]] * 3),
        torch.tensor([[0.30, 0.10, 0.31, 0.10, 0.2, 0.3]] * 3).bfloat16(),
    ],
    ids=["float64-near-ties-and-inf", "bf16"],
)
def test_ranked_lists_rank_in_the_input_precision(dist) -> None:
    from ccreid.evaluation import Labels, ranked_without_junk

    q = Labels(np.array([1, 2, 3]), np.array([0, 0, 0]))
    g = Labels(np.array([1, 2, 1, 3, 2, 1]), np.array([0, 1, 1, 1, 0, 1]))
    lists = ranked_without_junk(dist, q, g, top_k=6)
    values = (dist.float() if isinstance(dist, torch.Tensor) else dist).tolist()
    for i in range(3):
        order = sorted(range(6), key=lambda j: (values[i][j], j))
        kept = [j for j in order if not _is_junk("general", q.pids[i], 0, 0, g.pids[j],
                                                 g.camids[j], 0)]  # fmt: skip
        assert list(lists[i]) == kept


@pytest.mark.reliability(
    tried="float64 features in `evaluate_features` / `pairwise_distance`",
    happens="float64 distances, so near-ties are kept",
)
def test_float64_features_give_float64_distances() -> None:
    # 1 - cos is 2e-10 and 5e-11: both 0 in float32, where the negative (index 0) came first.
    qf = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    gf = torch.tensor([[1.0, 2e-5], [1.0, 1e-5]], dtype=torch.float64)
    assert pairwise_distance(qf, gf).dtype == torch.float64
    res = evaluate_features(qf, gf, [1], [2, 1], [0], [1, 1], max_rank=2)
    assert res.top(1) == 1.0


def reference_minp(dist, q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, mode):
    """mINP by its definition (Ye et al., AGW), as a plain loop: per query with a valid
    match, |true matches| / (1-based rank of the hardest true match among kept items)."""
    inps = []
    for i in range(len(q_pids)):
        ranked = sorted(range(len(g_pids)), key=lambda j: (dist[i][j], j))
        kept = []
        for j in ranked:
            same_id = g_pids[j] == q_pids[i]
            junk = same_id and (
                g_cams[j] == q_cams[i]
                or (mode == "sc" and g_clo[j] != q_clo[i])
                or (mode == "cc" and g_clo[j] == q_clo[i])
            )
            if not junk:
                kept.append(same_id)
        if any(kept):
            hardest = max(pos for pos, match in enumerate(kept) if match) + 1
            inps.append(sum(kept) / hardest)
    return sum(inps) / len(inps) if inps else 0.0


@settings(max_examples=150, deadline=None)
@given(problems())
def test_minp_matches_its_definition(problem) -> None:
    dist, labels, mode = problem
    res = evaluate(dist, *labels, mode=mode)
    expected = reference_minp(dist.tolist(), *(a.tolist() for a in labels), mode)
    assert res.mINP == pytest.approx(expected, abs=1e-12)
    assert res.metrics()["mINP"] == round(100 * expected, 1)


def test_minp_by_hand() -> None:
    """Two true matches at kept ranks 1 and 3: INP = 2 / 3."""
    res = evaluate(np.array([[0.1, 0.2, 0.3, 0.4]]), [1], [1, 2, 1, 2], [0], [1, 1, 1, 1])
    assert res.mINP == pytest.approx(2 / 3)
