"""Random artifacts that exercise the core's corner cases (shared by the hw tests)."""
import numpy as np

from sim.artifact import Artifact, Layer


def random_layer(rng, n_in, n_out, *, density, w_bits, reset, betas=(0.5, 0.75, 0.9375, 1.0, 0.0),
                 leak_f=8, full_row=True, empty_rows=True, bias=True, negative_theta=False, theta_scale=1.0):
    """A layer with weights at both extremes, empty fan-out rows and one input with full fan-out."""
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
    scale = max(1.0, np.sqrt(max(density, 0.05) * n_in) * hi * theta_scale)
    theta = rng.integers(1, int(scale) + 2, n_out)
    if negative_theta:
        theta[0] = -1  # V(0) = 0 > θ: the neuron counts as fired before step 1
    leak_b = (np.array(betas)[rng.integers(len(betas), size=n_out)] * (1 << leak_f)).astype(np.int64)
    b = rng.integers(-2, 3, n_out) if bias else None
    return Layer.from_dense(w, w_bits=w_bits, theta=theta, bias=b, leak_b=leak_b, leak_f=leak_f, reset=reset)


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
