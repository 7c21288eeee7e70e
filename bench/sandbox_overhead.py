"""Per-submission overhead of the namespace isolation: the reference notebook graded with --sandbox basic
and with full isolation, alternating, in one run.

    python bench/sandbox_overhead.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from grader.grade import main as grade

REPO = Path(__file__).resolve().parents[1]


def main(rounds: int) -> None:
    times: dict[str, list[float]] = {"basic": [], "auto": []}
    for _ in range(rounds):
        for mode in ("basic", "auto"):
            with tempfile.TemporaryDirectory() as out:
                result = grade(paths=[REPO / "examples" / "submissions" / "alice"], out=Path(out), jobs=1,
                               device="cpu", quiet=True, use_cache=False, sandbox=mode).results[0]
            times[mode].append(result.elapsed_s)
    for mode, values in times.items():
        print(f"{mode:6} median {statistics.median(values):.2f} s over {rounds}: {[round(v, 2) for v in values]}")
    print(f"ratio isolated/basic: {statistics.median(times['auto']) / statistics.median(times['basic']):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
