"""The grading process's memory on a cluster, in the number of submissions: measured in one run.

    python bench/cluster_memory.py [--small 200] [--large 2000] [--workers 2]

Builds synthetic submissions of the tiny homework that are refused on reading (an empty file: no notebook),
so each task is milliseconds and the run measures the orchestration, not the grading: submitting, streaming
results back, releasing futures. Grades `small` and then `large` of them on a LocalCluster through the same
path as `grade --cluster` (no cache, no reports) twice: dropping each result (what the orchestration itself
holds: submitting, streaming back, releasing futures) and keeping them (as `grade` does, for the reports).
Prints this process's resident memory growth for each. Flat: the orchestration's growth does not scale
with the number of submissions; what is kept is the results themselves.
"""

from __future__ import annotations

import argparse
import gc
import resource
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
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from grader.config import load_config
    from grader.grade.cluster import connect, grade_on_cluster
    from grader.pipeline import GradeOptions
    from grader.submissions import discover

    config, options = load_config(TINY), GradeOptions(device="cpu")
    client = connect(f"local:{args.workers}")
    try:
        with tempfile.TemporaryDirectory() as folder:
            warm = discover([_class(Path(folder) / "warm", 20)])
            grade_on_cluster(client, [(s, s.content_hash()) for s in warm], config, options, lambda r: None)
            growth = {}
            for keep in (False, True):
                for count in (args.small, args.large):
                    submissions = discover([_class(Path(folder) / f"{keep}{count}", count)])
                    pairs = [(s, s.content_hash()) for s in submissions]
                    results: list = []
                    seen = [0]

                    def done(result, results=results, seen=seen, keep=keep) -> None:
                        seen[0] += 1
                        if keep:
                            results.append(result)

                    before, started = _resident_mb(), time.perf_counter()
                    grade_on_cluster(client, pairs, config, options, done)
                    growth[keep, count] = _resident_mb() - before
                    assert seen[0] == count and all(r.status == "error" for r in results)
                    print(f"{'results kept' if keep else 'results dropped':16s} {count:5d} submissions: "
                          f"{time.perf_counter() - started:5.1f} s, resident memory {growth[keep, count]:+.1f} MB "
                          f"({1024 * growth[keep, count] / count:.1f} KB per submission)")
                    del results, pairs, submissions
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    for keep in (False, True):
        ratio = growth[keep, args.large] / max(growth[keep, args.small], 0.1)
        print(f"{'results kept' if keep else 'results dropped'}: growth {args.large} vs {args.small}: {ratio:.2f}x "
              f"for {args.large / args.small:.0f}x the submissions")


if __name__ == "__main__":
    main()
