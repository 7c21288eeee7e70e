"""No export can be mistaken for confirmed grades: suggestions for written parts are marked in grades.csv and
left out of the LMS upload until a person confirms them (fast: results built here, no kernels)."""

from __future__ import annotations

import csv

from grader.exports import write_canvas_csv
from grader.results import Flag, PartResult, SubmissionResult, write_grades_csv


def _result(student: str, written_reviewed: bool) -> SubmissionResult:
    code = PartResult("1.1", {"en": "SRN", "zh": "SRN"}, 8.0, 8.0, False, [])
    written = PartResult("5", {"en": "Sequences", "zh": "序列"}, 0.0 if not written_reviewed else 4.0, 5.0,
                         needs_review=not written_reviewed, checks=[], reviewed=written_reviewed)
    return SubmissionResult(student=student, score=code.score + written.score, max_score=13.0, status="graded",
                            parts=[code, written])


def test_grades_csv_says_which_parts_are_pending_and_the_total_without_them(tmp_path):
    write_grades_csv([_result("ann", False), _result("ben", True)], tmp_path / "grades.csv", ["1.1", "5"])
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "grades.csv").open(encoding="utf-8"))}
    assert rows["ann"]["pending review"] == "5" and rows["ann"]["state 5"] == "suggested"
    assert rows["ann"]["total without pending"] == "8" and rows["ann"]["state 1.1"] == "automatic"
    assert rows["ben"]["pending review"] == "" and rows["ben"]["state 5"] == "confirmed"
    assert rows["ben"]["total"] == rows["ben"]["total without pending"] == "12"


def test_the_canvas_upload_leaves_unconfirmed_students_empty(tmp_path):
    write_canvas_csv(tmp_path / "lms-canvas.csv", [_result("ann", False), _result("ben", True)], "RNN basics")
    rows = list(csv.reader((tmp_path / "lms-canvas.csv").open(encoding="utf-8")))
    assert ["", "", "", "ann", "", ""] in rows  # Canvas leaves an empty cell alone: nothing is published
    assert ["", "", "", "ben", "", "12"] in rows


def test_the_terminal_summary_fits_80_columns_with_every_header_whole():
    import io

    from rich.console import Console

    from grader.grade.summary import summary_table
    from grader.parts import PART_IDS

    results = []
    for student in ("ann", "a-student-with-a-long-name"):
        parts = [PartResult(p, {"en": p}, 7.33, 10.0, p in ("4", "5", "6"), []) for p in PART_IDS]
        results.append(SubmissionResult(student=student, score=73.3, max_score=100.0, status="graded", parts=parts,
                                        flags=[Flag("cells_failed", {"count": 2}), Flag("output_truncated"),
                                               Flag("integrity_notes", {"count": 3})]))
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None)
    console.print(summary_table(results, list(PART_IDS), console.width))
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    header = next(line for line in lines if "student" in line)
    assert all(part_id in header.split() for part_id in PART_IDS), header
    assert any(line.startswith("ann: 2 cell(s) failed; output truncated") for line in lines), lines
    assert sum("7.33*" in line for line in lines) == 2  # the scores are whole, pending ones marked
