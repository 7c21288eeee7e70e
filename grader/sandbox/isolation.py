"""Namespaces and capabilities for the student's process tree, applied by the keeper before the worker starts.

Where the grader runs as root on Linux (CI, an instructor's container), the keeper moves itself into new
mount and network namespaces and then:
* network: only a private loopback (the kernel's ZeroMQ sockets need it); no route anywhere else, and the
  host's own 127.0.0.1 services are out of reach;
* filesystem: every mount read-only except the submission's private temp folder; the reference solution,
  the assignment (with the hidden seed), the output folder and the class folder covered by empty tmpfs;
* processes: a private /proc that shows the sandbox user only its own processes (hidepid);
* user: the worker and the kernel run as a user of their own (uid SANDBOX_UID_BASE + the keeper's pid, so
  no two live submissions share one): they cannot signal or trace the grader or another submission, and
  RLIMIT_NPROC counts their processes alone. The interpreter may live under a folder other users cannot
  enter (/root is 0700 here): such folders are covered by a tmpfs that re-exposes, read-only, only the
  entries on the way to what the sandbox needs (the interpreter, its libraries, the grader's runtime);
* privileges: every capability dropped from the bounding set and no_new_privs set, so nothing below the
  keeper regains root's powers (no remount, no ptrace of the grader, no reading its environ).
Anything that cannot be applied is reported as missing; the grader lists it in the report, and
`--sandbox strict` refuses to grade without it.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from typing import Callable

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
SANDBOX_UID_BASE = 1_000_000
# Every mount goes read-only, /dev included: a read-only mount still lets a process write to a device node
# (/dev/null) but not unlink one, and `rm -rf /` must not reach the host's /dev through a shared devtmpfs.

# Codes, as results and reports name them (labels in grader/catalog/*.toml under [protection]).
PROTECTIONS = ("network", "readonly_fs", "secrets_hidden", "private_proc", "separate_user", "no_capabilities")


@dataclass
class IsolationReport:
    applied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    encode = (lambda text: text.encode() if text is not None else None)
    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4].replace("\\040", " ") for line in handle]
    return sorted(set(points), key=len)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def sandbox_uid(keeper_pid: int) -> int:
    """The user a submission runs as: unique among live submissions because the keeper's pid is."""
    return SANDBOX_UID_BASE + keeper_pid


def _uid_mapped(uid: int) -> bool:
    """Whether this user namespace can own files as `uid` (a container may map only 0-65535)."""
    try:
        with open("/proc/self/uid_map", encoding="utf-8") as handle:
            ranges = [tuple(int(n) for n in line.split()) for line in handle if line.strip()]
    except OSError:
        return False
    return any(inside <= uid < inside + count for inside, _, count in ranges)


