"""In a Jupyter kernel without ipywidgets tqdm.auto's widget cannot be drawn (tqdm raises): the bars
fall back to whole lines, without tqdm's IProgress warning."""
import io
import sys
import types
import warnings

from console import progress as P


def test_a_kernel_without_ipywidgets_gets_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda name: None)
    log = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in P.progress(range(3), desc="kernel", file=log):
            pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and lines[0].startswith("kernel:") and "3/3" in lines[-1]
