"""Progress output in a log (no TTY): whole lines, one per stage, none with a carriage return."""
import io

from console import progress as P


def test_a_log_gets_whole_lines_one_per_stage():
    log = io.StringIO()
    bar = P.progress(total=3, desc="build", unit="stage", file=log)
    for stage in ("synthesis", "place & route", "bitstream"):
        bar.set_description(stage)
        bar.update()
    bar.close()
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["build", "synthesis", "place & route", "bitstream", "bitstream"]
    assert "3/3" in lines[-1] and all(lines)


def test_a_long_stage_reports_periodically(monkeypatch):
    clock = iter(range(0, 1000, 4))
    monkeypatch.setattr(P.time, "monotonic", lambda: float(next(clock)))
    log = io.StringIO()
    bar = P.LineProgress(total=10, desc="eval", file=log, mininterval=0, miniters=1)
    for _ in range(10):
        bar.update()  # every update advances the clock by 4 s: a line every third update
    bar.close()
    lines = log.getvalue().splitlines()
    assert 4 <= len(lines) <= 6 and lines[-1].startswith("eval: 100%")


def test_quiet_silences_every_bar():
    log = io.StringIO()
    P.quiet(True)
    try:
        for _ in P.progress(range(3), desc="x", file=log):
            pass
    finally:
        P.quiet(False)
    assert log.getvalue() == ""
