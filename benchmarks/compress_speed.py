"""Time OSBC on the paper's N-MNIST shape: a 2312-256-10 LIF network (beta 0.5, hard reset), 256
calibration samples of T steps, 97 % sparsity and 4-bit weights, on this machine's CPU.

    python -m benchmarks.compress_speed                 # T = 100 as in the paper's N-MNIST network
    python -m benchmarks.compress_speed --steps 25 --sparsity 0.9

The network is random (no training: time does not depend on the weights' values) with its weights
scaled up until about a tenth of the hidden neurons fire, and its input is synthetic
N-MNIST-like events: each sample lights a random smooth blob of a 2x34x34 sensor, with Bernoulli
events per step. The load average is printed because the machine's cores may be shared.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from compress.calibrate import calibrate
from compress.pipeline import Compressor
from compress.snntorch_import import build_model, float_layers, run_float


def synthetic_events(n: int, steps: int, seed: int, side: int = 34, rate: float = 0.15) -> np.ndarray:
    """uint8 [T, n, 2*side*side]: per sample a blob (random 5x5 pattern, upsampled) emitting
    ON/OFF events with probability rate x intensity per step."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((n, 2, 5, 5)) ** 3
    idx = np.minimum(np.arange(side) * 5 // side, 4)
    intensity = coarse[:, :, idx][:, :, :, idx].reshape(n, -1)
    return (rng.random((steps, n, intensity.shape[1]), dtype=np.float32) < rate * intensity).astype(np.uint8)


def network(seed: int, counts: np.ndarray) -> torch.nn.Sequential:
    """Random 2312-256-10 net, weights scaled up until ~10 % of the hidden neurons fire per step."""
    torch.manual_seed(seed)
    model = build_model([2312, 256, 10], beta=0.5, threshold=1.0, reset="zero")
    x = torch.from_numpy(counts[:, :32].astype(np.float32))
    with torch.no_grad():
        for _ in range(20):
            rate = float(run_float(model, x)[0].mean())
            if rate >= 0.1:
                break
            model[0].weight *= 1.5
            model[2].weight *= 1.5
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--calib", type=int, default=256)
    p.add_argument("--sparsity", type=float, default=0.97)
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    counts = synthetic_events(args.calib, args.steps, args.seed)
    model = network(args.seed, counts)
    with torch.no_grad():
        hidden = float(run_float(model, torch.from_numpy(counts[:, :32].astype(np.float32)))[0].mean())
    print(f"input events per sample and step: {counts.sum(2).mean():.1f}; hidden spike rate {hidden:.3f}")
    load0 = os.getloadavg()[0]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    calib = calibrate(model, counts)
    t1 = time.perf_counter()
    comp = Compressor(float_layers(model), calib, "osbc")
    t2 = time.perf_counter()
    art, reports = comp.compress(args.sparsity, args.bits, steps=args.steps)
    t3 = time.perf_counter()
    cpu = time.process_time() - cpu0
    print(f"torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"load average {load0:.1f} before / {os.getloadavg()[0]:.1f} after")
    print("| phase | seconds |\n|---|---|")
    print(f"| calibration (forward pass + Hessians, {args.calib} x T={args.steps}) | {t1 - t0:.1f} |")
    print(f"| OBS traces (all rows, all sparsities) | {t2 - t1:.1f} |")
    print(f"| masks + fit + GPTQ {args.bits}-bit + artifact at {args.sparsity:.0%} | {t3 - t2:.1f} |")
    print(f"| **total** | **{t3 - t0:.1f}** |")
    print(f"CPU time of all threads: {cpu:.1f} s")
    for k, r in enumerate(reports):
        print(f"layer {k} {r.n_in}x{r.n_out}: sparsity {r.sparsity:.4f}, nnz {r.nnz}, CSR {r.memory.csr_bits} bits, "
              f"membrane loss pruned {r.loss_pruned:.4g}, +quant {r.loss_quantised:.4g}")


if __name__ == "__main__":
    main()
