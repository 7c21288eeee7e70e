"""`grade PATH...`: grade a class (or one submission) and write results, grades.csv and a summary."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader.config import DEFAULT_ASSIGNMENT, load_config
from grader.grade.summary import summary_table
from grader.parts import PART_IDS
from grader.pipeline import GradeOptions, grade_submission
from grader.results import SubmissionResult, write_results
from grader.submissions import discover


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out: Path
    seconds: float


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def main(*, paths: list[Path], out: Path = Path("reports"), jobs: int | None = None, device: str = "auto",
         timeout: float | None = None, only: list[str] | None = None, assignment: Path = DEFAULT_ASSIGNMENT,
         console: Console | None = None, quiet: bool = False) -> BatchResult:
    console = console or Console(stderr=True)
    config = load_config(assignment)
    parts = tuple(only) if only else PART_IDS
    options = GradeOptions(device=resolve_device(device), parts=parts, timeout_s=timeout)
    submissions = discover(paths)
    jobs = max(1, jobs or os.cpu_count() or 1)
    started = time.perf_counter()
    results: list[SubmissionResult] = []
    with Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task("", total=len(submissions))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(grade_submission, s, config, options): s for s in submissions}
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                progress.update(task, advance=1, description=f"{result.student}: {result.score:g}/{result.max_score:g}")
    results.sort(key=lambda r: r.student)
    out.mkdir(parents=True, exist_ok=True)
    write_results(results, out, [p for p in PART_IDS if p in parts])
    seconds = time.perf_counter() - started
    if not quiet:
        console.print(summary_table(results, [p for p in PART_IDS if p in parts]))
        console.print(f"{len(results)} submission(s) graded in {seconds:.1f} s on {options.device} "
                      f"with {jobs} job(s); results in {out}/")
    return BatchResult(results, out, seconds)
