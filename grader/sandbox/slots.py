"""Warm slots: start Python, import torch, numpy, IPython and the grader once per run, not per submission.

A slot is a long-lived process, started by the grader with the scrubbed environment, that imports everything
a submission's processes need and then waits. For each submission the parent hands it the job (the keeper's
arguments, the worker's job file, the environment), a job socket and two pipe ends (the channel and the log)
over a socketpair; the slot forks. The child is the submission's keeper (``grader.sandbox.keeper``: control groups,
namespaces, limits, subreaper, its own uid), which forks the worker, which forks the executor that runs the
cells (``grader.sandbox.shell``). The slot itself never runs student code: every submission starts from the
same untouched, imported state, and nothing a student changes (module state, environment, files, seeds)
outlives its fork. The slot never touches CUDA: a CUDA context does not survive fork, so a submission on
a GPU makes its own.

A slot serves every job thread at once: each request brings its own job socket, on which the slot answers
the keeper's pid and then how it ended; as many keepers run side by side as the grader has jobs, so a run
imports torch once whatever its number of jobs (and the forks share the slot's memory until they write it).

Parent side: `POOL.start(...)` returns a process-like `WarmProcess` (or None: use the cold path). There is
one slot per kind (interpreter, imports, import paths), replaced if it dies, ended with the grader.
`POOL.prestart(...)` starts it without waiting for its imports; `start` waits for it.
Server side: ``python -m grader.sandbox.slots FD MODULE...``.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SLOT_START_TIMEOUT_S = 180.0  # importing torch on a loaded machine; past this the cold path is used
# what every submission's processes import anyway; the probes' modules are added per assignment.
# torch._dynamo: torch imports it on the first optimizer a process makes (1.1-1.5 s, ~800 modules, sympy
# among them), so without it every submission paid that inside part 2.1's first training.
# IPython.core.magics ... sqlite3: what making the executor's shell imports on the way (~10 ms a submission);
# stack_data and the pygments formatter: what the first traceback a cell raises imports (~30 ms).
PRELOAD = ("numpy", "torch", "torch.optim", "torch._dynamo", "IPython.core.interactiveshell",
           "IPython.core.displayhook", "IPython.core.magics", "IPython.core.completer", "IPython.core.oinspect",
           "IPython.core.application", "sqlite3", "stack_data", "pygments.formatters.terminal256",
           "pygments.styles", "traitlets.config", "nbformat", "nbclient",
           "grader.sandbox.runtime", "grader.sandbox.worker", "grader.sandbox.shell", "grader.sandbox.keeper",
           "grader.sandbox.isolation", "grader.sandbox.cgroups")


def warm_enabled() -> bool:
    """Warm slots need fork and descriptor passing (Linux); RNN_GRADER_WARM=0 chooses the cold path."""
    return (os.environ.get("RNN_GRADER_WARM", "1") != "0" and sys.platform.startswith("linux")
            and hasattr(socket, "send_fds"))


# ---- the slot process ------------------------------------------------------------------------------

def _preload(modules: list[str]) -> None:
    for name in [*PRELOAD, *modules]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the submission imports it again and its failure is reported there
            pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    _warm_notebook_reader()


def _warm_notebook_reader() -> None:
    """nbformat builds its JSON-schema validator on the first read in a process (~50-70 ms): built here once,
    every forked worker finds it made. Only the library's own cache is touched, from a notebook of our own."""
    try:
        import nbformat

        for minor in (4, 5):  # what Jupyter and VS Code write today
            notebook = nbformat.v4.new_notebook()
            notebook.nbformat_minor = minor
            nbformat.reads(nbformat.writes(notebook), as_version=4)
    except Exception:  # noqa: BLE001 - a cold validator costs a submission time, not its result
        pass


