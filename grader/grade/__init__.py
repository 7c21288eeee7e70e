"""`grade PATH...`: grade a class (or one submission) and write results, reports, reviews and exports."""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader import __version__, similarity
from grader.cache import ResultCache, cache_key
from grader.ci.github import stopped_commands, write_github_outputs
from grader.ci.gradescope import write_results_json
from grader.config import DEFAULT_ASSIGNMENT, GradingConfig, load_config
from grader.exports import write_canvas_csv
from grader.grade.ahead import WorkAhead
from grader.grade.summary import summary_table
from grader.gradebook import record_run
from grader.intake import is_archive, take_in
from grader.i18n import catalog
from grader.pipeline import GradeOptions, failed_result, grade_submission, import_for_judges, prestart_sandbox
from grader.report import draw_plots, render_reports
from grader.report.plotcache import PlotCache
from grader.results import SubmissionResult, has_flag, pending_review, safe_file_name, write_results
from grader.review import apply_reviews, read_reviews, write_reviews
from grader.sandbox import slots
from grader.sandbox.launch import probe_isolation, sandbox_features
from grader.submissions import Submission, discover


class SandboxUnavailable(Exception):
    """--sandbox strict, on a machine that cannot isolate student code."""


SIMILARITY_SHOWN = 0.5  # pairs at least this similar are listed on the class page


class UnknownParts(ValueError):
    """--only names a part the assignment does not have."""


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out: Path
    seconds: float
    index: Path | None = None
    review_problems: list[str] = field(default_factory=list)
    title: str = ""  # the assignment's


def _gpu_device_nodes() -> list[Path]:
    """What a GPU torch could use shows up as: NVIDIA (and Jetson), AMD ROCm, WSL2's GPU."""
    dev = Path("/dev")
    return [*dev.glob("nvidia[0-9]*"), *dev.glob("nvhost-*"), *(dev / name for name in ("kfd", "dxg")
                                                                 if (dev / name).exists())]


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    if sys.platform.startswith("linux") and not _gpu_device_nodes():
        return "cpu"  # no GPU here: no need to import torch (1.5 s) before the first student starts
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _grade_or_reuse(submission: Submission, config: GradingConfig, options: GradeOptions,
                    cache: ResultCache | None, sandboxes: threading.BoundedSemaphore,
                    on_miss: Callable[[], None] = lambda: None) -> SubmissionResult:
    """One student's result, whatever happens: a failure in any step is that student's error result.
    `on_miss` is called before a submission the cache does not have is graded."""
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
        on_miss()
        result = grade_submission(submission, config, options, content_hash, sandboxes)
        _remember(cache, key, result)
        return result
    except Exception as error:  # noqa: BLE001 - one submission must never stop the class
        return failed_result(submission, config, options, stage, error)


def _remember(cache: ResultCache | None, key: str, result: SubmissionResult) -> None:
    """Cache a result (the same rule whether it was graded here or on a cluster)."""
    if cache is not None and not has_flag(result, "timeout"):  # a timeout may be the machine's load: retry
        try:
            cache.put(key, result)
        except Exception:  # noqa: BLE001 - a cache that cannot be written costs speed, not the grade
            pass


def main(*, paths: list[Path], out: Path = Path("reports"), jobs: int | None = None, device: str = "auto",
         timeout: float | None = None, only: list[str] | None = None, assignment: Path = DEFAULT_ASSIGNMENT,
         lang: str = "en", use_cache: bool = True, console: Console | None = None,
         quiet: bool = False, github: bool = False, gradescope: Path | None = None,
         sandbox: str = "auto", public_only: bool = False, cluster: str | None = None) -> BatchResult:
    if github:
        # On a runner everything goes to stdout between stop-commands markers (see grader.ci.github).
        with stopped_commands(sys.stdout):
            batch = _run(paths, out, jobs, device, timeout, only, assignment, lang, use_cache,
                         console or Console(file=sys.stdout), quiet, gradescope, sandbox, public_only, cluster)
        write_github_outputs(batch.results, batch.title)
        return batch
    return _run(paths, out, jobs, device, timeout, only, assignment, lang, use_cache,
                console or Console(stderr=True), quiet, gradescope, sandbox, public_only, cluster)


