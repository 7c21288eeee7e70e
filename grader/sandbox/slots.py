"""Warm slots: start Python, import torch, numpy, IPython and the grader once per job slot, not per submission.

A slot is a long-lived process, started by the grader with the scrubbed environment, that imports everything
a submission's processes need and then waits. For each submission the parent hands it the job (the keeper's
arguments, the worker's job file, the environment) and two pipe ends (the channel and the log) over a
socketpair; the slot forks. The child is the submission's keeper (``grader.sandbox.keeper``: control groups,
namespaces, limits, subreaper, its own uid), which forks the worker, which forks the executor that runs the
cells (``grader.sandbox.shell``). The slot itself never runs student code: every submission starts from the
same untouched, imported state, and nothing a student changes (module state, environment, files, seeds)
outlives its fork. The slot never touches CUDA: a CUDA context does not survive fork, so a submission on
a GPU makes its own.

Parent side: `POOL.start(...)` returns a process-like `WarmProcess` (or None: use the cold path). Slots are
kept per parts package, reused by the next submission of the same job thread, and ended with the grader.
`POOL.prestart(...)` starts slots without waiting for their imports; `start` waits for one on its way.
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
MAX_IDLE_SLOTS = 8
# what every submission's processes import anyway; the probes' modules are added per assignment.
# torch._dynamo: torch imports it on the first optimizer a process makes (1.1-1.5 s, ~800 modules, sympy
# among them), so without it every submission paid that inside part 2.1's first training.
PRELOAD = ("numpy", "torch", "torch.optim", "torch._dynamo", "IPython.core.interactiveshell",
           "IPython.core.displayhook", "traitlets.config", "nbformat", "nbclient", "grader.sandbox.runtime",
           "grader.sandbox.worker", "grader.sandbox.shell", "grader.sandbox.keeper", "grader.sandbox.isolation",
           "grader.sandbox.cgroups")


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


def serve(control: socket.socket) -> None:
    """One submission at a time: fork its keeper, say its pid, say how it ended; stop when the grader goes."""
    while True:
        try:
            message, descriptors, _, _ = socket.recv_fds(control, 1 << 20, 4)
        except OSError:
            return
        if not message:
            return
        job = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _keeper(job, descriptors, control)
            finally:
                os._exit(code & 0xFF)
        for descriptor in descriptors:
            os.close(descriptor)
        control.send(json.dumps({"pid": pid}).encode())
        if not _await(pid, control):
            return


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
    keep_only({channel})
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    tempfile.tempdir = None
    arguments = [*job["keeper"], "--pass-fd", str(channel), "--report-fd", str(channel)]
    return keeper.main(arguments, run_child=lambda: worker.serve(job["job"], channel, ShellClient))


def _await(pid: int, control: socket.socket) -> bool:
    """Wait for the keeper to end and report it; False when the grader went away meanwhile."""
    try:
        handle: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    try:
        while True:
            # without a pidfd (Linux < 5.3) the child's end is polled
            ready, _, _ = select.select([h for h in (handle, control) if h is not None], [], [],
                                        None if handle is not None else 0.05)
            if control in ready:
                try:
                    message = control.recv(1 << 16)
                except OSError:
                    message = b""
                if not message:  # the grader is gone: so is this submission, and this slot
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    os.waitpid(pid, 0)
                    return False
            ended, status = os.waitpid(pid, os.WNOHANG)
            if ended:
                control.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
                return True
    finally:
        if handle is not None:
            os.close(handle)


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
        if self.ready:
            return
        ready = self.receive(SLOT_START_TIMEOUT_S)
        if not ready or not ready.get("ready"):
            detail = str((ready or {}).get("reason") or "") or \
                (self.errors.read_text(encoding="utf-8", errors="replace")[-2000:] if self.errors.exists() else "")
            self.close()
            raise SlotUnavailable(f"the warm slot did not start: {detail.strip() or 'no reason given'}")
        self.ready = True

    def receive(self, timeout_s: float | None) -> dict[str, Any] | None:
        """The slot's next message; None on timeout; {"gone": True} when the slot is gone."""
        ready, _, _ = select.select([self.control], [], [], timeout_s)
        if not ready:
            return None
        try:
            message = self.control.recv(1 << 16)
        except OSError:
            message = b""
        if not message:
            return {"gone": True}
        return json.loads(message)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.control.close()  # the slot reads end of file and exits
        try:
            # one still importing would only notice at its end: nothing of a student's is in it yet
            self.process.wait(timeout=5 if self.ready else 0)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class WarmProcess:
    """A submission's keeper forked by a slot, with the calls launch.py makes of a subprocess.Popen."""

    def __init__(self, pool: "SlotPool", slot: Slot, pid: int, log: int) -> None:
        self.pool, self.slot, self.pid = pool, slot, pid
        self.stdout = os.fdopen(log, "rb")
        self.returncode: int | None = None

    def _ended(self, message: dict[str, Any] | None) -> int | None:
        if message is not None:
            self.returncode = int(message.get("exit", -signal.SIGKILL)) if not message.get("gone") else -signal.SIGKILL
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            self._ended(self.slot.receive(0))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(f"warm slot {self.slot.process.pid}", timeout or 0)
            self._ended(self.slot.receive(remaining))
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def release(self) -> None:
        """Back to the pool once the submission's keeper has ended (else the slot is ended with it)."""
        self.pool.give_back(self.slot, reusable=self.returncode is not None)


