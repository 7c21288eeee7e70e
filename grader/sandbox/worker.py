"""The student-side process: run a submission in a fresh kernel, then the grader's probes.

Started by ``grader.sandbox.launch`` inside the sandbox as ``python -m grader.sandbox.worker JOB FD``.
It reports to the parent as JSON lines on file descriptor FD, a pipe the parent opened for it; student
code runs in the kernel (a child of this process), whose printed output only reaches nbclient's cell
outputs. Nothing here decides a score.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
KEPT_OUTPUT_CHARS = 4000  # per cell, for the report; the full cap only bounds memory
MAX_RESULT_BYTES = 24 << 20  # one part's observation; the largest honest one (part 3's weights) is < 2 MB


TIMEOUT_ENAME = "RnnGraderCellTimeout"


class CappedClient(NotebookClient):
    """nbclient with a per-cell output budget: a 1 GB print costs the student, not our memory."""

    output_budget = 256 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output_bytes: dict[int, int] = {}
        self.dropped_bytes: dict[int, int] = {}
        self.timed_out = False  # reset before each cell
        # nbclient's public timeout path: the kernel is interrupted and the cell's reply is this error, which
        # the executed-cell hook recognises (the kernel's own reply would read KeyboardInterrupt)
        self.error_on_timeout = {"ename": TIMEOUT_ENAME, "evalue": "the cell ran past its time limit",
                                 "traceback": []}
        self.on_cell_executed = self._note_timeout

    def _note_timeout(self, cell: Any, cell_index: int, execute_reply: Any) -> None:
        content = (execute_reply or {}).get("content") or {}
        self.timed_out = content.get("ename") == TIMEOUT_ENAME

    def run_cell(self, cell: Any, index: int, timeout_s: float, store_history: bool = True) -> None:
        self.timeout, self.timed_out = timeout_s, False
        self.execute_cell(cell, index, store_history=store_history)

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self.output_bytes.get(cell_index, 0)
        if used + size > self.output_budget:
            room = self.output_budget - used
            content = msg.get("content") or {}
            if msg.get("msg_type") == "stream" and room > 1024 and isinstance(content.get("text"), str):
                # keep the beginning of a long print: the report shows what the student printed first
                kept = content["text"][:room - 512]
                self.dropped_bytes[cell_index] = self.dropped_bytes.get(cell_index, 0) + size - len(kept)
                self.output_bytes[cell_index] = self.output_budget
                return super().output(outs, {**msg, "content": {**content, "text": kept}}, display_id, cell_index)
            self.dropped_bytes[cell_index] = self.dropped_bytes.get(cell_index, 0) + size
            return None
        self.output_bytes[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)


def _text_of_outputs(outputs: list[Any]) -> str:
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            parts.append(str(output.get("data", {}).get("text/plain", "")) + "\n")
    return ANSI.sub("", "".join(parts))


def _cell_record(cell: Any, index: int, seconds: float, dropped: int, timed_out: bool,
                 timeout_s: float) -> dict[str, Any]:
    record: dict[str, Any] = {"index": index, "status": "ok", "seconds": round(seconds, 3),
                              "source": "".join(cell.source)[:2000], "dropped_output_bytes": dropped}
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            record["status"] = "error"
            record["ename"] = str(output.get("ename", ""))[:200]
            record["evalue"] = ANSI.sub("", str(output.get("evalue", "")))[:1000]
            record["traceback"] = [ANSI.sub("", line)[:2000] for line in output.get("traceback", [])[-8:]]
    if timed_out:  # say so rather than the KeyboardInterrupt the interrupt produced
        record.update(status="timeout", ename="CellTimeout", evalue=f"timed out after {timeout_s:g} s")
    record["output"] = _text_of_outputs(cell.get("outputs", []))[:KEPT_OUTPUT_CHARS]
    if isinstance(cell.get("execution_count"), int):  # In[N]: how tracebacks name this cell
        record["execution_count"] = cell["execution_count"]
    module = (cell.get("metadata") or {}).get("rnn_grader_module")
    if module:
        record["module"] = str(module)[:200]
    return record


def _student_notebook(job: dict[str, Any]) -> nbformat.NotebookNode:
    """The cells to run: the student's notebook, or one import cell per module."""
    if job["kind"] == "notebook":
        return nbformat.read(job["notebook"], as_version=4)
    notebook = nbformat.v4.new_notebook()
    if job.get("scripts"):  # written without the contract: each file runs as a script does, on its own
        for module in job["modules"]:
            cell = nbformat.v4.new_code_cell(_script_cell(module, str(Path(job["workdir"]) / f"{module}.py")))
            cell.metadata["rnn_grader_module"] = f"{module}.py"
            notebook.cells.append(cell)
        return notebook
    for module in job["modules"]:
        # Import, not run: a module's `if __name__ == "__main__":` block (its own demo) stays out.
        cell = nbformat.v4.new_code_cell(
            f"import importlib as _importlib\n"
            f"globals().update({{k: v for k, v in vars(_importlib.import_module({module!r})).items()"
            f" if not k.startswith('__')}})")
        cell.metadata["rnn_grader_module"] = f"{module}.py"  # the report shows the file, not this import
        notebook.cells.append(cell)
    return notebook


