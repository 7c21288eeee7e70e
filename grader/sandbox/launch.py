"""Parent side of the sandbox: run one submission in its own limited process tree and collect observations.

The child gets a private working copy of the submission, a scrubbed environment, resource limits (set by
``grader.sandbox.keeper``), one thread, and a wall-clock budget. It talks back only through a pipe this
process opened; whatever it prints is capped and kept as a log, never parsed for results.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from grader.messages import M, Msg, render
from grader.sandbox import protocol, slots
from grader.sandbox.cgroups import GROUP_PROTECTIONS, SubmissionGroups, kill_user
from grader.sandbox.isolation import PROTECTIONS, sandbox_uid

IMPORT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the `grader` package
MAX_MESSAGE_BYTES = 32 << 20
# A fork bomb in its pids group starves its own kernel until the submission's budget runs out; an honest
# submission never meets pids.max at all. Past this many failed forks the parent ends the submission.
FORK_FAILURES_TO_STOP = 100
LOG_CAP_BYTES = 64 << 10
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")


@dataclass
class ProbeJob:
    part: str
    module: str
    probe: str
    request: dict[str, Any]
    timeout_s: float


@dataclass
class ExecutionLimits:
    submission_timeout_s: float
    cell_timeout_s: float
    kernel_start_timeout_s: float
    memory_mb: int  # 0: no per-process data limit (CUDA maps far more than it uses)
    cpu_s: int
    output_kb: int
    max_processes: int = 256  # tasks (processes and threads) of the whole submission
    group_memory_mb: int = 4096  # all of the submission's processes together (cgroup), CUDA included


@dataclass
class ExecutionRecord:
    """What came back from one submission's process: raw observations, nothing judged yet."""

    status: str  # "completed", "timeout", "crashed"
    cells: list[dict[str, Any]] = field(default_factory=list)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    fatal_message: Msg | None = None  # why the run ended early, if it did (rendered per language by the reports)
    sandbox: dict[str, Any] = field(default_factory=dict)  # {"applied": [...], "missing": [...]} from the keeper
    limits_reached: list[str] = field(default_factory=list)  # flag codes: "memory_limit", "process_limit"
    integrity_events: list[Any] = field(default_factory=list)  # the kernel's watcher notes (untrusted, advisory)
    interference: list[str] = field(default_factory=list)  # lines the parent refused (see protocol.py)
    finished: bool = False  # the worker said "done"
    slot: int = 0  # the pid of the warm slot it was forked from (grader.sandbox.slots); 0: the cold path
    log: str = ""
    elapsed_s: float = 0.0


def isolation_arguments(base: Path | None, hidden: tuple[Path, ...], import_paths: tuple[Path, ...] = ()) -> list[str]:
    """The keeper's isolation flags: the temp folder stays writable, the grader's own code (and the
    assignment's parts package) stays visible."""
    arguments = ["--isolate", "--separate-user", "--keep", str(IMPORT_ROOT), "--keep", sys.prefix,
                 "--keep", sys.base_prefix]
    for path in import_paths:
        arguments += ["--keep", str(path)]
    if base is not None:
        arguments += ["--writable", str(base)]
    for path in hidden:
        arguments += ["--hide", str(Path(path).resolve())]
    return arguments


def probe_isolation() -> dict[str, list[str]]:
    """What isolation this machine allows, found by a keeper that isolates itself and exits."""
    read_fd, write_fd = os.pipe()
    try:
        subprocess.run([sys.executable, "-m", "grader.sandbox.keeper", "--report-fd", str(write_fd),
                        *isolation_arguments(None, ())], pass_fds=(write_fd,), timeout=60, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(IMPORT_ROOT)})
        os.close(write_fd)
        write_fd = -1
        text = os.read(read_fd, 1 << 16).decode()
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    try:
        report = json.loads(text)
    except ValueError:
        report = {"applied": [], "missing": list(PROTECTIONS)}
    groups = SubmissionGroups.create(memory_mb=256, max_tasks=16)
    applied, missing = list(report["applied"]), [m for m in report["missing"] if m != "secrets_hidden"]
    applied += groups.applied
    missing += [name for name in GROUP_PROTECTIONS if name not in groups.applied]
    groups.remove()
    return {"applied": applied, "missing": missing}


# Protections every run has, whatever the machine allows (codes; labels under [protection] in the catalogues).
ALWAYS = ("own_process", "private_copy", "scrubbed_env", "rlimits", "timeouts", "output_caps")


def sandbox_features(results: list[Any]) -> dict[str, list[str]]:
    """What the sandbox enforced in this run (for every submission) and what it did not, as codes."""
    from grader.sandbox.keeper import subreaper_supported

    reports = [r.sandbox for r in results if getattr(r, "sandbox", None)]
    wanted = [*PROTECTIONS, *GROUP_PROTECTIONS]
    applied = [p for p in wanted if reports and all(p in report.get("applied", []) for report in reports)]
    return {"applied": [*ALWAYS, "subreaper" if subreaper_supported() else "process_group", *applied],
            "missing": [p for p in wanted if p not in applied]}


