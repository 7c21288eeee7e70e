"""Cost of the integrity watcher (the audit hook in the student's kernel) on the homework's own work:
the reference's seq2seq training (300 epochs) and a file-heavy loop, each in a fresh interpreter with and
without ``runtime.watch`` installed, alternating, in one run.

    python bench/watcher_overhead.py [rounds]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = """
import sys, time, tempfile, os
sys.path.insert(0, {repo!r})
import torch
torch.set_num_threads(1)
if {watched}:
    from grader.sandbox import runtime
    folder = tempfile.mkdtemp()
    runtime.watch(os.path.join(folder, "events.jsonl"), folder)
import importlib.util
spec = importlib.util.spec_from_file_location("reference", {reference!r})
reference = importlib.util.module_from_spec(spec); spec.loader.exec_module(reference)
torch.manual_seed(0)
started = time.perf_counter()
reference.train_seq2seq(reference.Seq2Seq(), reference.PAIRS, epochs=300, device="cpu")
for index in range(2000):  # opens and listings: the events the hook looks at most closely
    with open(os.path.join(tempfile.gettempdir(), "watcher-bench.txt"), "w") as handle:
        handle.write(str(index))
    os.listdir(tempfile.gettempdir())
print(time.perf_counter() - started)
"""


def run(watched: bool) -> float:
    code = WORKLOAD.format(repo=str(REPO), watched=watched, reference=str(REPO / "reference" / "rnn_basics.py"))
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "TMPDIR": tempfile.gettempdir()})
    return float(output.stdout.strip().splitlines()[-1])


def main(rounds: int) -> None:
    times: dict[str, list[float]] = {"plain": [], "watched": []}
    for _ in range(rounds):
        times["plain"].append(run(False))
        times["watched"].append(run(True))
    for name, values in times.items():
        print(f"{name:8} median {statistics.median(values):.3f} s over {rounds}: {[round(v, 3) for v in values]}")
    print(f"ratio watched/plain: {statistics.median(times['watched']) / statistics.median(times['plain']):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