def _script_cell(module: str, path: str) -> str:
    """Run `module.py` as `python module.py` would (`__name__ == "__main__"`, top-level code and all) in a
    namespace of its own, kept for the evidence probes under grader.parts.found.SCRIPTS_KEY; its names are
    then also copied into the kernel's namespace, as an imported module's are. Compiled under its full path
    in the private folder: the integrity watcher knows the student's frames by it."""
    from grader.parts.found import SCRIPTS_KEY

    return (f"_rnn_grader_scope = {{'__name__': '__main__', '__file__': {path!r}, "
            f"'__builtins__': __builtins__}}\n"
            f"globals().setdefault({SCRIPTS_KEY!r}, {{}})[{module + '.py'!r}] = _rnn_grader_scope\n"
            f"try:\n"
            f"    with open({path!r}, encoding='utf-8', errors='replace') as _rnn_grader_file:\n"
            f"        exec(compile(_rnn_grader_file.read(), {path!r}, 'exec'), _rnn_grader_scope)\n"
            f"finally:\n"
            f"    globals().update({{k: v for k, v in _rnn_grader_scope.items() if not k.startswith('__')}})\n"
            f"    del _rnn_grader_scope")


def run(job: dict[str, Any], send: Callable[[dict[str, Any]], None], finish: Callable[[], None],
        client_class: type = CappedClient) -> None:
    """`client_class`: nbclient with a fresh kernel (cold path) or `grader.sandbox.shell.ShellClient`, an
    IPython shell forked from a warm slot; both take the same calls."""
    notebook = _student_notebook(job)
    student_cells = list(notebook.cells)
    if not notebook.cells:  # nbclient writes the grader's own cells at index -1: an empty notebook has none
        notebook.cells.append(nbformat.v4.new_markdown_cell(""))
    limits = job["limits"]
    client = client_class(
        notebook, timeout=limits["cell_timeout_s"], startup_timeout=limits["kernel_start_timeout_s"],
        allow_errors=True, interrupt_on_timeout=True, kernel_name="python3",
        resources={"metadata": {"path": job["workdir"]}})
    client.output_budget = int(limits["output_kb"]) * 1024
    started = time.perf_counter()
    with client.setup_kernel():
        send({"type": "phase", "name": "kernel_start", "seconds": time.perf_counter() - started})
        output_limit = 16 * int(limits["output_kb"]) * 1024  # kernel side; the worker keeps output_kb
        probes = [[p["request"]["module"], p["request"]["probe"]] for p in job["probes"]]
        setup = nbformat.v4.new_code_cell(
            f"import sys as _s; _s.path.insert(0, {job['import_root']!r})\n"
            f"from grader.sandbox import runtime as _r; _r.prepare({int(job['seed'])}, {output_limit}, "
            f"{job.get('events_path')!r}, {str(Path(job['channel_dir']).parent)!r}, {_mentions_torch(job, notebook)}, "
            f"{probes!r}, {job['entry_name']!r}, {job['kind'] == 'notebook' and not job.get('scripts')}); del _s, _r")
        setup_started = time.perf_counter()
        # not in the kernel's history (`In`, `_ih`): the student's code never sees the entry point's name
        client.execute_cell(setup, -1, store_history=False)
        send({"type": "phase", "name": "grader_setup", "seconds": time.perf_counter() - setup_started})
        if _errors_of(setup):
            send({"type": "fatal", "reason": "setup_failed", "detail": _errors_of(setup)})
            return
        code_started = time.perf_counter()
        records = []
        for index, cell in enumerate(student_cells):
            if cell.cell_type != "code":
                continue
            cell_started = time.perf_counter()
            try:
                client.run_cell(cell, index, limits["cell_timeout_s"])
            except Exception as error:  # noqa: BLE001 - a dead kernel, or replies nbclient cannot read
                # DeadKernelError: memory limit or a crash. Anything else: the kernel's replies became
                # unreadable, typically because the cell replaced something the kernel's messaging uses.
                reason = "kernel_died" if isinstance(error, DeadKernelError) else "channel_broken"
                records.append({"index": index, "status": "dead", "seconds": round(time.perf_counter() - cell_started, 3),
                                "source": "".join(cell.source)[:2000], "ename": type(error).__name__,
                                "evalue": ("the kernel died while running this cell" if reason == "kernel_died" else
                                           "the kernel's replies could not be read after this cell"),
                                "output": "", "traceback": [], "dropped_output_bytes": client.dropped_bytes.get(index, 0)})
                send({"type": "cells", "cells": records, "seconds": time.perf_counter() - code_started})
                send({"type": "fatal", "reason": reason, "cell": index + 1, "detail": f"{type(error).__name__}: {error}"})
                return
            records.append(_cell_record(cell, index, time.perf_counter() - cell_started,
                                        client.dropped_bytes.get(index, 0), client.timed_out,
                                        limits["cell_timeout_s"]))
            # sent as each cell ends: if the submission's budget runs out later, what ran is still reported
            send({"type": "cell", "cell": records[-1]})
        send({"type": "cells", "cells": records, "seconds": time.perf_counter() - code_started})
        for probe in job["probes"]:
            send(_run_probe(client, probe, Path(job["channel_dir"]), job["entry_name"]))
        # before the kernel's orderly shutdown (a second or more): at "done" the parent ends every process of
        # the submission anyway, so waiting for it would only delay the next student
        finish()


