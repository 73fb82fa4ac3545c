"""Per-layer sparsity from one global target: LAMP (Lee et al. 2021) or uniform.

LAMP scores a weight by w_u^2 / sum_{v >= u} w_v^2 over its layer's weights sorted by magnitude,
so every layer's largest weight scores 1 and no layer is emptied; the globally smallest scores go.
"""
from __future__ import annotations

import numpy as np

RULES = ("lamp", "uniform")


def check_sparsity(sparsity: float) -> float:
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity: must be in [0, 1), got {sparsity}")
    return float(sparsity)


def lamp_scores(weight: np.ndarray) -> np.ndarray:
    """LAMP score of every weight, same shape (ties in magnitude: lower flat index first)."""
    w2 = np.asarray(weight, np.float64).ravel() ** 2
    order = np.argsort(w2, kind="stable")
    sorted_w2 = w2[order]
    tail = np.cumsum(sorted_w2[::-1])[::-1]  # sum of this and every larger weight
    scores = np.empty_like(w2)
    scores[order] = np.divide(sorted_w2, tail, out=np.zeros_like(tail), where=tail > 0)
    return scores.reshape(np.shape(weight))


def prune_counts(weights: list[np.ndarray], sparsity: float, rule: str = "lamp") -> list[int]:
    """How many weights each layer loses so that round(sparsity x total) go in all."""
    check_sparsity(sparsity)
    sizes = np.array([w.size for w in weights])
    total = int(round(sparsity * sizes.sum()))
    if rule == "uniform":  # largest remainders, so the layers add up to the global count exactly
        share = sparsity * sizes
        counts = np.floor(share).astype(np.int64)
        counts[np.argsort(counts - share, kind="stable")[:total - counts.sum()]] += 1
        return counts.tolist()
    if rule != "lamp":
        raise ValueError(f"allocation: unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    scores = np.concatenate([lamp_scores(w).ravel() for w in weights])
    layer_of = np.repeat(np.arange(len(weights)), sizes)
    picked = np.argsort(scores, kind="stable")[:total]
    return np.bincount(layer_of[picked], minlength=len(weights)).tolist()
