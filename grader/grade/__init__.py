"""`grade PATH...`: grade a class (or one submission) and write results, reports, reviews and exports."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader import __version__
from grader.cache import ResultCache, cache_key
from grader.ci.github import stopped_commands, write_github_outputs
from grader.ci.gradescope import write_results_json
from grader.config import DEFAULT_ASSIGNMENT, GradingConfig, load_config
from grader.exports import write_canvas_csv
from grader.grade.summary import summary_table
from grader.gradebook import record_run
from grader.parts import PART_IDS
from grader.pipeline import GradeOptions, failed_result, grade_submission
from grader.report import render_reports
from grader.results import SubmissionResult, pending_review, write_results
from grader.review import apply_reviews, read_reviews, write_reviews
from grader.sandbox.launch import probe_isolation, sandbox_features
from grader.submissions import Submission, discover


class SandboxUnavailable(Exception):
    """--sandbox strict, on a machine that cannot isolate student code."""


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out: Path
    seconds: float
    index: Path | None = None
    review_problems: list[str] = field(default_factory=list)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _grade_or_reuse(submission: Submission, config: GradingConfig, options: GradeOptions,
                    cache: ResultCache | None) -> SubmissionResult:
    """One student's result, whatever happens: a failure in any step is that student's error result."""
    stage = "read"
    try:
        content_hash = submission.content_hash()
        key = cache_key(submission.student, content_hash, config, options)
        stage = "look up the cache for"
        if cache is not None:
            cached = cache.get(key)
            if cached is not None:
                return cached
        stage = "grade"
        result = grade_submission(submission, config, options, content_hash)
        stage = "cache the result of"
        if cache is not None and "timeout" not in result.flags:  # a timeout may be the machine's load: retry
            try:
                cache.put(key, result)
            except Exception:  # noqa: BLE001 - a cache that cannot be written costs speed, not the grade
                pass
        return result
    except Exception as error:  # noqa: BLE001 - one submission must never stop the class
        return failed_result(submission, config, options, stage, error)


def main(*, paths: list[Path], out: Path = Path("reports"), jobs: int | None = None, device: str = "auto",
         timeout: float | None = None, only: list[str] | None = None, assignment: Path = DEFAULT_ASSIGNMENT,
         lang: str = "en", use_cache: bool = True, console: Console | None = None,
         quiet: bool = False, github: bool = False, gradescope: Path | None = None,
         sandbox: str = "auto") -> BatchResult:
    if github:
        # On a runner everything goes to stdout between stop-commands markers (see grader.ci.github).
        with stopped_commands(sys.stdout):
            batch = _run(paths, out, jobs, device, timeout, only, assignment, lang, use_cache,
                         console or Console(file=sys.stdout), quiet, gradescope, sandbox)
        write_github_outputs(batch.results)
        return batch
    return _run(paths, out, jobs, device, timeout, only, assignment, lang, use_cache,
                console or Console(stderr=True), quiet, gradescope, sandbox)


def _run(paths: list[Path], out: Path, jobs: int | None, device: str, timeout: float | None,
         only: list[str] | None, assignment: Path, lang: str, use_cache: bool, console: Console, quiet: bool,
         gradescope: Path | None, sandbox: str) -> BatchResult:
    config = load_config(assignment)
    parts = tuple(only) if only else PART_IDS
    options = GradeOptions(device=resolve_device(device), parts=parts, timeout_s=timeout,
                           hidden_paths=(out.resolve(), *(p.resolve() for p in paths if p.is_dir())),
                           isolate=sandbox != "basic")
    if sandbox == "strict":
        missing = probe_isolation()["missing"]
        if missing:
            raise SandboxUnavailable(f"--sandbox strict: not available here: {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)  # exists before grading, so the sandbox can hide it
    submissions = discover(paths)
    if gradescope is not None and len(submissions) != 1:
        raise ValueError(f"--gradescope grades exactly one submission; {len(submissions)} found")
    jobs = max(1, jobs or os.cpu_count() or 1)
    cache = ResultCache(out / "cache") if use_cache else None
    started = time.perf_counter()
    results: list[SubmissionResult] = []
    with Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task("", total=len(submissions))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_grade_or_reuse, s, config, options, cache) for s in submissions]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                reused = " (cached)" if result.from_cache else ""
                progress.update(task, advance=1,
                                description=f"{result.student}: {result.score:g}/{result.max_score:g}{reused}")
    results.sort(key=lambda r: r.student)
    problems: list[str] = []

    def write(what: str, writer: Callable[[], Any]) -> Any:
        """Each output on its own: a failing writer loses its own file, said on the console, nothing more."""
        try:
            return writer()
        except Exception as error:  # noqa: BLE001 - reported, and the other outputs are still written
            problems.append(f"{what} not written: {type(error).__name__}: {str(error)[:300]}")
            return None

    reviews = write("review.csv (could not be read, so it was left as it is)", lambda: read_reviews(out / "review.csv"))
    if reviews is not None:  # never rewrite a review file that could not be read: the reviewer's work is in it
        problems += write("reviews", lambda: apply_reviews(results, reviews)) or []
        write("review.csv", lambda: write_reviews(out / "review.csv", results, reviews))
    part_ids = [p for p in PART_IDS if p in parts]
    write("results and grades.csv", lambda: write_results(results, out, part_ids))
    write("lms-canvas.csv", lambda: write_canvas_csv(out / "lms-canvas.csv", results))
    seconds = time.perf_counter() - started
    now = datetime.now().astimezone()
    write("gradebook.sqlite", lambda: record_run(out / "gradebook.sqlite", results,
                                                 at=now.isoformat(timespec="seconds"), version=__version__,
                                                 device=options.device, seconds=seconds))
    meta = {"date": now.strftime("%Y-%m-%d %H:%M %Z"), "version": __version__, "device": options.device,
            "seconds": f"{seconds:.0f}", "jobs": jobs, "sandbox": sandbox_features(results)}
    index = write("HTML reports", lambda: render_reports([r.to_json() for r in results], out, lang=lang, meta=meta))
    if gradescope is not None:
        write("Gradescope results", lambda: write_results_json(gradescope, results))
    if not quiet:
        console.print(summary_table(results, part_ids, console.width))
        for problem in problems:
            console.print(f"[yellow]warning:[/] {problem}")
        waiting = [r for r in results if pending_review(r)]
        if waiting:
            console.print(f"[yellow]{len(waiting)} student(s) have written parts pending review[/]: their totals include "
                          f"suggested scores, and lms-canvas.csv leaves their grade empty until review.csv confirms "
                          f"them (see 'pending review' in grades.csv)")
        reused = sum(r.from_cache for r in results)
        console.print(f"{len(results)} submission(s) graded in {seconds:.1f} s on {options.device} with {jobs} "
                      f"job(s){f', {reused} reused from the cache' if reused else ''}; report: {index}")
    return BatchResult(results, out, seconds, index, problems)