def sandbox_pythonpath(import_paths: tuple[Path, ...] = ()) -> str:
    """The grader first, then the assignment's import paths, then wherever the grader's own dependencies
    were installed."""
    return os.pathsep.join([str(IMPORT_ROOT), *map(str, import_paths), *filter(None, [os.environ.get("PYTHONPATH")])])


def scrubbed_environment(home: Path, runtime_dir: Path, import_paths: tuple[Path, ...] = ()) -> dict[str, str]:
    """Only what Python and torch need: no tokens, no user configuration, one thread."""
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env.update({
        # the sandbox uid has no passwd entry: getpass.getuser() (torch's inductor cache dir) reads these first
        "USER": "student", "LOGNAME": "student",
        "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(runtime_dir), "JUPYTER_DATA_DIR": str(home / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"), "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "mpl"), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": sandbox_pythonpath(import_paths),
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "TORCH_NUM_THREADS": "1", "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "TMPDIR": str(home.parent / "tmp"),
    })
    env.setdefault("PATH", "/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    return env


def _drain(stream: Any, sink: bytearray) -> None:
    """Keep the first LOG_CAP_BYTES of the child's stdout/stderr; read and drop the rest."""
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if len(sink) < LOG_CAP_BYTES:
            sink.extend(chunk[: LOG_CAP_BYTES - len(sink)])


def _copy_submission(root: Path, work: Path) -> None:
    if root.is_dir():
        skipped = shutil.ignore_patterns(".git", "__pycache__")

        def ignore(folder: str, names: list[str]) -> set[str]:  # links are never copied (nor followed)
            return set(skipped(folder, names)) | {n for n in names if os.path.islink(os.path.join(folder, n))}

        shutil.copytree(root, work, symlinks=True, ignore=ignore)
    else:
        work.mkdir()
        shutil.copy2(root, work / root.name)


def execute(*, root: Path, kind: str, notebook: nbformat.NotebookNode | None, modules: list[str],
            probes: list[ProbeJob], limits: ExecutionLimits, seed: int,
            hidden: tuple[Path, ...] = (), isolate: bool = True,
            import_paths: tuple[Path, ...] = (), scripts: bool = False) -> ExecutionRecord:
    """`scripts`: run each module as a script (`__main__`, its own namespace) and a notebook with
    `__name__ == "__main__"`, for code written without the contract (see grader.parts.found)."""
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="rnn-grader-"))
    try:
        return _execute_in(base, root, kind, notebook, modules, probes, limits, seed, started, hidden, isolate,
                           import_paths, scripts)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _execute_in(base: Path, root: Path, kind: str, notebook: nbformat.NotebookNode | None, modules: list[str],
                probes: list[ProbeJob], limits: ExecutionLimits, seed: int, started: float,
                hidden: tuple[Path, ...], isolate: bool, import_paths: tuple[Path, ...] = (),
                scripts: bool = False) -> ExecutionRecord:
    work, channel_dir, home, runtime_dir = base / "work", base / "channel", base / "home", base / "runtime"
    _copy_submission(root, work)
    for folder in (channel_dir, home, runtime_dir, base / "tmp"):
        folder.mkdir(mode=0o700)
    job: dict[str, Any] = {
        "kind": kind, "workdir": str(work), "modules": modules, "seed": seed, "scripts": scripts,
        "import_root": str(IMPORT_ROOT), "channel_dir": str(channel_dir),
        "limits": {"cell_timeout_s": limits.cell_timeout_s, "kernel_start_timeout_s": limits.kernel_start_timeout_s,
                   "output_kb": limits.output_kb},
        "probes": [{"part": p.part, "timeout_s": p.timeout_s,
                    "request": {**p.request, "module": p.module, "probe": p.probe}} for p in probes],
    }
    if notebook is not None:
        job["notebook"] = str(channel_dir / "student.ipynb")
        nbformat.write(notebook, job["notebook"])
    job_path = channel_dir / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")

    groups = SubmissionGroups.create(memory_mb=limits.group_memory_mb, max_tasks=limits.max_processes) \
        if isolate else SubmissionGroups()
    read_fd, write_fd = os.pipe()
    keeper = ["--memory-mb", str(limits.memory_mb), "--cpu-s", str(limits.cpu_s),
              "--max-processes", str(limits.max_processes),
              *[argument for procs in groups.procs_files() for argument in ("--cgroup-procs", procs)],
              *(isolation_arguments(base, hidden, import_paths) if isolate else [])]
    env = scrubbed_environment(home, runtime_dir, import_paths)
    process: subprocess.Popen[bytes] | slots.WarmProcess | None = None
    try:
        if slots.warm_enabled():
            log_read, log_write = os.pipe()
            try:
                process = slots.POOL.start(keeper=keeper, job=str(job_path), cwd=str(work), env=env, channel=write_fd,
                                           log=(log_read, log_write), import_paths=import_paths,
                                           preload=tuple(sorted({p.module for p in probes})))
            finally:
                os.close(log_write)
                if process is None:
                    os.close(log_read)
        if process is None:  # the cold path: a fresh interpreter for the keeper, the worker and the kernel
            process = subprocess.Popen(
                [sys.executable, "-m", "grader.sandbox.keeper", *keeper, "--pass-fd", str(write_fd),
                 "--report-fd", str(write_fd), "--", sys.executable, "-m", "grader.sandbox.worker", str(job_path),
                 str(write_fd)],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=work, env=env, start_new_session=True)
    except BaseException:
        groups.remove()
        raise
    os.close(write_fd)
    log = bytearray()
    drainer = threading.Thread(target=_drain, args=(process.stdout, log), daemon=True)
    drainer.start()
    record = ExecutionRecord(status="completed",
                             slot=process.slot.process.pid if isinstance(process, slots.WarmProcess) else 0)
    deadline = started + limits.submission_timeout_s
    def fork_bomb() -> Msg | None:
        return M("fork_bomb", limit=limits.max_processes) if groups.fork_failures() > FORK_FAILURES_TO_STOP else None

    try:
        finished = _collect(read_fd, deadline, record, fork_bomb, {p.part for p in probes})
        if not finished:
            record.status = "timeout"
            record.fatal_message = M("submission_timeout", seconds=limits.submission_timeout_s)
        elif record.fatal_message and record.status == "completed":
            record.status = "crashed"
    finally:
        os.close(read_fd)
        if groups.groups:  # the group holds the keeper and everything below it, however it hid: all go now
            record.limits_reached = groups.limits_reached()
            groups.kill_all()
        _stop(process)  # without groups: ask the keeper to clean up, then kill its session
        if isolate and "separate_user" in record.sandbox.get("applied", []):
            kill_user(sandbox_uid(process.pid))
        if isolate:
            record.sandbox.setdefault("applied", []).extend(groups.applied)
            record.sandbox.setdefault("missing", []).extend(p for p in GROUP_PROTECTIONS if p not in groups.applied)
        groups.remove()
        drainer.join(timeout=5)
        if isinstance(process, slots.WarmProcess):
            if not drainer.is_alive():
                process.stdout.close()
            process.release()
    record.log = log.decode("utf-8", errors="replace")
    record.elapsed_s = time.perf_counter() - started
    return record


