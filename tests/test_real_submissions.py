"""Real published student code (../shared/real-submissions) does not follow the contract: the grader must
still run it, say clearly what is missing, and never crash. Skipped where ../shared is absent."""

from __future__ import annotations

import pytest

from conftest import SHARED
from grader.grade import main as grade

REAL = SHARED / "real-submissions"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-submissions absent")]


def test_script_style_submissions_are_run_and_explained(tmp_path):
    # s10: part 1 scripts that run; s02: a script that raises at import. Both fast (no seq2seq training).
    batch = grade(paths=[REAL / "s10", REAL / "s02"], out=tmp_path, jobs=2, only=["1.1", "2.2"], quiet=True)
    results = {r.student: r for r in batch.results}
    assert set(results) == {"s10", "s02"}
    for result in results.values():
        assert result.status == "graded" and result.score == 0
        assert "`srn_numpy` is not defined" in result.parts[0].checks[0].message
    assert any(c["status"] == "error" for c in results["s02"].cells)  # its nn.RNN script raises
    assert "4" in results["s10"].cells[0]["output"]  # the script really ran and printed its outputs
