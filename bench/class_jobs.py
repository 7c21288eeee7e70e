"""Wall time of grading the example class with --jobs 1 and --jobs 2, measured in one run.

    python bench/class_jobs.py

Prints both times, their ratio, and the per-phase times of the reference notebook (alice).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from grader.grade import main as grade

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    times = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            batch = grade(paths=[REPO / "examples" / "submissions"], out=Path(out), jobs=jobs, device="cpu",
                          quiet=True)
        times[jobs] = batch.seconds
        alice = next(r for r in batch.results if r.student == "alice")
        print(f"--jobs {jobs}: {batch.seconds:.1f} s for {len(batch.results)} submissions")
        print("  alice phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in alice.timings.items())
              + f", total {alice.elapsed_s:.2f}s")
    print(f"speed-up jobs 2 vs 1: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
