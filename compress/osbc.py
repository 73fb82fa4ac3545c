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
* `row_scales` / `quantise`: per-row scales on the full signed grid, chosen by a grid search, and
  the GPTQ column sweep with error feedback through H restricted to the mask: one sweep for all
  rows that share a Hessian and a mask, batched per-row systems for the rest.

Every function that computes takes a `device` (cpu or cuda): the same code runs on both; the
Hessians, fits and quantisation are float64 there too.

Rows may use different Hessians (per-neuron beta): `group[r]` indexes the stack `hess[g]`.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from console.progress import progress

MEMORY_BUDGET = 2 << 30  # bytes of per-row inverse Hessians held at once on the CPU
PENDING = 256  # most H^-1 downdates collected before they are applied as one GEMM (as GPTQ's lazy batches)
PENDING_MIN = 32  # ... and fewest, see _pending_limit
COMPACT = 6  # dead slots are dropped once they are 1/COMPACT of a trace's matrices
MIN_BLOCK_ROWS = 8  # fewer rows per trace block and the per-step Python work outweighs the GEMMs
GPTQ_BLOCK = 128  # columns swept before their error is pushed onto the rest as one GEMM (GPTQ's lazy batch)
SHARED_MIN_ROWS = 4  # rows with one Hessian and one mask from which a shared GPTQ sweep pays off
SHRINK = np.linspace(1.0, 0.2, 81)  # scale candidates x max|w|/qmax, as GPTQ's grid search (grid 100, shrink 0.8)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device to compute on; None: cuda when torch sees a GPU, else cpu."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device: unknown device {device!r}; use cpu or cuda") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: unsupported device {device!r}; use cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda is not available (torch sees no GPU); use cpu")
    return dev


def memory_budget(device: torch.device) -> int:
    """Bytes of working matrices held at once: MEMORY_BUDGET on the CPU, half the free memory of a GPU."""
    return torch.cuda.mem_get_info(device)[0] // 2 if device.type == "cuda" else MEMORY_BUDGET


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

    def __init__(self, n_in: int, betas: np.ndarray, device: str | torch.device = "cpu"):
        self.betas, self.group = np.unique(np.asarray(betas, np.float64), return_inverse=True)
        self.sum = torch.zeros(len(self.betas), n_in, n_in, dtype=torch.float64, device=device)
        self.count = 0

    def add(self, x: torch.Tensor) -> None:
        """x [T, B, n_in]: one batch of the layer's input events over all steps."""
        x = x.to(self.sum.device)
        for g, beta in enumerate(self.betas):
            xt = leaky_traces(x, float(beta)).reshape(-1, x.shape[-1])
            self.sum[g].addmm_(xt.T, xt)
        self.count += x.shape[0] * x.shape[1]

    def hessian(self) -> np.ndarray:
        """H = 2 X~ X~^T / m per leak group, float64 [G, n_in, n_in]."""
        if self.count == 0:
            raise ValueError("calib: the calibration set is empty")
        return (2.0 * self.sum / self.count).cpu().numpy()


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


