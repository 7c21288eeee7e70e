"""The student process is contained: no leaked secrets, nothing left running, limits applied."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import REPO
from grader.grade import main as grade

pytestmark = pytest.mark.slow

HONEST_SRN = '''
import numpy as np

def srn_numpy(inputs, W, U, V, h0=None, activation=None):
    h = np.zeros(W.shape[1]) if h0 is None else h0
    ys = []
    for x in inputs:
        h = x @ W + h @ U
        h = activation(h) if activation else h
        ys.append(h @ V)
    return np.array(ys)
'''


def module_submission(folder, name: str, source: str):
    student = folder / name
    student.mkdir(parents=True)
    (student / "solution.py").write_text(source, encoding="utf-8")
    return student


def test_environment_is_scrubbed_and_single_threaded(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_value")
    student = module_submission(tmp_path, "env", HONEST_SRN + '''
import os, torch
print("TOKEN", os.environ.get("GITHUB_TOKEN"), "THREADS", torch.get_num_threads(), "HOME", os.environ["HOME"])
''')
    result = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], quiet=True).results[0]
    output = result.cells[0]["output"]
    assert "TOKEN None" in output and "THREADS 1" in output
    assert "ghp_secret_value" not in output
    assert result.score == result.max_score  # the honest code still earns its points


def test_student_runs_as_its_own_user_and_sees_only_its_own_processes(tmp_path):
    from grader.sandbox.isolation import SANDBOX_UID_BASE
    from grader.sandbox.launch import probe_isolation

    if "separate_user" not in probe_isolation()["applied"]:
        pytest.skip("a separate user needs root on Linux")
    student = module_submission(tmp_path, "who", HONEST_SRN + '''
import getpass, json, os
uids = set()
for entry in filter(str.isdigit, os.listdir("/proc")):
    try:
        uids.add(os.stat(f"/proc/{entry}").st_uid)
    except OSError:
        pass
try:
    os.kill(1, 0)
    init = "signalled"
except OSError as error:
    init = type(error).__name__
print("WHO", json.dumps({"uid": os.getuid(), "groups": os.getgroups(), "visible": sorted(uids), "init": init,
                         "user": getpass.getuser(), "root_files": os.path.exists("/root/.bashrc")}))
''')
    result = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], quiet=True).results[0]
    import json

    seen = json.loads(result.cells[0]["output"].split("WHO ", 1)[1].splitlines()[0])
    assert seen["uid"] >= SANDBOX_UID_BASE and seen["groups"] == []
    assert seen["visible"] == [seen["uid"]]  # hidepid: not the grader, not the keeper, not other students
    assert seen["init"] == "PermissionError" and seen["user"] == "student"
    assert seen["root_files"] is False  # /root is covered; only the way to the interpreter is re-exposed
    assert result.score == result.max_score


def test_no_process_outlives_its_submission(tmp_path):
    student = module_submission(tmp_path, "spawner", HONEST_SRN + '''
import subprocess, os
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
print("CHILD", child.pid)
if os.fork() == 0:          # a double fork: the grandchild is orphaned at once
    if os.fork() == 0:
        os.setsid()
        print("GRANDCHILD", os.getpid(), flush=True)
        import time; time.sleep(300)
    os._exit(0)
''')
    result = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], quiet=True).results[0]
    pids = [int(p) for p in re.findall(r"(?:CHILD|GRANDCHILD) (\d+)", result.cells[0]["output"])]
    assert len(pids) >= 1
    time.sleep(0.5)
    assert not [pid for pid in pids if _running(pid)]
    assert result.score == result.max_score


def _running(pid: int) -> bool:
    """Whether `pid` is a live process: a zombie is dead already, waiting for PID 1 (in a container, maybe
    seconds) to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False
    state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "X")
    return state not in ("Z", "X")


def test_memory_bomb_costs_only_that_student(tmp_path):
    module_submission(tmp_path / "class", "bomb", HONEST_SRN + '''
blocks = []
def srn_numpy(*args):
    while True:
        blocks.append(bytearray(256 << 20))
''')
    module_submission(tmp_path / "class", "honest", HONEST_SRN)
    batch = grade(paths=[tmp_path / "class"], out=tmp_path / "out", jobs=2, only=["1.1", "1.2"], quiet=True)
    results = {r.student: r for r in batch.results}
    assert results["bomb"].score == 0
    assert "MemoryError" in results["bomb"].parts[0].checks[0].message
    assert results["honest"].score == results["honest"].max_score


def test_basic_mode_reports_what_is_not_enforced(tmp_path):
    student = module_submission(tmp_path / "class", "plain", HONEST_SRN)
    batch = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], quiet=True, sandbox="basic")
    assert batch.results[0].sandbox == {} and batch.results[0].score == batch.results[0].max_score
    header = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "not enforced: network isolation, read-only filesystem, secrets hidden, private /proc, separate user" in header


def test_strict_mode_refuses_to_grade_without_isolation(tmp_path, monkeypatch):
    import grader.grade as grade_command

    monkeypatch.setattr(grade_command, "probe_isolation",
                        lambda: {"applied": [], "missing": ["network"]})
    student = module_submission(tmp_path / "class", "plain", HONEST_SRN)
    with pytest.raises(grade_command.SandboxUnavailable, match="network isolation"):
        grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], quiet=True, sandbox="strict")
    assert not (tmp_path / "out" / "results").exists()  # nothing was graded


ISOLATE_WITH_ONE_FAILING_COVER = r"""
import json, os, sys
import grader.sandbox.isolation as isolation

real = isolation._mount
def mount(libc, source, target, fstype, flags, data=None):
    if target == sys.argv[2] and fstype == "tmpfs":
        raise OSError(1, f"mount {target}: refused for this test")
    return real(libc, source, target, fstype, flags, data)
isolation._mount = mount
os.environ["RNN_GRADER_ISOLATION_SKIP"] = "net,open,proc,ro,caps"  # only the secrets step matters here
report = isolation.isolate(writable=[], hidden=[sys.argv[1], sys.argv[2]], keep_visible=[])
print(json.dumps({"applied": report.applied, "missing": report.missing, "problems": report.problems}))
"""


def test_a_protection_counts_as_applied_only_when_it_covered_every_target(tmp_path):
    """Two secret folders, one of which cannot be covered: 'secrets hidden' is missing, with the reason."""
    import json
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:
        pytest.skip("mount namespaces need root")
    first, second = tmp_path / "reference", tmp_path / "assignment"
    first.mkdir()
    second.mkdir()
    completed = subprocess.run([sys.executable, "-c", ISOLATE_WITH_ONE_FAILING_COVER, str(first), str(second)],
                               capture_output=True, text=True, timeout=60, cwd=REPO)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "secrets_hidden" in report["missing"] and "secrets_hidden" not in report["applied"], report
    assert any("refused for this test" in problem for problem in report["problems"])
