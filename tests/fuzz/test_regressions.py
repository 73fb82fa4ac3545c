"""One regression test per case of the fuzzing report (issue 15) that this suite's owners fixed."""
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

import compress.__main__ as compress_cli
import hw.board.build as build_cli
import sim.__main__ as sim_cli
from data import Encoding, spikes_for
from hw.gateware import perf
from hw.gateware.plan import plan
from hw.rtlsim import cosim, verify
from sim import artifact as A
from sim import reference
from sim.evaluate import evaluate


def save_members(path, members):
    np.savez(path, **members)
    return path


@pytest.fixture
def bundled(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(A.default_path().read_bytes())
    with np.load(path) as z:
        return path, {k: z[k] for k in z.files}


def test_beta_one_with_a_billion_steps_is_refused_at_once(tmp_path, bundled):
    path, data = bundled
    for k in range(2):
        data[f"l{k}.leak_b"] = np.full_like(data[f"l{k}.leak_b"], 256)
    # Refused from the declared value, before any bound is iterated (it used to iterate 10^9 steps).
    with pytest.raises(A.ArtifactError, match=r"steps: must be in 1\.\.16384"):
        A.load(save_members(path, {**data, "steps": np.array(10 ** 9)}))
    layer = A.Layer.from_dense([[-1]], w_bits=2, theta=1, leak_b=256)
    art = A.Artifact.create([layer], steps=A.MAX_STEPS)  # the longest legal β = 1 bound: iterated in full
    assert art.bound_steps == (A.MAX_STEPS,) and art.layers[0].v_min == -A.MAX_STEPS


def test_thresholds_beyond_32_bits_are_refused_not_wrapped():
    for theta, bias in ((2 ** 62, 0), (1, -(2 ** 62)), (2 ** 31, 0), (-(2 ** 63), 0)):
        with pytest.raises(A.ArtifactError, match=r"theta|bias"):
            A.Layer.from_dense([[1]], w_bits=4, theta=theta, bias=bias, leak_b=128)


def test_a_bound_beyond_max_v_bits_is_refused(monkeypatch):
    # Within the format's limits a bound reaches at most about 2^47; a smaller limit shows the check.
    monkeypatch.setattr(A, "MAX_V_BITS", 40)
    layer = A.Layer.from_dense([[0]], w_bits=4, theta=2 ** 31 - 1, bias=-(2 ** 31), leak_b=256)
    with pytest.raises(A.ArtifactError, match=r"l0\.v_bound: .* more than 40 bits"):
        A.Artifact.create([layer], steps=A.MAX_STEPS)


def test_nan_weights_are_reported_as_not_finite():
    with pytest.raises(A.ArtifactError, match="weights: not finite"):
        A.Layer.from_dense([[np.nan, 1]], w_bits=4, theta=1, leak_b=1)
    with pytest.raises(A.ArtifactError, match="theta: not finite"):
        A.Layer.from_dense([[1]], w_bits=4, theta=np.inf, leak_b=1)


def test_rate_code_of_a_sample_does_not_depend_on_the_limit():
    art = A.load()
    few, _ = spikes_for(art, limit=5)
    more, _ = spikes_for(art, limit=20)
    every, _ = spikes_for(art)
    assert np.array_equal(few, more[:, :5]) and np.array_equal(more, every[:, :20])


def test_bit_flip_inside_the_compressed_data_and_foreign_members(tmp_path):
    raw = bytearray(A.default_path().read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(raw))
    with pytest.raises(A.ArtifactError):
        A.load(tmp_path / "flip.npz")
    foreign = tmp_path / "foreign.npz"
    foreign.write_bytes(A.default_path().read_bytes())
    with zipfile.ZipFile(foreign, "a") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(A.ArtifactError, match="'notes.txt' is not an .npy array"):
        A.load(foreign)


def test_declared_sizes_are_checked_before_allocation(tmp_path, bundled):
    path, data = bundled
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<i8", "fortran_order": False, "shape": (10 ** 12,)})
    save_members(path, {k: v for k, v in data.items() if k != "l0.ptr"})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("l0.ptr.npy", head.getvalue() + b"\0" * 64)
    with pytest.raises(A.ArtifactError, match="l0.ptr: declares"):
        A.load(path)
    # 50 M zero row pointers: a small file that used to take 1.25 GB to load.
    save_members(path, {**data, "l0.ptr": np.zeros(50_000_000 // 100, np.int64)})
    tracemalloc.start()
    with pytest.raises(A.ArtifactError, match="l0.ptr: declares"):
        A.load(path)
    assert tracemalloc.get_traced_memory()[1] < 50e6
    tracemalloc.stop()


@pytest.mark.parametrize("encoding, field", [
    ({"dataset": "digits", "steps": 10 ** 9}, "steps"), ({"dataset": "digits", "steps": "25"}, "steps"),
    ({"dataset": "digits", "steps": 25, "max_count": None}, "max_count"), ([1, 2], "JSON object"),
    ({"dataset": "digits", "steps": 25, "seed": -1}, "seed"), ({"dataset": "digits"}, "steps: missing"),
    ({"dataset": "digits", "steps": 25, "extra": 1}, "unknown field"), ({"dataset": 3, "steps": 25}, "dataset"),
    ({"dataset": "digits", "steps": 25, "code": "events"}, "code"),
])
def test_malformed_encoding_is_refused_at_load(tmp_path, bundled, encoding, field):
    path, data = bundled
    meta = {**json.loads(str(data["meta"])), "encoding": encoding}
    with pytest.raises(A.ArtifactError, match=f"meta.encoding.*{field}"):
        A.load(save_members(path, {**data, "meta": np.array(json.dumps(meta))}))


def test_encoding_round_trip():
    enc = Encoding(dataset="event-mnist", steps=20, code="events", max_count=4, sim={"contrast": 0.4})
    assert Encoding.from_meta(enc.to_meta()) == enc
    assert A.load().encoding == Encoding.from_meta({"dataset": "digits", "code": "rate", "steps": 25, "seed": 0})


def test_cosim_refuses_counts_and_steps_the_bound_does_not_cover():
    art = A.load()
    with pytest.raises(ValueError, match=r"event counts must lie in \[0, 1\]"):
        cosim.simulate(art, np.full((3, 1, 64), 2))
    with pytest.raises(ValueError, match="at most 25 steps"):
        cosim.simulate(art, np.zeros((26, 1, 64), np.int64))


def test_converging_model_is_not_refused_as_if_beta_were_one():
    art = A.load()  # beta = 0.875: the interval converges, but not within its 25 steps
    with pytest.raises(ValueError) as e:
        reference.run(art, np.zeros((30, 1, 64), np.int64))
    assert "beta = 1" not in str(e.value) and "had not converged" in str(e.value)


def test_more_outputs_than_classes_is_refused():
    layer = A.Layer.from_dense(np.ones((128, 64)), w_bits=4, theta=5, leak_b=128)
    art = A.Artifact.create([layer], steps=25, meta=A.load().meta)
    with pytest.raises(ValueError, match="128 outputs, but the datasets have 10 classes"):
        evaluate(art, limit=5, progress=False)


def test_parameter_rom_wider_than_64_bits_is_exact():
    theta, bias, leak = [2 ** 30 - 1, 5, -(2 ** 30)], [-(2 ** 28), 3, 2 ** 28], [40000, 2, 1]
    layer = A.Layer.from_dense(np.zeros((3, 2)), w_bits=4, theta=theta, bias=bias, leak_b=leak, leak_f=16)
    p = plan(A.Artifact.create([layer], steps=3))[0]
    tw, bw = p.param_shape("theta")[0], p.param_shape("bias")[0]
    expect = [(t % 2 ** tw) | (b % 2 ** bw) << tw | lb << (tw + bw) for t, b, lb in zip(theta, bias, leak)]
    assert p.params_rom == expect and max(expect).bit_length() > 64


def cli(main, argv):
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv, message", [
    (["--test-limit", "-1"], "test-limit"), (["--test-limit", "0"], "test-limit"), (["--damp", "nan"], "damp"),
    (["--damp", "inf"], "damp"), (["--out", "{tmp}"], "is a directory"),
    (["--out", "/proc/no/place.npz"], "cannot write"), (["--out", "/dev/null/x.npz"], "cannot write"),
])
def test_compress_argument_checks(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    args = {"--dataset": "digits", "--out": str(tmp_path / "o.npz"), **dict(zip(argv[::2], argv[1::2]))}
    assert cli(compress_cli.main, [x for kv in args.items() for x in kv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--clock-mhz", "0"], ["--clock-mhz", "nan"], ["--baud", "0"]])
def test_build_argument_checks(argv, capsys):
    assert cli(build_cli.main, argv) == 2
    assert argv[0] in capsys.readouterr().err


def test_sim_eval_refuses_a_billion_steps(capsys):
    assert sim_cli.main(["eval", "--steps", str(10 ** 9), "--limit", "2"]) == 2
    assert "steps" in capsys.readouterr().err


def test_verify_reports_a_bound_error_in_one_line(monkeypatch, capsys):
    def escape(*a, **k):
        raise reference.BoundError("l0: membrane left the proven bound")

    monkeypatch.setattr(verify.reference, "run", escape)
    assert verify.main(["--samples", "1"]) == 2
    assert capsys.readouterr().err == "error: l0: membrane left the proven bound\n"


def test_cycle_model_with_empty_rows_at_the_end_of_a_step():
    # Measured on Icarus (hw/rtlsim/cosim.py): events at inputs with empty CSR rows after the last
    # synapse of a step hide in its drain, up to EMPTY_STEP_SAVING of them.
    rng = np.random.default_rng(1)
    w = rng.integers(-8, 8, (6, 8))
    w[:, [2, 5, 7]] = 0
    art = A.Artifact.create([A.Layer.from_dense(w, w_bits=4, theta=9, leak_b=200)], input_max_count=3, steps=8)
    c = np.zeros((8, 1, 8), np.int64)
    c[0, 0, [0, 7]] = 1
    c[1, 0, [7]] = 1
    c[2, 0, [0, 5, 7]] = [1, 2, 2]
    c[3, 0, [2, 3, 5]] = 1
    c[4, 0, [3, 5, 6]] = 1
    lower, upper = perf.step_cycles(art, c, "csr")
    assert lower[:, 0].tolist() == [21, 13, 22, 22, 27, 12, 12, 12] and np.array_equal(lower, upper)


@pytest.mark.simulator("icarus")
def test_cycle_model_with_empty_rows_matches_the_rtl():
    rng = np.random.default_rng(1)
    w = rng.integers(-8, 8, (6, 8))
    w[:, [2, 5, 7]] = 0
    art = A.Artifact.create([A.Layer.from_dense(w, w_bits=4, theta=9, leak_b=200)], input_max_count=3, steps=12)
    counts = np.random.default_rng(3).integers(0, 4, (12, 2, 8)) * (np.random.default_rng(4).random((12, 2, 8)) < 0.3)
    counts[:, :, 7] = np.arange(12)[:, None] % 4  # the last input has an empty row
    hw = cosim.simulate(art, counts, "icarus", storage="csr")
    lower, upper = perf.step_cycles(art, counts, "csr")
    assert np.array_equal(lower, hw.cycles) and np.array_equal(upper, hw.cycles)
