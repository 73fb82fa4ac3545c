"""Corner-case networks for the hardware tests, built on sim.testing's random layers."""
import numpy as np

from sim.artifact import Artifact, Layer
from sim.testing import random_layer


def funnel(layer: Layer, inputs) -> Layer:
    w = layer.dense()
    for j in inputs:
        w[:, j] = 0
        w[0, j] = (1 << (layer.w_bits - 1)) - 1 if j % 2 else -1
    return Layer.from_dense(w, w_bits=layer.w_bits, theta=layer.theta, bias=layer.bias, leak_b=layer.leak_b,
                            leak_f=layer.leak_f, reset=layer.reset)


def torture_net(seed=2, steps=12, input_max_count=3) -> Artifact:
    """Four layers covering densities 0-100 %, w_bits 2/4/8, both resets, per-neuron β and bias;
    14 inputs, so that 4-bit addresses 14 and 15 are out of range."""
    rng = np.random.default_rng(seed)
    layers = [
        random_layer(rng, 14, 12, density=0.4, w_bits=4, reset="subtract"),
        random_layer(rng, 12, 10, density=1.0, w_bits=2, reset="zero", empty_rows=False, theta_scale=0.1),
        random_layer(rng, 10, 7, density=0.0, w_bits=8, reset="subtract", negative_theta=True),
        random_layer(rng, 7, 5, density=0.6, w_bits=3, reset="zero", betas=(0.0, 0.5), theta_scale=0.3),
    ]
    # Read-modify-write hazards: inputs whose only synapse hits neuron 0, so consecutive events
    # (repeats, neighbours in a shuffled step, ascending spikes of layer 2) hit it back to back.
    layers[0] = funnel(layers[0], range(2, 8))
    layers[3] = funnel(layers[3], range(0, 4))
    # Layer 2 has no synapses: its neurons fire from bias alone, so give them some.
    layers[2] = Layer.from_dense(np.zeros((7, 10), np.int64), w_bits=8, theta=layers[2].theta,
                                 bias=rng.integers(0, 6, 7), leak_b=layers[2].leak_b, reset="subtract")
    return Artifact.create(layers, input_max_count=input_max_count, steps=steps, meta={"method": "random"})


def random_net(seed, shape, density, reset, w_bits=4, steps=10, input_max_count=2) -> Artifact:
    rng = np.random.default_rng(seed)
    layers = [random_layer(rng, a, b, density=density, w_bits=w_bits, reset=reset) for a, b in zip(shape, shape[1:])]
    return Artifact.create(layers, input_max_count=input_max_count, steps=steps, meta={"method": "random"})


def random_counts(rng, art: Artifact, steps, samples, density=0.3) -> np.ndarray:
    """Event counts [T, B, n_in] up to the artifact's input_max_count."""
    c = rng.integers(1, art.input_max_count + 1, (steps, samples, art.n_in))
    return np.where(rng.random(c.shape) < density, c, 0)
