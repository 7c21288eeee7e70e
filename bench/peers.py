"""Side by side, in one run: the same class graded by `grade`, merely executed by nbclient (the floor that
every notebook grader pays), autograded by nbgrader and by Otter-Grader.

    python bench/peers.py [--rounds 3]

The class: the example class's notebooks (handout notebooks with the try-it cells students leave in, under
`if __name__ == "__main__":`). nbgrader and Otter get one test per part that checks the part's public
example (much less than `grade` checks: no hidden cases, no re-evaluation of trained weights, no written
parts), appended to every notebook as nbgrader's locked grade cells and given to Otter as exception-based
test files. Each round runs every contestant once, in the same order, on a quiet machine; the table shows
the median of the rounds and each time as a ratio of the floor with the same number of jobs.

nbgrader and Otter live in a virtual environment of their own, made on first use from
`bench/peers-requirements.txt` (`bench/.peers-venv`, minutes the first time); the floor and `grade` use
this interpreter. Otter runs without Docker (`otter run`, one process per notebook); nbgrader has no
parallel mode, so it runs with one job only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS_VENV = REPO / "bench" / ".peers-venv"
PEERS_REQUIREMENTS = REPO / "bench" / "peers-requirements.txt"


def _hello_test(model: str, train: str) -> tuple[tuple[str, ...], str]:
    """Part 2's public example for one of its two models: 15 epochs on hello -> ohlol lower the loss."""
    return (model, train, "one_hot", "encode", "HELLO_VOCAB"), f"""
        import torch
        torch.manual_seed(0)
        inputs = one_hot(encode('hello', HELLO_VOCAB), 4)
        labels = torch.tensor(encode('ohlol', HELLO_VOCAB)).view(-1, 1)
        history = {train}({model}(4, 4, 1), inputs, labels, epochs=15)
        assert len(history) == 15 and history[-1][0] < history[0][0]
    """


# One test per part: the part's public example, as a student's own notebook would check it.
PART_TESTS: dict[str, tuple[tuple[str, ...], str]] = {
    "q1_1": (("srn_numpy",), """
        import numpy as np
        example, ones = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]), np.ones((2, 2))
        assert np.allclose(srn_numpy(example, ones, ones, ones)[:, 0], [4, 12, 32])
    """),
    "q1_2": (("srn_numpy",), """
        import numpy as np
        example, ones = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]), np.ones((2, 2))
        got = srn_numpy(example, ones, ones, ones, activation=np.tanh)[:, 0]
        assert np.allclose(got, [1.92806, 1.99845, 1.99998], atol=1e-4)
    """),
    "q1_3": (("make_srn_cell", "srn_cell"), """
        import torch
        cell, linear = make_srn_cell(2, 2, 2)
        sequence = torch.tensor([[[1.0, 1.0]], [[1.0, 1.0]], [[2.0, 2.0]]])
        Y, h_T = srn_cell(sequence, torch.ones(1, 2), cell, linear)
        assert torch.allclose(Y[:, 0, 0], torch.tensor([1.99866, 1.99865, 1.99998]), atol=1e-4)
    """),
    "q1_4": (("make_srn_rnn", "srn_rnn"), """
        import torch
        rnn, linear = make_srn_rnn(2, 2, 2)
        sequence = torch.tensor([[[1.0, 1.0]], [[1.0, 1.0]], [[2.0, 2.0]]])
        out, h_n, Y = srn_rnn(sequence, torch.zeros(1, 1, 2), rnn, linear)
        assert tuple(out.shape) == (3, 1, 2) and tuple(h_n.shape) == (1, 1, 2) and tuple(Y.shape) == (3, 1, 2)
    """),
    "q2_1": _hello_test("HelloCell", "train_hello_cell"),
    "q2_2": _hello_test("HelloRNN", "train_hello_rnn"),
    "q3": (("Seq2Seq", "train_seq2seq", "translate", "make_data", "PAIRS"), """
        import torch
        torch.manual_seed(0)
        enc_input, dec_input, dec_output = make_data(PAIRS)
        assert tuple(enc_input.shape) == (6, 6, 29) and tuple(dec_output.shape) == (6, 6)
        model = Seq2Seq()
        losses = train_seq2seq(model, PAIRS, 100, 'cpu')
        assert losses[-1] < losses[0] and isinstance(translate(model, 'man', 'cpu'), str)
    """),
    "q4": (("RNN_SHAPES",), """
        assert set(RNN_SHAPES) == {'RNNCell.input', 'RNNCell.hidden', 'RNNCell.weight_ih', 'RNNCell.weight_hh',
                                   'RNN.input', 'RNN.h0', 'RNN.output', 'RNN.h_n'}
    """),
}

