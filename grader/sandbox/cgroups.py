"""Per-submission control groups (cgroup v1): one memory, process-count and CPU budget for a whole tree.

rlimits are per process (RLIMIT_DATA) or per user (RLIMIT_NPROC); a fork bomb that allocates in every
child escapes the first, and the second is only meaningful for a user of its own. A cgroup bounds the
submission's processes *together*: memory (the kernel's OOM killer acts inside the group only), the number
of tasks (a fork bomb stops at pids.max), and CPU (each submission is a group with equal shares, so one
that forks a hundred spinning processes still gets only its share of the machine). The group is also the
exact list of what to kill at the end, whatever the tree did to hide (setsid, double fork), and the freezer
stops a fork bomb in one step so that killing it is not a race against its forks.

The trusted parent creates the groups before the keeper starts, the keeper moves itself in before it runs
anything else, and the parent kills and removes them afterwards. Where cgroup v1 is not mounted or not
writable (not root, cgroup v2 only) nothing is created and the protections are reported as missing.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

CONTROLLERS = ("memory", "pids", "cpu", "freezer")
# the protections a group gives, by controller, as the reports name them (the freezer is only for killing)
PROTECTION_OF = {"memory": "group_memory", "pids": "group_pids", "cpu": "group_cpu"}  # codes, see isolation.py
GROUP_PROTECTIONS = tuple(PROTECTION_OF.values())
_serial = itertools.count()


def _v1_mounts() -> dict[str, Path]:
    """Controller name -> mount point of its cgroup v1 hierarchy."""
    found: dict[str, Path] = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            lines = handle.readlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(tail) < 3 or tail[0] != "cgroup":
            continue
        for option in tail[2].split(","):
            if option in CONTROLLERS:
                found.setdefault(option, Path(fields[4]))
    return found


def _own_paths() -> dict[str, str]:
    """Controller name -> this process's group inside that hierarchy (from /proc/self/cgroup)."""
    paths: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(","):
                    paths[controller] = path
    except (OSError, ValueError):
        pass
    return paths


def kill_until_gone(find: Callable[[], Iterable[int]], deadline_s: float = 10.0,
                    after_round: Callable[[], None] = lambda: None) -> int:
    """SIGKILL whatever `find` lists, round after round, until it lists nothing (or the deadline passes).

    Rounds, because what we kill may have forked in the meantime; returns how many signals were sent.
    Looked at again after 1, 2, 4, then every 5 ms: killed processes take 10-25 ms to go, and each
    submission waits here before the next one starts."""
    sent, stop, pause = 0, time.monotonic() + deadline_s, 0.001
    while time.monotonic() < stop:
        found = list(find())
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                sent += 1
            except ProcessLookupError:
                pass
        after_round()
        time.sleep(pause)
        pause = min(2 * pause, 0.005)
    return sent


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