def _mentions_torch(job: dict[str, Any], notebook: nbformat.NotebookNode) -> bool:
    """Whether the student's code names torch at all (then the kernel imports and seeds it up front)."""
    texts = ["".join(cell.source) for cell in notebook.cells if cell.cell_type == "code"]
    for module in job["modules"]:
        try:
            texts.append((Path(job["workdir"]) / f"{module}.py").read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return True
    return any("torch" in text for text in texts)


def _errors_of(cell: Any) -> str:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return "; ".join(f"{e.get('ename')}: {ANSI.sub('', str(e.get('evalue')))[:300]}" for e in errors)


def _run_probe(client: CappedClient, probe: dict[str, Any], channel_dir: Path, entry_name: str) -> dict[str, Any]:
    part = probe["part"]
    request_path = channel_dir / f"request-{part}.json"
    # The result name is random: student code ran before it existed and cannot pre-write it.
    result_path = channel_dir / f"result-{part}-{os.urandom(8).hex()}.json"
    request_path.write_text(json.dumps(probe["request"]), encoding="utf-8")
    cell = nbformat.v4.new_code_cell(f"%%{entry_name}\n" + json.dumps([part, str(request_path), str(result_path)]))
    started = time.perf_counter()
    try:
        client.run_cell(cell, -1, probe["timeout_s"], store_history=False)
    except DeadKernelError:
        return {"type": "probe", "part": part, "ok": False, "seconds": time.perf_counter() - started,
                "reason": "dead", "error": "the kernel died during this part's checks (memory limit or a crash)"}
    seconds = time.perf_counter() - started
    if result_path.exists():
        return {**_probe_result(result_path), "type": "probe", "part": part, "seconds": seconds}
    if client.timed_out:
        return {"type": "probe", "part": part, "ok": False, "seconds": seconds, "reason": "timeout",
                "timeout_s": probe["timeout_s"], "error": f"timed out after {probe['timeout_s']:g} s"}
    error = _errors_of(cell) or "the checks produced no result"
    return {"type": "probe", "part": part, "ok": False, "seconds": seconds, "error": error}


def _probe_result(path: Path) -> dict[str, Any]:
    """The kernel's result file, as the few fields a probe message carries (the kernel is untrusted: the
    file may be huge, not JSON, or carry fields of its own; the worker's fields are added after these)."""
    try:
        size = path.stat().st_size
        if size > MAX_RESULT_BYTES:
            return {"ok": False, "reason": "too_large", "error": f"the checks' result was {size >> 20} MB"}
        result = json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
    except (OSError, ValueError):
        return {"ok": False, "reason": "unreadable", "error": "the checks' result could not be read"}
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return {"ok": False, "reason": "unreadable", "error": "the checks' result could not be read"}
    kept: dict[str, Any] = {"ok": result["ok"], "observation": result.get("observation")}
    if result.get("reason") == "too_large" and not result["ok"]:  # the kernel could not write it all
        kept["reason"] = "too_large"
    if isinstance(result.get("error"), str):
        kept["error"] = result["error"][:4000]
    if isinstance(result.get("traceback"), list):
        kept["traceback"] = [str(line)[:4000] for line in result["traceback"][:8]]
    return kept


def _integrity_events(descriptor: int) -> list[Any]:
    """The watcher's notes (written by the untrusted kernel: parsed defensively, capped)."""
    try:
        text = os.pread(descriptor, 256 * 1024, 0).decode("utf-8", errors="replace")
    except OSError:
        return []
    finally:
        os.close(descriptor)
    events = []
    for line in text.splitlines()[:200]:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def set_dumpable(dumpable: bool) -> None:
    """The worker is made non-dumpable: the kernel runs as its user and could otherwise open our pipe through
    /proc/<pid>/fd and write lines of its own, or read our memory. Non-dumpable, /proc/<pid> is root's (execve
    gives the kernel its own, dumpable, state; the warm path's forked executor asks for it back). The parent
    validates every line anyway (protocol.py)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, int(dumpable), 0, 0, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError):
        pass


def main() -> None:
    serve(sys.argv[1], int(sys.argv[2]))


def serve(job_path: str, descriptor: int, client_class: type = CappedClient) -> None:
    """Run the job at `job_path`, reporting on `descriptor` (cold: this process's own; warm: a fork's)."""
    set_dumpable(False)
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    channel = os.fdopen(descriptor, "w", buffering=1, encoding="utf-8")

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    job["entry_name"] = "rnn_grader_" + os.urandom(8).hex()  # the probes' cell magic (runtime.bind_probes)
    # where the kernel's integrity watcher writes; random, like the probe results
    job["events_path"] = str(Path(job["channel_dir"]) / f"events-{os.urandom(8).hex()}.jsonl")
    # opened here, read through this descriptor: the notes survive a student who deletes the file
    events = os.open(job["events_path"], os.O_RDWR | os.O_CREAT, 0o600)
    finished: list[bool] = []

    def finish() -> None:  # once: the watcher's notes (written unbuffered, so complete now), then "done"
        if not finished:
            finished.append(True)
            send({"type": "integrity", "events": _integrity_events(events)})
            send({"type": "done"})

    try:
        run(job, send, finish, client_class)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which records it for this student
        if not finished:
            send({"type": "fatal", "reason": "worker_error", "detail": f"{type(error).__name__}: {error}"[:2000]})
    finish()
    channel.close()


if __name__ == "__main__":
    main()