# The floor: run each notebook given, in order, each in a fresh kernel (nbclient, as nbgrader and Otter do).
FLOOR = """
import sys, nbformat
from nbclient import NotebookClient
for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}).execute()
"""


def peers_python() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {PEERS_VENV} for nbgrader and Otter (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEERS_REQUIREMENTS)], check=True)
    return python


def class_notebooks() -> dict[str, Path]:
    folder = REPO / "examples" / "submissions"
    return {student.name: student / "homework.ipynb" for student in sorted(folder.iterdir())
            if (student / "homework.ipynb").exists()}


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def in_parallel(commands: list[list[str]], cwd: Path, jobs: int, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda command: timed(command, cwd, env), commands))
    return time.perf_counter() - started


# ---- set-up of each contestant ----------------------------------------------------------------------

def setup_grade(work: Path, notebooks: dict[str, Path]) -> Path:
    folder = work / "grade-class"
    for student, notebook in notebooks.items():
        (folder / student).mkdir(parents=True)
        shutil.copy(notebook, folder / student / "homework.ipynb")
    return folder


def setup_floor(work: Path, notebooks: dict[str, Path]) -> list[Path]:
    paths = []
    for student, notebook in notebooks.items():
        (work / "floor" / student).mkdir(parents=True)
        paths.append(Path(shutil.copy(notebook, work / "floor" / student / "homework.ipynb")))
    (work / "floor.py").write_text(FLOOR, encoding="utf-8")
    return paths


def _test_cell_source(name: str) -> str:
    return textwrap.dedent(PART_TESTS[name][1]).strip() + "\n"


def setup_nbgrader(work: Path, notebooks: dict[str, Path]) -> Path:
    import nbformat

    course = work / "nbgrader"
    (course / "source" / "hw").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "rnn"\nc.ExecutePreprocessor.timeout = 600\n',
        encoding="utf-8")

    def test_cells() -> list:
        cells = []
        for name in PART_TESTS:
            cell = nbformat.v4.new_code_cell(_test_cell_source(name))
            cell.metadata["nbgrader"] = {"grade": True, "grade_id": name, "locked": True, "points": 1,
                                         "solution": False, "schema_version": 3}
            cells.append(cell)
        return cells

    nbformat.write(nbformat.v4.new_notebook(cells=test_cells()), course / "source" / "hw" / "hw.ipynb")
    for student, notebook in notebooks.items():
        submitted = nbformat.read(notebook, as_version=4)
        submitted.cells += test_cells()  # as if the student had started from nbgrader's release
        (course / "submitted" / student / "hw").mkdir(parents=True)
        nbformat.write(submitted, course / "submitted" / student / "hw" / "hw.ipynb")
    return course


def setup_otter(work: Path, notebooks: dict[str, Path], python: Path) -> tuple[Path, list[Path]]:
    folder = work / "otter"
    tests = folder / "tests"
    tests.mkdir(parents=True)
    for name, (arguments, _) in PART_TESTS.items():
        body = textwrap.indent(_test_cell_source(name), "    ")
        tests.joinpath(f"{name}.py").write_text(
            f"from otter.test_files import test_case\n\nOK_FORMAT = False\nname = {name!r}\npoints = 1\n\n\n"
            f"@test_case(points=1)\ndef test_public_example({', '.join(arguments)}):\n{body}", encoding="utf-8")
    subprocess.run([str(python.parent / "otter"), "generate", "-t", str(tests), "-o", str(folder / "autograder.zip"),
                    "--no-requirements", "--no-environment", "--no-config"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    paths = []
    for student, notebook in notebooks.items():
        (folder / "subs" / student).mkdir(parents=True)
        paths.append(Path(shutil.copy(notebook, folder / "subs" / student / "homework.ipynb")))
    return folder, paths


# ---- one round --------------------------------------------------------------------------------------

def one_round(work: Path, grade_class: Path, floor: list[Path], course: Path, otter: tuple[Path, list[Path]],
              python: Path, jobs: tuple[int, ...]) -> dict[tuple[str, int], float]:
    """Seconds per (contestant, jobs)."""
    times: dict[tuple[str, int], float] = {}
    # one thread, as `grade` gives its students (two per process on two cores thrash); the peers' tools on PATH
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1",
                  "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")])}
    for n in jobs:
        # a fresh output folder each time: nothing (results, drawn plots) carried over from an earlier round
        shutil.rmtree(work / f"grade-out-{n}", ignore_errors=True)
        times["grade", n] = timed([sys.executable, "-m", "grader.cli", "run", str(grade_class), "--jobs", str(n),
                                            "--rerun", "--quiet", "--out", str(work / f"grade-out-{n}")], REPO)
        times["grade's checks alone", n] = checks_seconds(work / f"grade-out-{n}") / n
        halves = [[str(p) for p in floor[i::n]] for i in range(n)]
        times["nbclient floor", n] = in_parallel(
            [[sys.executable, str(work / "floor.py"), *half] for half in halves], work, n, one_thread)
    shutil.rmtree(course / "autograded", ignore_errors=True)
    (course / "gradebook.db").unlink(missing_ok=True)
    times["nbgrader autograde", 1] = (
        timed([str(python.parent / "nbgrader"), "generate_assignment", "hw", "--force"], course, one_thread)
        + timed([str(python.parent / "nbgrader"), "autograde", "hw", "--create", "--force"], course, one_thread))
    folder, submissions = otter
    for n in jobs:
        results = folder / f"results-{n}"
        commands = [[str(python.parent / "otter"), "run", "-a", str(folder / "autograder.zip"), "-o",
                     str(results / path.parent.name), "--no-logo", str(path)] for path in submissions]
        for path in submissions:
            (results / path.parent.name).mkdir(parents=True, exist_ok=True)
        times["otter run", n] = in_parallel(commands, folder, n, one_thread)
    return times


