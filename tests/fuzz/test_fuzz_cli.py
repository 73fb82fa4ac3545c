"""Fuzzed command lines: every run exits 0, or 2 with one `error: ...` line (argparse's usage
errors included), never a traceback; what a successful `sim eval` prints matches sim/. The
compress, hw.verify and hw.build cases carry exactly one invalid option each, so that every one
is refused before the long work (compression, simulation, synthesis) starts."""
import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import compress.__main__ as compress_cli
import hw.board.build as build_cli
import hw.rtlsim.verify as verify_cli
import sim.__main__ as sim_cli
from data import spikes_for
from sim import artifact as A
from sim import reference

FEW, MANY = 40, 1000
SIZES = [pytest.param(FEW, id="few"), pytest.param(MANY, id="many", marks=pytest.mark.slow)]


def cases(n):
    return settings(settings.get_profile("fuzz"), max_examples=n)


def run(main, argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: usage + "prog: error: ..."
            code = e.code
    return code, out.getvalue(), err.getvalue()


def check_refusal(code, err):
    assert code in (0, 2), err
    if code == 2:
        lines = err.strip().splitlines()
        assert lines and (lines[-1].startswith("error: ") or ": error: " in lines[-1]), err
        assert "Traceback" not in err


numbers = st.one_of(st.integers(-3, 30), st.sampled_from([10 ** 9, 2 ** 63, -(2 ** 63)]))
text = st.one_of(numbers.map(str), st.sampled_from(["nan", "inf", "-inf", "", "1e9", "0x10", "abc", ","]))


def one_bad_option(bad: dict, base: dict):
    """argv with every option of `base` and exactly one of `bad` at one of its invalid values."""
    return st.sampled_from(sorted(bad)).flatmap(
        lambda option: st.sampled_from(bad[option]).map(
            lambda value: [x for k, v in {**base, option: value}.items() for x in ((k,) if v is None else (k, v))]))


@pytest.mark.parametrize("n", SIZES)
def test_sim_eval(n):
    art = A.load()

    @cases(n)
    @given(limit=st.one_of(st.none(), text), steps=st.one_of(st.none(), text), seed=st.one_of(st.none(), text),
           dataset=st.sampled_from([None, "digits", "bogus"]))
    def check(limit, steps, seed, dataset):
        argv = ["eval"]
        for flag, value in (("--limit", limit), ("--steps", steps), ("--seed", seed), ("--dataset", dataset)):
            if value is not None:
                argv += [flag, value]
        if limit is None:
            argv += ["--limit", "7"]
        code, out, err = run(sim_cli.main, argv)
        check_refusal(code, err)
        if code == 0:  # the printed accuracy is the reference's on the same samples
            args = dict(zip(argv[1::2], argv[2::2]))
            counts, y = spikes_for(art, args.get("--dataset"), "test", int(args["--steps"]) if "--steps" in args else None,
                                   int(args["--seed"]) if "--seed" in args else None, int(args["--limit"]))
            acc = float(out.split("integer accuracy ")[1].split()[0])
            assert math.isclose(acc, np.mean(reference.run(art, counts).classes == y), abs_tol=5e-5)

    check()


@pytest.mark.parametrize("n", SIZES)
def test_compress_argument_checks(tmp_path, n):
    """Every option at odd values, one invalid value per run, so no case starts a compression."""
    bad = {"--sparsity": ["-0.1", "1", "nan", ",", "1e9"], "--bits": ["1", "9", "-4", "x"],
           "--calib": ["0", "-1", "x"], "--damp": ["0", "-1", "nan", "inf"], "--test-limit": ["0", "-1", "x"],
           "--dataset": ["bogus", ""], "--method": ["nope"], "--allocation": ["nope"],
           "--model": [str(tmp_path / "missing.pt"), str(tmp_path)],
           "--out": [str(tmp_path), "/proc/no/such/place.npz"]}

    @cases(n)
    @given(argv=one_bad_option(bad, {"--dataset": "digits", "--out": str(tmp_path / "o.npz"), "--calib": "8",
                                     "--no-eval": None}))
    def check(argv):
        code, _, err = run(compress_cli.main, argv)
        assert code == 2, (argv, err)
        check_refusal(code, err)
        assert not (tmp_path / "o.npz").exists()

    check()


@pytest.mark.parametrize("n", SIZES)
def test_verify_argument_checks(tmp_path, n):
    """Refused before any simulator starts: the run fails if a case reaches the RTL."""
    bad = {"--samples": ["0", "-1", "x"], "--chunk": ["0", "-3"], "--stall": ["1", "-0.1", "nan"],
           "--steps": ["0", "-1", str(10 ** 9), "26"], "--seed": ["-1", "x"], "--dataset": ["bogus"],
           "--simulator": ["spice"], "--storage": ["coo"], "--data": [str(tmp_path / "none.npz")]}

    @cases(n)
    @given(argv=one_bad_option(bad, {"--samples": "1", "--simulator": "icarus"}))
    def check(argv):
        code, _, err = run(verify_cli.main, argv)
        assert code == 2, (argv, err)
        check_refusal(code, err)

    check()


@pytest.mark.parametrize("n", SIZES)
def test_build_argument_checks(tmp_path, n):
    """Refused before elaboration or any tool runs."""
    bad = {"--clock-mhz": ["0", "-12", "nan", "inf", "1e6"], "--baud": ["0", "-9600", "1000000000"],
           "--board": ["nope"], "--artifact": [str(tmp_path / "none.npz"), str(tmp_path)]}

    @cases(n)
    @given(argv=one_bad_option(bad, {"--out": str(tmp_path / "build"), "--no-progress": None}))
    def check(argv):
        code, _, err = run(build_cli.main, argv)
        assert code == 2, (argv, err)
        check_refusal(code, err)

    check()