def _rows_that_fit(d: int, itemsize: int, budget: int) -> int:
    return max(1, budget // max(1, 3 * d * d * itemsize))


def _split(n_rows: int, per: int) -> list[np.ndarray]:
    return [np.arange(s, min(s + per, n_rows)) for s in range(0, n_rows, per)]


def _row_blocks(n_rows: int, d: int, itemsize: int, budget: int) -> list[np.ndarray]:
    """Row index blocks small enough that their d x d working matrices fit the memory budget."""
    return _split(n_rows, max(1, min(n_rows, _rows_that_fit(d, itemsize, budget))))


def thread_plan(n_rows: int, d: int, itemsize: int, threads: int, budget: int) -> tuple[int, int, list[np.ndarray]]:
    """(pool size, torch threads per worker, row blocks) for the traces. As many workers as threads,
    but only as many as leave every block MIN_BLOCK_ROWS rows within the memory budget; the other
    threads go to torch inside each worker, so pool x torch threads never exceeds `threads` (a
    full-size pool of one-thread workers with tiny blocks ran 4x slower on 16 cores than on 2)."""
    fit = _rows_that_fit(d, itemsize, budget)
    workers = max(1, min(threads, fit // MIN_BLOCK_ROWS, n_rows // MIN_BLOCK_ROWS))
    per = max(1, min(fit // workers, -(-n_rows // workers)))
    return workers, max(1, threads // workers), _split(n_rows, per)


def _compact(hinv: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """hinv[b][keep[b]][:, keep[b]] for a batch of square matrices, written into hinv's own storage
    (a fresh block of this size costs more in page faults than the copy). In place is safe: matrix
    b's rows go to a scratch first, and its new place ends before matrix b+1's old one begins."""
    r, m, _ = hinv.shape
    s = keep.shape[1]
    out = hinv.view(-1)[:r * s * s].view(r, s, s)
    rows = hinv.new_empty(s, m)
    for a, k, o in zip(hinv, keep, out):
        torch.index_select(a, 0, k, out=rows)
        torch.index_select(rows, 1, k, out=o)
    return out


def _pending_limit(remaining: int) -> int:
    """Downdates to collect before applying them: remaining/8 within [PENDING_MIN, PENDING]. The
    GEMM is quicker per flop the more it applies at once, and skips the slots that died meanwhile;
    but every step corrects its rows by all pending downdates, a memory-bound pass over them."""
    return min(PENDING, max(PENDING_MIN, remaining // 8))


def _inverse_factor(hqq: np.ndarray) -> np.ndarray:
    """L^-1 with L L^T = hqq, for a batch of tiny g x g blocks (numpy is far quicker than torch here).
    1 x 1 by hand: g = 1 in the last 2/group_frac steps, where numpy's batched Cholesky costs more
    than the step's arithmetic."""
    if hqq.shape[-1] > 1:
        return np.linalg.inv(np.linalg.cholesky(hqq))
    if not (hqq > 0).all():
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    return 1 / np.sqrt(hqq)


def _trace_block(w: torch.Tensor, hinv: torch.Tensor, group_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy OBS on a block of rows: w [r, d], hinv [r, d, d] (contiguous; consumed, its storage
    reused). Downdates are collected in `pend` (H^-1 = hinv - pend^T pend) and applied as one GEMM
    every `_pending_limit` removals, when dead slots are also dropped once they are 1/COMPACT of the
    matrix, so the work shrinks with the rows."""
    r, d = w.shape
    dev = w.device
    diag = torch.diagonal(hinv, dim1=1, dim2=2).clone()  # always current
    pend = torch.empty(r, PENDING, d, dtype=w.dtype, device=dev)
    cols = torch.arange(d, device=dev).expand(r, d).clone()  # original input of each compacted slot
    dead = torch.zeros(r, d, dtype=torch.bool, device=dev)
    batch = torch.arange(r, device=dev)[:, None]
    order = np.empty((r, d), np.int64)
    gain = np.empty((r, d))  # z^2 per removal: twice the loss it adds
    done, m, p = 0, d, 0
    while done < d:
        g = min(max(1, int((d - done) * group_frac)), d - done)
        if p + g > _pending_limit(d - done):
            if COMPACT * (m - (d - done)) >= m:  # compact first, so the downdate skips the dead slots
                keep = torch.argsort(dead.to(torch.int8), dim=1, stable=True)[:, :d - done]
                hinv = _compact(hinv, keep)
                pend[:, :p, :d - done] = pend[:, :p, :m].gather(2, keep[:, None, :].expand(r, p, d - done))
                w, diag, cols, dead = (t.gather(1, keep) for t in (w, diag, cols, dead))
                m = d - done
            hinv.baddbmm_(pend[:, :p, :m].transpose(1, 2), pend[:, :p, :m], alpha=-1)
            p = 0
        score = (w * w).div_(diag).masked_fill_(dead, float("inf"))
        q = torch.topk(score, g, dim=1, largest=False, sorted=True).indices  # [r, g]
        # rows Q of the (symmetric, contiguous) stale H^-1 [r, g, m], as whole-row copies
        ct = hinv.view(r * m, m).index_select(0, (batch * m + q).view(-1)).view(r, g, m)
        if p:
            ct.baddbmm_(pend[:, :p, :m].gather(2, q[:, None, :].expand(r, p, g)).transpose(1, 2), pend[:, :p, :m],
                        alpha=-1)
        hqq = ct.gather(2, q[:, None, :].expand(r, g, g)).double().cpu().numpy()  # H^-1[Q, Q]
        linv = _inverse_factor(hqq)
        z = (linv @ w.gather(1, q).double().cpu().numpy()[:, :, None])[:, :, 0]
        # H^-1' = H^-1 - bt^T bt, bt straight into its pending slot
        lt = torch.from_numpy(linv).to(dev, w.dtype)  # a one-row bmm into a strided slot is slower than mul
        bt = torch.mul(lt, ct, out=pend[:, p:p + 1, :m]) if g == 1 else torch.bmm(lt, ct, out=pend[:, p:p + g, :m])
        w[:, None].baddbmm_(torch.from_numpy(z).to(dev, w.dtype)[:, None], bt, alpha=-1)
        diag -= (bt * bt).sum(1)
        p += g
        dead.scatter_(1, q, True)
        w.scatter_(1, q, 0.0)  # earlier dead slots may drift by rounding: nothing reads them (score: inf)
        order[:, done:done + g] = cols.gather(1, q).cpu().numpy()
        gain[:, done:done + g] = z * z
        done += g
    return order, np.pad(np.cumsum(gain, 1) / 2, ((0, 0), (1, 0)))


def obs_trace(weight: np.ndarray, hess: np.ndarray, group: np.ndarray | None = None, *,
              group_frac: float = 1 / 256, dtype=torch.float64, device: str | torch.device = "cpu",
              threads: int | None = None, desc: str | None = None) -> Trace:
    """ExactOBS greedy pruning of every row down to zero weights.

    weight [R, d]; hess damped [G, d, d]; group [R] (default all 0). Each step removes
    g = max(1, floor(remaining x group_frac)) weights per row at once (the smallest OBS scores)
    with one rank-g update, which makes 2312-wide rows tractable; group_frac = 0 is the exact
    one-weight-at-a-time algorithm. The loss inside a group is still exact for every prefix:
    with H^-1_QQ = L L^T, removing the first i of Q costs |L^-1_{:i,:i} w_Q[:i]|^2 / 2.
    On the CPU, row blocks run in a pool sized with torch's threads by `thread_plan` (`threads`,
    default torch's count); on a GPU one block after the other, as large as half its free memory allows.
    """
    dev = torch.device(device)
    w_all = torch.as_tensor(np.asarray(weight, np.float64), device=dev)
    n_rows, d = w_all.shape
    group = np.zeros(n_rows, np.int64) if group is None else np.asarray(group)
    # cast once, before the per-row copies (float64 copies of a block would take twice its memory);
    # cholesky_inverse returns column-major matrices, and a block's transposing copy took a quarter of its trace
    hinv0 = torch.cholesky_inverse(torch.linalg.cholesky(torch.as_tensor(hess, device=dev))).to(dtype).contiguous()
    order = np.empty((n_rows, d), np.int64)
    loss = np.zeros((n_rows, d + 1))
    outer = torch.get_num_threads()
    itemsize = torch.empty(0, dtype=dtype).element_size()
    workers, inner, blocks = thread_plan(n_rows, d, itemsize, (threads or outer) if dev.type == "cpu" else 1,
                                         memory_budget(dev))

    scratch = threading.local()  # per worker, one block's matrices reused: fresh ones cost 4x the copy in page faults

    def run(rows):
        torch.set_num_threads(inner)  # MKL's and OpenMP's thread counts are per calling thread
        if not hasattr(scratch, "hinv"):
            scratch.hinv = torch.empty(max(map(len, blocks)) * d * d, dtype=dtype, device=dev)
        hinv = scratch.hinv[:len(rows) * d * d].view(len(rows), d, d)
        torch.index_select(hinv0, 0, torch.as_tensor(group[rows], device=dev), out=hinv)
        sel = torch.as_tensor(rows, device=dev)
        order[rows], loss[rows] = _trace_block(w_all[sel].to(dtype), hinv, group_frac)

    torch.set_num_threads(inner)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for _ in progress(pool.map(run, blocks), desc=desc, total=len(blocks), unit="block", leave=False,
                              disable=desc is None or len(blocks) < 2):
                pass
    finally:
        torch.set_num_threads(outer)
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


def _masked_systems(hess: torch.Tensor, group, keep, rows):
    """Per row the kept inputs (padded, ascending) and H restricted to them; padding slots get an
    identity block and so decouple from the rest."""
    dev = hess.device
    kr = torch.as_tensor(keep[rows], device=dev)
    s = max(1, int(kr.sum(1).max()))
    idx = torch.argsort((~kr).to(torch.int8), dim=1, stable=True)[:, :s]
    valid = kr.gather(1, idx)
    g = torch.as_tensor(group[rows], device=dev)
    a = hess[g[:, None, None], idx[:, :, None], idx[:, None, :]]
    pair = valid[:, :, None] & valid[:, None, :]
    a = torch.where(pair, a, torch.diag_embed((~valid).double()))
    return idx, valid, a


def _mask_kinds(group: np.ndarray, keep: np.ndarray, min_shared: int):
    """Rows by (Hessian group, mask): the row sets of at least `min_shared` rows sharing both; the
    other rows; for those, the first row of each distinct kind and the kind of each row."""
    _, kind, size = np.unique(np.column_stack([group, keep]), axis=0, return_inverse=True, return_counts=True)
    kind = kind.ravel()
    shared = size[kind] >= min_shared
    rest = np.flatnonzero(~shared)
    _, first, kind_of = np.unique(kind[rest], return_index=True, return_inverse=True)
    return [np.flatnonzero(kind == c) for c in np.unique(kind[shared])], rest, first, kind_of.ravel()


def _pooled(fn, n: int, device: torch.device) -> torch.Tensor:
    """torch.cat of fn(sl) over slices sl covering range(n). On the CPU the slices run in a pool of
    one-thread workers, one per torch thread: batched LAPACK over many small matrices, or the
    sweep's small per-column ops, with torch's threads inside each call mostly wait on those
    threads (10-40x slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2 or n < 2:
        return fn(slice(0, n))
    per = -(-n // threads)

    def run(sl):
        torch.set_num_threads(1)  # per calling thread (MKL, OpenMP)
        return fn(sl)

    try:
        with ThreadPoolExecutor(threads) as pool:
            return torch.cat(list(pool.map(run, [slice(s, min(s + per, n)) for s in range(0, n, per)])))
    finally:
        torch.set_num_threads(threads)


def _row_blocks_masked(keep, device, desc):
    blocks = _row_blocks(len(keep), int(keep.sum(1).max(initial=1)), 8, memory_budget(device))
    return progress(blocks, desc=desc, unit="block", leave=False, disable=desc is None or len(blocks) < 2)


def fit_mask(weight: np.ndarray, hess: np.ndarray, group: np.ndarray, keep: np.ndarray,
             device: str | torch.device = "cpu", desc: str | None = None) -> np.ndarray:
    """The least-squares optimal weights for a fixed mask: argmin (w' - w)^T H (w' - w) with
    w'_j = 0 off the mask, i.e. H_SS w'_S = (H w)_S per row."""
    dev = torch.device(device)
    h = torch.as_tensor(hess, device=dev)
    w = torch.as_tensor(np.asarray(weight, np.float64), device=dev)
    gr = torch.as_tensor(group, device=dev)
    hw = torch.empty_like(w)
    for g in range(len(h)):
        hw[gr == g] = w[gr == g] @ h[g]
    out = np.zeros(w.shape)
    sets, rest, _, _ = _mask_kinds(group, keep, SHARED_MIN_ROWS)
    for rows in sets:  # one factor of H_SS for all rows with this mask (a dense layer: w' = w)
        cols = torch.as_tensor(np.flatnonzero(keep[rows[0]]), device=dev)
        if len(cols):
            rt = torch.as_tensor(rows, device=dev)
            low = torch.linalg.cholesky(h[int(group[rows[0]])][cols][:, cols])
            out[np.ix_(rows, cols.cpu().numpy())] = torch.cholesky_solve(hw[rt][:, cols].T, low).T.cpu().numpy()
    for block in _row_blocks_masked(keep[rest], dev, desc):
        rows = rest[block]
        idx, valid, a = _masked_systems(h, group, keep, rows)
        rhs = torch.where(valid, hw[torch.as_tensor(rows, device=dev)].gather(1, idx), 0.0)
        # Cholesky, not LU: torch 2.13's batched LU solves go wrong once torch.set_num_threads was called
        sol = _pooled(lambda sl: torch.cholesky_solve(rhs[sl, :, None], torch.linalg.cholesky(a[sl]))[:, :, 0],
                      len(a), dev)
        out[rows[:, None], idx.cpu().numpy()] = torch.where(valid, sol, 0.0).cpu().numpy()
    return out * keep


def grid_max(bits: int) -> int:
    """qmax: the grid of a signed `bits`-bit integer is {-(qmax+1)..qmax}, all levels the hardware stores."""
    return (1 << (bits - 1)) - 1


def max_scales(weight: np.ndarray, bits: int, fallback: np.ndarray | None = None) -> np.ndarray:
    """Per-row scale max|w| / qmax: the symmetric grid that clips nothing; all-zero rows take `fallback` (default 1)."""
    amax = np.abs(weight).max(axis=1)
    return np.where(amax > 0, amax / grid_max(bits), 1.0 if fallback is None else fallback)


def row_scales(weight: np.ndarray, bits: int, fallback: np.ndarray | None = None,
               hdiag: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(scale [R], qmax): per row, of the candidates p x max_scales (p in SHRINK, and qmax/(qmax+1),
    which puts max|w| on the extra negative level) the one whose rounding error
    sum_j hdiag_j (w_j - q_j scale)^2 is least, clipping outliers where that pays. hdiag [R, d] is
    the Hessian diagonal of each row's inputs (default 1: the squared error of GPTQ's grid search).
    Ties keep the larger scale, so p = 1, the max rule, wins unless clipping lowers the error."""
    w = np.asarray(weight, np.float64)
    qmax = grid_max(bits)
    base = max_scales(w, bits, fallback)
    hd = np.ones_like(w) if hdiag is None else np.asarray(hdiag, np.float64)
    best, best_err = base.copy(), np.full(len(w), np.inf)
    for p in np.union1d(SHRINK, [qmax / (qmax + 1)])[::-1]:
        s = p * base
        err = (hd * (rtn(w, s, qmax) * s[:, None] - w) ** 2).sum(1)
        better = err < best_err
        best[better], best_err[better] = s[better], err[better]
    return best, qmax


def rtn(weight: np.ndarray, scale: np.ndarray, qmax: int) -> np.ndarray:
    """Round to nearest on the per-row grid scale x {-(qmax+1)..qmax}; integers."""
    return np.clip(np.rint(weight / scale[:, None]), -qmax - 1, qmax)


def _inverse_cholesky(a: torch.Tensor) -> torch.Tensor:
    """Upper Cholesky factor of a^-1 (a SPD, one matrix or a batch)."""
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(a)), upper=True)


def _sweep(x: torch.Tensor, u: torch.Tensor, scale: torch.Tensor, qmax: int) -> torch.Tensor:
    """GPTQ's column sweep: x [r, s] (consumed); u the upper Cholesky factor of H_SS^-1, shared
    [s, s] or one per row [r, s, s]. Each column is rounded onto scale x grid and its error pushed
    onto the later columns through u; inside a block of GPTQ_BLOCK columns at once, beyond it as
    one GEMM per block. Returns the integers [r, s]."""
    q = torch.empty_like(x)
    n = x.shape[1]
    for b0 in range(0, n, GPTQ_BLOCK):
        b1 = min(b0 + GPTQ_BLOCK, n)
        err = torch.empty_like(x[:, b0:b1])
        for j in range(b0, b1):
            q[:, j] = torch.clamp(torch.round(x[:, j] / scale), -qmax - 1, qmax)
            err[:, j - b0] = (x[:, j] - q[:, j] * scale) / u[..., j, j]
            x[:, j + 1:b1] -= err[:, j - b0, None] * u[..., j, j + 1:b1]
        if b1 < n:
            rest = u[..., b0:b1, b1:]
            x[:, b1:] -= err @ rest if u.dim() == 2 else torch.bmm(err[:, None], rest)[:, 0]
    return q


def gptq(weight: np.ndarray, hess: np.ndarray, group: np.ndarray, keep: np.ndarray, scale: np.ndarray, qmax: int,
         *, device: str | torch.device = "cpu", min_shared: int = SHARED_MIN_ROWS, desc: str | None = None) -> np.ndarray:
    """GPTQ on each row's kept weights in input order, on the grid scale[r] x {-(qmax+1)..qmax}.
    Rows with the same Hessian and mask (all rows of a dense layer), at least `min_shared` of them,
    are swept together on one Cholesky factor of H_SS^-1, as GPTQ does; the other rows are batched
    with one system each. Pruned weights stay zero. Returns integers [R, d]."""
    dev = torch.device(device)
    h = torch.as_tensor(hess, device=dev)
    w = np.asarray(weight, np.float64)
    out = np.zeros_like(w)
    sets, rest, first, kind_of = _mask_kinds(group, keep, min_shared)
    for rows in sets:
        cols = np.flatnonzero(keep[rows[0]])
        if len(cols):
            sel = torch.as_tensor(cols, device=dev)
            u = _inverse_cholesky(h[int(group[rows[0]])][sel][:, sel])
            x = torch.as_tensor(w[np.ix_(rows, cols)], device=dev)
            sc = torch.as_tensor(scale[rows], dtype=torch.float64, device=dev)
            out[np.ix_(rows, cols)] = _pooled(lambda sl: _sweep(x[sl], u, sc[sl], qmax), len(x), dev).cpu().numpy()
    for block in _row_blocks_masked(keep[rest[first]], dev, desc):  # one system per distinct mask
        idx, valid, a = _masked_systems(h, group, keep, rest[first[block]])
        u = _pooled(lambda sl: _inverse_cholesky(a[sl]), len(a), dev)
        members = np.flatnonzero((kind_of >= block[0]) & (kind_of <= block[-1]))
        rows, pos = rest[members], torch.as_tensor(kind_of[members] - block[0], device=dev)
        idx, valid = idx[pos], valid[pos]
        x = torch.where(valid, torch.as_tensor(w[rows], device=dev).gather(1, idx), 0.0)
        sc = torch.as_tensor(scale[rows], dtype=torch.float64, device=dev)
        u = u[pos]
        q = _pooled(lambda sl: _sweep(x[sl], u[sl], sc[sl], qmax), len(x), dev)
        out[rows[:, None], idx.cpu().numpy()] = torch.where(valid, q, 0.0).cpu().numpy()
    return out * keep


def best_per_row(weight: np.ndarray, cands: np.ndarray, scales: np.ndarray, hess: np.ndarray,
                 group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of candidate integer weights cands [K, R, d] on scales [K, R], per row the one with the least
    loss (w' - w)^T H (w' - w) / 2: (integers [R, d], scale [R]); ties keep the first."""
    loss = np.stack([row_losses(weight, q * s[:, None], hess, group) for q, s in zip(cands, scales)])
    pick = np.argmin(loss, axis=0)
    rows = np.arange(len(pick))
    return cands[pick, rows], scales[pick, rows]


def quantise(weight: np.ndarray, hess: np.ndarray, group: np.ndarray, keep: np.ndarray, scales: np.ndarray,
             qmax: int, *, ref: np.ndarray | None = None, device: str | torch.device = "cpu",
             min_shared: int = SHARED_MIN_ROWS, desc: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ of every row on each of the candidate scales [K, R] (e.g. max_scales and row_scales),
    all in one `gptq` call, each row keeping the candidate with the least loss on H against `ref`
    (default `weight`; the unpruned weights judge pruning and rounding errors together):
    (integers [R, d], scale [R])."""
    scales = np.atleast_2d(np.asarray(scales, np.float64))
    k = len(scales)
    q = gptq(np.tile(weight, (k, 1)), hess, np.tile(group, k), np.tile(keep, (k, 1)), scales.ravel(), qmax,
             device=device, min_shared=min_shared, desc=desc)
    return best_per_row(weight if ref is None else ref, q.reshape(k, *np.shape(weight)), scales, hess, group)


def row_losses(w_ref: np.ndarray, w_new: np.ndarray, hess: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(w'_r - w_r)^T H_r (w'_r - w_r) / 2 per row [R]."""
    dw = np.asarray(w_new, np.float64) - np.asarray(w_ref, np.float64)
    out = np.zeros(len(dw))
    for g in range(len(hess)):
        rows = group == g
        out[rows] = ((dw[rows] @ hess[g]) * dw[rows]).sum(1) / 2
    return out


def membrane_loss(w_ref: np.ndarray, w_new: np.ndarray, hess: np.ndarray, group: np.ndarray) -> float:
    """sum_r (w'_r - w_r)^T H_r (w'_r - w_r) / 2 = mean squared membrane error summed over neurons."""
    return float(row_losses(w_ref, w_new, hess, group).sum())


def magnitude_mask(weight: np.ndarray, n_prune: int) -> np.ndarray:
    """Keep-mask removing the n_prune smallest |w| of the layer (ties: lowest flat index first)."""
    keep = np.ones(weight.size, bool)
    keep[np.argsort(np.abs(weight), axis=None, kind="stable")[:n_prune]] = False
    return keep.reshape(weight.shape)
