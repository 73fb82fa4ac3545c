"""Random integer networks for tests and hardware verification sweeps."""
import numpy as np

from .artifact import Artifact, Layer


def random_artifact(rng: np.random.Generator, sizes, *, density=0.5, w_bits=4, reset="subtract",
                    leak_b=128, leak_f=8, theta=(1, 12), bias=False, input_max_count=1, steps=20) -> Artifact:
    """A random integer network: weights spanning the whole signed range, per-neuron thresholds."""
    lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w = rng.integers(lo, hi + 1, (n_out, n_in))
        w[rng.random(w.shape) >= density] = 0
        layers.append(Layer.from_dense(
            w, w_bits=w_bits, theta=rng.integers(theta[0], theta[1] + 1, n_out),
            bias=rng.integers(-3, 4, n_out) if bias else None, leak_b=leak_b, leak_f=leak_f, reset=reset,
            scale=rng.uniform(0.01, 0.1, n_out)))
    return Artifact.create(layers, input_max_count=input_max_count, steps=steps, meta={"method": "test"})
