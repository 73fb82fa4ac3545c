"""compress.osbc at the edges its other tests leave open, with expected values worked out by hand."""
import numpy as np
import pytest
import torch

from compress import osbc


@pytest.mark.parametrize("available", [True, False])
def test_default_device_follows_what_torch_sees(monkeypatch, available):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    assert osbc.resolve_device(None) == torch.device("cuda" if available else "cpu")


def test_cuda_without_a_gpu_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device: cuda is not available \(torch sees no GPU\); use cpu$"):
        osbc.resolve_device("cuda")


def removal_loss(w: np.ndarray, hinv: np.ndarray, removed: np.ndarray) -> float:
    """Least membrane loss with the inputs `removed` zeroed and the rest re-fitted, in closed form:
    w_Q^T [(H^-1)_QQ]^-1 w_Q / 2 (Hassibi & Stork), independent of the greedy updates."""
    wq = w[removed]
    return float(wq @ np.linalg.solve(hinv[np.ix_(removed, removed)], wq) / 2) if removed.size else 0.0


def test_inverse_factor_by_hand():
    # 1 x 1 pivots by hand, larger blocks through numpy's Cholesky; both refuse a block that is not PD
    assert osbc._inverse_factor(np.array([[[4.0]], [[0.25]]])).ravel().tolist() == [0.5, 2.0]
    # [[4, 2], [2, 5]] = L L^T with L = [[2, 0], [1, 2]], whose inverse is [[1/2, 0], [-1/4, 1/2]]
    np.testing.assert_allclose(osbc._inverse_factor(np.array([[[4.0, 2.0], [2.0, 5.0]]]))[0], [[0.5, 0], [-0.25, 0.5]])
    for bad in (np.array([[[4.0]], [[0.0]]]), np.array([[[1.0, 2.0], [2.0, 1.0]]])):
        with pytest.raises(np.linalg.LinAlgError):
            osbc._inverse_factor(bad)


def test_long_rows_stay_exact_after_the_trace_compacts(rng):
    # d > PENDING_MIN: every PENDING_MIN one-at-a-time removals the pending downdates are applied, and
    # the dead slots dropped every other time, so most of the trace runs on compacted matrices.
    d = 4 * osbc.PENDING_MIN + 72
    a = rng.normal(size=(3 * d, d))
    hess = a.T @ a / (3 * d) + 0.1 * np.eye(d)
    w = rng.normal(size=d)
    trace = osbc.obs_trace(w[None], hess[None], group_frac=0, threads=1)  # one thread: tiny matrices
    assert trace.order.dtype == np.int64
    order, hinv = trace.order[0], np.linalg.inv(hess)
    assert sorted(order) == list(range(d))
    for k in range(1, d + 1):
        assert np.isclose(trace.loss[0, k], removal_loss(w, hinv, order[:k]), rtol=1e-7, atol=1e-9), k
    for k in range(1, d):  # the greedy choice at every step, before and after each compaction
        # With Q removed and the kept set K re-fitted (w'_K = w_K + H_KK^-1 H_KQ w_Q), removing j next
        # costs w'_j^2 / (2 [H_KK^-1]_jj): the chosen input must cost the least.
        q, kept = order[:k], np.setdiff1d(np.arange(d), order[:k])
        inv_kk = np.linalg.inv(hess[np.ix_(kept, kept)])
        refit = w[kept] + inv_kk @ hess[np.ix_(kept, q)] @ w[q]
        cost = refit ** 2 / (2 * np.diag(inv_kk))
        assert np.isclose(cost[np.searchsorted(kept, order[k])], cost.min(), rtol=1e-9), k


@pytest.mark.parametrize("n_rows, threads, budget, plan", [
    # fit = 2^30 // (3 d^2 itemsize) is ample: 20 rows allow 2 workers of 8+ rows, 7 threads each of 15
    (20, 15, 1 << 30, (2, 7, [range(0, 10), range(10, 20)])),
    (7, 4, 1 << 30, (1, 4, [range(0, 7)])),  # too few rows for two workers
    (3, 4, 1, (1, 4, [range(0, 1), range(1, 2), range(2, 3)])),  # one row at a time fits the budget
])
def test_thread_plan(n_rows, threads, budget, plan):
    workers, inner, blocks = osbc.thread_plan(n_rows, 10, 8, threads, budget)
    assert (workers, inner, [b.tolist() for b in blocks]) == (plan[0], plan[1], [list(b) for b in plan[2]])
    assert type(workers) is int and type(inner) is int


