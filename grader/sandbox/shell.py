"""Cells run in a forked IPython shell: the warm path's stand-in for a Jupyter kernel.

A warm slot (``grader.sandbox.slots``) has imported torch, numpy, IPython and the grader once; for each
submission it forks, and the worker (``grader.sandbox.worker``, unchanged) drives a `ShellClient` instead of
nbclient. The client forks once more: the *executor*, where student code runs, in an `InteractiveShell`
(magics, `!` commands, tracebacks, `In[N]` numbering and the `pre/post_run_cell` events as in a kernel). The
worker sends it one cell at a time over a pipe and reads one reply per cell:

* per-cell timeout: SIGINT first (KeyboardInterrupt, the run goes on, as nbclient interrupts a kernel), then,
  if the cell does not stop, SIGKILL: the executor is dead and the worker reports it like a dead kernel;
* output: stdout/stderr of the cell, capped at the worker's budget (the rest only counted), and the text of
  displayed values; what C code or a subprocess writes to the process's own descriptors goes to the log;
* the executor dying (memory limit, `os._exit`, a crash) ends the pipe: the worker's DeadKernelError.

Untrusted side: the executor runs student code, which can write any reply it likes about its own cells;
the parent validates every line and decides nothing from cell text (``grader.sandbox.protocol``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

from nbclient.exceptions import DeadKernelError

INTERRUPT_GRACE_S = 10.0  # after SIGINT, how long a cell may take to stop before the executor is killed
MAX_REPLY_BYTES = 8 << 20  # one cell's reply; the output in it is capped far below this


class CellOutput:
    """sys.stdout and sys.stderr during one cell: keeps `budget` characters, counts the rest."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, budget: int) -> None:
        self.budget, self.kept, self.dropped = budget, [], 0
        self.used = 0

    def write(self, text: Any) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.budget - self.used
        if room > 0:
            self.kept.append(text[:room])
            self.used += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.kept)


def _make_shell() -> Any:
    """An InteractiveShell that reports tracebacks and displayed values as data, not prompts."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type
    from traitlets.config import Config

    class QuietHook(DisplayHook):
        def write_output_prompt(self) -> None:  # a kernel sends the value alone, without "Out[3]: "
            pass

        def write_format_data(self, format_dict: Any, md_dict: Any = None) -> None:
            if "text/plain" in format_dict:
                sys.stdout.write(format_dict["text/plain"] + "\n")

    class GraderShell(InteractiveShell):
        displayhook_class = Type(QuietHook)
        last_error: dict[str, Any] | None = None

        def _showtraceback(self, etype: Any, evalue: Any, stb: list[str]) -> None:
            # ipykernel sends the same three fields as an error output; the worker reads them from there
            self.last_error = {"ename": getattr(etype, "__name__", str(etype)), "evalue": str(evalue),
                               "traceback": [str(line) for line in stb]}

    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # no history database, and no thread saving one
    config.InteractiveShell.colors = "nocolor"
    shell = GraderShell.instance(config=config)
    shell.system = shell.system_piped  # `!cmd` output is the cell's output, as in a kernel
    return shell


def keep_only(descriptors: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        descriptor = int(name)
        if descriptor > 2 and descriptor not in descriptors:
            try:
                os.close(descriptor)
            except OSError:
                pass


def become_executor(requests: int, replies: int, workdir: str) -> None:
    """The forked child's set-up, then its loop; never returns (the caller `os._exit`s)."""
    from grader.sandbox.worker import set_dumpable

    # stdin (/dev/null), the environment and tempfile's folder are the submission's already: the keeper
    # (grader.sandbox.slots._keeper) set them before forking the worker, and this process is the worker's fork
    keep_only({requests, replies})  # the worker's pipe to the parent is not the student's to write
    set_dumpable(True)  # the kernel was a process of its own (dumpable); the worker above stays non-dumpable
    os.chdir(workdir)
    if "" not in sys.path:
        sys.path.insert(0, "")  # the submission's own modules import, as from a kernel started there
    sys.argv = [""]  # not the slot's command line: a notebook's `argparse.parse_args()` sees no arguments
    serve(_make_shell(), requests, replies)


