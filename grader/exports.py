"""Exports for learning-management systems.

`lms-canvas.csv` follows Canvas's gradebook import layout: the columns Student, ID, SIS User ID,
SIS Login ID, Section, then one column per assignment named "<title>"; a "Points Possible" row comes
first. The grader knows only the submission id, so it fills "SIS Login ID" with it and leaves the other
identity columns empty: Canvas matches rows on any one of them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from grader.results import SubmissionResult

ASSIGNMENT_TITLE = "RNN basics"


def write_canvas_csv(path: Path, results: list[SubmissionResult]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT_TITLE])
        maximum = max((r.max_score for r in results), default=100)
        writer.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
        for result in sorted(results, key=lambda r: r.student):
            writer.writerow(["", "", "", result.student, "", f"{result.score:g}"])
