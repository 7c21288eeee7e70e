"""The grading process's memory on a cluster, in the number of submissions: measured in one run.

    python bench/cluster_memory.py [--rounds 5] [--per-round 1000] [--workers 2]

Builds synthetic submissions of the tiny homework that are refused on reading (an empty file: no notebook),
so each task is milliseconds and the run measures the orchestration, not the grading: submitting, streaming
results back, releasing futures. Grades `rounds` classes of `per-round` submissions one after the other on one
LocalCluster, through the same path as `grade --cluster` (no cache, no reports), twice: dropping each result
(what the orchestration itself holds) and keeping them (as `grade` does, for the reports). Prints this
process's resident memory growth per round. The first rounds include dask filling its bounded logs and
buffers; the last rounds show what each further submission costs: the orchestration's own share (results
dropped) and the results themselves (results kept), which `grade` holds for the reports.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny" / "assignment"


def _class(root: Path, count: int) -> Path:
    for index in range(count):
        folder = root / f"s{index:05d}"
        folder.mkdir(parents=True)
        (folder / "homework.ipynb").write_text("", encoding="utf-8")
    return root


def _resident_mb() -> float:
    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from grader.config import load_config
    from grader.grade.cluster import connect, grade_on_cluster
    from grader.pipeline import GradeOptions
    from grader.submissions import discover

    config, options = load_config(TINY), GradeOptions(device="cpu")
    client = connect(f"local:{args.workers}")
    growth: dict[bool, list[float]] = {False: [], True: []}
    try:
        with tempfile.TemporaryDirectory() as folder:
            warm = discover([_class(Path(folder) / "warm", 20)])
            grade_on_cluster(client, [(s, s.content_hash()) for s in warm], config, options, lambda r: None)
            for keep in (False, True):
                kept: list = []  # across rounds, as one class of rounds x per-round students would be
                for round_number in range(args.rounds):
                    submissions = discover([_class(Path(folder) / f"{keep}-{round_number}", args.per_round)])
                    pairs = [(s, s.content_hash()) for s in submissions]
                    seen = [0]

                    def done(result, kept=kept, seen=seen, keep=keep) -> None:
                        seen[0] += 1
                        if keep:
                            kept.append(result)

                    before, started = _resident_mb(), time.perf_counter()
                    grade_on_cluster(client, pairs, config, options, done)
                    growth[keep].append(_resident_mb() - before)
                    assert seen[0] == args.per_round and all(r.status == "error" for r in kept)
                    print(f"{'results kept' if keep else 'results dropped':16s} round {round_number + 1}: "
                          f"{args.per_round} submissions in {time.perf_counter() - started:5.1f} s, resident memory "
                          f"{growth[keep][-1]:+.1f} MB", flush=True)
                    del pairs, submissions
                del kept
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    for keep in (False, True):
        first, last = growth[keep][0], statistics.fmean(growth[keep][-2:])
        print(f"{'results kept' if keep else 'results dropped'}: first round {first:+.1f} MB, last two rounds "
              f"{last:+.1f} MB each ({1024 * last / args.per_round:.2f} KB per submission)")


if __name__ == "__main__":
    main()
