"""`python -m sim`: accuracy of the bundled model, one-line errors with non-zero exit."""
import subprocess
import sys

import numpy as np


def sim(*args):
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=300)


def test_eval_bundled_model():
    r = sim("eval", "--dataset", "digits", "--limit", "200")
    assert r.returncode == 0, r.stderr
    acc = float(r.stdout.split("integer accuracy ")[1].split()[0])
    assert 0.85 < acc <= 1.0


def test_corrupt_and_foreign_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 64)
    np.savez(tmp_path / "foreign.npz", x=np.arange(3))
    for path in (tmp_path / "junk.npz", tmp_path / "foreign.npz", tmp_path / "missing.npz"):
        r = sim("eval", str(path))
        assert r.returncode == 2
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_dataset_that_does_not_match_the_model():
    r = sim("eval", "--dataset", "mnist", "--limit", "5")
    assert r.returncode == 2 and "784 inputs but the model takes 64" in r.stderr
