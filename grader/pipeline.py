"""Grade one submission, as a list of small named steps:

    read  ->  plan probes  ->  execute (sandbox)  ->  judge (against the reference)  ->  score

Everything after ``execute`` runs in this trusted process, on the raw observations that came back.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import threading
import time
import traceback
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional

import nbformat
import numpy as np

from grader import __version__
from grader import integrity
from grader.answers import read_answers
from grader.config import GradingConfig
from grader.contract import contract_names_defined
from grader.expected import Recorded, computed
from grader.messages import M, Msg, render
from grader.parts.base import JudgeContext, Part, PlanContext, Verdict
from grader.results import CheckResult, Flag, PartResult, SubmissionResult
from grader.sandbox import slots
from grader.sandbox.launch import ExecutionLimits, ExecutionRecord, ProbeJob, execute
from grader.submissions import Submission

_reference_lock = threading.Lock()
_reference_cache: dict[Path, ModuleType] = {}
_recorded_cache: dict[Path, Recorded] = {}


@dataclass
class GradeOptions:
    device: str = "cpu"
    parts: tuple[str, ...] = ()  # part ids to grade; empty: every part of the assignment
    timeout_s: float | None = None  # overrides the config's submission budget
    public_only: bool = False  # self-check: no hidden cases
    hidden_paths: tuple[Path, ...] = ()  # hidden from student code besides the reference and assignment:
                                         # the output folder and the class folders
    isolate: bool = True  # namespaces and capability drop where possible ("--sandbox basic" turns them off)


def selected_parts(config: GradingConfig, options: GradeOptions) -> list[Part]:
    """The assignment's parts this run grades, in report order."""
    return [p for p in config.all_parts if not options.parts or p.id in options.parts]


@dataclass
class LoadedSubmission:
    submission: Submission
    notebook: nbformat.NotebookNode | None = None
    answers: dict[str, str] = field(default_factory=dict)
    answer_sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # where each answer was found
    problem: str | None = None
    notes: list[Flag] = field(default_factory=list)
    # written without the contract (no contract name defined anywhere): each file runs as a script, as
    # `__main__` in its own namespace, and parts are graded from evidence (grader.parts.found)
    scripts: bool = False
    evidence_parts: tuple[str, ...] = ()  # parts none of whose contract names the code defines
    code: list[tuple[str, str]] = field(default_factory=list)  # (where, code) of each cell or file, read once


