"""`grade submissions/ --cluster ADDRESS` (or `local:N`): grading spread over a dask.distributed cluster.

Each submission is one task that runs the same path as a local run (`pipeline.grade_submission`: the sandbox,
the probes, the judges) on a worker; results stream back as they finish, and everything after grading (cache,
reviews, reports, exports) happens here, as in a local run. What crosses to a worker is the submission's paths,
the assignment folder's path and the run's options; a worker loads the assignment itself and refuses to grade
unless it sees the same grader code and the same assignment files as this process (the submissions and the
assignment must be on a filesystem the workers share). The hidden seed travels with the task: use a cluster
on a trusted network or with TLS (docs/cluster.md).

Memory: at most `IN_FLIGHT_PER_WORKER` tasks per worker are outstanding at once and each finished future is
released (bench/cluster_memory.py measures what is still kept per submission). A worker
that dies takes its tasks with it; the scheduler gives them to another worker (dask's `allowed-failures`);
a task that fails every time becomes that student's error result, as a crash does locally.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

from grader.config import GradingConfig
from grader.pipeline import GradeOptions, failed_result
from grader.results import SubmissionResult
from grader.submissions import Submission

IN_FLIGHT_PER_WORKER = 4


class ClusterUnavailable(ValueError):
    """The cluster cannot be used (dask.distributed missing, an address that does not answer)."""


def connect(spec: str) -> Any:
    """A dask Client: `local:N` starts N single-threaded process workers on this machine, anything else is
    a scheduler's address (tcp://host:8786, tls://...)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterUnavailable("--cluster needs dask.distributed: pip install 'rnn-grader[cluster]'") from None
    if spec.startswith("local:"):
        try:
            workers = int(spec.split(":", 1)[1])
        except ValueError:
            raise ClusterUnavailable(f"--cluster {spec}: expected local:N, N the number of workers") from None
        if workers < 1:
            raise ClusterUnavailable("--cluster local:N needs N >= 1")
        # processes, one thread each: a submission's sandbox is a process tree of its own either way, and
        # one grading thread per worker keeps the workers' own Python state apart
        # ":0": its status pages on a free port, so two local clusters never compete for 8787
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        return Client(cluster)
    try:
        return Client(spec, timeout=30)
    except (OSError, TimeoutError) as error:
        raise ClusterUnavailable(f"--cluster {spec}: no scheduler answered ({error})") from None


@functools.lru_cache(maxsize=4)
def _worker_config(assignment: str, hidden_seed: int) -> GradingConfig:
    from grader.config import load_config

    config = load_config(Path(assignment))
    config.seeds.hidden = hidden_seed  # the parent's, whatever this worker's environment says
    return config


def grade_remotely(submission: Submission, assignment: str, hidden_seed: int, fingerprints: tuple[str, str],
                   options: GradeOptions, content_hash: str) -> SubmissionResult:
    """The task a worker runs: the local path, after checking that this worker grades what the parent would."""
    from grader.cache import grader_fingerprint
    from grader.pipeline import grade_submission

    config = _worker_config(assignment, hidden_seed)
    here = (grader_fingerprint(), config.fingerprint())
    if here != fingerprints:
        what = "grader code" if here[0] != fingerprints[0] else "assignment folder or reference"
        raise RuntimeError(f"this worker has another {what} than the grading process: install the same rnn-grader "
                           f"and share the assignment folder")
    return grade_submission(submission, config, options, content_hash)


def grade_on_cluster(client: Any, submissions: list[tuple[Submission, str]], config: GradingConfig,
                     options: GradeOptions, done: Callable[[SubmissionResult], None]) -> None:
    """Grade (submission, content hash) pairs on the cluster, calling `done` with each result as it arrives."""
    from distributed import as_completed

    from grader.cache import grader_fingerprint

    assert config.assignment is not None
    fingerprints = (grader_fingerprint(), config.fingerprint())
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    pending = iter(submissions)
    by_future: dict[Any, tuple[Submission, str]] = {}
    flowing = as_completed()  # yields each future as it finishes; more are added while it runs

    def submit_next() -> None:
        item = next(pending, None)
        if item is None:
            return
        submission, content_hash = item
        future = client.submit(grade_remotely, submission, str(config.assignment.folder), config.seeds.hidden,
                               fingerprints, options, content_hash, pure=False)
        by_future[future] = item
        flowing.add(future)

    for _ in range(workers * IN_FLIGHT_PER_WORKER):
        submit_next()
    for future in flowing:
        submission, content_hash = by_future.pop(future)
        try:
            result = future.result()
        except Exception as error:  # noqa: BLE001 - the task failed on every worker it was given: that student's error
            result = failed_result(submission, config, options, "grade on the cluster", error, content_hash)
        future.release()
        done(result)
        submit_next()