def checks_seconds(out: Path) -> float:
    """The checks' own work in a `grade` run: the probe times its sandboxes reported, summed over the class
    (training the students' models, mostly). It is the floor under any grader that checks this much, on
    this machine, whatever it does to start processes and write reports."""
    total = 0.0
    for path in (out / "results").glob("*.json"):
        timings = json.loads(path.read_text(encoding="utf-8")).get("timings", {})
        total += sum(seconds for name, seconds in timings.items() if name.startswith("part "))
    return total


def check_peers_graded(course: Path, otter_folder: Path, students: list[str], python: Path) -> str:
    """Both peers ran their tests (a benchmark of graders that graded nothing would flatter them)."""
    otter_scores = {}
    for student in students:
        result = json.loads((otter_folder / "results-1" / student / "results.json").read_text(encoding="utf-8"))
        otter_scores[student] = sum(test.get("score", 0) or 0 for test in result.get("tests", []))
    nbgrader_scores = subprocess.run(
        [str(python), "-c", "import json, sys\nfrom nbgrader.api import Gradebook\n"
         "with Gradebook('sqlite:///' + sys.argv[1] + '/gradebook.db', 'rnn') as gradebook:\n"
         "    print(json.dumps({s.student.id: s.score for s in gradebook.assignment_submissions('hw')}))",
         str(course)], capture_output=True, text=True, check=True).stdout
    return (f"points of {len(PART_TESTS)} public tests; Otter: {otter_scores}; "
            f"nbgrader: {json.loads(nbgrader_scores)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    python = peers_python()
    notebooks = class_notebooks()
    rounds: list[dict[tuple[str, int], float]] = []
    with tempfile.TemporaryDirectory(prefix="rnn-grader-peers-") as temporary:
        work = Path(temporary)
        grade_class, floor = setup_grade(work, notebooks), setup_floor(work, notebooks)
        course = setup_nbgrader(work, notebooks)
        otter = setup_otter(work, notebooks, python)
        for number in range(args.rounds):
            rounds.append(one_round(work, grade_class, floor, course, otter, python, (1, 2)))
            print(f"round {number + 1}: " + ", ".join(f"{name} (jobs {n}) {v:.1f} s"
                                                      for (name, n), v in rounds[-1].items()), flush=True)
        print(check_peers_graded(course, otter[0], list(notebooks), python))
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"\n{len(notebooks)} notebooks, median of {args.rounds} rounds; {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| contestant | jobs | seconds | ÷ nbclient floor, same jobs | ÷ grade, same jobs |")
    print("|---|---|---|---|---|")
    for (name, jobs), seconds in sorted(medians.items(), key=lambda item: (item[0][1], item[1])):
        print(f"| {name} | {jobs} | {seconds:.1f} | {seconds / medians['nbclient floor', jobs]:.2f} | "
              f"{seconds / medians['grade', jobs]:.2f} |")
    print(f"\ngrade --jobs 2 vs --jobs 1: {medians['grade', 1] / medians['grade', 2]:.2f}x faster")
    print("\n\"grade's checks alone\": the probe times grade's sandboxes reported (training the students' models,"
          " mostly), summed over the class and divided by the jobs: what checking this much costs before any"
          " process is started or page written, not a run of its own.")

if __name__ == "__main__":
    main()