def load_reference(path: Path) -> ModuleType:
    """The reference solution, imported once per process by file path (it is not an installed package)."""
    with _reference_lock:
        if path not in _reference_cache:
            spec = importlib.util.spec_from_file_location("rnn_grader_reference", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _reference_cache[path] = module
        return _reference_cache[path]


Answers = Callable[[Part, Optional[dict[str, Any]]], Any]


def expected_answers(config: GradingConfig) -> Answers:
    """Where the judges' expected values come from (``ctx.expected``): computed from the reference here, or,
    in a student kit, its recording for the public requests (grader.expected)."""
    if config.reference_path is None:
        path = config.assignment.expectations_path if config.assignment else None
        if path is None:
            raise ValueError("the assignment has neither a reference nor recorded expectations")
        with _reference_lock:
            if path not in _recorded_cache:
                _recorded_cache[path] = Recorded(path)
            return _recorded_cache[path].answers
    reference = load_reference(config.reference_path)
    return lambda part, request: computed(part, request, reference)


# ---- step 1: read -----------------------------------------------------------------------------------

PACKAGE_INSTALL = re.compile(r"^\s*(?:[%!]\s*(?:pip3?|conda|mamba)\b|%%(?:pip|conda)\b|!\s*python3?\s+-m\s+pip\b)")


def skip_package_installs(notebook: nbformat.NotebookNode) -> int:
    """Comment out `%pip install`, `!pip install`, `%conda ...` lines: the grader's environment is fixed, the
    sandbox has no network, and a slow failing install would only eat the student's time budget."""
    skipped = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for index, line in enumerate(lines):
            if PACKAGE_INSTALL.match(line):
                lines[index] = "# [rnn-grader] not run: " + line.strip()
                skipped += 1
        cell.source = "\n".join(lines)
    return skipped


def read_submission(submission: Submission, config: GradingConfig) -> LoadedSubmission:
    limits = config.limits
    loaded = LoadedSubmission(submission)
    for name, target in submission.links:
        loaded.notes.append(Flag("link_not_followed", {"name": name, "target": target}))
    if submission.kind == "invalid":
        loaded.problem = submission.problem
        return loaded
    if submission.kind == "notebook":
        assert submission.notebook is not None
        try:
            size = submission.notebook.stat().st_size
            if size > limits.max_notebook_mb << 20:
                loaded.problem = f"{submission.notebook.name} is {size / 2**20:.0f} MB; the grader reads notebooks " \
                                 f"up to {limits.max_notebook_mb} MB (clear the outputs and submit again)"
                return loaded
            text = submission.notebook.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            loaded.problem = f"{submission.notebook.name} is not UTF-8 text (is it really a notebook?)"
            return loaded
        except OSError as error:
            loaded.problem = f"cannot read {submission.notebook.name}: {error.strerror}"
            return loaded
        if not text.strip():
            loaded.problem = f"{submission.notebook.name} is empty"
            return loaded
        try:
            raw = json.loads(text)
            original = raw.get("nbformat") if isinstance(raw, dict) else None
            notebook = nbformat.reads(text, as_version=4)
        except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for bad input
            loaded.problem = f"{submission.notebook.name} is not a valid notebook ({type(error).__name__}: " \
                             f"{str(error)[:200]})"
            return loaded
        if original is not None and original < 4:
            loaded.notes.append(Flag("notebook_upgraded", {"version": original}))
        kernel = (notebook.metadata.get("kernelspec") or {}).get("name")
        if kernel and not str(kernel).startswith("python"):
            loaded.notes.append(Flag("kernel_replaced", {"kernel": kernel}))
        code_cells = sum(1 for cell in notebook.cells if cell.cell_type == "code")
        if code_cells > limits.max_cells:
            loaded.problem = f"{submission.notebook.name} has {code_cells} code cells; the grader runs at most " \
                             f"{limits.max_cells} (merge cells or remove the generated ones)"
            return loaded
        skipped = skip_package_installs(notebook)
        if skipped:
            loaded.notes.append(Flag("installs_skipped", {"count": skipped}))
        loaded.notebook = notebook
    cells = [dict(c) for c in loaded.notebook.cells] if loaded.notebook is not None else None
    written = {part.id: part.answer_names for part in config.all_parts if part.written}
    handout = set(config.assignment.handout_markdown) if config.assignment else set()
    loaded.answers = read_answers(cells, submission.answers_file, written, handout, loaded.answer_sources)
    loaded.code = _code_sources(loaded)
    if any(part.found for part in config.all_parts):
        defined = contract_names_defined([source for _, source in loaded.code])
        loaded.scripts = not defined
        loaded.evidence_parts = tuple(part.id for part in config.all_parts if part.found is not None
                                      and not defined & set(part.found.names))
    return loaded


def _code_sources(loaded: LoadedSubmission) -> list[tuple[str, str]]:
    """(where, code) for each code cell or module file, read as text (never run here)."""
    if loaded.notebook is not None:
        return [(f"cell {index + 1}", cell.source) for index, cell in enumerate(loaded.notebook.cells)
                if cell.cell_type == "code"]
    sources = []
    for module in loaded.submission.modules:
        try:
            with open(module, "rb") as handle:
                sources.append((module.name, handle.read(1 << 20).decode("utf-8", errors="replace")))
        except OSError:
            continue
    return sources


def static_findings(loaded: LoadedSubmission) -> list[integrity.Finding]:
    """Read the student's code (never run it here) for reaching outside the sandbox."""
    submission = loaded.submission
    found = integrity.read_code(loaded.code)
    root = submission.root if submission.root.is_dir() else submission.root.parent
    for name, target in submission.links:
        resolved = (root / name).parent.joinpath(target).resolve() if not target.startswith("/") else Path(target)
        if not str(resolved).startswith(str(root.resolve()) + "/"):
            found.append(integrity.Finding("files", f"link {name} -> {target}", name, "code"))
    return found


# ---- step 2: plan ----------------------------------------------------------------------------------

def hidden_rng(config: GradingConfig, student: str, part_id: str, public: bool = False) -> np.random.Generator:
    """Hidden inputs differ per student and part, and are the same every time that student is graded.

    Public checks (a self-check, a student kit) draw from a public seed, the same for every student: they
    never show the real hidden inputs, and a kit can hold the reference's answers to exactly these requests."""
    key = f"public-self-check:{part_id}" if public else f"{config.seeds.hidden}:{student}:{part_id}"
    digest = hashlib.sha256(key.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def plan_probes(student: str, parts: list[Part], config: GradingConfig, options: GradeOptions,
                evidence_parts: tuple[str, ...] = ()) -> dict[str, dict]:
    requests = {}
    for part in parts:
        if part.plan is None:
            continue
        settings = config.parts[part.id].model_dump()
        ctx = PlanContext(hidden_rng(config, student, part.id, options.public_only), settings, options.device,
                          options.public_only)
        requests[part.id] = {**part.plan(ctx), "seed": config.seeds.student}
        if part.found is not None and part.id in evidence_parts:  # the same request, for the evidence probe
            requests[found_key(part)] = requests[part.id]
    return requests


def found_key(part: Part) -> str:
    """The probe id of a part's evidence probe (grader.parts.found)."""
    return f"{part.id}~found"


# ---- step 3: execute -------------------------------------------------------------------------------

def prestart_sandbox(config: GradingConfig, options: GradeOptions) -> None:
    """Start the warm sandbox process for this run's probes now (grader.sandbox.slots): it imports torch
    while the parent reads the class, and the first submission does not wait for that."""
    preload = tuple(sorted({part.module for part in selected_parts(config, options) if part.plan is not None}))
    if preload and slots.warm_enabled():
        slots.POOL.prestart(preload=preload,
                            import_paths=config.assignment.import_paths if config.assignment else ())


def import_for_judges() -> None:
    """The judges evaluate trained weights with torch (1.5-2 s to import): run on another thread (`grade`'s
    work-ahead thread, a thread of its own in `grade check`) while the submissions run, not after them. A head start only: the judges import it where they need it, so a
    failure here is nobody's (and a thread's traceback must not reach a student's self-check)."""
    try:
        importlib.import_module("torch")
    except Exception:  # noqa: BLE001
        pass


def execute_submission(loaded: LoadedSubmission, parts: list[Part], requests: dict[str, dict],
                       config: GradingConfig, options: GradeOptions) -> ExecutionRecord:
    limits = config.limits
    probes = [ProbeJob(part.id, part.module, part.probe or "", requests[part.id], limits.probe_timeout_s)
              for part in parts if part.id in requests]
    probes += [ProbeJob(found_key(part), part.module, part.found.probe, requests[found_key(part)],
                        limits.probe_timeout_s) for part in parts if found_key(part) in requests]
    return execute(
        root=loaded.submission.root, kind=loaded.submission.kind, notebook=loaded.notebook, scripts=loaded.scripts,
        modules=[p.stem for p in loaded.submission.modules], probes=probes, seed=config.seeds.student,
        hidden=(*([config.reference_path.parent] if config.reference_path else []), config.assignment_dir,
                *options.hidden_paths,
                loaded.submission.root.resolve().parent), isolate=options.isolate,
        import_paths=config.assignment.import_paths if config.assignment else (),
        limits=ExecutionLimits(
            submission_timeout_s=options.timeout_s or limits.submission_timeout_s,
            cell_timeout_s=limits.cell_timeout_s, kernel_start_timeout_s=limits.kernel_start_timeout_s,
            memory_mb=0 if options.device.startswith("cuda") else limits.memory_mb,
            cpu_s=limits.cpu_s, output_kb=limits.output_kb, max_processes=limits.max_processes,
            # the whole tree together; room above the per-process limit for the worker and, on CUDA, the driver
            group_memory_mb=limits.memory_mb + 1024))


# ---- step 4: judge ---------------------------------------------------------------------------------

def cell_errors(record: ExecutionRecord) -> list[Msg]:
    errors = []
    for cell in record.cells:
        number = cell["index"] + 1
        if cell.get("status") == "error":
            errors.append(M("cell_raised", number=number, ename=cell.get("ename"), evalue=str(cell.get("evalue"))[:200]))
        elif cell.get("status") in ("timeout", "dead"):
            errors.append(M(f"cell_{cell['status']}", number=number))
    return errors


def _probe_failure(message: dict[str, Any]) -> Msg:
    reason = message.get("reason")
    if reason == "timeout":
        return M("probe_timeout", seconds=message.get("timeout_s"))
    if reason == "dead":
        return M("probe_dead")
    if reason == "too_large":
        return M("checks_interfered", reason=M("result_too_large", error=message.get("error")))
    if reason == "unreadable":
        return M("checks_interfered", reason=M("result_unreadable"))
    return M("checks_failed", error=message.get("error"))


_IN_CELL = re.compile(r'File "In\[(\d+)\]", line (\d+)')


def _cells_named(observation: Any, cells: list[dict[str, Any]]) -> Any:
    """Tracebacks say `In[7]` (the kernel's execution count); the student knows "cell 12" of their notebook."""
    numbers = {cell["execution_count"]: cell["index"] + 1 for cell in cells
               if isinstance(cell.get("execution_count"), int)}

    def rename(match: re.Match[str]) -> str:
        number = numbers.get(int(match.group(1)))
        return f"cell {number}, line {match.group(2)}" if number else match.group(0)

    def walk(value: Any, depth: int = 0) -> Any:
        if depth > 32:
            return value
        if isinstance(value, list):
            return [walk(item, depth + 1) for item in value]
        if not isinstance(value, dict):
            return value
        renamed = {key: walk(item, depth + 1) for key, item in value.items() if key != "traceback"}
        if "traceback" in value:  # frames are strings; anything else is left for validation to judge
            frames = value["traceback"]
            renamed["traceback"] = [_IN_CELL.sub(rename, line) if isinstance(line, str) else line
                                    for line in frames] if isinstance(frames, list) else frames
        return renamed

    return walk(observation) if numbers else observation


def judge_part(part: Part, request: dict[str, Any] | None, record: ExecutionRecord | None,
               ctx: JudgeContext) -> list[Verdict]:
    if part.plan is not None:
        assert record is not None
        message = record.probes.get(part.id)
        if message is None:
            reason = M("not_checked", reason=record.fatal_message or M("checks_did_not_run"))
            return [Verdict(check, 0.0, reason) for check in part.checks]
        if not message.get("ok"):
            failure = _probe_failure(message)
            if message.get("reason") in ("too_large", "unreadable"):
                ctx.interference.append(render(failure))
            return [Verdict(check, 0.0, failure) for check in part.checks]
        observation = _cells_named(message.get("observation"), record.cells)
        problem = part.validate(request or {}, observation) if part.validate else None
        if problem is not None:  # fail closed: an observation that does not answer the request earns nothing
            ctx.interference.append(f"part {part.id}: {problem}")
            reason = M("checks_interfered", reason=problem)
            return [Verdict(check, 0.0, reason) for check in part.checks]
    else:
        observation = {}
    return _judged(part, part.judge, request or {}, observation, ctx)


def _judged(part: Part, judge: Any, request: dict[str, Any], observation: Any, ctx: JudgeContext) -> list[Verdict]:
    try:
        return judge(request, observation, ctx)
    except Exception as error:  # noqa: BLE001 - odd student values must cost this part only
        where = traceback.extract_tb(error.__traceback__)[-1]
        reason = M("judge_crashed", error=f"{type(error).__name__}: {error}",
                   where=f"{Path(where.filename).name}:{where.lineno}")
        return [Verdict(check, 0.0, reason) for check in part.checks]


def written_without_contract(part: Part, record: ExecutionRecord | None) -> bool:
    """The part's contract probe ran and found none of the names it needed: judge it from evidence."""
    from grader.parts.found import nothing_on_contract

    if part.found is None or record is None:
        return False
    message = record.probes.get(part.id) or {}
    return found_key(part) in record.probes and bool(message.get("ok")) \
        and nothing_on_contract(message.get("observation"))


def cells_with_sources(loaded: LoadedSubmission, record: ExecutionRecord) -> list[dict[str, Any]]:
    """The cells as they ran, each with its whole code as the student wrote it (`full_source`): a script's
    cell runs the file through a wrapper, and records keep only the first 2,000 characters."""
    by_module = dict(loaded.code) if loaded.notebook is None else {}
    notebook_cells = loaded.notebook.cells if loaded.notebook is not None else []
    cells = []
    for cell in record.cells:
        index = cell.get("index")
        if cell.get("module"):
            source = by_module.get(str(cell["module"]), "")
        elif isinstance(index, int) and 0 <= index < len(notebook_cells):
            source = notebook_cells[index].source
        else:
            source = ""
        cells.append({**cell, "full_source": source})
    return cells


def judge_from_evidence(part: Part, request: dict[str, Any], record: ExecutionRecord,
                        ctx: JudgeContext, scripts: bool = True) -> tuple[list[Verdict], str]:
    """Best-effort verdicts for a part written without the contract, and how it was graded:
    "without_contract" (a suggestion a person confirms) or "not_attempted" (nothing of it found)."""
    message = record.probes.get(found_key(part))
    if message is None or not message.get("ok"):
        reason = _probe_failure(message) if message else M("not_checked", reason=record.fatal_message
                                                                     or M("checks_did_not_run"))
        return [Verdict(check, 0.0, M("evidence_failed", reason=reason)) for check in part.checks], \
            "without_contract"
    observation = _cells_named(message.get("observation"), record.cells)
    problem = part.found.validate(request, observation)
    if problem is not None:  # fail closed, as for the contract's probes
        ctx.interference.append(f"part {part.id} (evidence): {problem}")
        return [Verdict(check, 0.0, M("checks_interfered", reason=problem)) for check in part.checks], \
            "without_contract"
    verdicts = _judged(part, part.found.judge, request, observation, ctx)
    if not verdicts and not scripts:  # code written to the contract elsewhere: its own messages say more
        return judge_part(part, request, record, ctx), "contract"
    if not verdicts:
        return [Verdict(check, 0.0, M("not_attempted")) for check in part.checks], "not_attempted"
    return verdicts, "without_contract"


# ---- step 5: score ---------------------------------------------------------------------------------

def score_part(part: Part, verdicts: list[Verdict], config: GradingConfig, seconds: float,
               public_only: bool = False, graded_as: str = "contract") -> PartResult:
    points = config.parts[part.id].points
    by_check = {v.check: v for v in verdicts}
    missing = M("self_check_skipped") if public_only else M("not_checked", reason=M("checks_did_not_run"))
    checks = []
    for check in part.checks:  # every configured check appears, even if a judge forgot one
        verdict = by_check.get(check) or Verdict(check, 0.0, missing, hidden=public_only)
        worth = points[check]
        if public_only and (verdict.hidden or verdict.shows == "rubric"):
            # public checks only (a self-check, a student kit): what is not checked here is worth nothing here,
            # so the score reads as a share of the public checks; written answers are a person's to grade
            worth = 0.0
            if verdict.shows == "rubric":
                verdict = Verdict(check, 0.0, M("self_check_written"))
        fraction = min(1.0, max(0.0, float(verdict.fraction)))
        checks.append(CheckResult(check, fraction >= 0.999, round(fraction * worth, 2), worth,
                                  render(verdict.message), verdict.expected, verdict.got, verdict.hidden, verdict.plot,
                                  verdict.message.to_json() if isinstance(verdict.message, Msg) else None,
                                  verdict.shows))
    return PartResult(part.id, part.titles, round(sum(c.score for c in checks), 2),
                      sum(c.max_score for c in checks), part.written or graded_as == "without_contract", checks,
                      round(seconds, 3), graded_as=graded_as)


def failed_result(submission: Submission, config: GradingConfig, options: GradeOptions, stage: str,
                  error: BaseException, content_hash: str = "") -> SubmissionResult:
    """The result of a submission the grader itself failed on: every declared check at zero, with the
    stage and the reason, so the class is still graded and reported (pytest's CallInfo, in spirit)."""
    parts = selected_parts(config, options)
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    detail = f"{type(error).__name__}: {str(error)[:300]}" + (
        f" at {Path(where.filename).name}:{where.lineno}" if where else "")
    message = M("stage_failed", stage=stage, error=detail)
    result = SubmissionResult(student=submission.student, score=0.0,
                              max_score=sum(config.part_points(p.id) for p in parts), status="error",
                              parts=[], device=options.device, grader_version=__version__,
                              submission_hash=content_hash, error=render(message), error_i18n=message.to_json())
    result.parts = [score_part(p, [Verdict(c, 0.0, message) for c in p.checks], config, 0.0) for p in parts]
    return result


def grade_submission(submission: Submission, config: GradingConfig, options: GradeOptions,
                     content_hash: str | None = None,
                     sandboxes: AbstractContextManager[Any] = nullcontext()) -> SubmissionResult:
    """Grade one submission; whatever goes wrong in any step becomes this student's error result.
    `sandboxes` is held while the submission executes: a class run passes a semaphore of its --jobs, so
    one student is read and another judged in this process while the sandboxes run others."""
    if config.is_kit and not options.public_only:  # no reference, no hidden seed: public checks only
        options = replace(options, public_only=True)
    stage = ["read"]
    try:
        return _grade_steps(submission, config, options, content_hash, stage, sandboxes)
    except Exception as error:  # noqa: BLE001 - one submission must never stop the class
        return failed_result(submission, config, options, stage[0], error, content_hash or "")


def _grade_steps(submission: Submission, config: GradingConfig, options: GradeOptions,
                 content_hash: str | None, stage: list[str],
                 sandboxes: AbstractContextManager[Any]) -> SubmissionResult:
    started = time.perf_counter()
    parts = selected_parts(config, options)
    loaded = read_submission(submission, config)
    result = SubmissionResult(student=submission.student, score=0.0,
                              max_score=sum(config.part_points(p.id) for p in parts), status="graded", parts=[],
                              device=options.device, grader_version=__version__,
                              submission_hash=content_hash or submission.content_hash(), answers=loaded.answers)
    result.flags += loaded.notes
    if loaded.problem:
        result.integrity = integrity.merge(static_findings(loaded))
        result.status, result.error = "error", loaded.problem
        result.parts = [score_part(p, [Verdict(c, 0.0, loaded.problem) for c in p.checks], config, 0.0)
                        for p in parts]
        result.elapsed_s = round(time.perf_counter() - started, 3)
        return result
    stage[0] = "plan"
    requests = plan_probes(submission.student, parts, config, options, loaded.evidence_parts)
    stage[0] = "execute"
    record = ExecutionRecord("completed")
    if requests:
        waited = time.perf_counter()
        with sandboxes:
            started += time.perf_counter() - waited  # a student's time is its own, not its wait for a sandbox
            record = execute_submission(loaded, parts, requests, config, options)
    stage[0] = "judge"
    result.cells = record.cells
    result.sandbox = record.sandbox
    result.timings = {name: round(seconds, 3) for name, seconds in record.phases.items()}
    errors = cell_errors(record)
    if record.status != "completed":
        result.flags.append(Flag(record.status))  # "timeout" or "crashed"
    if errors:
        result.flags.append(Flag("cells_failed", {"count": len(errors)}))
    result.flags += [Flag(code) for code in record.limits_reached]
    if any(c.get("dropped_output_bytes") for c in record.cells):
        result.flags.append(Flag("output_truncated"))
    if record.fatal_message and not record.cells:  # nothing of the student's ran: an error, not a grade
        result.status, result.error = "error", render(record.fatal_message)
        result.error_i18n = record.fatal_message.to_json()
    answers = expected_answers(config)
    interference = list(record.interference)  # what the parent refused or found disagreeing
    evidence_cells: list[dict[str, Any]] | None = None
    for part in parts:
        stage[0] = f"look up the expected values of part {part.id} for"
        ctx = JudgeContext(settings=config.parts[part.id].model_dump(), expected=answers(part, requests.get(part.id)), answers=loaded.answers,
                           cell_errors=errors, rubric=config.rubric, answer_sources=loaded.answer_sources)
        stage[0] = f"judge part {part.id} of"
        graded_as = "contract"
        if written_without_contract(part, record):
            if evidence_cells is None:  # once per submission, for the parts that need it
                evidence_cells = cells_with_sources(loaded, record)
            ctx.cells = evidence_cells
            verdicts, graded_as = judge_from_evidence(part, requests[part.id], record, ctx, loaded.scripts)
        else:
            verdicts = judge_part(part, requests.get(part.id), record, ctx)
        interference += ctx.interference
        stage[0] = f"score part {part.id} of"
        seconds = sum(float(record.probes.get(key, {}).get("seconds", 0.0)) for key in (part.id, found_key(part)))
        result.parts.append(score_part(part, verdicts, config, seconds, options.public_only, graded_as))
    without = [p.id for p in result.parts if p.graded_as == "without_contract"]
    if without:
        result.flags.append(Flag("without_contract", {"parts": ", ".join(without)}))
    stage[0] = "summarise"
    result.integrity = integrity.merge(static_findings(loaded), integrity.from_sandbox(record.integrity_events),
                                       integrity.from_grader(interference))
    if result.integrity:
        result.flags.append(Flag("integrity_notes", {"count": len(result.integrity)}))
    result.score = round(sum(p.score for p in result.parts), 2)
    result.max_score = round(sum(p.max_score for p in result.parts), 2)
    result.elapsed_s = round(time.perf_counter() - started, 3)
    return result
