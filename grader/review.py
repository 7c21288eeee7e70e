"""The review round trip for written answers: review.csv in the output folder.

Each run writes one row per (student, written part) with the rubric's suggested score. An instructor fills
`score` and/or `comment` for some rows and runs `grade` again: a confirmed score replaces the suggestion
and the part is no longer "needs review". Rows are merged, never dropped: what an instructor wrote in
`score` and `comment` is kept as written, also for students absent from this run.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from grader.results import SubmissionResult

COLUMNS = ["student", "part", "suggested", "max", "score", "comment"]


@dataclass
class ReviewRow:
    student: str
    part: str
    suggested: str
    max: str
    score: str  # as the instructor wrote it
    comment: str


def read_reviews(path: Path) -> list[ReviewRow]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets add a BOM
        reader = csv.DictReader(handle)
        return [ReviewRow(**{column: (row.get(column) or "").strip() if column != "comment" else
                             (row.get(column) or "") for column in COLUMNS}) for row in reader]


def apply_reviews(results: list[SubmissionResult], rows: list[ReviewRow]) -> list[str]:
    """Apply confirmed scores and comments; returns problems with rows (bad numbers), never raises."""
    problems = []
    by_key = {(row.student, row.part): row for row in rows}
    for result in results:
        for part in result.parts:
            row = by_key.get((result.student, part.id))
            if row is None or not part.needs_review and not part.reviewed:
                continue
            part.review_comment = row.comment.strip()
            if not row.score:
                continue
            try:
                confirmed = float(row.score.replace(",", "."))
            except ValueError:
                problems.append(f"review.csv: {result.student} part {part.id}: score {row.score!r} is not a number")
                continue
            if not 0 <= confirmed <= part.max_score:
                problems.append(f"review.csv: {result.student} part {part.id}: score {confirmed:g} is outside "
                                f"0..{part.max_score:g}")
                continue
            part.suggested_score = part.score
            part.score, part.needs_review, part.reviewed = confirmed, False, True
        result.recompute_total()
    return problems


def write_reviews(path: Path, results: list[SubmissionResult], rows: list[ReviewRow]) -> None:
    """Merge this run's written parts into the rows; instructors' columns are never touched."""
    merged = {(row.student, row.part): row for row in rows}
    for result in results:
        for part in result.parts:
            if not (part.needs_review or part.reviewed):
                continue
            suggestion = part.suggested_score if part.reviewed else part.score
            row = merged.get((result.student, part.id))
            if row is None:
                merged[(result.student, part.id)] = ReviewRow(result.student, part.id, f"{suggestion:g}",
                                                              f"{part.max_score:g}", "", "")
            else:
                row.suggested, row.max = f"{suggestion:g}", f"{part.max_score:g}"
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in sorted(merged.values(), key=lambda r: (r.student, r.part)):
            writer.writerow([row.student, row.part, row.suggested, row.max, row.score, row.comment])
    os.replace(temporary, path)  # never a half-written file where the instructor's work lives
