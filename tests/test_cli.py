"""The `grade` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import EXAMPLES
from grader.cli import cli


def test_unknown_part_is_a_usage_error():
    result = CliRunner().invoke(cli, ["run", str(EXAMPLES), "--only", "1.1,9"])
    assert result.exit_code == 2
    assert "unknown part(s) 9" in result.output


def test_bad_config_is_reported_without_a_traceback(tmp_path):
    (tmp_path / "grading.toml").write_text("[parts.\"1.1\".points]\nfixed_example = 3\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(EXAMPLES / "alice"), "--assignment", str(tmp_path)])
    assert result.exit_code == 2
    assert "configuration error" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_grade_command_grades_a_student_and_writes_the_csv(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "grader.cli", str(EXAMPLES / "judy"), "--only", "1.1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "judy" in completed.stderr and "3/8" in completed.stderr
    csv_text = (tmp_path / "grades.csv").read_text(encoding="utf-8")
    assert csv_text.splitlines()[1].startswith("judy,3,8,graded,3")


@pytest.mark.parametrize("arguments, expected", [
    (["/nonexistent/class"], "does not exist (expected a class folder"),
    (["bundle", "out/"], "'bundle' is neither a command nor an existing path"),
    (["chek", "homework.ipynb"], "did you mean `grade check`?"),
    (["notes.zip"], "notes.zip is not a submission"),
])
def test_a_typo_is_a_usage_error_not_a_phantom_student(tmp_path, arguments, expected):
    (tmp_path / "notes.zip").write_bytes(b"PK")
    completed = subprocess.run([sys.executable, "-m", "grader.cli", *arguments, "--out", str(tmp_path / "out")],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2, completed.stderr
    assert expected in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "grades.csv").exists()
