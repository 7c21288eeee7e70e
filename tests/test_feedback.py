"""Feedback to hand back: no hidden inputs or expected values, no integrity notes, reviews included."""

from __future__ import annotations

import csv
import html
import json
import shutil
import zipfile

import pytest

from conftest import EXAMPLES
from grader.feedback import main as feedback
from grader.grade import main as grade

pytestmark = pytest.mark.slow  # uses the example class, graded once per session


def _hidden_fragments(result: dict) -> list[str]:
    """What a hidden check knows that a student must not see: its message, values and table cells."""
    fragments = []
    for part in result["parts"]:
        for check in part["checks"]:
            if not check["hidden"]:
                continue
            if not check["passed"]:
                fragments.append(check["message"])
            for value in (check["expected"], check["got"]):
                if isinstance(value, list) and value and isinstance(value[0], dict):  # a table of hidden rows
                    fragments += [f"<td>{html.escape(str(cell))}</td>" for row in value for cell in row.values()
                                  if len(str(cell)) > 2]
                elif value is not None and not isinstance(value, (bool, int, float)):
                    fragments.append(json.dumps(value))
    return fragments


def test_no_feedback_page_shows_a_hidden_case_or_an_integrity_note(example_class, tmp_path):
    _, out = example_class
    run = feedback(results=out, out=tmp_path / "feedback", lang="zh")
    assert set(run.pages) == {path.stem for path in (out / "results").glob("*.json")}
    searched = 0
    for path in (out / "results").glob("*.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        page = run.pages[result["student"]].read_text(encoding="utf-8")
        for fragment in _hidden_fragments(result):
            searched += 1
            assert fragment not in page and html.escape(fragment) not in page, (result["student"], fragment)
        assert "integrity" not in page.lower() and "../index.html" not in page
    assert searched > 10  # carol, dave, erin and frank fail hidden cases: there was something to hide
    carol = run.pages["carol"].read_text(encoding="utf-8")
    assert "已用隐藏测试检查" in carol and "尚未复核" in carol  # hidden checks and pending parts, said in Chinese


def test_confirmed_scores_and_comments_go_back_and_lms_students_get_upload_files(example_class, tmp_path):
    _, out = example_class
    copy = tmp_path / "reports"
    shutil.copytree(out, copy)
    with open(copy / "review.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["student"] == "alice" and row["part"] == "5":
            row["score"], row["comment"] = "4", "Clear answer; say why attention helps."
    with open(copy / "review.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    grade(paths=[EXAMPLES / "alice"], out=copy, jobs=1, quiet=True)  # from the cache: reviews applied
    alice_file = copy / "results" / "alice.json"
    alice = json.loads(alice_file.read_text(encoding="utf-8"))
    alice["lms"] = {"id": "1001", "name": "alicewang", "lms": "canvas", "late": False, "files": []}
    alice_file.write_text(json.dumps(alice), encoding="utf-8")
    run = feedback(results=copy, out=tmp_path / "feedback")
    page = run.pages["alice"].read_text(encoding="utf-8")
    assert "Clear answer; say why attention helps." in page and "4 / " in page
    assert "Parts 4, 6 are still being reviewed" in page
    with zipfile.ZipFile(run.uploads["canvas"]) as upload:
        assert upload.namelist() == ["alicewang_1001_0_feedback.html"]
        assert upload.read("alicewang_1001_0_feedback.html").decode() == page


def test_the_feedback_command(example_class, tmp_path):
    from click.testing import CliRunner

    from grader.cli import cli

    _, out = example_class
    result = CliRunner().invoke(cli, ["feedback", "--results", str(out), "--out", str(tmp_path / "fb")])
    assert result.exit_code == 0 and "10 feedback page(s)" in result.output, result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["feedback", "--results", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no results in" in result.output, result.output
