"""An assignment is one folder plus one parts package: a second, tiny homework is graded end to end by the
same engine; and the cache knows when the reference or the assignment changed."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from conftest import REPO, copy_assignment
from grader.config import ConfigError, load_config
from grader.grade import UnknownParts
from grader.grade import main as grade

TINY = REPO / "tests" / "data" / "tiny" / "assignment"


def _student(root: Path, name: str, body: str, answer: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "solution.py").write_text(body, encoding="utf-8")
    (folder / "answers.md").write_text(f"# Answers\n\n## Part 2: reflection\n\n{answer}\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_a_second_homework_is_graded_from_its_folder_and_parts_package(tmp_path):
    klass = tmp_path / "class"
    _student(klass, "right", "def add(a, b):\n    return [x + y for x, y in zip(a, b)]\n",
             "Vectors are added element by element, like numpy does.")
    _student(klass, "wrong", "def add(a, b):\n    return [x - y for x, y in zip(a, b)]\n", "I did not finish.")
    batch = grade(paths=[klass], out=tmp_path / "out", jobs=2, assignment=TINY, quiet=True)
    results = {r.student: r for r in batch.results}
    assert [p.id for p in results["right"].parts] == ["1", "2"]
    assert results["right"].parts[0].score == 6 and results["right"].parts[0].titles["zh"] == "两个向量相加"
    assert results["wrong"].parts[0].score == 0
    written = results["right"].parts[1]
    assert written.needs_review and written.score == 2 and written.checks[0].got["from"] == {"file": "answers.md"}
    assert results["wrong"].parts[1].score == 0  # too short for the rubric
    canvas = list(csv.reader((tmp_path / "out" / "lms-canvas.csv").open(encoding="utf-8")))
    assert canvas[0][-1] == "Vector basics" and canvas[1][-1] == "8"
    page = (tmp_path / "out" / "students" / "right.html").read_text(encoding="utf-8")
    assert "Add two vectors" in page and "addition is element by element" in page
    with pytest.raises(UnknownParts, match="choose from 1, 2"):
        grade(paths=[klass], out=tmp_path / "out2", assignment=TINY, only=["1.1"], quiet=True)


@pytest.mark.slow
def test_an_edited_reference_is_graded_again(tmp_path):
    reference = tmp_path / "reference" / "rnn_basics.py"
    reference.parent.mkdir()
    shutil.copy(REPO / "reference" / "rnn_basics.py", reference)
    assignment = copy_assignment(tmp_path, reference)
    student = REPO / "examples" / "submissions" / "carol"

    def run() -> bool:
        batch = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], assignment=assignment, quiet=True)
        return batch.results[0].from_cache

    assert not run() and run()  # graded, then served from the cache
    reference.write_text(reference.read_text(encoding="utf-8") + "\n# fixed a typo in a comment\n", encoding="utf-8")
    assert not run()  # the instructor fixed the reference: verdicts are computed again


def test_the_cache_key_covers_every_file_of_the_assignment_and_the_parts_package(tmp_path):
    assignment = copy_assignment(tmp_path)
    before = load_config(assignment).fingerprint()
    assert load_config(assignment).fingerprint() == before  # stable
    handout = assignment / "homework.ipynb"
    handout.write_text(handout.read_text(encoding="utf-8") + " ", encoding="utf-8")
    after_handout = load_config(assignment).fingerprint()
    (assignment / "notes.md").write_text("term 2\n", encoding="utf-8")
    assert len({before, after_handout, load_config(assignment).fingerprint()}) == 3
    assert any(path.name == "part3_seq2seq.py" for path in load_config(assignment).assignment.source_files)


def test_an_assignment_folder_that_cannot_work_is_a_configuration_error(tmp_path):
    target = tmp_path / "tiny"
    shutil.copytree(TINY.parent, target)
    manifest = target / "assignment" / "assignment.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('parts = "tiny_parts"', 'parts = "no_such_parts"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="parts package 'no_such_parts' cannot be used"):
        load_config(target / "assignment")
    manifest.write_text(text.replace('import_path = "../parts_root"', 'import_path = "."'), encoding="utf-8")
    with pytest.raises(ConfigError, match="import_path must lie outside the assignment folder"):
        load_config(target / "assignment")
    (target / "assignment" / "assignment.toml").unlink()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(target / "assignment")


def test_the_same_course_in_another_folder_has_the_same_fingerprint(tmp_path):
    """What decides a cache hit, and what a cluster worker compares, is the files' contents, not where the
    course lives (a clone elsewhere, a worker's mount); an edited file still changes it."""
    shutil.copytree(TINY.parent, tmp_path / "tiny")
    here, there = load_config(TINY), load_config(tmp_path / "tiny" / "assignment")
    assert here.fingerprint() == there.fingerprint()
    grading = tmp_path / "tiny" / "assignment" / "grading.toml"
    grading.write_text(grading.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert load_config(tmp_path / "tiny" / "assignment").fingerprint() != here.fingerprint()
