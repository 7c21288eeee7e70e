"""Time the part-3 check (seq2seq training to the loss threshold, then six translations) per device.

    python bench/part3_device.py [cpu cuda]

Grades the reference notebook (examples/submissions/alice) with --only 3 once per device, in one run,
and prints the probe's wall time and the epochs it needed. Compare only numbers from the same machine.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grader.grade import main as grade

REPO = Path(__file__).resolve().parents[1]


def main(devices: list[str]) -> None:
    rows = []
    for device in devices:
        with tempfile.TemporaryDirectory() as out:
            result = grade(paths=[REPO / "examples" / "submissions" / "alice"], out=Path(out), jobs=1,
                           device=device, only=["3"], quiet=True).results[0]
        part = result.parts[0]
        training = next(c for c in part.checks if c.id == "training")
        rows.append((device, result.timings.get("part 3", float("nan")), result.timings.get("kernel_start"),
                     result.timings.get("student_code"), part.score, training.message))
    print(f"{'device':8} {'part 3 s':>9} {'kernel s':>9} {'cells s':>8} {'score':>6}  training")
    for device, probe, kernel, cells, score, message in rows:
        print(f"{device:8} {probe:9.2f} {kernel:9.2f} {cells:8.2f} {score:6g}  {message}")
    if len(rows) == 2 and rows[1][1]:
        print(f"ratio {rows[0][0]}/{rows[1][0]} part-3 time: {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["cpu"])
