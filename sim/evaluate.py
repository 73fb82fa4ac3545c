"""Accuracy of the integer model: what the FPGA computes, on a dataset's test split."""
from __future__ import annotations

from console.progress import progress as progress_bar

import data as datasets

from .reference import run


def evaluate(art, dataset=None, steps=None, seed=None, limit=None, batch=256, progress=True, data=None) -> float:
    """Integer-model accuracy on the test split, encoded as the artifact says unless overridden;
    `data`: a user data file (data/user.py) instead of a bundled dataset."""
    counts, y = datasets.spikes_for(art, dataset, "test", steps, seed, limit, data)
    if counts.shape[-1] != art.n_in:
        raise ValueError(f"dataset: {data or dataset} has {counts.shape[-1]} inputs but the model takes {art.n_in}")
    if y.max(initial=0) >= art.n_out:
        raise ValueError(f"labels: go up to {y.max()}, but the model has only {art.n_out} outputs (one per class)")
    bundled = data is None and (dataset is not None or art.encoding is not None)
    if bundled and art.n_out != datasets.CLASSES:
        raise ValueError(f"model: its last layer has {art.n_out} outputs, but the datasets have "
                         f"{datasets.CLASSES} classes (one output per class)")
    return accuracy(art, counts, y, batch, progress)


def accuracy(art, counts, y, batch=256, progress=False) -> float:
    """Fraction of samples whose integer-model class equals `y`; counts int [T, N, n_in], y [N]."""
    hits = 0
    for i in progress_bar(range(0, len(y), batch), desc=f"integer model, {len(y)} samples", unit="batch",
                          disable=not progress):
        hits += int((run(art, counts[:, i:i + batch]).classes == y[i:i + batch]).sum())
    return hits / len(y)