@dataclass
class SubmissionGroups:
    """The groups of one submission, one per controller that could be set up."""

    groups: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, *, memory_mb: int, max_tasks: int) -> "SubmissionGroups":
        made = cls()
        if os.geteuid() != 0:
            made.problems.append("not root: no control groups")
            return made
        mounts, own = _v1_mounts(), _own_paths()
        name = f"rnn-grader-{os.getpid()}-{next(_serial)}-{uuid.uuid4().hex[:8]}"
        for controller in CONTROLLERS:
            if controller not in mounts:
                made.problems.append(f"cgroup v1 {controller} controller not mounted")
                continue
            # inside our own group, so the sandbox stays within whatever limits the grader itself has
            group = mounts[controller] / own.get(controller, "/").lstrip("/") / name
            _sweep_orphans(group.parent)
            try:
                group.mkdir()
                made.groups[controller] = group
                if controller == "memory":
                    _write(group / "memory.limit_in_bytes", str(memory_mb << 20))
                    if (group / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                        _write(group / "memory.memsw.limit_in_bytes", str(memory_mb << 20))
                elif controller == "pids":
                    _write(group / "pids.max", str(max_tasks))
            except OSError as error:
                made.problems.append(f"cgroup {controller}: {error.strerror or error}")
        return made

    @property
    def applied(self) -> list[str]:
        return [name for controller, name in PROTECTION_OF.items() if controller in self.groups]

    def procs_files(self) -> list[str]:
        """What the keeper writes its pid into before it starts anything."""
        return [str(group / "cgroup.procs") for group in self.groups.values()]

    def members(self) -> set[int]:
        found: set[int] = set()
        for group in self.groups.values():
            try:
                found.update(int(pid) for pid in (group / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def fork_failures(self) -> int:
        """How many times a fork or thread creation failed at pids.max (a fork bomb makes thousands)."""
        pids = self.groups.get("pids")
        try:
            for line in (pids / "pids.events").read_text().splitlines() if pids is not None else []:
                name, _, count = line.partition(" ")
                if name == "max":
                    return int(count)
        except (OSError, ValueError):
            pass
        return 0

    def limits_reached(self) -> list[str]:
        """Which of the group limits the submission ran into (for its flags)."""
        reached = []
        memory = self.groups.get("memory")
        try:
            oom = dict(line.split() for line in (memory / "memory.oom_control").read_text().splitlines()
                       if line.strip()) if memory is not None else {}
            if int(oom.get("oom_kill", "0")) > 0:  # the kernel killed one of its processes for memory
                reached.append("memory_limit")  # flag codes (grader.results.FLAG_CODES)
        except (OSError, ValueError):
            pass
        if self.fork_failures() > 0:
            reached.append("process_limit")
        return reached

    def kill_all(self, deadline_s: float = 10.0) -> int:
        """SIGKILL every process in the groups until they are empty; returns how many signals were sent.

        Frozen first where the freezer is available: a frozen fork bomb cannot refill the slots we free."""
        freezer = self.groups.get("freezer")
        frozen = False
        if freezer is not None and self.members():
            try:
                _write(freezer / "freezer.state", "FROZEN")
                until, pause = time.monotonic() + 2.0, 0.0005
                while (freezer / "freezer.state").read_text().strip() != "FROZEN" and time.monotonic() < until:
                    time.sleep(pause)  # frozen within 0.5-15 ms
                    pause = min(2 * pause, 0.002)
                frozen = True
            except OSError:
                pass

        def thaw() -> None:  # a SIGKILLed frozen task dies once thawed
            nonlocal frozen
            if frozen:
                try:
                    _write(freezer / "freezer.state", "THAWED")
                except OSError:
                    pass
                frozen = False

        return kill_until_gone(self.members, deadline_s, after_round=thaw)

    def remove(self) -> None:
        for controller, group in list(self.groups.items()):
            for _ in range(50):  # a killed task leaves its group a moment after it dies
                try:
                    group.rmdir()
                    del self.groups[controller]
                    break
                except FileNotFoundError:
                    del self.groups[controller]
                    break
                except OSError:
                    time.sleep(0.02)


ORPHAN = re.compile(r"^rnn-grader-(\d+)-\d+-[0-9a-f]{8}$")


def _sweep_orphans(parent: Path) -> None:
    """Remove the empty groups of grading processes that are gone (killed before they could: a cluster
    worker killed mid-submission, a grader stopped with SIGKILL). rmdir only removes an empty group."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = ORPHAN.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            try:
                (parent / name).rmdir()
            except OSError:
                pass


def processes_where(file: str, matches: Callable[[str], bool]) -> list[int]:
    """Pids whose /proc/<pid>/<file> text `matches` (processes that vanish meanwhile are skipped)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/{file}", encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        if matches(text):
            found.append(int(entry))
    return found


def user_processes(uid: int) -> list[int]:
    """The live processes of `uid`. Zombies are dead already (nothing left to kill) and go only when their
    parent reaps them: orphans wait for PID 1, which in a container may take seconds, and counting them
    kept every submission's teardown waiting for it."""
    def owned(status: str) -> bool:
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
            return False
        uid_field = fields.get("Uid", "-1").split()
        return bool(uid_field) and int(uid_field[0]) == uid

    return processes_where("status", owned)


def kill_user(uid: int, deadline_s: float = 10.0) -> int:
    """SIGKILL every process of a sandbox user (the backstop, and the fallback where there are no groups)."""
    return kill_until_gone(lambda: user_processes(uid), deadline_s)
