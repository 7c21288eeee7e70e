"""Broken and odd input: each case is a clear per-student outcome and the rest of the class is graded."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from conftest import REPO
from grader.config import Limits, load_config
from grader.grade import main as grade
from grader.pipeline import read_submission
from grader.results import flag_text, safe_file_name
from grader.submissions import from_folder

pytestmark = pytest.mark.slow

HONEST = (REPO / "tests" / "adversarial" / "honest" / "solution.py").read_text(encoding="utf-8")


def v4_notebook(*sources: str, kernelspec: dict | None = None) -> str:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    if kernelspec is not None:
        notebook.metadata["kernelspec"] = kernelspec
    return nbformat.writes(notebook)


def v3_notebook(source: str) -> str:
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "homework"},
                       "worksheets": [{"metadata": {}, "cells": [
                           {"cell_type": "code", "language": "python", "input": source, "outputs": [],
                            "metadata": {}, "collapsed": False}]}]})


@pytest.fixture(scope="module")
def broken_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    klass, out = root / "class", root / "out"
    klass.mkdir()

    def student(name: str, text: str | bytes | None = None, file: str = "homework.ipynb"):
        folder = klass / name
        folder.mkdir()
        if isinstance(text, bytes):
            (folder / file).write_bytes(text)
        elif text is not None:
            (folder / file).write_text(text, encoding="utf-8")
        return folder

    # honest code in odd containers: each must still earn full marks, with a note where something changed
    student("li lei", v3_notebook(HONEST))  # a space in the id, nbformat v3
    student("张伟", v4_notebook(HONEST))  # Chinese id, no kernelspec at all
    student("x..y", v4_notebook(HONEST, kernelspec={"name": "conda-env-d2l-py", "display_name": "d2l",
                                                    "language": "python"}))
    student("magic", v4_notebook("%pip install torch==9.9.9\n!pip install numpy", "!rm -rf /", HONEST))
    answers = student("linked_answers", v4_notebook(HONEST))
    os.symlink("/etc/passwd", answers / "answers.md")
    # broken or hostile: each a clear error, zero, and the batch goes on
    student("empty", "")
    student("not_utf8", b"{\"cells\": [\xff\xfe]}")
    os.symlink("/etc/passwd", student("passwd") / "homework.ipynb")
    os.symlink(REPO / "reference" / "solution.ipynb", student("copycat") / "homework.ipynb")
    os.symlink(REPO / "reference" / "solution.ipynb", klass / "mallory.ipynb")
    student("many_cells", v4_notebook(*(["x = 1"] * 10_000)))
    student("no_cells", v4_notebook())  # a notebook saved before anything was written: nothing to run
    batch = grade(paths=[klass], out=out, jobs=2, only=["1.1"], quiet=True, use_cache=False)
    return {r.student: r for r in batch.results}, out


@pytest.mark.parametrize("name", ["li lei", "张伟", "x..y", "magic", "linked_answers"])
def test_honest_code_in_odd_containers_gets_full_marks(broken_class, name):
    result = broken_class[0][name]
    assert result.status == "graded" and result.score == result.max_score, (result.error, result.flags)


def test_what_the_grader_changed_is_said(broken_class):
    results = broken_class[0]
    def flags(student: str) -> list[str]:
        return [flag_text(flag) for flag in results[student].flags]

    assert "notebook format v3 was upgraded to v4" in flags("li lei")
    assert "kernel 'conda-env-d2l-py' replaced by python3" in flags("x..y")
    assert "2 package install line(s) not run (the grader's environment is fixed)" in flags("magic")
    assert "link answers.md -> /etc/passwd not followed" in flags("linked_answers")


@pytest.mark.parametrize("name, words", [
    ("empty", "is empty"), ("not_utf8", "not UTF-8"), ("passwd", "symbolic link (to /etc/passwd)"),
    ("copycat", "symbolic link"), ("mallory", "symbolic link"), ("many_cells", "has 10000 code cells")])
def test_broken_input_is_a_clear_error_worth_nothing(broken_class, name, words):
    result = broken_class[0][name]
    assert result.status == "error" and result.score == 0 and words in result.error


def test_a_notebook_without_cells_is_graded_as_nothing_written(broken_class):
    result = broken_class[0]["no_cells"]
    assert result.status == "graded" and result.score == 0 and not result.error
    assert "not attempted" in result.parts[0].checks[0].message


def test_nothing_a_link_points_to_is_read_or_shown(broken_class):
    results, out = broken_class
    passwd = open("/etc/passwd", encoding="utf-8").readline().strip()
    for file in [*out.rglob("*.json"), *out.rglob("*.html"), *out.rglob("*.csv")]:
        assert passwd not in file.read_text(encoding="utf-8", errors="replace"), file
    assert results["linked_answers"].answers == {} or all(passwd not in a for a in results["linked_answers"].answers.values())


def test_every_id_gets_its_own_files_inside_the_output_folder(broken_class):
    results, out = broken_class
    names = {safe_file_name(student) for student in results}
    assert len(names) == len(results)
    for student in results:
        page = out / "students" / f"{safe_file_name(student)}.html"
        assert page.resolve().parent == (out / "students").resolve() and page.exists(), student
        assert (out / "results" / f"{safe_file_name(student)}.json").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "张伟" in index and "li lei" in index


def test_a_notebook_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "homework.ipynb").write_text(v4_notebook("# " + "x" * (2 << 20)), encoding="utf-8")
    config = load_config()  # a fresh one: the limit is changed for this test only
    config.limits = Limits(max_notebook_mb=1)
    loaded = read_submission(from_folder(folder), config)
    assert loaded.notebook is None and "the grader reads notebooks up to 1 MB" in loaded.problem