def _blocked_ancestors(needed: list[str]) -> dict[str, set[str]]:
    """Folders on the way to `needed` that other users cannot enter -> the entries to re-expose in them."""
    blocked: dict[str, set[str]] = {}
    for path in needed:
        parts = os.path.realpath(path).split("/")[1:]
        for depth in range(len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            try:
                enterable = os.stat(ancestor).st_mode & 0o001
            except OSError:
                break
            if not enterable:
                blocked.setdefault(ancestor, set()).add(parts[depth])
    return blocked


def _open_up(libc: ctypes.CDLL, needed: list[str]) -> None:
    """Make the paths in `needed` reachable for the sandbox user without opening anything else up."""
    for _ in range(32):  # outer folders first; each cover changes what is blocked below it
        blocked = _blocked_ancestors(needed)
        if not blocked:
            return
        ancestor = min(blocked, key=len)
        handles = {}
        for name in blocked[ancestor]:
            try:
                handles[name] = os.open(os.path.join(ancestor, name), os.O_PATH)
            except OSError:
                continue
        try:
            _mount(libc, "tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            for name, handle in handles.items():
                target = os.path.join(ancestor, name)
                if os.path.isdir(f"/proc/self/fd/{handle}"):
                    os.mkdir(target)
                else:
                    open(target, "wb").close()
                # the O_PATH handle still names the original, now hidden under the tmpfs
                _mount(libc, f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
        finally:
            for handle in handles.values():
                os.close(handle)
    raise OSError("too many nested folders closed to other users")


def _loopback_up() -> None:
    """`ip link set lo up` without the `ip` binary (not every image has iproute2): SIOCSIFFLAGS on "lo"."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14s", b"lo", 0, bytes(14))
        flags = struct.unpack("16sH", fcntl.ioctl(probe, siocgifflags, request)[:18])[1]
        fcntl.ioctl(probe, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, bytes(14)))


def _private_network(libc: ctypes.CDLL) -> None:
    """A network namespace with only its own loopback; if loopback cannot come up, go back to the host's
    network (the kernel's ZeroMQ channels need a loopback) and report the protection as missing."""
    original = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        try:
            _loopback_up()
        except OSError as error:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(f"loopback down and cannot return to the host network: {error}") from None
            raise OSError(f"could not bring up loopback: {error}") from None
    finally:
        os.close(original)


def _give_to(uid: int, folders: list[str]) -> None:
    """The sandbox user owns its working copy (without following any link the student put there)."""
    for folder in folders:
        os.lchown(folder, uid, uid)
        for parent, dirs, files in os.walk(folder):
            for name in dirs + files:
                os.lchown(os.path.join(parent, name), uid, uid)


def isolate(*, writable: list[str], hidden: list[str], keep_visible: list[str],
            uid: int | None = None) -> IsolationReport:
    """Apply what this machine allows; never raises. With `uid`, prepare for running as that user.

    Each protection is one step; a step that raises OSError leaves its protection missing (with the
    reason among the problems), and a protection counts as applied only when the step covered every target."""
    report = IsolationReport()
    skip = set(os.environ.get("RNN_GRADER_ISOLATION_SKIP", "").split(","))  # debugging aid: net,open,proc,ro,caps
    if os.geteuid() != 0 or not os.path.exists("/proc/self/mountinfo"):
        report.missing += list(PROTECTIONS)
        report.problems.append("not running as root on Linux: namespaces are not available")
        return report
    if uid is not None and not _uid_mapped(uid):
        uid = None  # a container that maps few uids: no separate user (reported below), and /proc stays read-only
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        report.missing += list(PROTECTIONS)
        report.problems.append(f"unshare failed: {os.strerror(ctypes.get_errno())}")
        return report
    try:
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here leaks to the host
    except OSError as error:
        report.problems.append(str(error))
    done: set[str] = set()

    def unless_skipped(name: str) -> None:
        if name in skip:
            raise OSError("skipped")

    def network() -> None:
        unless_skipped("net")
        _private_network(libc)

    def open_up() -> None:  # no protection of its own: lets the sandbox user reach the interpreter
        if uid is None or "open" in skip:
            return
        import sys

        needed = [*keep_visible, *filter(os.path.isdir, sys.path), os.path.dirname(os.path.realpath(sys.executable)),
                  *(os.path.dirname(w.rstrip("/")) for w in writable)]
        # the working copy is handed to the sandbox user below; covering it would hide it
        _open_up(libc, [path for path in needed if not any(_inside(os.path.realpath(path), w) for w in writable)])

    def bind_writable() -> None:  # a mount of its own each, so the read-only pass can skip them
        for folder in writable:
            _mount(libc, folder, folder, None, MS_BIND | MS_REC)
        done.add("writable")

    def private_proc() -> None:  # the sandbox user sees its own processes only (per-mount option, Linux 5.8+)
        unless_skipped("proc")
        if "writable" not in done:
            raise OSError("the writable folders could not be bound")
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
        # The CUDA driver writes under /proc/self (thread names; read-only /proc fails cudaGetDeviceCount with
        # error 304, seen on the H100 machine), so this fresh /proc stays writable for the sandbox's own
        # processes; the system-wide parts become mount points of their own, remounted read-only below.
        for part in ("sys", "sysrq-trigger", "irq", "bus", "fs"):
            if os.path.exists(f"/proc/{part}"):
                _mount(libc, f"/proc/{part}", f"/proc/{part}", None, MS_BIND | MS_REC)
        done.add("private_proc")

    def read_only() -> None:
        unless_skipped("ro")
        if "writable" not in done:
            raise OSError("the writable folders could not be bound")
        failed = []
        for point in _mount_points():
            if any(_inside(point, w) for w in writable) or \
                    (point == "/proc" and "private_proc" in done and uid is not None):  # see private_proc
                continue
            try:
                _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            except OSError as error:
                failed.append(f"{point}: {error}")
        if failed:
            raise OSError(f"{len(failed)} mount(s) stayed writable: " + "; ".join(failed[:5]))

    def hide_secrets() -> None:
        targets = [folder for folder in hidden if os.path.isdir(folder)
                   and not any(_inside(k, folder) for k in keep_visible + writable)]  # never the grader itself
        if not targets:
            raise OSError("no folder to hide")
        for folder in targets:
            _mount(libc, "tmpfs", folder, "tmpfs", MS_RDONLY, "size=4k,mode=000")

    def separate_user() -> None:
        if uid is None:
            raise OSError("no user id to run as")
        try:
            _give_to(uid, writable)
        except OSError as error:
            raise OSError(f"could not hand the working copy to uid {uid}: {error}") from None

    def no_capabilities() -> None:
        unless_skipped("caps")
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        last_cap = int(open("/proc/sys/kernel/cap_last_cap", encoding="utf-8").read())
        for capability in range(last_cap + 1):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP failed")

    steps: list[tuple[str | None, Callable[[], None]]] = [
        ("network", network), (None, open_up), (None, bind_writable), ("private_proc", private_proc),
        ("readonly_fs", read_only), ("secrets_hidden", hide_secrets), ("separate_user", separate_user),
        ("no_capabilities", no_capabilities),
    ]
    for protection, step in steps:
        try:
            step()
        except OSError as error:
            report.problems.append(f"{protection or step.__name__}: {error}")
            if protection:
                report.missing.append(protection)
        else:
            if protection:
                report.applied.append(protection)
    return report