def serve(control: socket.socket) -> None:
    """Fork a keeper per request, as many at once as the grader asks; stop when the grader goes.

    Each request brings its own job socket (and the channel and log pipe ends): the keeper's pid goes back
    on it, then how the keeper ended. The grader closing a job socket before that ends the keeper's session:
    a submission the grader let go of does not run on."""
    running: dict[int, _Running] = {}
    try:
        while True:
            watched: list[Any] = [control]
            for entry in running.values():
                watched += [h for h in (entry.job, entry.handle) if h is not None]
            # without pidfds (Linux < 5.3) a keeper's end is polled
            polled = any(entry.handle is None for entry in running.values())
            ready, _, _ = select.select(watched, [], [], 0.05 if polled else None)
            for pid, entry in list(running.items()):
                if _ended(pid, entry, let_go=entry.job in ready):
                    del running[pid]
            if control in ready:
                try:
                    message, descriptors, _, _ = socket.recv_fds(control, 1 << 20, 4)
                except OSError:
                    return
                if not message:
                    return
                started = _start(message, descriptors, control)
                if started is not None:
                    running[started[0]] = started[1]
    finally:
        for pid, entry in running.items():  # the grader is gone: so are its submissions, and this slot
            _kill_session(pid)
            entry.close()
        for pid in running:  # reaped if gone already; else init will (one may be frozen in its group)
            os.waitpid(pid, os.WNOHANG)


def _start(message: bytes, descriptors: list[int], control: socket.socket) -> tuple[int, "_Running"] | None:
    """Fork the keeper a request asks for. A request that cannot be served (not one this module sends, or a
    fork the system refuses) is answered with the reason: the submissions already running go on."""
    job = socket.socket(fileno=descriptors[0]) if descriptors else None
    try:
        if job is None or len(descriptors) != 3:
            raise ValueError(f"a request with {len(descriptors)} descriptors")
        pid = _fork_keeper(json.loads(message), descriptors[1:], control)
    except Exception as error:  # noqa: BLE001 - one request's failure; the slot serves on
        for descriptor in descriptors[1:]:
            try:
                os.close(descriptor)
            except OSError:
                pass
        if job is not None:
            try:
                job.send(json.dumps({"error": f"{type(error).__name__}: {error}"[:500]}).encode())
            except OSError:
                pass
            job.close()
        return None
    try:
        job.send(json.dumps({"pid": pid}).encode())
    except OSError:
        pass  # the grader let go already: the next turn of the loop ends the keeper
    try:
        handle: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    return pid, _Running(job, handle)


class _Running:
    """A keeper forked by this slot: the grader's job socket for it (None once the grader let go) and its pidfd."""

    def __init__(self, job: socket.socket, handle: int | None) -> None:
        self.job: socket.socket | None = job
        self.handle = handle

    def close(self) -> None:
        if self.job is not None:
            self.job.close()
        if self.handle is not None:
            os.close(self.handle)


def _ended(pid: int, entry: _Running, let_go: bool) -> bool:
    """Report a keeper that ended (True: done with it); kill the session of one the grader let go of, which
    is reaped when it has gone (never waited for here: a keeper frozen in its group must not stop the slot)."""
    ended, status = os.waitpid(pid, os.WNOHANG)
    if ended:
        if entry.job is not None:
            try:
                entry.job.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
            except OSError:
                pass
        entry.close()
        return True
    if let_go and entry.job is not None:
        try:
            message = entry.job.recv(1 << 16)
        except OSError:
            message = b""
        if not message:  # end of file (anything else is nothing the grader sends: ignored)
            _kill_session(pid)
            entry.job.close()
            entry.job = None
    return False


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _fork_keeper(job: dict[str, Any], descriptors: list[int], control: socket.socket) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()  # descriptors are closed by the caller if this raises
    if pid == 0:
        code = 1
        try:
            code = _keeper(job, descriptors, control)
        finally:
            os._exit(code & 0xFF)
    for descriptor in descriptors:
        os.close(descriptor)
    return pid


