"""Train the reference networks of the accuracy benchmark (float snnTorch, CPU, deterministic).

    python -m compress.train_reference event-mnist   # 2312-256-10 LIF, beta 0.5, hard reset, T=20
    python -m compress.train_reference mnist         # 784-256-10 LIF, beta 0.5, hard reset, rate code T=25

Both use `compress.train.fit` (Adam, cross-entropy on output spike counts, cosine schedule).
The event-MNIST inputs are event-count frames of the simulated recording
(`data.event_mnist`), clipped to `--max-count` events per input per step (the artifact's
`input_max_count`). Checkpoints store float16 weights (`spec["half"]`, about 1.2 MB for the
2312-wide net) with the training record in `spec["train"]`; the accuracy printed and recorded is
that of the float16-rounded model that the checkpoint holds, on the full test split.
The digits network is trained by `python -m compress.train`.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import torch

import data as datasets
from data import event_mnist

from .snntorch_import import CHECKPOINT_DEFAULT, build_model, load_checkpoint, save_checkpoint
from .train import fit, float_accuracy

CHECKPOINTS = CHECKPOINT_DEFAULT.parent

NETWORKS = {
    "event-mnist": {"sizes": [2312, 256, 10], "steps": 20, "epochs": 6, "file": "event_mnist.pt"},
    "mnist": {"sizes": [784, 256, 10], "steps": 25, "epochs": 6, "file": "mnist.pt"},
}
BETA, RESET = 0.5, "zero"  # the paper's N-MNIST neuron: beta 0.5, hard reset


def encoding_for(name: str, steps: int, max_count: int) -> datasets.Encoding:
    if name == "event-mnist":
        return datasets.Encoding("event-mnist", steps, code="events", max_count=max_count,
                                 sim=asdict(event_mnist.Params()))
    return datasets.Encoding(name, steps)


def test_counts(encoding: datasets.Encoding | dict, limit: int | None = None):
    """The fixed test inputs every evaluation uses: counts [T, N, F] and labels."""
    x, y, encode = datasets.samples(encoding, "test", limit)
    return encode(x, datasets.as_encoding(encoding).seed), y


def train(name: str, *, epochs: int, steps: int, seed: int = 0, limit: int | None = None,
          max_count: int = 4, lr: float = 2e-3, batch: int = 128, out: Path | None = None,
          test_limit: int | None = None) -> dict:
    """Train one reference network, save its checkpoint, return its spec (with `spec["train"]`)."""
    if name not in NETWORKS:
        raise ValueError(f"network: unknown {name!r}; choose one of {', '.join(NETWORKS)}")
    net = NETWORKS[name]
    out = out or CHECKPOINTS / net["file"]
    encoding = encoding_for(name, steps, max_count)
    spec = {"sizes": net["sizes"], "beta": BETA, "threshold": 1.0, "reset": RESET, "bias": False,
            "encoding": encoding.to_meta(), "seed": seed, "epochs": epochs, "half": True}
    torch.manual_seed(seed)
    model = build_model(spec["sizes"], spec["beta"], spec["threshold"], spec["reset"], spec["bias"])
    x, y, encode = datasets.samples(encoding, "train", limit)
    start = time.time()
    losses = fit(model, x, y, encode, epochs=epochs, lr=lr, batch=batch, seed=seed, desc=name)
    seconds = time.time() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model, spec)
    model, _ = load_checkpoint(out)  # evaluate what was committed: float16-rounded weights
    counts, y_te = test_counts(encoding, test_limit)
    spec["train"] = {"epochs": epochs, "train_samples": len(x), "seconds": round(seconds, 1),
                     "losses": [round(v, 4) for v in losses], "batch": batch, "lr": lr, "threads": torch.get_num_threads(),
                     "float_test_accuracy": float_accuracy(model, counts, y_te), "test_samples": len(y_te)}
    save_checkpoint(out, model, spec)
    return spec


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", choices=sorted(NETWORKS))
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="train on the first N training samples only")
    p.add_argument("--max-count", type=int, default=4, help="event-mnist: clip counts per input per step")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    net = NETWORKS[args.network]
    spec = train(args.network, epochs=args.epochs or net["epochs"], steps=args.steps or net["steps"],
                 seed=args.seed, limit=args.limit, max_count=args.max_count, out=args.out)
    rec = spec["train"]
    print(f"{args.network}: {rec['epochs']} epochs on {rec['train_samples']} samples in {rec['seconds']:.0f} s; "
          f"float test accuracy {rec['float_test_accuracy']:.4f} ({rec['test_samples']} samples)")


if __name__ == "__main__":
    main()
