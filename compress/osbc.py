"""OSBC: one-shot second-order pruning and quantisation of spiking layers (arXiv 2506.03996).

The loss of a layer is the error of its neurons' membrane potentials over time (reset ignored):
with leak beta, U_t = sum_{k<=t} beta^(t-k) W x_k, so for a row w of W the loss of a change d is
d^T H d / 2 with H = 2 X~ X~^T / m built from leaky input traces x~_t = beta x~_{t-1} + x_t
(m = samples x steps). beta = 0 gives the OBC "current" loss. Everything below is ExactOBS / GPTQ
machinery on that H, vectorised over the rows of a layer:

* `obs_trace`: per row, greedy removal of the weight with the smallest loss increase
  w_q^2 / (2 [H^-1]_qq), the compensating update of the others and the H^-1 downdate, down to an
  empty row. Recording only the removal order and the cumulative loss is enough: the weights for
  any mask are recovered exactly by `fit_mask` (the sequential OBS updates *are* the least-squares
  optimum for the final mask), so one pass serves every sparsity level.
* `select_mask`: global choice across the rows of a layer of how many weights each row loses.
* `quantise`: GPTQ column sweep with error feedback through each row's H restricted to its mask.

Rows may use different Hessians (per-neuron beta): `group[r]` indexes the stack `hess[g]`.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

MEMORY_BUDGET = 2 << 30  # bytes of per-row inverse Hessians held at once
PENDING = 128  # H^-1 downdates collected before they are applied as one GEMM (as GPTQ's lazy batches)


def leaky_traces(x: torch.Tensor, beta: float) -> torch.Tensor:
    """x~_t = beta x~_{t-1} + x_t along the time axis of x [T, ...] (float64)."""
    out = torch.empty_like(x, dtype=torch.float64)
    acc = torch.zeros_like(out[0])
    for t in range(x.shape[0]):
        acc = beta * acc + x[t]
        out[t] = acc
    return out


class HessianAccumulator:
    """Sums X~^T X~ over calibration batches for each distinct leak of a layer's neurons."""

    def __init__(self, n_in: int, betas: np.ndarray):
        self.betas, self.group = np.unique(np.asarray(betas, np.float64), return_inverse=True)
        self.sum = torch.zeros(len(self.betas), n_in, n_in, dtype=torch.float64)
        self.count = 0

    def add(self, x: torch.Tensor) -> None:
        """x [T, B, n_in]: one batch of the layer's input events over all steps."""
        for g, beta in enumerate(self.betas):
            xt = leaky_traces(x, float(beta)).reshape(-1, x.shape[-1])
            self.sum[g].addmm_(xt.T, xt)
        self.count += x.shape[0] * x.shape[1]

    def hessian(self) -> np.ndarray:
        """H = 2 X~ X~^T / m per leak group, float64 [G, n_in, n_in]."""
        if self.count == 0:
            raise ValueError("calib: the calibration set is empty")
        return (2.0 * self.sum / self.count).numpy()