@dataclass
class Run:
    """One `grade` run as its steps see it: what was asked, what was graded, and what went wrong writing."""

    config: GradingConfig
    options: GradeOptions
    out: Path
    part_ids: list[str]
    jobs: int
    lang: str
    gradescope: Path | None
    results: list[SubmissionResult] = field(default_factory=list)
    seconds: float = 0.0
    index: Path | None = None
    problems: list[str] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    similar: dict[str, Any] = field(default_factory=dict)  # the class report's similarity section
    comparison: Future[similarity.Comparison | None] | None = None  # computed while the class is graded
    cluster: Any = None  # a dask Client when --cluster is given (grader.grade.cluster)


def _run(paths: list[Path], out: Path, jobs: int | None, device: str, timeout: float | None,
         only: list[str] | None, assignment: Path, lang: str, use_cache: bool, console: Console, quiet: bool,
         gradescope: Path | None, sandbox: str, public_only: bool = False, cluster: str | None = None) -> BatchResult:
    run = _prepare(paths, out, jobs, device, timeout, only, assignment, lang, gradescope, sandbox, public_only)
    paths, lms = _take_in_archives(paths, out)
    submissions = run.submissions = discover(paths)
    if gradescope is not None and len(submissions) != 1:
        raise ValueError(f"--gradescope grades exactly one submission; {len(submissions)} found")
    started = time.perf_counter()
    if cluster:
        from grader.grade.cluster import connect

        run.cluster = connect(cluster)
    try:
        with WorkAhead().stopped() as ahead:
            run.comparison = ahead.submit(lambda: _compare_class(run))
            run.results = _grade_all(submissions, run, ResultCache(out / "cache") if use_cache else None, console,
                                     quiet, ahead)
    finally:
        if run.cluster is not None:
            _close(run.cluster)
    for result in run.results:
        result.lms = lms.get(result.student)
    _apply_reviews(run)
    run.seconds = time.perf_counter() - started
    for what, writer in WRITERS:
        try:  # each output on its own: a failing writer loses its own file, said on the console, nothing more
            writer(run)
        except Exception as error:  # noqa: BLE001 - reported, and the other outputs are still written
            run.problems.append(f"{what} not written: {type(error).__name__}: {str(error)[:300]}")
    if not quiet:
        _tell(run, console)
    return BatchResult(run.results, out, run.seconds, run.index, run.problems,
                       run.config.assignment.title if run.config.assignment else "")


def _close(client: Any) -> None:
    """Disconnect; a cluster this run started (local:N) is shut down with it."""
    owned = getattr(client, "cluster", None)
    client.close()
    if owned is not None:
        owned.close()


def _take_in_archives(paths: list[Path], out: Path) -> tuple[list[Path], dict[str, dict[str, Any]]]:
    """LMS downloads (.zip) unpacked into OUT/intake/<archive>/, one folder per student (grader.intake)."""
    folders, students = [], {}
    for path in paths:
        if not is_archive(path):
            folders.append(path)
            continue
        intake = take_in(path, out / "intake" / safe_file_name(path.stem))
        folders.append(intake.folder)
        students.update({folder: asdict(student) for folder, student in intake.students.items()})
    return folders, students


