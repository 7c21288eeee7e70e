"""The attack corpus (tests/adversarial/attacks.toml): every attack gets its stated outcome, nothing secret
is read, nothing outside the submission's working copy changes, and the rest of the class is graded."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import socket
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

import nbformat
import pytest

from conftest import REPO
from grader.config import DEFAULT_ASSIGNMENT, DEFAULT_REFERENCE
from grader.results import has_flag
from grader.grade import main as grade
from grader.sandbox.isolation import SANDBOX_UID_BASE
from grader.sandbox.launch import probe_isolation

CORPUS = Path(__file__).with_name("adversarial")
ATTACKS = tomllib.loads((CORPUS / "attacks.toml").read_text(encoding="utf-8"))
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(probe_isolation()["missing"] != [],
                                 reason="namespaces and capability dropping need root on Linux")]
BUDGET_S = 45  # each submission's wall-clock budget in this batch
SECRETS = ["BEGIN SOLUTION", "hidden = 2026", "victim-7f3a", "ghp_attack_token"]  # contents, not paths


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack")
    klass, out = root / "class", root / "out"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    accepted: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection.recv(100))
            connection.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    values = {"{REFERENCE}": str(DEFAULT_REFERENCE), "{ASSIGNMENT}": str(DEFAULT_ASSIGNMENT), "{CLASS}": str(klass),
              "{OUT}": str(out), "{GRADER}": str(REPO), "{PORT}": str(listener.getsockname()[1])}
    for name, spec in ATTACKS.items():
        if "cells" in spec:  # a generated notebook
            (klass / name).mkdir(parents=True)
            cells = [nbformat.v4.new_code_cell(f"x = {index}") for index in range(spec["cells"])]
            nbformat.write(nbformat.v4.new_notebook(cells=cells), klass / name / "homework.ipynb")
            continue
        shutil.copytree(CORPUS / name, klass / name)
        for file in (klass / name).glob("*.py"):
            text = file.read_text(encoding="utf-8")
            for placeholder, value in values.items():
                text = text.replace(placeholder, value)
            file.write_text(text, encoding="utf-8")
    guarded = [REPO / "grader" / "__init__.py", REPO / "grader" / "pwned.py", out / "pwned.txt",
               klass / "honest" / "solution.py", DEFAULT_REFERENCE, REPO / "pyproject.toml", Path("/bin/sh"),
               Path(sys.executable)]
    before = {path: _digest(path) for path in guarded}
    patches = pytest.MonkeyPatch()
    patches.setenv("GITHUB_TOKEN", "ghp_attack_token")
    # the sandboxes this batch creates: leftovers are looked for among their processes only, so another
    # grading job on the machine (a second clone, an instructor's run) is not mistaken for one
    created, make_temp = [], tempfile.mkdtemp
    patches.setattr(tempfile, "mkdtemp", lambda *a, **k: created.append(make_temp(*a, **k)) or created[-1])
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # 45 s: the budget must outlast what the attacks do when the machine is busy (eight 1 GB children on a
    # quarter of two cores took more than 20 s); the hanging attacks use it all, in parallel
    batch = grade(paths=[klass], out=out, jobs=3, timeout=BUDGET_S, only=["1.1"], quiet=True, use_cache=False)
    patches.undo()
    grader_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    stop.set()
    server.join(timeout=5)
    listener.close()
    return ({r.student: r for r in batch.results}, before, {path: _digest(path) for path in guarded}, accepted,
            grader_growth_mb, tuple(created))


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_gets_its_stated_outcome(attacked, attack):
    results = attacked[0]
    result, expected = results[attack], ATTACKS[attack]
    checks = {c.id: c for p in result.parts for c in p.checks}
    if expected["score"] == "full":
        assert result.score == result.max_score, [c.message for c in checks.values()]
    elif expected["score"] == "public only":  # what its code honestly earns: the public example, nothing hidden
        assert checks["fixed_example"].passed and checks["hidden_cases"].score == 0
    else:
        assert result.score == 0
    if "flag" in expected:
        assert has_flag(result, expected["flag"]), result.flags
    if "error" in expected:
        assert expected["error"] in (result.error or "")
    if "checks_message" in expected:  # the reason every check gives
        assert all(expected["checks_message"] in check.message for check in checks.values()), checks
    if "integrity" in expected:
        seen = {f"{note['category']} {note['source']}" for note in result.integrity}
        assert set(expected["integrity"]) <= seen and (seen or not expected["integrity"]), seen
        if not expected["integrity"]:
            assert seen == set()
    output = "\n".join(cell.get("output", "") + str(cell.get("evalue", "")) for cell in result.cells)
    for secret in SECRETS:
        assert secret not in output, (attack, secret)
    if "cells" not in expected:  # refused before it ran: no sandbox was needed
        assert result.sandbox["missing"] == []


def test_nothing_outside_the_working_copies_changed(attacked):
    _, before, after, *_ = attacked
    assert before == after
    assert Path("/dev/null").exists() and len(list(Path("/dev").iterdir())) > 5  # rm -rf / spared the host


def test_no_connection_left_the_sandbox(attacked):
    results, _, _, accepted, *_ = attacked
    assert accepted == []
    output = results["network"].cells[0]["output"]
    assert "CONNECTED" not in output and output.count("BLOCKED") == 3


def test_reads_were_denied_and_the_writes_refused(attacked):
    results = attacked[0]
    reads = results["read_secrets"].cells[0]["output"]
    assert not [line for line in reads.splitlines() if line.startswith(("READ ", "LISTED "))]
    assert reads.count("DENIED") >= 4
    writes = results["write_outside"].cells[0]["output"]
    assert "WROTE" not in writes and writes.count("DENIED") == 8


def _sandbox_processes(bases: tuple[str, ...]) -> list[str]:
    """Processes of this batch's sandboxes still alive: a sandbox uid and one of its folders in the command
    line or environment (forks keep both), or the corpus's own marker."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = open(f"/proc/{entry}/status", encoding="utf-8").read()
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            environ = open(f"/proc/{entry}/environ", "rb").read().decode(errors="replace")
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        ours = any(base in cmdline or base in environ for base in bases)
        if (uid >= SANDBOX_UID_BASE and ours) or "987654" in cmdline:
            found.append(f"{entry} uid {uid}: {cmdline}")
    return found


def test_no_process_or_control_group_outlives_the_batch(attacked):
    bases = attacked[5]
    assert len(bases) >= len(ATTACKS) - 1  # every submission that ran had a sandbox folder
    assert _sandbox_processes(bases) == []  # the fork bomb, the daemons of `orphans`, every kernel
    leftovers = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/**/rnn-grader-{os.getpid()}-*")]
    assert leftovers == []


def test_the_grader_stays_small_while_students_print_a_gigabyte(attacked):
    results, *_, grader_growth_mb, _ = attacked
    assert results["gigabyte_print"].cells[0]["dropped_output_bytes"] > 0
    assert grader_growth_mb < 300, grader_growth_mb


def test_killing_everything_in_reach_hurts_only_the_attacker(attacked):
    results = attacked[0]
    assert results["kill_parent"].score == 0 and results["honest"].score == results["honest"].max_score
    assert not has_flag(results["kill_parent"], "timeout")  # it ended at once; nothing of the grader died


def test_a_fork_bomb_stops_at_the_process_limit_and_is_ended_early(attacked):
    result = attacked[0]["fork_bomb"]
    assert has_flag(result, "process_limit") and "fork bomb" in (result.error or "")
    assert not has_flag(result, "timeout") and result.elapsed_s < 0.75 * BUDGET_S  # ended early, not by the budget