def serve(shell: Any, requests: int, replies: int) -> None:
    """Run each requested cell and reply; ends when the worker closes the requests pipe."""
    # bound now: student code may replace json, os or sys attributes, and this loop must keep working
    loads, dumps, read, write, stdout_of = json.loads, json.dumps, os.read, os.write, sys
    running = [False]

    def interrupt(signum: int, frame: Any) -> None:
        if running[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = read(requests, 1 << 20)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        request = loads(line)
        output = CellOutput(int(request["budget"]))
        saved = stdout_of.stdout, stdout_of.stderr
        shell.last_error, count = None, None
        try:
            stdout_of.stdout = stdout_of.stderr = output
            running[0] = True
            result = shell.run_cell(request["code"], store_history=bool(request["store_history"]))
            count = result.execution_count
        except KeyboardInterrupt:  # arrived between the student's statements and IPython's own handler
            shell.last_error = {"ename": "KeyboardInterrupt", "evalue": "", "traceback": []}
        finally:
            running[0] = False
            stdout_of.stdout, stdout_of.stderr = saved
        reply = dumps({"output": output.text(), "dropped": output.dropped, "error": shell.last_error,
                       "execution_count": count}, default=str).encode() + b"\n"
        while reply:
            reply = reply[write(replies, reply):]


class ShellClient:
    """What `grader.sandbox.worker.run` uses of nbclient's NotebookClient, over a forked executor."""

    output_budget = 256 * 1024

    def __init__(self, notebook: Any, *, timeout: float, resources: dict[str, Any], **_: Any) -> None:
        self.timeout = timeout
        self.workdir = resources["metadata"]["path"]
        self.dropped_bytes: dict[int, int] = {}
        self.timed_out = False
        self.pid = 0
        self._requests = self._replies = -1
        self._buffer = b""

    @contextmanager
    def setup_kernel(self) -> Iterator[None]:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the executor
            code = 1
            try:
                os.close(request_write)
                os.close(reply_read)
                become_executor(request_read, reply_write, self.workdir)
                code = 0
            finally:
                os._exit(code)
        os.close(request_read)
        os.close(reply_write)
        self.pid, self._requests, self._replies = pid, request_write, reply_read
        try:
            yield
        finally:
            for descriptor in (self._requests, self._replies):
                os.close(descriptor)
            self._kill()

    def _kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def execute_cell(self, cell: Any, index: int, store_history: bool = True) -> None:
        self.run_cell(cell, index, self.timeout, store_history)

    def run_cell(self, cell: Any, index: int, timeout_s: float, store_history: bool = True) -> None:
        self.timed_out = False
        request = json.dumps({"code": "".join(cell.source), "store_history": store_history,
                              "budget": self.output_budget}).encode() + b"\n"
        try:
            while request:
                request = request[os.write(self._requests, request):]
        except BrokenPipeError:
            raise DeadKernelError("the executor is gone") from None
        reply = self._reply(timeout_s)
        if reply is None:
            self.timed_out = True
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            reply = self._reply(INTERRUPT_GRACE_S)
            if reply is None:
                self._kill()
                raise DeadKernelError("the cell did not stop when interrupted; its process was ended")
        outputs: list[dict[str, Any]] = []
        text = reply.get("output")
        if isinstance(text, str) and text:
            outputs.append({"output_type": "stream", "name": "stdout", "text": text})
        error = reply.get("error")
        if isinstance(error, dict):
            traceback = error.get("traceback")
            outputs.append({"output_type": "error", "ename": str(error.get("ename", "")),
                            "evalue": str(error.get("evalue", "")),
                            "traceback": [str(t) for t in traceback] if isinstance(traceback, list) else []})
        cell["outputs"] = outputs
        count = reply.get("execution_count")
        if store_history and isinstance(count, int) and not isinstance(count, bool):
            cell["execution_count"] = count
        dropped = reply.get("dropped")
        if isinstance(dropped, int) and dropped > 0:
            self.dropped_bytes[index] = self.dropped_bytes.get(index, 0) + dropped

    def _reply(self, timeout_s: float) -> dict[str, Any] | None:
        """The executor's next reply; None when none came in time; DeadKernelError when it is gone."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._replies], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                self._kill()
                raise DeadKernelError("the kernel died")
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_BYTES:
                self._kill()
                raise RuntimeError("the executor's reply was too large")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            raise RuntimeError("the executor's reply could not be read") from None
        if not isinstance(reply, dict):
            raise RuntimeError("the executor's reply could not be read")
        return reply
