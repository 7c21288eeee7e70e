"""Integrity notes read from code: what reaches outside is found, ordinary homework code stays quiet."""

from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES, REPO
from grader.integrity import from_sandbox, merge, read_code


def notes(source: str) -> set[tuple[str, str]]:
    return {(f.category, f.detail) for f in read_code([("cell 1", source)])}


@pytest.mark.parametrize("source, expected", [
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", ("monkeypatch", "numpy.allclose = ...")),
    ("from torch import Tensor\nTensor.__eq__ = lambda a, b: True", ("monkeypatch", "torch.Tensor.__eq__ = ...")),
    ("import builtins\nsetattr(builtins, 'print', None)", ("monkeypatch", "setattr(builtins, print)")),
    ("import sys\nsys.modules['numpy'] = object()", ("monkeypatch", "sys.modules[numpy] = ...")),
    ("__builtins__.print = len", ("monkeypatch", "__builtins__.print = ...")),
    ("import socket as s\ns.create_connection(('1.1.1.1', 80))", ("network", "socket.create_connection(...)")),
    ("import requests", ("network", "import requests")),
    ("import os\nos.system('ls')", ("processes", "os.system(...)")),
    ("from os import kill\nkill(1, 9)", ("processes", "os.kill(...)")),
    ("!rm -rf /", ("processes", "shell command: !rm -rf /")),
    ("%%bash\nls /", ("processes", "%%bash cell")),
    ("open('/proc/1/environ').read()", ("files", "path '/proc/1/environ'")),
    ("pid = 1\nopen(f'/proc/{pid}/environ')", ("files", "path '/proc/'")),
    ("open('../../reference/solution.ipynb')", ("files", "path '../../reference/solution.ipynb'")),
    ("import ctypes", ("interpreter", "import ctypes")),
    ("import gc\ngc.get_objects()", ("interpreter", "gc.get_objects(...)")),
    ("import grader.sandbox.runtime", ("interpreter", "import grader.sandbox.runtime")),
])
def test_reaching_outside_is_noted(source, expected):
    assert expected in notes(source)


def test_ordinary_homework_code_gets_no_notes():
    source = """
import os, random, math
import numpy as np
import torch
import torch.nn as nn
import matplotlib.pyplot as plt
os.environ["KMP_DUPLICATE_LIB_OK"] = "TRUE"
torch.backends.cudnn.deterministic = True
plt.rcParams["font.sans-serif"] = ["SimHei"]
torch.manual_seed(0); np.random.seed(0); random.seed(0)
print(f"{3.2:.1f} it/s, {1}/{2} done", "loss/epoch")
cell = nn.RNNCell(4, 2)
torch.save(cell.state_dict(), "model.pt")
with open("data/words.txt", "w") as handle:
    handle.write("man women")
%matplotlib inline
"""
    assert notes(source) == set()


def test_the_reference_and_the_example_class_get_no_notes():
    notebook = json.loads((REPO / "reference" / "solution.ipynb").read_text(encoding="utf-8"))
    sources = [(f"cell {i}", "".join(c["source"])) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"]
    for path in EXAMPLES.rglob("*"):
        if path.suffix == ".py":
            sources.append((path.name, path.read_text(encoding="utf-8")))
        elif path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            sources += [(path.name, "".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    assert len(sources) > 50
    assert read_code(sources) == []


def test_a_cell_that_does_not_parse_is_skipped_not_fatal():
    assert notes("def broken(:\n    pass") == set()


def test_sandbox_events_are_parsed_defensively_and_merged_without_repeats():
    events = [{"category": "network", "detail": "socket.connect ('1.1.1.1', 80)"}, "garbage", {"category": "evil"},
              {"category": "network", "detail": "socket.connect ('1.1.1.1', 80)"}, {"category": "files", "detail": 7}]
    merged = merge(read_code([("m.py", "import socket")]), from_sandbox(events))
    assert [(m["category"], m["detail"], m["source"]) for m in merged] == [
        ("network", "import socket", "code"), ("network", "socket.connect ('1.1.1.1', 80)", "sandbox"),
        ("files", "7", "sandbox")]


def test_the_watcher_blames_the_student_not_pythons_import_system(tmp_path):
    """An import that makes Python list a sys.path folder (its mtime changed: another process wrote there)
    is not the student's doing; listing its own private folder is not reaching out; listing another is."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    private, elsewhere, other = tmp_path / "private", tmp_path / "elsewhere", tmp_path / "other"
    (private / "work").mkdir(parents=True)
    elsewhere.mkdir()
    other.mkdir()
    events = private / "events.jsonl"
    student = private / "work" / "student.py"
    student.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(elsewhere)!r})\n"
        "import json\n"
        f"open({str(elsewhere / 'fresh_module.py')!r}, 'w').write('X = 1')\n"  # changes the folder's mtime
        "os.utime(sys.path[0], (time.time() + 5, time.time() + 5))\n"
        "import fresh_module\n"
        f"os.listdir({str(private)!r})\n"
        f"os.listdir({str(other)!r})\n", encoding="utf-8")
    script = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
              "from grader.sandbox import runtime\n"
              f"runtime.watch({str(events)!r}, {str(private)!r})\n"
              f"exec(compile(open({str(student)!r}).read(), {str(student)!r}, 'exec'), {{}})\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    details = [json.loads(line)["detail"] for line in events.read_text().splitlines()]
    assert f"os.listdir {other}" in details, details
    assert f"os.listdir {elsewhere}" not in details and f"os.listdir {private}" not in details, details
