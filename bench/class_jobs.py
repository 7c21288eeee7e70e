"""Wall time of grading the example class with --jobs 1 and --jobs 2, measured in one run.

    python bench/class_jobs.py [--copies N]

`--copies N` grades a class of N copies of each example student (alice-1, alice-2, ...): a larger class, where
what is paid once per run (starting the warm slots, the grader's imports) weighs less. Prints both times (the
whole run: grading, reports and exports), their ratio, and the per-phase times of the reference notebook (alice).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from grader.grade import main as grade

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "submissions"


def _class(folder: Path, copies: int) -> Path:
    if copies == 1:
        return EXAMPLES
    for student in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        for copy in range(1, copies + 1):
            shutil.copytree(student, folder / f"{student.name}-{copy}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=1)
    args = parser.parse_args()
    times = {}
    with tempfile.TemporaryDirectory() as class_folder:
        klass = _class(Path(class_folder), args.copies)
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                batch = grade(paths=[klass], out=Path(out), jobs=jobs, device="cpu", quiet=True)
                times[jobs] = time.perf_counter() - started
            alice = next(r for r in batch.results if r.student.startswith("alice"))
            print(f"--jobs {jobs}: {times[jobs]:.1f} s for {len(batch.results)} submissions "
                  f"(grading {batch.seconds:.1f} s, then reports and exports)")
            print("  alice phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in alice.timings.items())
                  + f", total {alice.elapsed_s:.2f}s")
    print(f"speed-up jobs 2 vs 1: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