def _prepare(paths: list[Path], out: Path, jobs: int | None, device: str, timeout: float | None,
             only: list[str] | None, assignment: Path, lang: str, gradescope: Path | None, sandbox: str,
             public_only: bool = False) -> Run:
    """Configuration, the parts asked for, the sandbox mode and the output folder."""
    config = load_config(assignment)
    known = config.assignment.part_ids if config.assignment else ()
    unknown = [p for p in only or () if p not in known]
    if unknown:
        raise UnknownParts(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    parts = tuple(only) if only else known
    options = GradeOptions(device=resolve_device(device), parts=parts, timeout_s=timeout,
                           hidden_paths=(out.resolve(), *(p.resolve() for p in paths if p.is_dir())),
                           isolate=sandbox != "basic",
                           public_only=public_only or config.is_kit)  # a kit has nothing else to check
    if sandbox == "strict":
        missing = probe_isolation()["missing"]
        if missing:
            labels = catalog("en")
            raise SandboxUnavailable("--sandbox strict: not available here: "
                                     + ", ".join(labels.get(f"protection.{code}", code) for code in missing))
    out.mkdir(parents=True, exist_ok=True)  # exists before grading, so the sandbox can hide it
    return Run(config, options, out, [p for p in known if p in parts], max(1, jobs or os.cpu_count() or 1), lang,
               gradescope)


class _FirstMiss:
    """What only a submission missing from the cache needs, started once, at the first one: the warm sandbox
    (its imports overlap reading that student) and torch for the judges. A run answered wholly from the cache
    starts neither (~6 s of CPU and ~2.5 s of the example class's re-run). Both are head starts only: grading
    starts a slot itself and the judges import torch where they need it, so a failure here is nobody's."""

    def __init__(self, run: Run, ahead: WorkAhead) -> None:
        self.run, self.ahead = run, ahead
        self._lock = threading.Lock()
        self._started = False

    def __call__(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            try:
                prestart_sandbox(self.run.config, self.run.options)
                self.ahead.submit(import_for_judges)
            except Exception:  # noqa: BLE001 - see above: the student's grading goes on without the head start
                pass


def _plot_cache(run: Run) -> PlotCache:
    return PlotCache(run.out / "cache" / "plots")


def _grade_all(submissions: list[Submission], run: Run, cache: ResultCache | None, console: Console,
               quiet: bool, ahead: WorkAhead) -> list[SubmissionResult]:
    results: list[SubmissionResult] = []
    with Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task("", total=len(submissions))

        def done(result: SubmissionResult) -> None:
            results.append(result)
            # its plots are drawn while the others are graded: the pages at the end draw nothing
            page_data = result.to_json()
            ahead.maybe(lambda: draw_plots(page_data, run.lang, _plot_cache(run)))
            reused = " (cached)" if result.from_cache else ""
            progress.update(task, advance=1,
                            description=f"{result.student}: {result.score:g}/{result.max_score:g}{reused}")

        if run.cluster is not None:
            _grade_on_cluster(submissions, run, cache, done)
        else:
            # --jobs sandboxes at a time; one more thread reads the next student and judges the last one while
            # they run (else, with one job, the sandbox waits for the parent's ~0.2 s of each)
            sandboxes = threading.BoundedSemaphore(run.jobs)
            with ThreadPoolExecutor(max_workers=run.jobs + 1) as pool:
                first_miss = _FirstMiss(run, ahead)
                futures = [pool.submit(_grade_or_reuse, s, run.config, run.options, cache, sandboxes, first_miss)
                           for s in submissions]
                for future in as_completed(futures):
                    done(future.result())
            run.problems += [f"warm processes not used ({reason[:300]}): each submission started fresh ones "
                             f"(slower, same results)" for reason in slots.POOL.unavailable()]
    return sorted(results, key=lambda r: r.student)


def _grade_on_cluster(submissions: list[Submission], run: Run, cache: ResultCache | None,
                      done: Callable[[SubmissionResult], None]) -> None:
    """The cache is this process's: hits are answered here, misses graded on the cluster and cached here."""
    from grader.grade.cluster import grade_on_cluster

    keys: dict[str, str] = {}
    misses: list[tuple[Submission, str]] = []
    for submission in submissions:
        try:
            content_hash = submission.content_hash()
        except Exception as error:  # noqa: BLE001 - an unreadable submission is its student's error
            done(failed_result(submission, run.config, run.options, "read", error))
            continue
        key = keys[submission.student] = cache_key(submission.student, content_hash, run.config, run.options)
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            done(cached)
        else:
            misses.append((submission, content_hash))

    def finished(result: SubmissionResult) -> None:
        if result.student in keys:
            _remember(cache, keys[result.student], result)
        done(result)

    grade_on_cluster(run.cluster, misses, run.config, run.options, finished)


def _apply_reviews(run: Run) -> None:
    """Confirmed scores from review.csv replace the suggestions; the file gets rows for new students.
    A review file that cannot be read is never rewritten: the reviewer's work is in it."""
    try:
        reviews = read_reviews(run.out / "review.csv")
    except Exception as error:  # noqa: BLE001 - reported; grading goes on without the reviews
        run.problems.append(f"review.csv (could not be read, so it was left as it is) not written: "
                            f"{type(error).__name__}: {str(error)[:300]}")
        return
    try:
        run.problems += apply_reviews(run.results, reviews) or []
    except Exception as error:  # noqa: BLE001
        run.problems.append(f"reviews not applied: {type(error).__name__}: {str(error)[:300]}")
    try:
        write_reviews(run.out / "review.csv", run.results, reviews)
    except Exception as error:  # noqa: BLE001
        run.problems.append(f"review.csv not written: {type(error).__name__}: {str(error)[:300]}")


def _write_html(run: Run) -> None:
    now = datetime.now().astimezone()
    meta = {"date": now.strftime("%Y-%m-%d %H:%M %Z"), "version": __version__, "device": run.options.device,
            "seconds": f"{run.seconds:.0f}", "jobs": run.jobs, "sandbox": sandbox_features(run.results),
            "assignment": run.config.assignment.title_in(run.lang) if run.config.assignment else "",
            "similar": run.similar}
    run.index = render_reports([r.to_json() for r in run.results], run.out, lang=run.lang, meta=meta,
                               jobs=run.jobs, cache=_plot_cache(run))


def _compare_class(run: Run) -> similarity.Comparison | None:
    """Similar code across the class (grader/similarity), for a person: the handout and code most of the class
    shares are left out; `grade similarity --known DIR` leaves out tutorials too."""
    if len(run.submissions) < 2:
        return None
    handout = run.config.assignment.handout_path if run.config.assignment else None
    codes = [code for code in map(similarity.code_of, run.submissions) if code is not None]
    return similarity.compare_class(codes, similarity.known_code([handout] if handout else []),
                                    cache=run.out / "cache" / "similarity")


def _write_similarity(run: Run) -> None:
    comparison = run.comparison.result() if run.comparison is not None else _compare_class(run)
    if comparison is None:
        return
    similarity.write_similarity(run.out, comparison, run.lang)
    top = [asdict(pair) for pair in comparison.pairs if pair.score >= SIMILARITY_SHOWN][:5]
    run.similar = {"students": len(comparison.codes), "common": comparison.common, "known": comparison.known_files,
                   "pairs": top} if top else {}


def _write_gradebook(run: Run) -> None:
    record_run(run.out / "gradebook.sqlite", run.results, at=datetime.now().astimezone().isoformat(timespec="seconds"),
               version=__version__, device=run.options.device, seconds=run.seconds)


def _write_gradescope(run: Run) -> None:
    if run.gradescope is not None:
        write_results_json(run.gradescope, run.results)


# Every output of a run, in order; each is written on its own (see _run).
WRITERS: list[tuple[str, Callable[[Run], Any]]] = [
    ("results and grades.csv", lambda run: write_results(run.results, run.out, run.part_ids)),
    ("lms-canvas.csv", lambda run: write_canvas_csv(run.out / "lms-canvas.csv", run.results,
                                                   run.config.assignment.title if run.config.assignment else "")),
    ("gradebook.sqlite", _write_gradebook),
    ("similarity", _write_similarity),  # before the HTML: the class page shows its top pairs
    ("HTML reports", _write_html),
    ("Gradescope results", _write_gradescope),
]


def _tell(run: Run, console: Console) -> None:
    console.print(summary_table(run.results, run.part_ids, console.width))
    for problem in run.problems:
        console.print(f"[yellow]warning:[/] {problem}")
    if run.options.public_only:
        console.print("Public checks only" + (" (a student kit)" if run.config.is_kit else "") + ": scores are "
                      "shares of the public checks; hidden cases and written answers are graded by the instructor.")
    waiting = [r for r in run.results if pending_review(r)]
    if waiting and not run.options.public_only:
        console.print(f"[yellow]{len(waiting)} student(s) have parts pending review[/] (written answers, or parts graded without the contract): their totals include "
                      f"suggested scores, and lms-canvas.csv leaves their grade empty until review.csv confirms "
                      f"them (see 'pending review' in grades.csv)")
    reused = sum(r.from_cache for r in run.results)
    console.print(f"{len(run.results)} submission(s) graded in {run.seconds:.1f} s on {run.options.device} with "
                  f"{run.jobs} job(s){f', {reused} reused from the cache' if reused else ''}; report: {run.index}")
