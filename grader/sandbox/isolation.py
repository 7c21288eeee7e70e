"""Namespaces and capabilities for the student's process tree, applied by the keeper before the worker starts.

Where the grader runs as root on Linux (CI, an instructor's container), the keeper moves itself into new
mount and network namespaces and then:
* network: only a private loopback (the kernel's ZeroMQ sockets need it); no route anywhere else, and the
  host's own 127.0.0.1 services are out of reach;
* filesystem: every mount read-only except the submission's private temp folder; the reference solution,
  the assignment (with the hidden seed), the output folder and the class folder covered by empty tmpfs;
* privileges: every capability dropped from the bounding set and no_new_privs set, so the worker and the
  kernel run as root without root's powers (no remount, no ptrace of the grader, no reading its environ).
Anything that cannot be applied is reported as missing; the grader lists it in the report, and
`--sandbox strict` refuses to grade without it.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from dataclasses import dataclass, field

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
# Every mount goes read-only, /dev included: a read-only mount still lets a process write to a device node
# (/dev/null) but not unlink one, and `rm -rf /` must not reach the host's /dev through a shared devtmpfs.

PROTECTIONS = ("network isolation", "read-only filesystem", "secrets hidden", "capabilities dropped")


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


def isolate(*, writable: list[str], hidden: list[str], keep_visible: list[str]) -> IsolationReport:
    """Apply what this machine allows; never raises."""
    report = IsolationReport()
    if os.geteuid() != 0 or not os.path.exists("/proc/self/mountinfo"):
        report.missing += list(PROTECTIONS)
        report.problems.append("not running as root on Linux: namespaces are not available")
        return report
    libc = _libc()
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        report.missing += list(PROTECTIONS)
        report.problems.append(f"unshare failed: {os.strerror(ctypes.get_errno())}")
        return report
    try:
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here leaks to the host
        up = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
        if up.returncode != 0:
            raise OSError(f"could not bring up loopback: {up.stderr.decode(errors='replace').strip()}")
        report.applied.append("network isolation")
    except (OSError, subprocess.SubprocessError) as error:
        report.missing.append("network isolation")
        report.problems.append(str(error))
    try:
        for folder in writable:  # a mount of its own, so the read-only pass below can skip it
            _mount(libc, folder, folder, None, MS_BIND | MS_REC)
        for point in _mount_points():
            if any(_inside(point, w) for w in writable):
                continue
            try:
                _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            except OSError as error:
                report.problems.append(str(error))
        report.applied.append("read-only filesystem")
    except OSError as error:
        report.missing.append("read-only filesystem")
        report.problems.append(str(error))
    covered = []
    for folder in hidden:
        if not os.path.isdir(folder) or any(_inside(k, folder) for k in keep_visible + writable):
            continue  # hiding it would hide the grader itself or the student's own copy
        try:
            _mount(libc, "tmpfs", folder, "tmpfs", MS_RDONLY, "size=4k,mode=000")
            covered.append(folder)
        except OSError as error:
            report.problems.append(str(error))
    if covered:
        report.applied.append("secrets hidden")
    else:
        report.missing.append("secrets hidden")
    try:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        last_cap = int(open("/proc/sys/kernel/cap_last_cap", encoding="utf-8").read())
        for capability in range(last_cap + 1):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP failed")
        report.applied.append("capabilities dropped")
    except OSError as error:
        report.missing.append("capabilities dropped")
        report.problems.append(str(error))
    return report
