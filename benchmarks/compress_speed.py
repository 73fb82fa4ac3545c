"""Time and membrane loss of OSBC, phase by phase, on the paper's N-MNIST shape: one 2312->256 LIF
layer and the whole 2312-256-10 network (beta 0.5, hard reset), 256 calibration samples of T steps,
at 90 % and 97 % sparsity + 4 bits and dense 4 bits; peak memory; and how the OBS traces (the
phase that dominates) scale with CPU threads.

    python -m benchmarks.compress_speed                        # T = 20, threads 1 and all cores
    python -m benchmarks.compress_speed --steps 100 --threads 1,2,4 --device cpu

The network is random (no training: time does not depend on the weights' values) with its weights
scaled up until about a tenth of the hidden neurons fire, and its input is synthetic
N-MNIST-like events: each sample lights a random smooth blob of a 2x34x34 sensor, with Bernoulli
events per step. Losses are relative membrane losses (|dW X~|^2 / |W X~|^2 on the calibration
traces); "max rule" is the quantiser restricted to the clip-free scale max|w| / (2^(b-1) - 1).
The load average is printed because the machine's cores may be shared.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch

from compress import osbc
from compress.calibrate import Calibration, calibrate
from compress.pipeline import Compressor
from compress.snntorch_import import build_model, float_layers, run_float

DENSE, PRUNED = ((0.0, 4),), ((0.9, 4), (0.97, 4))  # (sparsity, bits): dense quantised (needs no traces), pruned


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


def peak_gb(device: torch.device) -> str:
    """Peak resident memory of this process so far (and of the GPU's allocator), in GB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kB
    gpu = f", GPU {torch.cuda.max_memory_allocated(device) / 1e9:.2f}" if device.type == "cuda" else ""
    return f"{rss:.2f}{gpu}"


class Table:
    """A markdown table printed row by row as the phases finish (a long run shows its progress)."""

    def __init__(self, title: str, device: torch.device):
        self.device = device
        print(f"\n{title}\n\n| phase | seconds | membrane loss | peak memory GB |\n|---|---|---|---|", flush=True)

    def add(self, phase: str, seconds: float | None, loss: str = "") -> None:
        """seconds None: not timed (an ablation computed alongside)."""
        took = "–" if seconds is None else f"{seconds:.1f}"
        print(f"| {phase} | {took} | {loss} | {peak_gb(self.device)} |", flush=True)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def readouts(comp: Compressor, table: Table, targets) -> None:
    """Masks + fit, then quantisation (and the max-rule ablations), at every target; one row each."""
    for sparsity, bits in targets:
        label = f"{sparsity:.0%} + {bits} bit" if sparsity else f"dense {bits} bit"
        keeps, t_mask = timed(comp.masks, sparsity)
        fitted, t_fit = timed(comp.weights, keeps)
        table.add(f"{label}: masks + fit", t_mask + t_fit, " / ".join(
            f"{comp.relative_loss(k, w):.4g}" for k, w in enumerate(fitted)))
        quant, t_q = timed(comp.quantise, fitted, keeps, bits)
        table.add(f"{label}: GPTQ", t_q, " / ".join(
            f"{comp.relative_loss(k, q * s[:, None]):.4g}" for k, (q, s) in enumerate(quant)))
        if not sparsity:  # the clip-free max rule alone, and round to nearest on both grids
            max_rule = []
            for k, (w, keep) in enumerate(zip(fitted, keeps)):
                h = comp.hess[k]
                scale = osbc.max_scales(w, bits)
                q, _ = osbc.quantise(w, h.hess, h.group, keep, scale, osbc.grid_max(bits), device=comp.device)
                max_rule.append(comp.relative_loss(k, q * scale[:, None]))
            table.add(f"{label}: GPTQ, max rule (ablation)", None, " / ".join(f"{x:.4g}" for x in max_rule))
            rtn = Compressor(comp.layers, comp.calib, "rtn", device=comp.device, progress=False)
            (rq, t_r) = timed(rtn.quantise, rtn.weights(keeps), keeps, bits)
            table.add(f"{label}: round to nearest", t_r, " / ".join(
                f"{comp.relative_loss(k, q * s[:, None]):.4g}" for k, (q, s) in enumerate(rq)))
            table.add(f"{label}: round to nearest, max rule (ablation)", None, " / ".join(
                f"{comp.relative_loss(k, osbc.rtn(w, s, osbc.grid_max(bits)) * s[:, None]):.4g}"
                for k, (w, s) in enumerate((w, osbc.max_scales(w, bits)) for w in comp.dense)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--calib", type=int, default=256)
    p.add_argument("--threads", default=None, help="comma-separated CPU thread counts for the trace scaling "
                                                   "(default: 1 and all cores); the rest runs on the largest")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    device = osbc.resolve_device(args.device)
    threads = sorted({int(t) for t in args.threads.split(",")} if args.threads else {1, os.cpu_count() or 1})
    torch.set_num_threads(max(threads))

    counts = synthetic_events(args.calib, args.steps, args.seed)
    model = network(args.seed, counts)
    with torch.no_grad():
        hidden = float(run_float(model, torch.from_numpy(counts[:, :32].astype(np.float32)))[0].mean())
    print(f"input events per sample and step: {counts.sum(2).mean():.1f}; hidden spike rate {hidden:.3f}; "
          f"device {device}, torch threads {torch.get_num_threads()}, cores {os.cpu_count()}")
    load0, cpu0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()

    calib, t_calib = timed(calibrate, model, counts, device=device, progress=False)
    one = Calibration(membrane=calib.membrane[:1], current=None, samples=calib.samples, steps=calib.steps)

    layer = Table(f"One 2312->256 layer (T = {args.steps}), {max(threads)} threads:", device)
    comp = Compressor(float_layers(model)[:1], one, "osbc", device=device, threads=max(threads), progress=False)
    readouts(comp, layer, DENSE)
    trace_s = timed(lambda: comp.traces)[1]
    layer.add("OBS traces (all rows, all sparsities)", trace_s)
    readouts(comp, layer, PRUNED)
    del comp

    net = Table("Whole 2312-256-10 net (losses per layer), LAMP allocation:", device)
    net.add(f"calibration (forward pass + Hessians, {args.calib} x T={args.steps})", t_calib)
    comp = Compressor(float_layers(model), calib, "osbc", device=device, threads=max(threads), progress=False)
    readouts(comp, net, DENSE)
    net.add("OBS traces, both layers", timed(lambda: comp.traces)[1])
    readouts(comp, net, PRUNED)
    del comp

    if device.type == "cpu" and len(threads) > 1:
        print("\nOBS traces of the 2312->256 layer by CPU threads:\n\n| threads | seconds |\n|---|---|", flush=True)
        for n in threads:
            if n < max(threads):  # the largest count's time is the one above
                t = timed(lambda: Compressor(float_layers(model)[:1], one, "osbc", device=device, threads=n,
                                             progress=False).traces)[1]
            print(f"| {n} | {trace_s if n == max(threads) else t:.1f} |", flush=True)
    print(f"\nwall {time.perf_counter() - t0:.0f} s, CPU time of all threads {time.process_time() - cpu0:.0f} s, "
          f"load average {load0:.1f} before / {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
