"""Sample frames of the simulated event-MNIST recording, for docs/event_mnist.md.

    python -m benchmarks.event_mnist_figure [--out docs/event_mnist_frames.png] [--steps 6]

One row per digit: the MNIST image, then `--steps` event-count frames (ON red, OFF blue), and
prints the dataset statistics quoted in the docs (events per sample, count histogram at T=20).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from console.progress import add_quiet_option
from data import event_mnist, load


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs/event_mnist_frames.png"))
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--samples", type=int, default=5)
    add_quiet_option(p)
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = event_mnist.events("test")
    x, _ = load("mnist", "test")
    pick = np.array([int(np.flatnonzero(ev.labels == d)[0]) for d in range(args.samples)])
    frames = ev.frames(args.steps, pick).astype(float).reshape(args.steps, len(pick), 2, 34, 34)
    fig, axes = plt.subplots(len(pick), args.steps + 1, figsize=(1.3 * (args.steps + 1), 1.3 * len(pick)))
    top = max(frames.max(), 1)
    for r, i in enumerate(pick):
        axes[r, 0].imshow(x[i].reshape(28, 28), cmap="gray")
        for t in range(args.steps):
            rgb = np.stack([frames[t, r, 1], np.zeros((34, 34)), frames[t, r, 0]], -1) / top
            axes[r, t + 1].imshow(np.clip(rgb * 2, 0, 1))
            if r == 0:
                axes[r, t + 1].set_title(f"bin {t + 1}/{args.steps}", fontsize=7)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    axes[0, 0].set_title("MNIST", fontsize=7)
    fig.suptitle("event-MNIST: 3 saccades, ON red / OFF blue", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)

    per_sample = np.add.reduceat(ev.count.astype(np.int64), ev.offsets[:-1])
    hist = np.bincount(ev.frames(20, slice(0, 500)).ravel())
    print(f"wrote {args.out}; events per test sample: mean {per_sample.mean():.0f}, "
          f"median {np.median(per_sample):.0f}, min {per_sample.min()}, max {per_sample.max()}")
    nz = hist[1:].sum()
    print("T=20 count histogram (share of non-zero entries): " +
          ", ".join(f"{c}: {h / nz:.3f}" for c, h in enumerate(hist[1:9], 1)) + f", >8: {hist[9:].sum() / nz:.4f}")


if __name__ == "__main__":
    main()