def _collect(read_fd: int, deadline: float, record: ExecutionRecord,
             stop_reason: Callable[[], Msg | None] = lambda: None, expected_parts: set[str] | None = None) -> bool:
    """Read the worker's messages until 'done' (True), end of pipe (True), the deadline (False), or until
    `stop_reason` gives a reason to end the submission now (True, the reason recorded as fatal).

    Every line is validated (``protocol.parse_line``); the first refused one ends the run: the student's
    process wrote something the worker never sends, and nothing after it is believed."""
    buffer = b""
    seen_parts: set[str] = set()
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        reason = stop_reason()
        if reason is not None:
            record.fatal_message, record.status = reason, "crashed"
            return True
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            if record.fatal_message is None and not record.finished:
                record.fatal_message = M("process_ended")
                record.status = "crashed"
            return True
        buffer += chunk
        if len(buffer) > MAX_MESSAGE_BYTES:
            _refuse(record, M("channel_refused", reason=f"a message over {MAX_MESSAGE_BYTES >> 20} MB"))
            return True
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                message = protocol.parse_line(line, expected_parts if expected_parts is not None else set(),
                                              seen_parts)
            except protocol.Refused as refused:
                _refuse(record, M("channel_refused", reason=str(refused)))
                return True
            if _handle(message, record):
                return True


def _refuse(record: ExecutionRecord, reason: Msg) -> None:
    record.fatal_message, record.status = reason, "crashed"
    record.interference.append(render(reason))


def _handle(message: Any, record: ExecutionRecord) -> bool:
    if isinstance(message, protocol.PhaseMessage):
        record.phases[message.name] = message.seconds
    elif isinstance(message, protocol.CellMessage):
        if len(record.cells) < 100_000:
            record.cells.append(message.cell.model_dump())
    elif isinstance(message, protocol.CellsMessage):
        record.cells = [cell.model_dump() for cell in message.cells]
        record.phases["student_code"] = message.seconds
    elif isinstance(message, protocol.ProbeMessage):
        record.probes[message.part] = message.model_dump()
        record.phases[f"part {message.part}"] = message.seconds
    elif isinstance(message, protocol.FatalMessage):
        record.fatal_message = protocol.fatal_message(message)
    elif isinstance(message, protocol.SandboxMessage):
        record.sandbox = {"applied": list(message.applied), "missing": list(message.missing)}
    elif isinstance(message, protocol.IntegrityMessage):
        record.integrity_events = list(message.events[:200])
    elif isinstance(message, protocol.DoneMessage):
        record.finished = True
        return True
    return False


def _stop(process: subprocess.Popen[bytes] | slots.WarmProcess) -> None:
    """Ask the keeper to kill its tree; if it does not go, kill its whole session."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
