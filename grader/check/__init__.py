"""`grade check PATH`: a student's self-check before submitting.

Public checks only: the homework's fixed examples, shapes, and a short training run, with inputs drawn from
a public seed. Expected values are never printed (only what failed, in words), hidden cases are not run,
and written parts are left to the instructor. Meant to finish in well under a minute.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.config import DEFAULT_ASSIGNMENT, load_config
from grader.messages import render
from grader.pipeline import GradeOptions, grade_submission, import_for_judges, prestart_sandbox
from grader.results import SubmissionResult
from grader.submissions import discover


@dataclass
class SelfCheck:
    result: SubmissionResult
    passed_parts: int
    total_parts: int


def check_rows(result: SubmissionResult, lang: str = "en") -> list[tuple[str, str, str]]:
    """(part, verdict, what failed) for every auto-graded part; hidden and written checks are left out."""
    rows = []
    for part in result.parts:
        run = [c for c in part.checks if c.max_score and not c.hidden]  # what this run checked
        if not run:
            continue
        failing = [c for c in run if not c.passed]
        title = part.titles.get(lang) or part.titles.get("en", "")
        verdict = f"✓ {len(run)}/{len(run)}" if not failing else f"✗ {len(run) - len(failing)}/{len(run)}"
        details = "\n".join(f"{c.id}: {render(c.message_i18n, lang) if c.message_i18n else c.message}"
                            for c in failing)
        rows.append((f"{part.id} {title}", verdict, details))
    return rows


def main(*, path: Path, assignment: Path = DEFAULT_ASSIGNMENT, timeout: float | None = None, lang: str = "en",
         console: Console | None = None) -> SelfCheck:
    console = console or Console()
    config = load_config(assignment)
    submissions = discover([path])
    if len(submissions) != 1:
        raise ValueError(f"{path} holds {len(submissions)} submissions; point `grade check` at your own notebook "
                         "or folder")
    options = GradeOptions(device="cpu", public_only=True, timeout_s=timeout or 120)  # every part
    prestart_sandbox(config, options)  # its imports overlap reading the notebook
    # and torch for the judges overlaps running it: imported after it, it was ~2 s of a ~10 s self-check
    threading.Thread(target=import_for_judges, name="judges-imports", daemon=True).start()
    with console.status("running your notebook and the public checks…"):
        result = grade_submission(submissions[0], config, options)
    table = Table(title=f"self-check: {result.student}", show_lines=True)
    table.add_column("part")
    table.add_column("public checks", justify="center")
    table.add_column("what to fix", overflow="fold")
    rows = check_rows(result, lang)
    for part, verdict, details in rows:
        style = "green" if verdict.startswith("✓") else "red"
        table.add_row(part, f"[{style}]{verdict}[/]", details)
    console.print(table)
    if result.error:
        console.print(f"[red]Your submission could not be run:[/] {result.error}")
    failed_cells = [c for c in result.cells if c.get("status") != "ok"]
    for cell in failed_cells[:3]:
        console.print(f"[yellow]cell {cell['index'] + 1}[/] {cell.get('status')}: {cell.get('ename')}: "
                      f"{cell.get('evalue')}", markup=True, highlight=False)
    written = ", ".join(config.assignment.written_ids) if config.assignment else ""
    console.print("Hidden cases run only when your instructor grades."
                  + (f" Written parts ({written}) are graded by a person." if written else "")
                  + " / 隐藏测试只在老师评分时运行" + (f";书面部分({written})由老师评分。" if written else "。"))
    passed = sum(1 for _, verdict, _ in rows if verdict.startswith("✓"))
    return SelfCheck(result, passed, len(rows))
