"""Exports for learning-management systems.

`lms-canvas.csv` follows Canvas's gradebook import layout: the columns Student, ID, SIS User ID,
SIS Login ID, Section, then one column per assignment named "<title>"; a "Points Possible" row comes
first. The grader knows only the submission id, so it fills "SIS Login ID" with it and leaves the other
identity columns empty: Canvas matches rows on any one of them.

A student with a written part still pending review gets an *empty* grade cell: Canvas leaves an empty cell
alone, so an upload before review publishes nothing for that student instead of a total built on unconfirmed
suggestions (a 0 for an answer the grader never found). `grades.csv` says which parts are pending.
"""

from __future__ import annotations

import csv
from pathlib import Path

from grader.results import SubmissionResult, pending_review

def write_canvas_csv(path: Path, results: list[SubmissionResult], title: str) -> None:
    """`title` is the assignment's (assignment.toml): Canvas matches the column to its assignment by name."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title or "Assignment"])
        maximum = max((r.max_score for r in results), default=100)
        writer.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
        for result in sorted(results, key=lambda r: r.student):
            grade = "" if pending_review(result) else f"{result.score:g}"
            if result.lms and result.lms.get("lms") == "canvas":  # from Canvas's own download: its user id
                writer.writerow([result.lms.get("name", ""), result.lms["id"], "", "", "", grade])
            else:
                writer.writerow(["", "", "", result.student, "", grade])