def test_thread_plan_within_an_exact_budget():
    # 3 d^2 itemsize = 2400 bytes per row: a budget of 16 rows is 2 workers of 8 rows
    workers, inner, blocks = osbc.thread_plan(64, 10, 8, 2, 2400 * 16)
    assert (workers, inner, [len(b) for b in blocks]) == (2, 1, [8] * 8)


def test_pooled_slices_run_one_thread_each_and_restore_the_count():
    seen = []

    def fn(sl):
        seen.append((sl.start, sl.stop, torch.get_num_threads()))
        return torch.arange(5)[sl] * 2

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert osbc._pooled(fn, 5, torch.device("cpu")).tolist() == [0, 2, 4, 6, 8]
        assert sorted(seen) == [(0, 3, 1), (3, 5, 1)] and torch.get_num_threads() == 2
        seen.clear()
        assert osbc._pooled(fn, 1, torch.device("cpu")).tolist() == [0] and seen == [(0, 1, 2)]
    finally:
        torch.set_num_threads(before)


def pruning_problem(rng, rows=10, d=6):
    x = rng.normal(size=(4 * d, d))
    hess = np.stack([x.T @ x / len(x) + 0.1 * np.eye(d), np.eye(d) + 0.3])
    keep = rng.random((rows, d)) < 0.6
    keep[:5] = [True, False, True, True, False, True]  # a mask five rows share
    return rng.normal(size=(rows, d)), hess, (np.arange(rows) >= 7).astype(np.int64), keep


def test_fit_mask_is_the_closed_form_optimum_with_exact_zeros(rng):
    weight, hess, group, keep = pruning_problem(rng)
    out = osbc.fit_mask(weight, hess, group, keep)
    for r in range(len(weight)):
        h, k, p = hess[group[r]], keep[r], ~keep[r]
        expected = np.zeros_like(weight[r])  # w'_K = w_K + H_KK^-1 H_KP w_P, zero off the mask
        expected[k] = weight[r, k] + np.linalg.solve(h[np.ix_(k, k)], h[np.ix_(k, p)] @ weight[r, p])
        np.testing.assert_allclose(out[r], expected, rtol=1e-9, atol=1e-12)
        assert np.all(out[r, p] == 0)


def test_pruning_and_rounding_do_not_depend_on_torch_threads(rng):
    weight, hess, group, keep = pruning_problem(rng)
    scales = np.stack([osbc.max_scales(weight, 4), 0.7 * osbc.max_scales(weight, 4)])
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append((osbc.fit_mask(weight, hess, group, keep),
                            *osbc.quantise(weight, hess, group, keep, scales, 7, min_shared=2)))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_leaky_traces_by_hand():
    x = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float32)
    out = osbc.leaky_traces(x, 0.5)
    assert out.dtype == torch.float64 and out[:, 0].tolist() == [1.0, 0.5, 1.25]
    assert osbc.leaky_traces(torch.tensor([[2.0, 3.0]]), 0.5).tolist() == [[2.0, 3.0]]  # one step


def test_damping_leaves_its_input_alone_and_works_in_float():
    hess = np.diag([2.0, 0.0, 4.0])[None]
    damped, _ = osbc.damp(hess, 0.01)
    assert np.array_equal(hess, np.diag([2.0, 0.0, 4.0])[None])
    from_ints, _ = osbc.damp(np.diag([2, 0, 4])[None], 0.01)
    np.testing.assert_allclose(from_ints, damped)


def test_row_losses_by_hand():
    hess = np.array([[[2.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 3.0]]])
    w_ref, w_new = np.array([[1.0, 2.0], [1.0, 0.0]]), np.zeros((2, 2))
    # row 0 on H0: (2·1 + 1·4) / 2 = 3; row 1 on H1: 1 / 2
    assert osbc.row_losses(w_ref, w_new, hess, np.array([0, 1])).tolist() == [3.0, 0.5]
    assert osbc.membrane_loss(w_ref, w_new, hess, np.array([0, 1])) == 3.5


def test_best_candidate_per_row_and_ties_keep_the_first():
    eye = np.eye(2)[None]
    cands = np.array([[[0, 0], [1, 0]], [[1, 0], [1, 0]]])  # [K=2, R=2, d=2]
    q, s = osbc.best_per_row(np.array([[1.0, 0.0], [1.0, 0.0]]), cands, np.array([[1.0, 1.0], [1.0, 2.0]]), eye,
                             np.zeros(2, int))
    # row 0: candidate 0 is 0.5 off, candidate 1 exact; row 1: candidate 0 exact, candidate 1 (scale 2) 0.5 off
    assert q.tolist() == [[1, 0], [1, 0]] and s.tolist() == [1.0, 1.0]


