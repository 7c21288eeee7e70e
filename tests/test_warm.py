"""Warm slots (grader.sandbox.slots): one pre-imported process forks each submission's sandbox, several at once.

What matters: nothing one student changes reaches the next student forked from the same slot, and cells run
in the forked shell behave as they do in a Jupyter kernel (the cold path, still used when no slot starts).
"""

from __future__ import annotations

import json

import nbformat
import pytest

from grader.sandbox import slots
from grader.sandbox.launch import ExecutionLimits, execute

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_pool(monkeypatch):
    pool = slots.SlotPool()
    monkeypatch.setattr(slots, "POOL", pool)
    yield pool
    pool.close()


def run_cells(tmp_path, name: str, cells: list[str], *, cell_timeout_s: float = 20, output_kb: int = 64):
    root = tmp_path / name
    root.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nbformat.write(notebook, root / "homework.ipynb")
    limits = ExecutionLimits(submission_timeout_s=120, cell_timeout_s=cell_timeout_s, kernel_start_timeout_s=60,
                             memory_mb=3072, cpu_s=300, output_kb=output_kb)
    return execute(root=root, kind="notebook", notebook=notebook, modules=[], probes=[], limits=limits, seed=7)


def printed(record, marker: str) -> dict:
    text = "".join(cell.get("output", "") for cell in record.cells)
    return json.loads(text.split(marker, 1)[1].splitlines()[0])


# What the second student sees of the state every student starts from.
OBSERVE = '''
import builtins, json, os, random, sys
import numpy as np, torch
import grader.sandbox.runtime as runtime
print("SEEN", json.dumps({
    "numpy_random": float(np.random.rand()), "torch_random": float(torch.rand(1)), "random": random.random(),
    "dtype": str(torch.get_default_dtype()), "threads": torch.get_num_threads(),
    "environment": os.environ.get("LEAKED"), "runtime_constant": runtime.MAX_ELEMENTS,
    "numpy_attribute": hasattr(np, "leaked"), "builtin": hasattr(builtins, "leaked"),
    "norm": np.linalg.norm.__name__, "rnn_forward": torch.nn.RNN.forward.__name__,
    "modules": "leaked_module" in sys.modules, "files": sorted(os.listdir(".")),
    "home_files": sorted(os.listdir(os.environ["HOME"])), "cwd": os.getcwd(),
}))
'''

# What the first student changes: generators, defaults, environment, library and grader modules, files.
MUTATE = '''
import builtins, json, os, random, sys, types
import numpy as np, torch
import grader.sandbox.runtime as runtime
np.random.seed(1); torch.manual_seed(1); random.seed(1)
torch.set_default_dtype(torch.float64); torch.set_num_threads(2)
os.environ["LEAKED"] = "yes"
runtime.MAX_ELEMENTS = 1
np.leaked = builtins.leaked = True
np.linalg.norm = lambda *args, **kwargs: 0.0
torch.nn.RNN.forward = lambda self, *args: None
sys.modules["leaked_module"] = types.ModuleType("leaked_module")
open("left-behind.txt", "w").write("mine")
open(os.path.join(os.environ["HOME"], "left-behind.txt"), "w").write("mine")
print("CHANGED", json.dumps({"dtype": str(torch.get_default_dtype()), "environment": os.environ["LEAKED"],
                             "runtime_constant": runtime.MAX_ELEMENTS, "files": sorted(os.listdir("."))}))
'''


def test_nothing_one_student_changes_reaches_the_next(tmp_path, fresh_pool):
    before = run_cells(tmp_path, "first-look", [OBSERVE])
    changed = run_cells(tmp_path, "mutator", [MUTATE])
    after = run_cells(tmp_path, "second-look", [OBSERVE])
    assert before.slot and before.slot == changed.slot == after.slot  # the same warm slot forked all three
    assert changed.cells[0]["status"] == "ok", changed.cells
    # the changes were made (within the mutator's own process) ...
    assert printed(changed, "CHANGED ") == {"dtype": "torch.float64", "environment": "yes", "runtime_constant": 1,
                                            "files": ["homework.ipynb", "left-behind.txt"]}
    # ... and the next student starts exactly where the first one did
    seen_before, seen_after = printed(before, "SEEN "), printed(after, "SEEN ")
    assert seen_before.pop("cwd") != seen_after.pop("cwd")  # each has a private copy of its own
    assert seen_after == seen_before
    assert seen_after["dtype"] == "torch.float32" and seen_after["threads"] == 1
    assert seen_after["environment"] is None and seen_after["norm"] == "norm" and seen_after["files"] == ["homework.ipynb"]
    assert "left-behind.txt" not in seen_after["home_files"]


