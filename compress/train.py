"""Train the bundled digits SNN (64-128-10 LIF, rate code) and write its checkpoint and RTN artifact.

    python -m compress.train            # ~1 min on 2 cores; deterministic from --seed

The training loop (`fit`) is generic: other reference networks reuse it with their own data.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import data as datasets
from console.progress import add_quiet_option, progress
from sim.artifact import default_path, save

from .snntorch_import import CHECKPOINT_DEFAULT, build_model, rtn_artifact, run_float, save_checkpoint


def fit(model, x: np.ndarray, y: np.ndarray, encode: Callable[[np.ndarray, int], np.ndarray], *,
        epochs: int, lr: float = 2e-3, batch: int = 64, seed: int = 0, desc: str = "train") -> list[float]:
    """Adam on cross-entropy of the output spike counts (surrogate gradients through snnTorch).

    `encode(x_batch, seed)` returns event counts [T, B, F]; the seed changes per batch and epoch so
    every epoch sees fresh spike trains, reproducibly. Returns the mean loss per epoch.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    losses = []
    model.train()
    for epoch in (bar := progress(range(epochs), desc=desc, unit="epoch")):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            sel = order[i:i + batch]
            counts = torch.from_numpy(encode(x[sel], int(rng.integers(2**31)))).float()
            out = run_float(model, counts)[-1].sum(0)
            loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(y[sel]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(sel)
        sched.step()
        losses.append(total / len(x))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


@torch.no_grad()
def float_accuracy(model, counts: np.ndarray, y: np.ndarray, batch: int = 500) -> float:
    """Accuracy of the float snnTorch model on event counts [T, N, F] (ties -> lowest index)."""
    hits = 0
    for i in range(0, counts.shape[1], batch):
        out = run_float(model, torch.from_numpy(counts[:, i:i + batch]).float())[-1].sum(0)
        hits += int((out.argmax(1).numpy() == y[i:i + batch]).sum())
    return hits / len(y)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=CHECKPOINT_DEFAULT)
    p.add_argument("--artifact", type=Path, default=default_path())
    add_quiet_option(p)
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    encoding = datasets.Encoding("digits", args.steps)
    spec = {"sizes": [64, 128, 10], "beta": 0.875, "threshold": 1.0, "reset": "subtract", "bias": True,
            "encoding": encoding.to_meta(), "seed": args.seed, "epochs": args.epochs}
    torch.manual_seed(args.seed)
    model = build_model(spec["sizes"], spec["beta"], spec["threshold"], spec["reset"], spec["bias"])
    x, y = datasets.load("digits", "train")
    fit(model, x, y, lambda xb, s: datasets.encode(xb, "rate", args.steps, s), epochs=args.epochs, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, model, spec)

    x_te, y_te = datasets.load("digits", "test")
    counts = datasets.encode(x_te, encoding.code, encoding.steps, encoding.seed)
    print(f"float test accuracy: {float_accuracy(model, counts, y_te):.4f}")
    art = rtn_artifact(model, 4, steps=args.steps,
                       meta={"source": "compress/checkpoints/digits.pt", "encoding": encoding.to_meta(), "calib": 0,
                             "seed": args.seed})
    save(art, args.artifact)
    print(art.summary())


if __name__ == "__main__":
    main()
