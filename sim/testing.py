"""Random integer networks for tests, benchmarks and hardware verification sweeps (the one
generator the project has; corner-case constructions on top of it live beside their tests)."""
import dataclasses

import numpy as np

from .artifact import Artifact, Layer


def random_layer(rng: np.random.Generator, n_in: int, n_out: int, *, density: float = 0.5, w_bits: int = 4,
                 reset: str = "subtract", betas=(0.5, 0.75, 0.9375, 1.0, 0.0), leak_f: int = 8, theta=None,
                 theta_scale: float = 1.0, bias: bool = True, full_row: bool = True, empty_rows: bool = True,
                 negative_theta: bool = False) -> Layer:
    """A layer with weights over the whole signed range (both extremes present), kept with
    probability `density`, and per-neuron β drawn from `betas`.

    theta: (lo, hi) to draw thresholds from, or None to scale them to the expected fan-in (times
    `theta_scale`) so that neurons fire at a moderate rate. `empty_rows` empties input 0's fan-out,
    `full_row` gives input 1 a synapse to every neuron, `negative_theta` makes neuron 0 start fired.
    """
    lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    w = rng.integers(lo, hi + 1, (n_out, n_in))
    w[rng.random(w.shape) >= density] = 0
    if density > 0:
        w[rng.integers(n_out), rng.integers(n_in)] = lo
        w[rng.integers(n_out), rng.integers(n_in)] = hi
    if empty_rows and n_in > 2:
        w[:, 0] = 0
    if full_row and n_in > 2 and density > 0:
        w[:, 1] = rng.choice([lo, hi, 1, -1], n_out)
    if theta is None:
        top = max(1.0, np.sqrt(max(density, 0.05) * n_in) * hi * theta_scale)
        th = rng.integers(1, int(top) + 2, n_out)
    else:
        th = rng.integers(theta[0], theta[1] + 1, n_out)
    if negative_theta:
        th[0] = -1  # V(0) = 0 > θ: the neuron counts as fired before step 1
    leak_b = (np.array(betas)[rng.integers(len(betas), size=n_out)] * (1 << leak_f)).astype(np.int64)
    b = rng.integers(-2, 3, n_out) if bias else None
    return Layer.from_dense(w, w_bits=w_bits, theta=th, bias=b, leak_b=leak_b, leak_f=leak_f, reset=reset)


def random_artifact(rng: np.random.Generator, sizes, *, input_max_count: int = 1, steps: int = 20,
                    resets=None, **layer) -> Artifact:
    """A random network of `sizes` (n_in, hidden..., n_out) from `random_layer(**layer)`, with
    random per-neuron scales; `resets` gives one reset mode per layer (default: `layer["reset"]`)."""
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        options = dict(layer, reset=resets[k]) if resets else layer
        l = random_layer(rng, n_in, n_out, **options)
        layers.append(dataclasses.replace(l, scale=rng.uniform(0.01, 0.1, n_out)))
    return Artifact.create(layers, input_max_count=input_max_count, steps=steps, meta={"method": "test"})