def test_a_slot_that_died_is_replaced(tmp_path, fresh_pool):
    import os
    import signal

    first = run_cells(tmp_path, "one", ["print('one')"])
    os.kill(first.slot, signal.SIGKILL)
    second = run_cells(tmp_path, "two", ["print('two')"])
    assert second.slot and second.slot != first.slot
    assert second.cells[0]["output"] == "two\n"


def test_a_fork_finds_the_libraries_warm(tmp_path, fresh_pool):
    """torch imports torch._dynamo (~800 modules, 1.1-1.5 s) on the first optimizer a process makes: part 2's
    training paid that in every submission until the slot imported it once for all of them. Likewise
    nbformat builds its schema validator on a process's first read (~50-70 ms a submission, in the worker)."""
    record = run_cells(tmp_path, "optimizer", [
        "import json, sys\nbefore = set(sys.modules)\nimport torch\n"
        "torch.optim.Adam(torch.nn.RNNCell(4, 4).parameters(), lr=0.1).step()\n"
        "print('NEW', json.dumps(sorted(set(sys.modules) - before)))\n"
        "import nbformat.validator\n"
        "print('BUILT', json.dumps(sorted(key[2] for key in nbformat.validator.validators)))"])
    assert record.slot and record.cells[0]["status"] == "ok", record.cells
    new = printed(record, "NEW ")
    assert len(new) < 10 and not any(name.startswith(("torch._dynamo", "sympy")) for name in new), new
    assert {4, 5} <= set(printed(record, "BUILT ")), "the worker's fork should find nbformat's validators built"


@pytest.fixture(params=["warm", "cold"])
def path(request, monkeypatch, fresh_pool):
    monkeypatch.setenv("RNN_GRADER_WARM", "1" if request.param == "warm" else "0")
    return request.param


def test_cells_behave_as_in_a_kernel(tmp_path, path):
    record = run_cells(tmp_path, "cells", [
        "x = 41\nx + 1",
        "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)",
        "1 / 0",
        "import time\ntime.sleep(60)",
        "%time y = 2\n!echo shell-says-hi",
        "print('x' * 200_000)",
        "print(x, y)",
    ], cell_timeout_s=3)
    assert bool(record.slot) == (path == "warm")
    cells = record.cells
    assert record.status == "completed" and record.finished, record.fatal_message
    assert [c["status"] for c in cells] == ["ok", "ok", "error", "timeout", "ok", "ok", "ok"]
    assert cells[0]["output"] == "42\n"
    assert "to stdout" in cells[1]["output"] and "to stderr" in cells[1]["output"]
    assert cells[2]["ename"] == "ZeroDivisionError" and cells[2]["execution_count"] == 3
    assert any("1 / 0" in line for line in cells[2]["traceback"])
    assert "shell-says-hi" in cells[4]["output"] and "Wall time" in cells[4]["output"]
    assert cells[5]["dropped_output_bytes"] > 0 and len(cells[5]["output"]) <= 4000
    assert cells[6]["output"] == "41 2\n"  # state survives an error and an interrupted cell


def test_a_process_that_dies_is_reported_at_its_cell(tmp_path, path):
    record = run_cells(tmp_path, "dies", ["print('before')", "import os\nos._exit(3)", "print('never')"])
    assert record.status == "crashed"
    assert [c["status"] for c in record.cells] == ["ok", "dead"]
    assert record.fatal_message.key == "kernel_died" and record.fatal_message.params["number"] == 2


