"""A class straight from the LMS download: Canvas, Moodle and Gradescope archives become one folder per student
with their ids kept; hostile archives are refused or trimmed, never unpacked outside their folder."""

from __future__ import annotations

import csv
import json
import stat
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES
from grader.intake import MAX_RATIO, IntakeError, take_in

NOTEBOOK = (EXAMPLES / "alice" / "homework.ipynb").read_bytes()
SRN_ONLY = b"import numpy as np\n\ndef srn_numpy(inputs, W, U, V, h0=None, activation=None):\n    return None\n"


def _zip(path: Path, entries: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_canvas_download_keeps_ids_newest_attempts_and_late_marks(tmp_path):
    archive = _zip(tmp_path / "submissions.zip", {
        "doejane_1001_5001_homework.ipynb": b"old attempt",
        "doejane_1001_5002_homework.ipynb": NOTEBOOK,
        "doejane_1001_5002_answers.md": b"## Part 5\nmy answer",
        "smithbob_LATE_1002_5003_part1.py": SRN_ONLY,
    })
    intake = take_in(archive, tmp_path / "intake")
    assert intake.lms == "canvas" and set(intake.students) == {"1001", "1002"}
    assert (tmp_path / "intake" / "1001" / "homework.ipynb").read_bytes() == NOTEBOOK  # the newest attempt
    assert sorted(intake.students["1001"].files) == ["answers.md", "homework.ipynb"]
    assert intake.students["1002"].late and intake.students["1002"].name == "smithbob"
    recorded = json.loads((tmp_path / "intake" / "intake.json").read_text(encoding="utf-8"))
    assert recorded["students"]["1001"]["name"] == "doejane"


def test_moodle_download_in_folders_and_flat(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {
        "Jane Doe_12345_assignsubmission_file_/homework.ipynb": NOTEBOOK,
        "Jane Doe_12345_assignsubmission_file_/extra/notes.txt": b"notes",
        "Bob Smith_12346_assignsubmission_file_part1.py": SRN_ONLY,
    })
    intake = take_in(archive, tmp_path / "intake")
    assert intake.lms == "moodle" and set(intake.students) == {"12345", "12346"}
    assert (tmp_path / "intake" / "12345" / "extra" / "notes.txt").exists()
    assert intake.students["12345"].name == "Jane Doe"


def test_gradescope_export_named_by_its_metadata(tmp_path):
    metadata = (b"submission_777:\n  :submitters:\n  - :name: Jane Doe\n    :sid: 'A42'\n    :email: jane@uni.edu\n"
                b"  :score: 0.0\nsubmission_778:\n  :submitters:\n  - :name: Bob\n    :email: bob@uni.edu\n")
    archive = _zip(tmp_path / "gs.zip", {
        "assignment_1_export/submission_metadata.yml": metadata,
        "assignment_1_export/submission_777/homework.ipynb": NOTEBOOK,
        "assignment_1_export/submission_778/part1.py": SRN_ONLY,
        "assignment_1_export/submission_999/stray.py": b"x = 1\n",  # not in the metadata
    })
    intake = take_in(archive, tmp_path / "intake")
    assert intake.lms == "gradescope" and set(intake.students) == {"A42", "bob_uni.edu"}
    assert intake.students["A42"].name == "Jane Doe"
    assert any("submission_999" in line for line in intake.skipped)


def test_hostile_archives_never_write_outside_and_bombs_are_refused(tmp_path):
    archive = _zip(tmp_path / "evil.zip", {
        "doejane_1001_5001_../../escaped.py": b"x = 1\n",
        "../../../tmp/escaped_too_1001_1_a.py": b"x = 1\n",
        "doejane_1001_5001_homework.ipynb": NOTEBOOK,
    }, links=("doejane_1001_5001_link.py",))
    intake = take_in(archive, tmp_path / "out" / "intake")
    assert not (tmp_path / "escaped.py").exists() and not (tmp_path / "out" / "escaped.py").exists()
    assert not list(tmp_path.rglob("escaped_too*")) and not (tmp_path / "out" / "intake" / "1001" / "link.py").exists()
    assert {"1001"} == set(intake.students) and len(intake.skipped) == 3
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("doejane_1001_5001_homework.ipynb", b"0" * (MAX_RATIO * 4096))
    with pytest.raises(IntakeError, match="zip bomb"):
        take_in(bomb, tmp_path / "bomb")
    (tmp_path / "random.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(IntakeError, match="is not a submission"):
        take_in(tmp_path / "random.zip", tmp_path / "random")
    with pytest.raises(IntakeError, match="not a Canvas, Moodle or Gradescope download"):
        take_in(_zip(tmp_path / "photos.zip", {"holiday.jpg": b"jpeg"}), tmp_path / "photos")


@pytest.mark.slow
def test_grading_a_canvas_download_writes_results_by_student_id_and_a_csv_that_round_trips(tmp_path):
    from grader.grade import main as grade

    archive = _zip(tmp_path / "canvas.zip", {"doejane_1001_5002_srn.py": SRN_ONLY,
                                              "smithbob_LATE_1002_5003_srn.py": SRN_ONLY})
    batch = grade(paths=[archive], out=tmp_path / "out", jobs=2, only=["1.1"], quiet=True)
    assert sorted(r.student for r in batch.results) == ["1001", "1002"]
    assert (tmp_path / "out" / "results" / "1001.json").exists()
    assert batch.results[1].lms["late"] and batch.results[0].lms["name"] == "doejane"
    rows = list(csv.reader((tmp_path / "out" / "lms-canvas.csv").open(encoding="utf-8")))
    assert rows[2][:2] == ["doejane", "1001"] and rows[3][:2] == ["smithbob", "1002"]
    page = (tmp_path / "out" / "students" / "1002.html").read_text(encoding="utf-8")
    assert "late (canvas)" in page and "smithbob in canvas" in page
