"""Accuracy of the integer model: what the FPGA computes, on a dataset's test split."""
from __future__ import annotations

from tqdm import tqdm

import data as datasets

from .reference import run


def evaluate(art, dataset=None, steps=None, seed=None, limit=None, batch=256, progress=True) -> float:
    """Integer-model accuracy on the test split, encoded as the artifact says unless overridden."""
    counts, y = datasets.spikes_for(art, dataset, "test", steps, seed, limit)
    if counts.shape[-1] != art.n_in:
        raise ValueError(f"dataset: {dataset} has {counts.shape[-1]} inputs but the model takes {art.n_in}")
    hits = 0
    for i in tqdm(range(0, len(y), batch), desc="sim", disable=not progress, leave=False):
        hits += int((run(art, counts[:, i:i + batch]).classes == y[i:i + batch]).sum())
    return hits / len(y)
