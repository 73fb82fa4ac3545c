"""README.md's quoted figures match what the code at HEAD computes (benchmarks/figures.py)."""
import pytest

from benchmarks import figures


def test_update_rewrites_only_between_markers():
    text = "a <!-- fig:x -->1<!-- /fig --> b <!-- fig:y -->2<!-- /fig --> c"
    assert figures.update(text, {"x": "9"}) == "a <!-- fig:x -->9<!-- /fig --> b <!-- fig:y -->2<!-- /fig --> c"


def test_every_quoted_figure_has_a_script():
    quoted = {name for name, _ in figures.MARKED.findall(figures.README.read_text())}
    assert quoted and quoted <= set(figures.FIGURES)


@pytest.mark.slow
def test_readme_figures_match_head():
    assert figures.main(["--check"]) == 0