class SlotPool:
    def __init__(self) -> None:
        self._idle: list[Slot] = []
        self._broken: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(preload: tuple[str, ...], import_paths: tuple[Path, ...]) -> tuple[Any, ...]:
        """What makes two slots interchangeable: the interpreter, what they import and from where."""
        from grader.sandbox.launch import sandbox_pythonpath

        return sys.executable, tuple(map(str, import_paths)), preload, sandbox_pythonpath(import_paths)

    def prestart(self, *, preload: tuple[str, ...], import_paths: tuple[Path, ...], count: int) -> None:
        """Start up to `count` slots now, without waiting: they import torch (~3 s) while the parent is
        still preparing the run; `start` waits for one of them rather than starting another."""
        key = self.key(preload, import_paths)
        with self._lock:
            if key in self._broken:
                return
            missing = min(count, MAX_IDLE_SLOTS) - sum(1 for s in self._idle if s.key == key)
        for _ in range(missing):
            try:
                slot = Slot(key, preload, import_paths, wait=False)
            except (SlotUnavailable, OSError):
                return  # `start` tries again and says why
            with self._lock:
                self._idle.append(slot)

    def start(self, *, keeper: list[str], job: str, cwd: str, env: dict[str, str], channel: int,
              log: tuple[int, int], preload: tuple[str, ...], import_paths: tuple[Path, ...]) -> WarmProcess | None:
        """Fork a submission in a warm slot; None where no slot can be had (the caller goes cold)."""
        key = self.key(preload, import_paths)
        with self._lock:
            if key in self._broken:
                return None
            matching = [s for s in reversed(self._idle) if s.key == key]
            # a ready slot first; else one still starting (prestart): waiting for it beats starting another
            slot = next((s for s in matching if s.ready), matching[0] if matching else None)
            if slot is not None:
                self._idle.remove(slot)
        for attempt in range(2):  # an idle slot may have died (killed from outside): one fresh try
            try:
                if slot is None or not slot.alive():
                    if slot is not None:
                        slot.close()
                    slot = Slot(key, preload, import_paths, wait=False)
                slot.wait_ready()
            except (SlotUnavailable, OSError) as error:
                with self._lock:
                    self._broken[key] = str(error)
                return None
            message = json.dumps({"keeper": keeper, "job": job, "cwd": cwd, "env": env}).encode()
            try:
                socket.send_fds(slot.control, [message], [channel, log[1]])
                reply = slot.receive(30)
            except OSError:
                reply = None
            if reply and isinstance(reply.get("pid"), int):
                return WarmProcess(self, slot, reply["pid"], log[0])
            slot.close()
            slot = None
        return None

    def unavailable(self) -> list[str]:
        """Why warm slots could not be had in this process (those submissions ran on the cold path)."""
        with self._lock:
            return sorted(set(self._broken.values()))

    def give_back(self, slot: Slot, reusable: bool) -> None:
        if not reusable or not slot.alive():
            slot.close()
            return
        with self._lock:
            self._idle.append(slot)
            surplus = self._idle[:-MAX_IDLE_SLOTS]
            del self._idle[:-MAX_IDLE_SLOTS]
        for old in surplus:
            old.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for slot in idle:
            slot.close()


POOL = SlotPool()
atexit.register(POOL.close)


if __name__ == "__main__":
    main()
