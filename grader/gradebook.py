"""The gradebook: a SQLite file in the output folder keeping every run's scores, so regrades are visible."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from grader.results import SubmissionResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, version TEXT NOT NULL, device TEXT NOT NULL,
    seconds REAL NOT NULL, students INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grades (
    run_id INTEGER NOT NULL REFERENCES runs(id), student TEXT NOT NULL, part TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, status TEXT NOT NULL, needs_review INTEGER NOT NULL,
    reviewed INTEGER NOT NULL, PRIMARY KEY (run_id, student, part));
"""
TOTAL = "total"


@dataclass(frozen=True)
class HistoryRow:
    run_id: int
    at: str
    version: str
    total: float
    max_score: float
    status: str
    parts: dict[str, float]
    to_review: int


def record_run(path: Path, results: list[SubmissionResult], *, at: str, version: str, device: str,
               seconds: float) -> int:
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA)
        run_id = db.execute("INSERT INTO runs (at, version, device, seconds, students) VALUES (?, ?, ?, ?, ?)",
                            (at, version, device, seconds, len(results))).lastrowid
        rows = []
        for result in results:
            rows.append((run_id, result.student, TOTAL, result.score, result.max_score, result.status,
                         sum(p.needs_review for p in result.parts), 0))
            rows += [(run_id, result.student, p.id, p.score, p.max_score, result.status, int(p.needs_review),
                      int(p.reviewed)) for p in result.parts]
        db.executemany("INSERT INTO grades VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return int(run_id)


def history(path: Path, student: str) -> list[HistoryRow]:
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as db:
        runs = db.execute("SELECT r.id, r.at, r.version, g.score, g.max_score, g.status, g.needs_review "
                          "FROM grades g JOIN runs r ON r.id = g.run_id WHERE g.student = ? AND g.part = ? "
                          "ORDER BY r.id", (student, TOTAL)).fetchall()
        found = []
        for run_id, at, version, total, maximum, status, to_review in runs:
            parts = dict(db.execute("SELECT part, score FROM grades WHERE run_id = ? AND student = ? AND part != ?",
                                    (run_id, student, TOTAL)).fetchall())
            found.append(HistoryRow(run_id, at, version, total, maximum, status, parts, to_review))
        return found