def _keeper(job: dict[str, Any], descriptors: list[int], control: socket.socket) -> int:
    """In the fork: become what `python -m grader.sandbox.keeper ... -- python -m grader.sandbox.worker` was."""
    from grader.sandbox import keeper, worker
    from grader.sandbox.shell import ShellClient, keep_only

    channel, log = descriptors
    control.close()
    os.setsid()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    keep_only({channel})  # other submissions' job sockets and pidfds among them
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    tempfile.tempdir = None
    arguments = [*job["keeper"], "--pass-fd", str(channel), "--report-fd", str(channel)]
    return keeper.main(arguments, run_child=lambda: worker.serve(job["job"], channel, ShellClient))


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    start = os.getcwd()
    sys.path[:] = [entry for entry in sys.path if entry not in ("", start)]  # `-m` put the slot's folder first
    _preload(sys.argv[2:])
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():  # a forked child could not use CUDA: go cold
        control.send(json.dumps({"ready": False, "reason": "CUDA was initialised while importing"}).encode())
        return
    control.send(json.dumps({"ready": True}).encode())
    serve(control)


# ---- the grader's side -----------------------------------------------------------------------------

class SlotUnavailable(Exception):
    pass


class Slot:
    def __init__(self, key: tuple[Any, ...], preload: tuple[str, ...], import_paths: tuple[Path, ...],
                 wait: bool = True) -> None:
        """Starts the slot process; with `wait`, returns once it has imported everything (else `wait_ready`)."""
        from grader.sandbox.launch import scrubbed_environment

        self.key = key
        self.ready = False
        self.failure: str | None = None
        self._lock = threading.Lock()  # job threads share a slot: one waits for its start, one sends at a time
        self.folder = Path(tempfile.mkdtemp(prefix="rnn-grader-slot-"))
        for name in ("home", "runtime", "tmp"):
            (self.folder / name).mkdir()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control = ours
        self.errors = self.folder / "errors.log"
        try:
            with open(self.errors, "wb") as errors:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "grader.sandbox.slots", str(theirs.fileno()), *preload],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                    cwd=self.folder, start_new_session=True,
                    env={**scrubbed_environment(self.folder / "home", self.folder / "runtime", import_paths),
                         # should anything ask torch.cuda.is_available() here, NVML answers: the CUDA driver
                         # initialised in the slot would make CUDA unusable in every fork
                         "PYTORCH_NVML_BASED_CUDA_CHECK": "1"})
        finally:
            theirs.close()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        with self._lock:
            if self.ready:
                return
            if self.failure is None:  # another job thread may have waited for it already, in vain
                ready = receive(self.control, SLOT_START_TIMEOUT_S)
                if ready and ready.get("ready"):
                    self.ready = True
                    return
                detail = str((ready or {}).get("reason") or "") or \
                    (self.errors.read_text(encoding="utf-8", errors="replace")[-2000:] if self.errors.exists() else "")
                self.failure = f"the warm slot did not start: {detail.strip() or 'no reason given'}"
                self.close()
            raise SlotUnavailable(self.failure)

    def fork(self, request: bytes, channel: int, log: int) -> tuple[int, socket.socket] | None:
        """Have the slot fork a keeper for `request`: its pid and the job socket its end will be reported
        on; None where the slot did not (gone, or the reason it could not)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self.control, [request], [theirs.fileno(), channel, log])
        except OSError:
            ours.close()
            return None
        finally:
            theirs.close()
        reply = receive(ours, 30)
        if reply and isinstance(reply.get("pid"), int):
            return reply["pid"], ours
        ours.close()
        return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.control.close()  # the slot reads end of file, ends the keepers it still runs, and exits
        try:
            # one still importing would only notice at its end: nothing of a student's is in it yet
            self.process.wait(timeout=5 if self.ready else 0)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def receive(connection: socket.socket, timeout_s: float | None) -> dict[str, Any] | None:
    """The next message on a slot's socket; None on timeout; {"gone": True} when the other end is gone."""
    ready, _, _ = select.select([connection], [], [], timeout_s)
    if not ready:
        return None
    try:
        message = connection.recv(1 << 16)
    except OSError:
        message = b""
    if not message:
        return {"gone": True}
    return json.loads(message)


