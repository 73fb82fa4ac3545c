"""Progress bars that read well everywhere.

`progress(...)` takes tqdm's arguments and returns

* in a terminal: tqdm's bar;
* in a Jupyter notebook with ipywidgets: tqdm.auto's widget;
* anywhere else (a log file, CI, a pipe): `LineProgress`, which writes whole lines, never a carriage
  return: one when the bar starts or its description changes (a new stage), one every
  `LOG_INTERVAL` seconds while it runs, and one when it ends;
* nothing when `quiet(True)` was called (the CLIs' --quiet, `add_quiet_option`) or `disable=True` is passed.

`step(desc)` announces one long step that has nothing to count (writing a cache, a solver call).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from contextlib import contextmanager

from tqdm import tqdm

LOG_INTERVAL = 10.0  # seconds between progress lines in a log
_quiet = False


def quiet(on: bool = True) -> None:
    """Silence every progress bar of this process (or turn them back on)."""
    global _quiet
    _quiet = on


class _Quiet(argparse.Action):
    """--quiet: silences the bars as soon as the flag is parsed, so every bar of the command obeys."""

    def __call__(self, parser, namespace, values, option_string=None):
        quiet(True)
        setattr(namespace, self.dest, True)


def add_quiet_option(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """The CLIs' --quiet: no progress bars (the results are still printed)."""
    parser.add_argument("--quiet", *aliases, dest="quiet", action=_Quiet, nargs=0, default=False,
                        help="no progress bars (results and errors are still printed)")


def in_notebook() -> bool:
    """A Jupyter kernel that can show tqdm's widget (it needs ipywidgets; without it the notebook gets lines)."""
    return "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None


class LineProgress(tqdm):
    """tqdm for a stream that is not a terminal: whole lines, at most one per LOG_INTERVAL."""

    def __init__(self, *args, **kwargs):
        self._shown_at = self._shown_desc = self._shown_n = None
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        if msg == "":  # tqdm clearing the line: nothing to clear in a log
            return False
        now = time.monotonic()
        if self.desc != self._shown_desc or self._shown_at is None or now - self._shown_at >= LOG_INTERVAL:
            self.fp.write(self.__str__().strip() + "\n")
            self.fp.flush()
            self._shown_at, self._shown_desc, self._shown_n = now, self.desc, self.n
        return True

    def close(self):
        if not self.disable and (self.n, self.desc) != (self._shown_n, self._shown_desc):
            self._shown_at = None  # force the final line, unless it is out already
            self.display()
        self.leave = False  # the final line is out; tqdm would add an empty one
        super().close()


def progress(*args, disable: bool = False, file=None, **kwargs):
    """A progress bar for where the output goes (see the module docstring)."""
    stream = file or sys.stderr
    disable = disable or _quiet
    if in_notebook():
        from tqdm.auto import tqdm as auto_tqdm  # imported here: it warns in a kernel without ipywidgets

        return auto_tqdm(*args, disable=disable, file=file, **kwargs)
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(*args, disable=disable, file=stream, **kwargs)
    return LineProgress(*args, disable=disable, file=stream, mininterval=1.0, **kwargs)


@contextmanager
def step(desc: str, disable: bool = False):
    """One long step with nothing to count: shown when it starts, and with its time when it ends."""
    with progress(total=1, desc=desc, disable=disable, bar_format="{desc} [{elapsed}]") as bar:
        yield
        bar.update()
