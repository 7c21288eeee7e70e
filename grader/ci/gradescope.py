"""Gradescope: results.json in its documented autograder format, and the autograder zip.

Format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top level ``score``,
``execution_time``, ``output``, ``visibility``, ``stdout_visibility``, ``tests``; each test ``name``,
``number``, ``score``, ``max_score``, ``status`` (passed/failed), ``output``, ``visibility``. One test per
check, so checks built on hidden cases can stay invisible to students until grades are published.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from grader.results import SubmissionResult

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ["pyproject.toml", "README.md", "requirements", "grader", "reference", "assignments"]

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when building the autograder image (Ubuntu). The source is in /autograder/source.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -q -c /autograder/source/requirements/lock.txt -e /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT lets a test run it outside Gradescope.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
GRADE="${GRADE:-$ROOT/venv/bin/grade}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
"$GRADE" run "$ROOT/submission" --out "$ROOT/grader-output" --jobs 1 --quiet \\
    --gradescope "$ROOT/results/results.json" ${GRADE_ARGS:-}
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    printf '{"score": 0, "output": "The autograder failed before writing results (exit %s).", "tests": []}\\n' \\
        "$status" > "$ROOT/results/results.json"
fi
"""


def results_json(result: SubmissionResult) -> dict:
    tests = []
    for part in result.parts:
        for check in part.checks:
            output = check.message + (" (written answer: a person confirms this score)" if part.needs_review else "")
            tests.append({
                "name": f"{part.id} {part.titles.get('en', '')}: {check.id}", "number": f"{part.id}.{check.id}",
                "score": check.score, "max_score": check.max_score,
                "status": "passed" if check.passed else "failed", "output": output,
                "visibility": "after_published" if check.hidden else "visible",
            })
    summary = f"{result.score:g} / {result.max_score:g} points."
    if result.error:
        summary += f" Your submission could not be graded: {result.error}"
    if any(p.needs_review for p in result.parts):
        summary += " Written answers (parts 4-6) have a suggested score until an instructor reviews them."
    return {"score": result.score, "execution_time": round(result.elapsed_s), "output": summary,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def write_results_json(path: Path, results: list[SubmissionResult]) -> None:
    if len(results) != 1:
        raise ValueError(f"Gradescope grades one submission at a time; found {len(results)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_json(results[0]), ensure_ascii=False, indent=1), encoding="utf-8")


def build_autograder_zip(target: Path) -> Path:
    """The zip an instructor uploads: setup.sh and run_autograder at its root, the grader's source beside."""
    if not (REPO_ROOT / "reference").is_dir():
        raise ValueError("the Gradescope autograder holds the full grader (reference and hidden seed): build it "
                         "from the course's rnn-grader repository, not from a student kit")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16  # executable once unpacked
            archive.writestr(info, text)
        for entry in PACKAGED:
            path = REPO_ROOT / entry
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" in file.parts or file.suffix == ".pyc":
                    continue
                archive.write(file, file.relative_to(REPO_ROOT).as_posix())
    return target