def test_a_cell_that_ignores_the_interrupt_is_ended(tmp_path, fresh_pool):
    record = run_cells(tmp_path, "stubborn", [
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)", "print('never')"],
        cell_timeout_s=2)
    assert record.slot
    assert record.status == "crashed" and [c["status"] for c in record.cells] == ["dead"]


def test_without_a_slot_the_cold_path_grades_and_says_why(tmp_path, fresh_pool, monkeypatch):
    monkeypatch.setattr(slots, "SLOT_START_TIMEOUT_S", 0.001)  # no slot can be ready that fast
    record = run_cells(tmp_path, "cold", ["print('still graded')"])
    assert record.slot == 0 and record.finished and record.cells[0]["output"] == "still graded\n"
    assert fresh_pool.unavailable() and "did not start" in fresh_pool.unavailable()[0]


def test_a_prestarted_slot_is_the_one_the_first_submission_runs_in(tmp_path, fresh_pool, monkeypatch):
    started = []
    real_init = slots.Slot.__init__
    monkeypatch.setattr(slots.Slot, "__init__", lambda self, *a, **k: started.append(1) or real_init(self, *a, **k))
    fresh_pool.prestart(preload=(), import_paths=())
    fresh_pool.prestart(preload=(), import_paths=())  # a second call finds it: still one
    (prestarted,) = fresh_pool._slots.values()
    assert not prestarted.ready  # prestart does not wait for the imports
    record = run_cells(tmp_path, "first", ["print('first')"])
    assert record.slot == prestarted.process.pid and len(started) == 1
    assert record.cells[0]["output"] == "first\n"


def test_a_slot_still_importing_is_ended_at_once_when_the_pool_closes(fresh_pool):
    import time

    fresh_pool.prestart(preload=(), import_paths=())
    fresh_pool.prestart(preload=("json",), import_paths=())  # another kind of slot
    processes = [slot.process for slot in fresh_pool._slots.values()]
    assert len(processes) == 2
    began = time.monotonic()
    fresh_pool.close()
    assert time.monotonic() - began < 3 and all(process.poll() is not None for process in processes)


def test_grade_starts_its_slot_before_it_reads_the_first_submission(tmp_path, fresh_pool, monkeypatch):
    """The slot's imports (~3 s) overlap the parent's own preparation; and it is the slot the submission
    uses: a prestart under another key would start a second one."""
    import shutil
    import time

    from conftest import EXAMPLES
    from grader import pipeline
    from grader.grade import main as grade

    events = []
    real_init, real_read = slots.Slot.__init__, pipeline.read_submission
    monkeypatch.setattr(slots.Slot, "__init__",
                        lambda self, *a, **k: events.append(("slot", time.monotonic())) or real_init(self, *a, **k))
    monkeypatch.setattr(pipeline, "read_submission",
                        lambda *a, **k: events.append(("read", time.monotonic())) or real_read(*a, **k))
    shutil.copytree(EXAMPLES / "bob", tmp_path / "class" / "bob")
    batch = grade(paths=[tmp_path / "class"], out=tmp_path / "out", jobs=1, only=["2.2"], quiet=True,
                  use_cache=False)
    assert batch.results[0].score == batch.results[0].max_score
    assert [name for name, _ in events] == ["slot", "read"], events