def damp(hess: np.ndarray, rel: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(damped H, dead [G, n_in]). Inputs that never fired get H_jj = 1 (as in GPTQ; their weights
    are zeroed by the caller, so they cost nothing to prune), then rel x mean diagonal is added."""
    h = np.array(hess, np.float64, copy=True)
    idx = np.arange(h.shape[-1])
    dead = h[:, idx, idx] == 0
    for g in range(len(h)):
        h[g, idx[dead[g]], idx[dead[g]]] = 1.0
        h[g, idx, idx] += rel * h[g, idx, idx].mean()
    return h, dead


@dataclass
class Trace:
    """Greedy removal per row: order[r, k] is the k-th input removed, loss[r, k] the loss after k removals."""

    order: np.ndarray  # int64 [R, d]
    loss: np.ndarray  # float64 [R, d + 1]


def _row_blocks(n_rows: int, d: int, itemsize: int) -> list[np.ndarray]:
    """Row index blocks small enough that their d x d working matrices fit the memory budget."""
    per = max(1, min(n_rows, MEMORY_BUDGET // max(1, 3 * d * d * itemsize)))
    return [np.arange(s, min(s + per, n_rows)) for s in range(0, n_rows, per)]


def _gather2(m: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """m[r][keep[r]][:, keep[r]] for a batch of square matrices (index_select is the quickest path)."""
    out = m.new_empty(m.shape[0], keep.shape[1], keep.shape[1])
    for a, k, o in zip(m, keep, out):
        torch.index_select(a.index_select(0, k), 1, k, out=o)
    return out


def _trace_block(w: torch.Tensor, hinv: torch.Tensor, group_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy OBS on a block of rows: w [r, d], hinv [r, d, d] (consumed). Downdates are collected
    in `pend` (H^-1 = hinv - pend^T pend) and applied as one GEMM every PENDING removals, when dead
    slots are also dropped once they are 1/4 of the matrix, so the work shrinks with the rows."""
    r, d = w.shape
    diag = torch.diagonal(hinv, dim1=1, dim2=2).clone()  # always current
    pend = torch.empty(r, PENDING, d, dtype=w.dtype)
    cols = torch.arange(d).expand(r, d).clone()  # original input of each compacted slot
    alive = torch.ones(r, d, dtype=torch.bool)
    batch = torch.arange(r)[:, None]
    order = np.empty((r, d), np.int64)
    loss = np.zeros((r, d + 1))
    done, m, p = 0, d, 0
    while done < d:
        g = min(max(1, int((d - done) * group_frac)), d - done)
        if p + g > PENDING:
            hinv.baddbmm_(pend[:, :p, :m].transpose(1, 2), pend[:, :p, :m], alpha=-1)
            p = 0
            if 4 * (m - (d - done)) >= m:
                keep = torch.argsort((~alive).to(torch.int8), dim=1, stable=True)[:, :d - done]
                hinv = _gather2(hinv, keep)
                w, diag, cols, alive = (t.gather(1, keep) for t in (w, diag, cols, alive))
                m = d - done
        score = (w * w / diag).masked_fill(~alive, float("inf"))
        q = torch.topk(score, g, dim=1, largest=False, sorted=True).indices  # [r, g]
        ct = hinv[batch, q]  # rows Q of the (symmetric) stale H^-1: [r, g, m]
        if p:
            ct -= pend[:, :p, :m].gather(2, q[:, None, :].expand(r, p, g)).transpose(1, 2) @ pend[:, :p, :m]
        hqq = ct.gather(2, q[:, None, :].expand(r, g, g)).double().numpy()  # H^-1[Q, Q]
        linv = np.linalg.inv(np.linalg.cholesky(hqq))  # tiny g x g: numpy is far quicker than torch
        z = torch.from_numpy(linv @ w.gather(1, q).double().numpy()[:, :, None])[:, :, 0]
        bt = torch.from_numpy(linv).to(w.dtype) @ ct  # H^-1' = H^-1 - bt^T bt
        w -= (bt * z.to(w.dtype)[:, :, None]).sum(1)
        diag -= (bt * bt).sum(1)
        pend[:, p:p + g, :m] = bt
        p += g
        alive.scatter_(1, q, False)
        w.masked_fill_(~alive, 0)
        order[:, done:done + g] = cols.gather(1, q).numpy()
        loss[:, done + 1:done + g + 1] = loss[:, done, None] + np.cumsum(z.numpy() ** 2, 1) / 2
        done += g
    return order, loss


def obs_trace(weight: np.ndarray, hess: np.ndarray, group: np.ndarray | None = None, *,
              group_frac: float = 1 / 256, dtype=torch.float64, desc: str | None = None) -> Trace:
    """ExactOBS greedy pruning of every row down to zero weights.

    weight [R, d]; hess damped [G, d, d]; group [R] (default all 0). Each step removes
    g = max(1, floor(remaining x group_frac)) weights per row at once (the smallest OBS scores)
    with one rank-g update, which makes 2312-wide rows tractable; group_frac = 0 is the exact
    one-weight-at-a-time algorithm. The loss inside a group is still exact for every prefix:
    with H^-1_QQ = L L^T, removing the first i of Q costs |L^-1_{:i,:i} w_Q[:i]|^2 / 2.
    Row blocks run on all torch threads, one thread each (the per-step ops are small).
    """
    w_all = torch.as_tensor(np.asarray(weight, np.float64))
    n_rows, d = w_all.shape
    group = np.zeros(n_rows, np.int64) if group is None else np.asarray(group)
    hinv0 = torch.cholesky_inverse(torch.linalg.cholesky(torch.as_tensor(hess)))
    order = np.empty((n_rows, d), np.int64)
    loss = np.zeros((n_rows, d + 1))
    workers = torch.get_num_threads()
    itemsize = torch.empty(0, dtype=dtype).element_size()

    def run(rows):
        sel = torch.as_tensor(rows)
        order[rows], loss[rows] = _trace_block(w_all[sel].to(dtype), hinv0[torch.as_tensor(group[rows])].to(dtype),
                                               group_frac)

    torch.set_num_threads(1)
    try:
        blocks = _row_blocks(n_rows, d, itemsize * workers)
        with ThreadPoolExecutor(workers) as pool:
            for _ in tqdm(pool.map(run, blocks), desc=desc, total=len(blocks), unit="block", leave=False,
                          disable=desc is None or len(blocks) < 2):
                pass
    finally:
        torch.set_num_threads(workers)
    return Trace(order=order, loss=loss)


def select_mask(trace: Trace, n_prune: int) -> np.ndarray:
    """Keep-mask bool [R, d] removing exactly n_prune weights across the rows with the least total
    loss: each row's increments are made monotone (running max) so the n_prune smallest of them form
    a prefix of every row's greedy order."""
    n_rows, d = trace.order.shape
    if not 0 <= n_prune <= n_rows * d:
        raise ValueError(f"n_prune: must be in 0..{n_rows * d}, got {n_prune}")
    key = np.maximum.accumulate(np.diff(trace.loss, axis=1), axis=1)
    picked = np.argsort(key, axis=None, kind="stable")[:n_prune]
    counts = np.bincount(picked // d, minlength=n_rows)
    keep = np.ones((n_rows, d), bool)
    removed = np.arange(d)[None, :] < counts[:, None]
    keep[np.nonzero(removed)[0], trace.order[removed]] = False
    return keep


def _masked_systems(hess, group, keep, rows):
    """Per row the kept inputs (padded, ascending) and H restricted to them; padding slots get an
    identity block and so decouple from the rest."""
    kr = torch.as_tensor(keep[rows])
    s = max(1, int(kr.sum(1).max()))
    idx = torch.argsort((~kr).to(torch.int8), dim=1, stable=True)[:, :s]
    valid = kr.gather(1, idx)
    g = torch.as_tensor(group[rows])
    a = torch.as_tensor(hess)[g[:, None, None], idx[:, :, None], idx[:, None, :]]
    pair = valid[:, :, None] & valid[:, None, :]
    a = torch.where(pair, a, torch.diag_embed((~valid).double()))
    return idx, valid, a


def _row_blocks_masked(keep, desc):
    blocks = _row_blocks(len(keep), int(keep.sum(1).max(initial=1)), 8)
    return tqdm(blocks, desc=desc, unit="block", leave=False, disable=desc is None or len(blocks) < 2)


def fit_mask(weight: np.ndarray, hess: np.ndarray, group: np.ndarray, keep: np.ndarray,
             desc: str | None = None) -> np.ndarray:
    """The least-squares optimal weights for a fixed mask: argmin (w' - w)^T H (w' - w) with
    w'_j = 0 off the mask, i.e. H_SS w'_S = (H w)_S per row."""
    w = np.asarray(weight, np.float64)
    hw = np.empty_like(w)
    for g in range(len(hess)):
        hw[group == g] = w[group == g] @ hess[g]
    out = np.zeros_like(w)
    for rows in _row_blocks_masked(keep, desc):
        idx, valid, a = _masked_systems(hess, group, keep, rows)
        rhs = torch.where(valid, torch.as_tensor(hw[rows]).gather(1, idx), 0.0)
        # Cholesky, not LU: torch 2.13's batched LU solves go wrong once torch.set_num_threads was called
        sol = torch.cholesky_solve(rhs[:, :, None], torch.linalg.cholesky(a))[:, :, 0]
        out[rows[:, None], idx.numpy()] = torch.where(valid, sol, 0.0).numpy()
    return out * keep


def row_scales(weight: np.ndarray, bits: int, fallback: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Per-row symmetric grid scale = max|w| / (2^(bits-1) - 1); rows that are all zero take `fallback`."""
    qmax = (1 << (bits - 1)) - 1
    amax = np.abs(weight).max(axis=1)
    fb = np.ones(len(weight)) if fallback is None else fallback
    return np.where(amax > 0, amax / qmax, fb), qmax


def rtn(weight: np.ndarray, scale: np.ndarray, qmax: int) -> np.ndarray:
    """Round to nearest on the per-row grid; integers."""
    return np.clip(np.rint(weight / scale[:, None]), -qmax, qmax)


def quantise(weight: np.ndarray, hess: np.ndarray, group: np.ndarray, keep: np.ndarray, scale: np.ndarray,
             qmax: int, desc: str | None = None) -> np.ndarray:
    """GPTQ on each row's kept weights: quantise them in input order and push each rounding error
    onto the not-yet-quantised kept weights through the Cholesky factor of (H_SS)^-1. Pruned
    weights stay zero. Returns integers [R, d] on the grid scale[r] x {-qmax..qmax}."""
    w = np.asarray(weight, np.float64)
    out = np.zeros_like(w)
    for rows in _row_blocks_masked(keep, desc):
        idx, valid, a = _masked_systems(hess, group, keep, rows)
        u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(a)), upper=True)
        x = torch.where(valid, torch.as_tensor(w[rows]).gather(1, idx), 0.0)
        sc = torch.as_tensor(scale[rows], dtype=torch.float64)
        q = torch.zeros_like(x)
        for j in range(x.shape[1]):
            q[:, j] = torch.clamp(torch.round(x[:, j] / sc), -qmax, qmax)
            err = (x[:, j] - q[:, j] * sc) / u[:, j, j]
            x[:, j + 1:] -= err[:, None] * u[:, j, j + 1:]
        out[rows[:, None], idx.numpy()] = torch.where(valid, q, 0.0).numpy()
    return out * keep


def membrane_loss(w_ref: np.ndarray, w_new: np.ndarray, hess: np.ndarray, group: np.ndarray) -> float:
    """sum_r (w'_r - w_r)^T H_r (w'_r - w_r) / 2 = mean squared membrane error summed over neurons."""
    dw = np.asarray(w_new, np.float64) - np.asarray(w_ref, np.float64)
    return float(sum(((dw[group == g] @ hess[g]) * dw[group == g]).sum() / 2 for g in range(len(hess))))


def magnitude_mask(weight: np.ndarray, n_prune: int) -> np.ndarray:
    """Keep-mask removing the n_prune smallest |w| of the layer (ties: lowest flat index first)."""
    keep = np.ones(weight.size, bool)
    keep[np.argsort(np.abs(weight), axis=None, kind="stable")[:n_prune]] = False
    return keep.reshape(weight.shape)
