"""What one submission costs beyond its own code: a one-cell notebook (`import torch`, as every submission of
this homework has), no probes, executed in the full sandbox, warm (forked from a slot) and cold (fresh interpreters and a Jupyter kernel), measured in one run.

    python bench/fixed_cost.py [--runs 10]

Prints the median wall time of `launch.execute` per path and their ratio. The first warm run starts the slot
(imports torch once) and is reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from grader.sandbox import slots
from grader.sandbox.launch import ExecutionLimits, execute

LIMITS = ExecutionLimits(submission_timeout_s=120, cell_timeout_s=60, kernel_start_timeout_s=60, memory_mb=3072,
                         cpu_s=300, output_kb=64)


def one(folder: Path, name: str) -> float:
    root = folder / name
    root.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
    nbformat.write(notebook, root / "homework.ipynb")
    started = time.perf_counter()
    record = execute(root=root, kind="notebook", notebook=notebook, modules=[], probes=[], limits=LIMITS, seed=0)
    if not record.finished or bool(record.slot) != (os.environ.get("RNN_GRADER_WARM") != "0"):
        raise SystemExit(f"{name}: did not run as asked: {record.status} {record.fatal_message}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"warm": [], "cold": []}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        os.environ["RNN_GRADER_WARM"] = "1"
        first = one(folder, "first")
        for run in range(args.runs):  # alternating, so both see the same machine
            for path in ("warm", "cold"):
                os.environ["RNN_GRADER_WARM"] = "1" if path == "warm" else "0"
                times[path].append(one(folder, f"{path}-{run}"))
    slots.POOL.close()
    warm, cold = statistics.median(times["warm"]), statistics.median(times["cold"])
    print(f"first warm run (starts the slot): {first:.2f} s")
    print(f"warm: median {warm:.3f} s (min {min(times['warm']):.3f}) over {args.runs} runs")
    print(f"cold: median {cold:.3f} s (min {min(times['cold']):.3f}) over {args.runs} runs")
    print(f"cold / warm: {cold / warm:.1f}x")


if __name__ == "__main__":
    main()