def test_one_slot_serves_two_submissions_at_once(tmp_path, fresh_pool, monkeypatch):
    """Two job threads share one slot (torch imported once per run, not once per job), and their
    submissions run side by side (each sleeps 3 s, both end within one sleep of each other's start)
    without a descriptor of each other's."""
    import threading
    import time

    started = []
    real_init = slots.Slot.__init__
    monkeypatch.setattr(slots.Slot, "__init__", lambda self, *a, **k: started.append(1) or real_init(self, *a, **k))
    run_cells(tmp_path, "first", ["print('warm')"])  # the slot is up: what follows measures only the forks
    records, spans = {}, {}

    def student(name: str) -> None:
        began = time.monotonic()
        records[name] = run_cells(tmp_path, name, [
            "import time, os\ntime.sleep(3)\nsockets = 0\n"
            "for d in os.listdir('/proc/self/fd'):\n"
            "    try:\n        sockets += os.readlink(f'/proc/self/fd/{d}').startswith('socket:')\n"
            "    except OSError:\n        pass  # the listing's own descriptor, closed by now\n"
            f"print('{name}', os.getpid(), sockets)"])
        spans[name] = (began, time.monotonic())

    threads = [threading.Thread(target=student, args=(name,)) for name in ("anna", "bert")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1
    assert records["anna"].slot == records["bert"].slot != 0
    assert [records[n].cells[0]["output"].split()[0] for n in ("anna", "bert")] == ["anna", "bert"]
    assert records["anna"].cells[0]["output"] != records["bert"].cells[0]["output"]  # two processes
    # neither holds a socket: not the slot's, not the other submission's job socket
    assert [records[n].cells[0]["output"].split()[2] for n in ("anna", "bert")] == ["0", "0"]
    (a_start, a_end), (b_start, b_end) = spans["anna"], spans["bert"]
    assert min(a_end, b_end) > max(a_start, b_start)  # overlapped
    assert max(a_end, b_end) - min(a_start, b_start) < 6  # one after the other would be over 6 s


def test_a_submission_the_grader_lets_go_of_is_ended_by_its_slot(tmp_path, fresh_pool, monkeypatch):
    """The grader closes a submission's job socket when it is done with it; should the keeper still run
    (the grader's own clean-up having failed), the slot ends its session, and serves the next one."""
    import os
    import time

    from grader.sandbox import launch

    # what the grader does itself to end a submission, switched off: only the slot can end this one
    monkeypatch.setattr(launch, "_stop", lambda process: None)
    monkeypatch.setattr(launch.SubmissionGroups, "kill_all", lambda self: None)
    monkeypatch.setattr(launch, "kill_user", lambda uid: None)
    run_cells(tmp_path, "first", ["print('warm')"])  # the slot's start is not part of the 6 s below
    root = tmp_path / "stays"
    root.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint('PID', os.getpid())"),
                                               nbformat.v4.new_code_cell("import time\ntime.sleep(120)")])
    limits = ExecutionLimits(submission_timeout_s=6, cell_timeout_s=200, kernel_start_timeout_s=60,
                             memory_mb=3072, cpu_s=300, output_kb=64)
    record = execute(root=root, kind="notebook", notebook=notebook, modules=[], probes=[], limits=limits, seed=7)
    assert record.status == "timeout" and record.slot and record.cells, record.cells
    pid = int(record.cells[0]["output"].split()[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")
    after = run_cells(tmp_path, "next", ["print('next')"])
    assert after.slot == record.slot and after.cells[0]["output"] == "next\n"


def test_a_request_the_slot_cannot_serve_ends_nothing_else(tmp_path, fresh_pool):
    """A request the slot cannot serve (here: not JSON; elsewhere: a fork the system refuses) is answered
    with the reason, and the submission running beside it, and the next one, go on in the same slot."""
    import os
    import socket
    import threading

    run_cells(tmp_path, "first", ["print('warm')"])
    (slot,) = fresh_pool._slots.values()
    records = {}
    running = threading.Thread(target=lambda: records.update(
        long=run_cells(tmp_path, "long", ["import time\ntime.sleep(3)\nprint('still here')"])))
    running.start()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    read_end, write_end = os.pipe()
    try:
        socket.send_fds(slot.control, [b"not a request"], [theirs.fileno(), read_end, write_end])
        reply = slots.receive(ours, 10)
    finally:
        for end in (theirs, ours):
            end.close()
        os.close(read_end)
        os.close(write_end)
    running.join()
    assert reply and "error" in reply and "JSONDecodeError" in reply["error"], reply
    assert records["long"].slot == slot.process.pid and records["long"].cells[0]["output"] == "still here\n"
    after = run_cells(tmp_path, "after", ["print('next')"])
    assert after.slot == slot.process.pid and after.cells[0]["output"] == "next\n"