class WarmProcess:
    """A submission's keeper forked by a slot, with the calls launch.py makes of a subprocess.Popen."""

    def __init__(self, slot: Slot, pid: int, job: socket.socket, log: int) -> None:
        self.slot, self.pid, self.job = slot, pid, job
        self.stdout = os.fdopen(log, "rb")
        self.returncode: int | None = None

    def _ended(self, message: dict[str, Any] | None) -> int | None:
        if message is not None:
            self.returncode = int(message.get("exit", -signal.SIGKILL)) if not message.get("gone") else -signal.SIGKILL
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            self._ended(receive(self.job, 0))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(f"warm slot {self.slot.process.pid}", timeout or 0)
            self._ended(receive(self.job, remaining))
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def release(self) -> None:
        """Let go of the keeper: the slot ends its session if it still runs, and goes on serving others."""
        self.job.close()


class SlotPool:
    """One slot per kind (interpreter, imports, import paths), shared by every job thread: each submission is
    a fork of it, as many at once as there are jobs, so a run imports torch once however many jobs it has."""

    def __init__(self) -> None:
        self._slots: dict[tuple[Any, ...], Slot] = {}
        self._broken: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(preload: tuple[str, ...], import_paths: tuple[Path, ...]) -> tuple[Any, ...]:
        """What makes two slots interchangeable: the interpreter, what they import and from where."""
        from grader.sandbox.launch import sandbox_pythonpath

        return sys.executable, tuple(map(str, import_paths)), preload, sandbox_pythonpath(import_paths)

    def prestart(self, *, preload: tuple[str, ...], import_paths: tuple[Path, ...]) -> None:
        """Start the slot now, without waiting: it imports torch (~3 s) while the parent is still preparing
        the run; `start` waits for it rather than starting another."""
        try:
            self._slot(self.key(preload, import_paths), preload, import_paths)
        except (SlotUnavailable, OSError):
            pass  # `start` tries again and says why

    def _slot(self, key: tuple[Any, ...], preload: tuple[str, ...], import_paths: tuple[Path, ...]) -> Slot | None:
        """The slot for `key`, started (not awaited) if there is none or it died after starting."""
        with self._lock:
            if key in self._broken:
                return None
            slot = self._slots.get(key)
            if slot is not None and not (slot.ready and not slot.alive()):
                return slot
            self._slots[key] = Slot(key, preload, import_paths, wait=False)
            old, slot = slot, self._slots[key]
        if old is not None:
            old.close()
        return slot

    def start(self, *, keeper: list[str], job: str, cwd: str, env: dict[str, str], channel: int,
              log: tuple[int, int], preload: tuple[str, ...], import_paths: tuple[Path, ...]) -> WarmProcess | None:
        """Fork a submission in the warm slot; None where no slot can be had (the caller goes cold)."""
        key = self.key(preload, import_paths)
        request = json.dumps({"keeper": keeper, "job": job, "cwd": cwd, "env": env}).encode()
        for attempt in range(2):  # the slot may have died (killed from outside): `_slot` starts another
            try:
                slot = self._slot(key, preload, import_paths)
                if slot is None:
                    return None
                slot.wait_ready()
            except (SlotUnavailable, OSError) as error:
                with self._lock:
                    self._broken[key] = str(error)
                    self._slots.pop(key, None)
                return None
            forked = slot.fork(request, channel, log[1])
            if forked is not None:
                return WarmProcess(slot, forked[0], forked[1], log[0])
            if slot.alive():  # it refused this one (a fork the system refused): cold, and it serves the others
                return None
        return None

    def unavailable(self) -> list[str]:
        """Why warm slots could not be had in this process (those submissions ran on the cold path)."""
        with self._lock:
            return sorted(set(self._broken.values()))

    def close(self) -> None:
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            slot.close()


POOL = SlotPool()
atexit.register(POOL.close)


if __name__ == "__main__":
    main()
