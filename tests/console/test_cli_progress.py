"""A real CLI's progress in a log (pytest captures stderr: no TTY) and with --quiet."""
from sim.__main__ import main as sim_main


def test_sim_eval_writes_whole_progress_lines_to_a_log(capsys):
    assert sim_main(["eval", "--limit", "300"]) == 0
    out, err = capsys.readouterr()
    assert "integer accuracy" in out
    assert "\r" not in err and err.endswith("\n")
    lines = err.splitlines()
    assert lines[0].startswith("integer model, 300 samples:") and "0/2" in lines[0]
    assert lines[-1].startswith("integer model, 300 samples: 100%") and "2/2" in lines[-1]


def test_quiet_leaves_only_the_result(capsys):
    assert sim_main(["eval", "--limit", "300", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "integer accuracy" in out and err == ""