def test_quantise_judges_the_candidates_against_ref():
    args = (np.array([[0.6]]), np.ones((1, 1, 1)), np.zeros(1, int), np.ones((1, 1), bool), [[1.0], [0.5]], 7)
    # on scale 1: 0.6 -> 1 (0.4 off); on scale 0.5: 0.6 -> 1 x 0.5 (0.1 off) -- but 0.5 off a ref of 1.0
    assert [a.tolist() for a in osbc.quantise(*args)] == [[[1]], [0.5]]
    assert [a.tolist() for a in osbc.quantise(*args, ref=np.array([[1.0]]))] == [[[1]], [1.0]]


def test_rounding_clips_to_the_signed_grid():
    assert osbc.rtn(np.array([[-100.0, 100.0, 2.4, -7.6]]), np.array([1.0]), 7).tolist() == [[-8, 7, 2, -8]]


def test_max_scales_by_hand():
    w = np.array([[0.7, -0.35], [0.0, 0.0]])
    np.testing.assert_allclose(osbc.max_scales(w, 4), [0.1, 1.0])
    np.testing.assert_allclose(osbc.max_scales(w, 4, np.array([5.0, 6.0])), [0.1, 6.0])


def test_row_scales_is_the_best_candidate_by_brute_force(rng):
    w = rng.normal(size=(6, 9)) * np.array([1, 1, 1, 1, 1, 1, 1, 1, 6.0])  # an outlier that pays to clip
    hdiag = rng.uniform(0.1, 3, size=w.shape)
    scales, qmax = osbc.row_scales(w, 4, hdiag=hdiag)
    base = np.abs(w).max(1) / 7
    candidates = [p * base for p in list(osbc.SHRINK) + [7 / 8]]
    errors = [(hdiag * (np.clip(np.rint(w / s[:, None]), -8, 7) * s[:, None] - w) ** 2).sum(1) for s in candidates]
    best = np.min(errors, axis=0)
    got = (hdiag * (np.clip(np.rint(w / scales[:, None]), -8, 7) * scales[:, None] - w) ** 2).sum(1)
    assert qmax == 7
    np.testing.assert_allclose(got, best, rtol=1e-12)
    assert np.any(scales < base * 0.99)  # clipping won somewhere, so the search mattered


def test_magnitude_ties_go_to_the_lowest_index():
    weight = np.tile([1.0, -1.0, 0.5], 30).reshape(6, 15)
    keep = osbc.magnitude_mask(weight, 30)
    assert keep.dtype == bool and np.array_equal(keep.ravel(), np.tile([True, True, False], 30))
    keep = osbc.magnitude_mask(weight, 40)  # all 30 halves, then the first 10 of the ones
    assert np.flatnonzero(~keep.ravel()).tolist() == sorted(list(range(2, 90, 3)) + [0, 1, 3, 4, 6, 7, 9, 10, 12, 13])


def test_select_mask_refusal_names_the_range():
    trace = osbc.Trace(order=np.zeros((2, 3), np.int64), loss=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"^n_prune: must be in 0\.\.6, got 7$"):
        osbc.select_mask(trace, 7)


def test_each_row_is_traced_on_its_groups_hessian(rng):
    d = 5
    hess = np.stack([np.eye(d) + 0.5, np.diag(np.arange(1.0, d + 1))])
    w = rng.normal(size=(2, d))
    group = np.array([1, 0])
    trace = osbc.obs_trace(w, hess, group, group_frac=0)
    for r in range(2):
        hinv = np.linalg.inv(hess[group[r]])
        for k in range(d + 1):
            assert np.isclose(trace.loss[r, k], removal_loss(w[r], hinv, trace.order[r, :k]), rtol=1e-9, atol=1e-12)


def test_trace_progress_shows_blocks_only_when_asked(rng, capsys):
    w, hess = rng.normal(size=(16, 3)), np.eye(3)[None]
    osbc.obs_trace(w, hess, threads=2)  # two blocks, no description: silent
    assert capsys.readouterr().err == ""
    osbc.obs_trace(w[:4], hess, threads=2, desc="trace l0")  # one block: nothing to count
    assert capsys.readouterr().err == ""
    osbc.obs_trace(w, hess, threads=2, desc="trace l0")
    err = capsys.readouterr().err
    assert "trace l0" in err and "2/2" in err and "block" in err
