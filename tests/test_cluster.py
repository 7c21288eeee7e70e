"""`grade --cluster`: a class graded on a real dask LocalCluster with process workers (the tiny homework, so a
submission takes seconds), compared with the same class graded locally; a worker killed mid-task."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO

pytest.importorskip("distributed")

TINY = REPO / "tests" / "data" / "tiny" / "assignment"
RIGHT = "def add(a, b):\n    return [x + y for x, y in zip(a, b)]\n"


def _student(klass: Path, name: str, code: str) -> Path:
    folder = klass / name
    folder.mkdir(parents=True)
    (folder / "vectors.py").write_text(code, encoding="utf-8")
    (folder / "answers.md").write_text("## Part 2: reflection\n\nVectors are added element by element.\n",
                                       encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster with two process workers for the module; `grade --cluster ADDRESS` connects to it."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as started:
        yield started


def _checks(result):
    return result.status, result.score, [(c.id, c.score, c.message) for p in result.parts for c in p.checks]


@pytest.mark.slow
def test_a_class_graded_on_a_local_cluster_gets_the_local_results_and_the_local_cache(tmp_path, cluster):
    from grader.grade import main as grade

    klass = tmp_path / "class"
    _student(klass, "right", RIGHT)
    _student(klass, "wrong", RIGHT.replace("x + y", "x - y"))
    _student(klass, "broken", "def add(a, b):\n    return a +* b\n")
    local = grade(paths=[klass], out=tmp_path / "local", jobs=2, assignment=TINY, quiet=True)
    remote = grade(paths=[klass], out=tmp_path / "remote", assignment=TINY, quiet=True,
                   cluster=cluster.scheduler_address)
    assert [r.student for r in remote.results] == ["broken", "right", "wrong"]
    assert [_checks(r) for r in remote.results] == [_checks(r) for r in local.results]
    assert remote.results[1].score == remote.results[1].max_score and remote.results[2].parts[0].score == 0
    assert "separate_user" in remote.results[1].sandbox.get("applied", []) or os.geteuid() != 0  # sandboxed there
    again = grade(paths=[klass], out=tmp_path / "remote", assignment=TINY, quiet=True, cluster="local:1")
    assert all(r.from_cache for r in again.results)  # the cache is the grading process's, as locally
    assert (tmp_path / "remote" / "index.html").is_file() and (tmp_path / "remote" / "grades.csv").is_file()


@pytest.mark.slow
def test_a_submission_on_a_worker_that_dies_is_graded_on_another(tmp_path, cluster):
    from grader.config import load_config
    from grader.grade.cluster import connect, grade_on_cluster
    from grader.pipeline import GradeOptions
    from grader.submissions import discover

    klass = tmp_path / "class"
    for name in ("slow1", "slow2"):  # each holds its worker for a few seconds
        _student(klass, name, "import time\ntime.sleep(4)\n" + RIGHT)
    submissions = discover([klass])
    config, options = load_config(TINY), GradeOptions(device="cpu")
    client = connect(cluster.scheduler_address)
    results, killed = [], []
    try:
        def kill_a_busy_worker() -> None:
            for _ in range(200):
                busy = [address for address, tasks in client.processing().items() if tasks]
                if busy:
                    time.sleep(1.5)  # inside the submission's run, not before it
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        grade_on_cluster(client, [(s, s.content_hash()) for s in submissions], config, options, results.append)
        killer.join()
    finally:
        client.close()
    assert killed
    assert sorted(r.student for r in results) == ["slow1", "slow2"]
    assert all(r.status == "graded" and r.parts[0].score == r.parts[0].max_score for r in results)


def test_a_worker_that_sees_another_assignment_refuses_to_grade(tmp_path):
    from grader.cache import grader_fingerprint
    from grader.config import load_config
    from grader.grade.cluster import grade_remotely
    from grader.pipeline import GradeOptions
    from grader.submissions import discover

    submission = discover([_student(tmp_path / "class", "right", RIGHT)])[0]
    config = load_config(TINY)
    with pytest.raises(RuntimeError, match="another assignment folder or reference"):
        grade_remotely(submission, str(TINY), config.seeds.hidden, (grader_fingerprint(), "0" * 64),
                       GradeOptions(device="cpu"), submission.content_hash())
    with pytest.raises(RuntimeError, match="another grader code"):
        grade_remotely(submission, str(TINY), config.seeds.hidden, ("0" * 64, config.fingerprint()),
                       GradeOptions(device="cpu"), submission.content_hash())
