"""A class handed in the ways students really write this homework (answers in Chinese and English, under
headings of every kind, realistic bugs), graded end to end against verdicts decided before it ran
(tests/data/style_class.toml)."""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO

DATA = REPO / "tests" / "data"
CLASS = tomllib.loads((DATA / "style_class.toml").read_text(encoding="utf-8"))
ANSWERS = {a["id"]: a for a in tomllib.loads((DATA / "written_answers.toml").read_text(encoding="utf-8"))["answer"]}
WRITTEN_CHECK = {"4": "summary", "5": "answer", "6": "answer"}
# How each style titles a written part.
TITLES = {
    "zh-heading": {"4": "## 四、简单总结 nn.RNNCell 与 nn.RNN", "5": "## 五、谈谈对“序列”和“序列到序列”的理解",
                   "6": "## 六、心得体会"},
    "plain-title": {"4": "4.简单总结nn.RNNCell、nn.RNN", "5": "5.谈一谈对“序列”、“序列到序列”的理解", "6": "6.心得体会"},
    "part-cell": {"4": "## Part 4", "5": "## Part 5", "6": "## Part 6"},
    "answers-md": {"4": "### 4. Summary of nn.RNNCell and nn.RNN", "5": "### 5. Sequences", "6": "### 6. Reflection"},
}


def _answer_text(spec: dict, part: str) -> str:
    return ANSWERS[spec["answers"][part]]["text"].strip()


def _build(name: str, spec: dict, root: Path) -> dict[str, dict]:
    """The student's folder; returns where each written answer should be found."""
    folder = root / name
    folder.mkdir(parents=True)
    if spec["format"] == "modules":
        for source in (EXAMPLES / "bob").glob("*.py"):
            shutil.copy(source, folder / source.name)
        titles = TITLES[spec["style"]]
        (folder / "answers.md").write_text(
            "# My answers\n\n" + "\n\n".join(f"{titles[p]}\n\n{_answer_text(spec, p)}" for p in "456") + "\n",
            encoding="utf-8")
        return {part: {"file": "answers.md"} for part in "456"}
    notebook = json.loads((REPO / "reference" / "solution.ipynb").read_text(encoding="utf-8"))
    cells = notebook["cells"]
    for old, new in spec.get("edit", []):
        hits = [c for c in cells if c["cell_type"] == "code" and old in "".join(c["source"])]
        assert len(hits) == 1, old
        hits[0]["source"] = "".join(hits[0]["source"]).replace(old, new)

    def tagged(part: str) -> dict:
        return next(c for c in cells if (c["metadata"].get("rnn_grader") or {}).get("answer") == part)

    if spec["style"] == "tagged":
        for part in "456":
            tagged(part)["source"] = f"### Part {part} answer / 第{'四五六'[int(part) - 4]}部分作答\n{_answer_text(spec, part)}"
        where = {part: {"cells": [cells.index(tagged(part)) + 1]} for part in "456"}
    else:
        where = _answers_under_headings(cells, spec["style"], {p: _answer_text(spec, p) for p in "456"})
    (folder / "homework.ipynb").write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    return where


def _answers_under_headings(cells: list[dict], style: str, texts: dict[str, str]) -> dict[str, dict]:
    """The answer cells deleted and each answer typed into its part's heading cell, retitled."""

    def tagged(part: str) -> dict:
        return next(c for c in cells if (c["metadata"].get("rnn_grader") or {}).get("answer") == part)

    for part in "456":
        cells.remove(tagged(part))
    headings = {part: next(c for c in cells if c["cell_type"] == "markdown"
                           and "".join(c["source"]).startswith(f"## Part {part} /")) for part in "456"}
    for part, cell in headings.items():
        cell["source"] = f"{TITLES[style][part]}\n\n{texts[part]}\n"
    return {part: {"cells": [cells.index(cell) + 1]} for part, cell in headings.items()}


@pytest.fixture(scope="module")
def style_class(tmp_path_factory):
    from grader.grade import main as grade

    root = tmp_path_factory.mktemp("style-class")
    where = {name: _build(name, spec, root / "class") for name, spec in CLASS.items()}
    batch = grade(paths=[root / "class"], out=root / "out", jobs=2, device="cpu", quiet=True, use_cache=False)
    return {r.student: r for r in batch.results}, where, root / "out"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASS))
def test_code_parts_lose_points_exactly_where_decided(style_class, name):
    results, _, _ = style_class
    result, spec = results[name], CLASS[name]
    assert result.status == "graded", result.error
    for part in result.parts:
        automatic = [c for c in part.checks if not (part.id in WRITTEN_CHECK and c.id == WRITTEN_CHECK[part.id])]
        lost = any(c.score < c.max_score for c in automatic)
        assert lost is (part.id in spec["loses"]), (part.id, [(c.id, c.message) for c in automatic if not c.passed])
        for word in spec.get("message", {}).get(part.id, []):
            assert any(word in c.message for c in automatic if not c.passed), (part.id, word)
    assert not result.integrity, result.integrity


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASS))
def test_written_answers_are_found_where_written_and_scored_as_a_person_would(style_class, name):
    results, where, _ = style_class
    result, spec = results[name], CLASS[name]
    for part_id, check_id in WRITTEN_CHECK.items():
        part = next(p for p in result.parts if p.id == part_id)
        check = next(c for c in part.checks if c.id == check_id)
        person = ANSWERS[spec["answers"][part_id]]
        assert " ".join(check.got["answer"].split()) == " ".join(person["text"].split()), (part_id, check.got["answer"])
        assert check.got["from"] == where[name][part_id]
        found = {point["id"] for point in check.got["found"]}
        assert abs(len(found) - len(person["points"])) <= 1, (part_id, found ^ set(person["points"]))
        assert all(point["quote"] for point in check.got["found"])
        assert part.needs_review and not part.reviewed


@pytest.mark.slow
def test_the_exports_say_the_written_parts_are_pending(style_class):
    results, _, out = style_class
    with open(out / "grades.csv", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    for name in CLASS:
        assert [rows[name][f"state {p}"] for p in "456"] == ["suggested"] * 3
        assert rows[name]["pending review"] == "4 5 6"
    with open(out / "lms-canvas.csv", encoding="utf-8") as handle:
        canvas = list(csv.reader(handle))
    assert all(cell == "" for row in canvas[2:] for cell in row[-1:]), canvas  # no grade before review


@pytest.mark.slow
def test_the_student_page_quotes_the_sentence_behind_each_point_found(style_class):
    import html

    results, _, out = style_class
    page = html.unescape((out / "students" / "li.html").read_text(encoding="utf-8"))
    check = next(c for p in results["li"].parts if p.id == "5" for c in p.checks)
    assert check.got["found"]
    for point in check.got["found"]:
        assert f"“{point['quote']}”" in page and point["en"] in page
