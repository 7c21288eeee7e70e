"""`grade PATH...`: grade a class (or one submission) and write results, reports, reviews and exports."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

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
from grader.pipeline import GradeOptions, grade_submission
from grader.report import render_reports
from grader.results import SubmissionResult, write_results
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
    content_hash = submission.content_hash()
    key = cache_key(submission.student, content_hash, config, options)
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    result = grade_submission(submission, config, options, content_hash)
    if cache is not None and "timeout" not in result.flags:  # a timeout may be the machine's load: retry
        cache.put(key, result)
    return result


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
    reviews = read_reviews(out / "review.csv")
    problems = apply_reviews(results, reviews)
    write_reviews(out / "review.csv", results, reviews)
    part_ids = [p for p in PART_IDS if p in parts]
    write_results(results, out, part_ids)
    write_canvas_csv(out / "lms-canvas.csv", results)
    seconds = time.perf_counter() - started
    now = datetime.now().astimezone()
    record_run(out / "gradebook.sqlite", results, at=now.isoformat(timespec="seconds"), version=__version__,
               device=options.device, seconds=seconds)
    meta = {"date": now.strftime("%Y-%m-%d %H:%M %Z"), "version": __version__, "device": options.device,
            "seconds": f"{seconds:.0f}", "jobs": jobs, "sandbox": sandbox_features(results)}
    index = render_reports([r.to_json() for r in results], out, lang=lang, meta=meta)
    if gradescope is not None:
        write_results_json(gradescope, results)
    if not quiet:
        console.print(summary_table(results, part_ids))
        for problem in problems:
            console.print(f"[yellow]warning:[/] {problem}")
        reused = sum(r.from_cache for r in results)
        console.print(f"{len(results)} submission(s) graded in {seconds:.1f} s on {options.device} with {jobs} "
                      f"job(s){f', {reused} reused from the cache' if reused else ''}; report: {index}")
    return BatchResult(results, out, seconds, index, problems)
