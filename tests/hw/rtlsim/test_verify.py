"""`python -m hw.verify` end to end on Icarus (fast to build), and its input errors."""
import re

import pytest

from hw.rtlsim import verify


@pytest.mark.simulator("icarus")
@pytest.mark.parametrize("storage", ["auto", "csr"])  # the bundled model is stored dense by default
def test_verify_bundled_model_reports_full_agreement(capsys, storage):
    assert verify.main(["--simulator", "icarus", "--samples", "2", "--chunk", "1", "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert "spike agreement: 6900/6900 (100.0000%), samples identical 2/2" in out
    assert "cycles per step: min" in out and re.search(r" (\d+)/\1 steps inside the bounds", out)


def test_verify_rejects_bad_input(tmp_path, capsys):
    assert verify.main([str(tmp_path / "missing.npz"), "--simulator", "icarus"]) == 2
    assert "missing.npz: no such file" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert verify.main([str(tmp_path / "junk.npz")]) == 2
    with pytest.raises(SystemExit):
        verify.main(["--samples", "0"])
