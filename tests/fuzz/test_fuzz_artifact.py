"""Fuzzed artifacts: every load is a clean ArtifactError or an artifact whose bound really holds.

Mutations start from a small valid artifact: members replaced by arrays of every kind and size
(declared sizes up to 10^12 entries), bytes of the file flipped or cut, and networks built
directly at the edges of the format's ranges (β = 1, thresholds and biases near ±2^31, the most
steps and events). Whatever loads is run through sim.reference at its worst-case input, where a
wrong membrane bound would raise BoundError, and the networks through the hardware plan.
"""
import io
import time
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.gateware.plan import GeneratorError, plan
from sim import artifact as A
from sim import reference
from sim.testing import random_artifact

FEW, MANY = 80, 1000
LOAD_SECONDS = 5.0  # the slowest legal load (β = 1 for MAX_STEPS) takes well under a second


def cases(n):
    return settings(settings.get_profile("fuzz"), max_examples=n)


SIZES = [pytest.param(FEW, id="few"), pytest.param(MANY, id="many", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def members():
    art = random_artifact(np.random.default_rng(0), [6, 5, 3], density=0.5, bias=True, input_max_count=2, steps=6)
    data = {"format": np.array(A.FORMAT), "version": np.array(A.VERSION), "meta": np.array('{"method": "test"}'),
            "input_max_count": np.array(art.input_max_count), "steps": np.array(art.steps),
            "n_layers": np.array(len(art.layers))}
    for k, l in enumerate(art.layers):
        for name in ("ptr", "idx", "val", "theta", "bias", "leak_b"):
            data[f"l{k}.{name}"] = getattr(l, name)
        data[f"l{k}.scale"], data[f"l{k}.shape"] = l.scale, np.array([l.n_in, l.n_out])
        data[f"l{k}.w_bits"], data[f"l{k}.leak_f"], data[f"l{k}.reset"] = (np.array(l.w_bits), np.array(l.leak_f),
                                                                          np.array(l.reset))
        data[f"l{k}.v_bound"] = np.array([l.v_min, l.v_max])
    return data


def worst_case_holds(art: A.Artifact) -> None:
    """Every input at its maximum count, then none, for the steps the bound covers: no BoundError."""
    steps = min(art.steps, 64)
    for counts in (np.full((steps, 1, art.n_in), art.input_max_count), np.zeros((steps, 1, art.n_in), np.int64)):
        res = reference.run(art, counts)
        assert all(s.max(initial=0) <= 1 for s in res.spikes)


def load_or_refuse(path) -> A.Artifact | None:
    start = time.monotonic()
    try:
        art = A.load(path)
    except A.ArtifactError as e:
        assert str(e) and "\n" not in str(e)
        art = None
    assert time.monotonic() - start < LOAD_SECONDS
    if art is not None:
        worst_case_holds(art)
    return art


values = st.one_of(
    st.integers(-2 ** 70, 2 ** 70).map(lambda v: np.array(v) if -2 ** 63 <= v < 2 ** 63 else np.array(str(v))),
    st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=12).map(lambda v: np.array(v, np.int64)),
    st.lists(st.integers(0, 2 ** 64 - 1), max_size=4).map(lambda v: np.array(v, np.uint64)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6).map(lambda v: np.array(v, np.float64)),
    st.text(max_size=40).map(np.array),
    st.sampled_from([np.zeros((2, 2), np.int64), np.array([True]), np.array(1.5), np.array([1 + 2j]),
                     np.array('{"encoding": {"dataset": "digits", "steps": 1e9}}'),
                     np.array('{"encoding": {"dataset": "digits", "steps": 1000000000}}'),
                     np.array('{"encoding": [1]}'), np.array("[" * 5000 + "]" * 5000),
                     np.array(A.MAX_STEPS), np.array(A.MAX_STEPS + 1), np.array(A.MAX_INPUT_COUNT),
                     np.array([-2 ** 31, 2 ** 31 - 1]), np.array(2 ** 62)]),
    st.none(),
)


@pytest.mark.parametrize("n", SIZES)
def test_replaced_members(tmp_path, members, n):
    @cases(n)
    @given(changes=st.dictionaries(st.sampled_from(sorted(members)), values, min_size=1, max_size=3))
    def run(changes):
        data = {k: v for k, v in {**members, **changes}.items() if v is not None}
        np.savez(tmp_path / "a.npz", **data)
        load_or_refuse(tmp_path / "a.npz")

    run()


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory, members):
    path = tmp_path_factory.mktemp("fuzz") / "valid.npz"
    np.savez_compressed(path, **members)
    assert A.load(path) is not None
    return path.read_bytes()


@pytest.mark.parametrize("n", SIZES)
def test_flipped_and_cut_bytes(tmp_path, valid_bytes, n):
    @cases(n)
    @given(flips=st.lists(st.tuples(st.integers(0, len(valid_bytes) - 1), st.integers(1, 255)), max_size=4),
           cut=st.one_of(st.none(), st.integers(0, len(valid_bytes))))
    def run(flips, cut):
        raw = bytearray(valid_bytes)
        for pos, mask in flips:
            raw[pos] ^= mask
        (tmp_path / "a.npz").write_bytes(bytes(raw[:cut]))
        load_or_refuse(tmp_path / "a.npz")

    run()


def npy_member(shape, dtype="<i8", payload=b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


@pytest.mark.parametrize("n", SIZES)
def test_declared_sizes_are_checked_before_reading(tmp_path, members, n):
    @cases(n)
    @given(key=st.sampled_from(sorted(members)), shape=st.tuples(st.integers(0, 10 ** 12)),
           dtype=st.sampled_from(["<i8", "<u8", "<f8", "<U1000000", "|O", "|V0"]))
    def run(key, shape, dtype):
        path = tmp_path / "a.npz"
        np.savez(path, **{k: v for k, v in members.items() if k != key})
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(f"{key}.npy", npy_member(shape, dtype, b"\0" * 64))
        load_or_refuse(path)

    run()


@pytest.mark.parametrize("n", SIZES)
def test_networks_at_the_edges_of_the_ranges(n):
    @cases(n)
    @given(st.data())
    def run(data):
        n_in, n_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
        w_bits = data.draw(st.integers(2, 8))
        big = st.sampled_from([-2 ** 31, -2 ** 31 + 1, -2 ** 30, -1, 0, 1, 2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 62])
        leak_f = data.draw(st.integers(0, 16))
        w = data.draw(st.lists(st.integers(-(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1),
                               min_size=n_in * n_out, max_size=n_in * n_out))
        steps = data.draw(st.one_of(st.integers(1, 40), st.sampled_from([A.MAX_STEPS, A.MAX_STEPS + 1, 10 ** 9])))
        try:
            layer = A.Layer.from_dense(np.reshape(w, (n_out, n_in)), w_bits=w_bits,
                                       theta=data.draw(st.one_of(big, st.integers(-20, 20))),
                                       bias=data.draw(st.one_of(big, st.integers(-5, 5))),
                                       leak_b=data.draw(st.sampled_from([0, 1 << leak_f, (1 << leak_f) - 1])),
                                       leak_f=leak_f, reset=data.draw(st.sampled_from(A.RESETS)))
            start = time.monotonic()
            art = A.Artifact.create([layer], steps=steps, input_max_count=data.draw(st.sampled_from([1, 255, 256])))
            assert time.monotonic() - start < LOAD_SECONDS
        except A.ArtifactError:
            return
        worst_case_holds(art)
        try:  # the generator refuses what it cannot build with its own one-line error, never overflows
            plan(art)
        except GeneratorError:
            pass

    run()
