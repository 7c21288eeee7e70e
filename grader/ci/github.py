"""GitHub Actions and GitHub Classroom: a job summary, the classroom reporter's `result` output, and
protection against student text being read as workflow commands.

The classroom autograding reporter reads a step output `result`: base64 of
``{"version": 1, "status": "pass"|"fail"|"error", "max_score": N, "tests": [...]}`` with one test per part.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

from grader.results import CheckResult, SubmissionResult

SUMMARY_LIMIT = 1000 * 1024  # GitHub rejects step summaries over 1 MiB
HIDDEN_FAILURE = "fails on hidden cases (details in the instructor's report)"


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


@contextmanager
def stopped_commands(stream: TextIO) -> Iterator[str]:
    """Between ::stop-commands::TOKEN and ::TOKEN:: the runner ignores workflow commands, so whatever a
    student's code printed (a forged '::notice::Points 100/100') stays text. The token is random per run."""
    token = secrets.token_hex(16)
    stream.write(f"::stop-commands::{token}\n")
    stream.flush()
    try:
        yield token
    finally:
        stream.write(f"::{token}::\n")
        stream.flush()


def student_message(check: CheckResult) -> str:
    """What a student may read about a check: no inputs or values of hidden cases."""
    return HIDDEN_FAILURE if check.hidden else check.message


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")[:300]


def summary_markdown(results: list[SubmissionResult], title: str = "") -> str:
    lines = [f"# {_cell(title) + ': ' if title else ''}autograder", ""]
    for result in results:
        lines += [f"## {_cell(result.student)}: {result.score:g} / {result.max_score:g}", ""]
        if result.error:
            lines += [f"**Could not be graded:** {_cell(result.error)}", ""]
        lines += ["| part | score | notes |", "|---|---:|---|"]
        for part in result.parts:
            failing = [c for c in part.checks if not c.passed and c.max_score]
            notes = "needs review (graded by a person)" if part.needs_review else \
                "; ".join(f"{c.id}: {_cell(student_message(c))}" for c in failing[:2])
            mark = "✅" if part.score >= part.max_score else "⚠️" if part.score > 0 else "❌"
            if not part.max_score:  # public checks only (a student kit): nothing of this part is checked here
                mark, notes = "➖", "checked when your instructor grades"
            lines.append(f"| {mark} {part.id} {_cell(part.titles.get('en', ''))} | {part.score:g} / {part.max_score:g} | {_cell(notes)} |")
        lines.append("")
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > SUMMARY_LIMIT:
        text = text.encode()[: SUMMARY_LIMIT - 100].decode(errors="ignore") + "\n\n(truncated)\n"
    return text


def classroom_result(results: list[SubmissionResult]) -> dict:
    """The reporter's format, one test per part (the reporter sums test scores)."""
    tests = []
    for result in results:
        for part in result.parts:
            if not part.max_score:  # nothing of it checked here (public checks only): no test to report
                continue
            failing = [c for c in part.checks if not c.passed and c.max_score]
            tests.append({
                "name": f"{part.id} {part.titles.get('en', '')}" + (f" ({result.student})" if len(results) > 1 else ""),
                "status": "pass" if part.score >= part.max_score else "fail",
                "score": part.score,
                "message": "; ".join(f"{c.id}: {student_message(c)}" for c in failing)[:1000]
                           + (" (needs review)" if part.needs_review else ""),
                "test_code": f"grade --only {part.id}", "filename": "", "line_no": 0,
                "duration": round(part.seconds, 3),
            })
    if any(r.status == "error" for r in results):
        status = "error"
    elif all(r.score >= r.max_score for r in results):
        status = "pass"
    else:
        status = "fail"
    return {"version": 1, "status": status, "max_score": sum(r.max_score for r in results), "tests": tests}


def write_github_outputs(results: list[SubmissionResult], title: str = "") -> None:
    """Append the summary to $GITHUB_STEP_SUMMARY and `result` to $GITHUB_OUTPUT (where they are set)."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(summary_markdown(results, title))
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        encoded = base64.b64encode(json.dumps(classroom_result(results)).encode()).decode()
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"result={encoded}\n")
