"""A tiny supervisor between the grader and one submission's processes.

It moves itself into the submission's control groups (before anything else runs), applies the isolation
(namespaces, read-only mounts, hidden secrets) and the resource limits to itself (so every process below
inherits them), becomes a "child subreaper" (Linux: orphaned descendants are re-parented to it, even after
setsid or a double fork), starts the worker as the sandbox user, and when the worker ends or the grader
sends SIGTERM, kills every process left below it. The keeper itself stays root: the student's processes,
running as another user, cannot signal it.
Usage: python -m grader.sandbox.keeper --memory-mb N --cpu-s N --fsize-mb N [--pass-fd FD] -- CMD...
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Callable

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def subreaper_supported() -> bool:
    """Whether this kernel can make a process a child subreaper (Linux 3.4+)."""
    import platform

    return platform.system() == "Linux"


def children_of(pid: int) -> list[int]:
    from grader.sandbox.cgroups import processes_where

    def child(stat: str) -> bool:
        fields = stat[stat.rfind(")") + 2:].split()  # the name may hold spaces and parentheses
        return len(fields) > 1 and int(fields[1]) == pid

    return processes_where("stat", child)


def kill_descendants(deadline_s: float = 10.0) -> int:
    """SIGKILL every process below us until none is left; returns how many were killed."""
    from grader.sandbox.cgroups import kill_until_gone

    def reap() -> None:  # what died is reaped; its orphans are re-parented to us for the next round
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    me = os.getpid()
    return kill_until_gone(lambda: children_of(me), deadline_s, after_round=reap)


def join_groups(procs_files: list[str]) -> list[str]:
    problems = []
    for procs in procs_files:
        try:
            with open(procs, "w", encoding="ascii") as handle:
                handle.write(str(os.getpid()))
        except OSError as error:
            problems.append(f"could not join {procs}: {error.strerror or error}")
    return problems


def apply_limits(memory_mb: int, cpu_s: int, fsize_mb: int, max_processes: int = 0) -> None:
    if memory_mb > 0:
        # RLIMIT_DATA (heap and private anonymous maps), not RLIMIT_AS: a CUDA build of torch maps
        # gigabytes of shared-library address space at import and fails under an address-space limit.
        resource.setrlimit(resource.RLIMIT_DATA, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb << 20, fsize_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes > 0:  # counted per real user: meaningful once the worker runs as a user of its own
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


class _Forked:
    """A child made by fork (warm path) with the one call of subprocess.Popen the keeper uses."""

    def __init__(self, run: Callable[[], object], user: int | None = None) -> None:
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the keeper's own handler is not the worker's
                if user is not None:  # what Popen(user=, group=, extra_groups=[]) does, in this order
                    os.setgroups([])
                    os.setresgid(user, user, user)
                    os.setresuid(user, user, user)
                run()
                code = 0
            finally:
                os._exit(code)

    def poll(self) -> int | None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if pid else None


def main(argv: list[str] | None = None, run_child: Callable[[], object] | None = None) -> int:
    """Cold path: run `command` as the child. Warm path (`grader.sandbox.slots`): a forked slot process
    calls this with `run_child`, which the child runs after fork (the worker, with imports already done)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-s", type=int, default=600)
    parser.add_argument("--fsize-mb", type=int, default=64)
    parser.add_argument("--pass-fd", type=int, action="append", default=[])
    parser.add_argument("--isolate", action="store_true", help="namespaces and capability drop (root only)")
    parser.add_argument("--writable", action="append", default=[])
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("--report-fd", type=int, default=None, help="where the isolation report goes (JSON)")
    parser.add_argument("--cgroup-procs", action="append", default=[], help="cgroup.procs files to join first")
    parser.add_argument("--max-processes", type=int, default=0)
    parser.add_argument("--separate-user", action="store_true", help="run the command as a user of its own")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    group_problems = join_groups(args.cgroup_procs)
    become_subreaper()
    uid = None
    if args.isolate:
        from grader.sandbox.isolation import isolate, sandbox_uid

        wanted = sandbox_uid(os.getpid()) if args.separate_user else None
        report = isolate(writable=args.writable, hidden=args.hide, keep_visible=args.keep, uid=wanted)
        report.problems += group_problems
        uid = wanted if "separate_user" in report.applied else None
        if args.report_fd is not None:
            os.write(args.report_fd, (json.dumps({"type": "sandbox", **asdict(report)}) + "\n").encode())
        if not command and run_child is None:
            return 0  # --isolate with no command: a capability probe
    # RLIMIT_NPROC is checked before the pids group: where the group holds, the rlimit is only a backstop above
    # it, so that the group's counter of failed forks (how the parent recognises a fork bomb) sees them
    in_group = bool(args.cgroup_procs) and not group_problems
    nproc = (2 * args.max_processes if in_group else args.max_processes) if uid is not None else 0
    apply_limits(args.memory_mb, args.cpu_s, args.fsize_mb, nproc)
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    as_user = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
    child: subprocess.Popen[bytes] | _Forked = \
        _Forked(run_child, uid) if run_child is not None else subprocess.Popen(command, pass_fds=tuple(args.pass_fd),
                                                                               **as_user)
    for fd in args.pass_fd:
        os.close(fd)  # only the worker writes to the channel
    code = None
    while code is None and not stopping:
        code = child.poll()
        time.sleep(0.05)
    kill_descendants()
    return code if code is not None else -signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
