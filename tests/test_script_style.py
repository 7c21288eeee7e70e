"""Homework written without the contract (top-level scripts, a notebook of top-level cells) is graded from
evidence, part by part, and every such part is marked for review (grader.parts.found)."""

from __future__ import annotations

import csv
import textwrap

import nbformat
import pytest

from grader.contract import contract_names_defined, defines_contract
from grader.grade import main as grade
from grader.parts.found import nothing_on_contract, printed_in_order, printed_numbers

PLAIN_SRN = """
import numpy as np
xs = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
h = np.zeros(2)
for x in xs:
    h = x @ np.ones((2, 2)) + h @ np.ones((2, 2))
    print("y =", h @ np.ones((2, 2)))
"""

TANH_SRN = """
import numpy as np

def run_srn(x, W, U, V, h0=None):
    h, out = np.zeros(U.shape[0]) if h0 is None else h0, []
    for step in x:
        h = np.tanh(step @ W + h @ U)
        out.append(h @ V)
    return np.array(out)

print(run_srn(np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]), np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2))))
"""

HELLO_CELL = """
import torch
letters = ['e', 'h', 'l', 'o']
x_data = [1, 0, 2, 2, 3]
y_data = [3, 1, 2, 3, 2]
inputs = torch.eye(4)[x_data].view(-1, 1, 4)
labels = torch.LongTensor(y_data).view(-1, 1)

class Net(torch.nn.Module):
    def __init__(self, size):
        super().__init__()
        self.cell = torch.nn.RNNCell(size, size)
    def forward(self, x, h):
        return self.cell(x, h)
    def init_hidden(self):
        return torch.zeros(1, 4)

net = Net(4)
optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
for epoch in range(30):
    loss, h = 0, net.init_hidden()
    optimizer.zero_grad()
    for x, y in zip(inputs, labels):
        h = net(x, h)
        loss = loss + torch.nn.functional.cross_entropy(h, y)
    loss.backward()
    optimizer.step()
"""

HELLO_RNN_WRONG_DATA = """
import torch
letters = ['e', 'h', 'l', 'o']
x_data = [1, 0, 2, 3, 3]
y_data = [3, 1, 2, 3, 2]
inputs = torch.eye(4)[x_data].view(-1, 1, 4)
labels = torch.LongTensor(y_data)

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.RNN(4, 4)
    def forward(self, x):
        out, _ = self.rnn(x)
        return out.view(-1, 4)

model = Model()
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
for epoch in range(30):
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(inputs), labels).backward()
    optimizer.step()
"""


def test_the_contract_is_recognised_by_its_parameters_not_its_names():
    tutorial = "class Seq2Seq(nn.Module):\n    def __init__(self):\n        pass\ndef make_data(seq_data): pass\n"
    assert not defines_contract([tutorial])
    assert defines_contract(["def srn_numpy(inputs, W, U, V, h0, activation):\n    pass\n"])
    assert defines_contract(["class Seq2Seq:\n    def __init__(self, n_class, n_hidden):\n        pass\n"])
    assert defines_contract(["HELLO_VOCAB = ['e', 'h', 'l', 'o']\n"])
    assert not defines_contract(["%matplotlib inline\nx = (", "print('no contract here')"])
    # per name, so a part's evidence is not switched off by another part's contract name
    assert contract_names_defined(["HELLO_VOCAB = list('ehlo')\ndef translate(model, word, device): pass\n"]) \
        == {"HELLO_VOCAB", "translate"}


def test_evidence_helpers():
    assert printed_in_order(printed_numbers("in [1. 1.] y = 4.0 ... y = 12.0 h=2 y = 32.00001"), [4, 12, 32], 1e-3)
    assert not printed_in_order(printed_numbers("y = 32 y = 12 y = 4"), [4, 12, 32], 1e-3)
    assert nothing_on_contract({"problems": [{"issue": "not_defined", "name": "srn_numpy"}]})
    assert not nothing_on_contract({"problems": [{"issue": "x"}], "cases": []})
    assert not nothing_on_contract({})


@pytest.fixture(scope="module")
def script_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("scripts")
    scripter = root / "class" / "scripter"
    scripter.mkdir(parents=True)
    for name, code in (("srn_plain.py", PLAIN_SRN), ("srn_tanh.py", TANH_SRN), ("hello_cell.py", HELLO_CELL)):
        (scripter / name).write_text(textwrap.dedent(code), encoding="utf-8")
    notebook = nbformat.v4.new_notebook()  # the seed's way: every part as top-level cells, one namespace
    notebook.cells = [nbformat.v4.new_markdown_cell("## 1. SRN"), nbformat.v4.new_code_cell(PLAIN_SRN),
                      nbformat.v4.new_markdown_cell("## 2. hello"), nbformat.v4.new_code_cell(HELLO_RNN_WRONG_DATA)]
    nbformat.write(notebook, root / "class" / "cellwriter.ipynb")
    out = root / "out"
    batch = grade(paths=[root / "class"], out=out, jobs=2, only=["1.1", "1.2", "2.1", "2.2"], quiet=True)
    return {r.student: r for r in batch.results}, out


def test_scripts_are_graded_from_evidence(script_class):
    results, _ = script_class
    parts = {p.id: p for p in results["scripter"].parts}
    assert all(p.graded_as == "without_contract" and p.needs_review for p in (parts["1.1"], parts["1.2"], parts["2.1"]))
    plain = {c.id: c for c in parts["1.1"].checks}  # printed only: half, and it says so
    assert plain["fixed_example"].score == plain["fixed_example"].max_score / 2
    assert "printed" in plain["fixed_example"].message
    tanh = {c.id: c for c in parts["1.2"].checks}  # a function found by behaviour and run on hidden cases
    assert tanh["fixed_example"].passed and tanh["hidden_cases"].passed
    assert "run_srn" in tanh["fixed_example"].message
    hello = {c.id: c for c in parts["2.1"].checks}
    assert hello["encode"].passed and hello["one_hot"].passed and hello["model_trains"].passed
    assert hello["own_training"].passed and "run again with the grader's seeds" in hello["own_training"].message
    assert parts["2.2"].graded_as == "not_attempted" and parts["2.2"].score == 0 and not parts["2.2"].needs_review
    assert any(flag.code == "without_contract" for flag in results["scripter"].flags)


def test_a_notebook_of_top_level_cells_is_graded_from_evidence(script_class):
    results, _ = script_class
    parts = {p.id: p for p in results["cellwriter"].parts}
    assert parts["1.1"].graded_as == "without_contract" and parts["1.1"].score > 0
    assert parts["1.2"].graded_as == "not_attempted"
    rnn = {c.id: c for c in parts["2.2"].checks}
    assert parts["2.2"].graded_as == "without_contract" and rnn["model_trains"].passed
    encode = {c.id: c for c in parts["2.1"].checks}["encode"]  # x_data spells "heloo"
    assert parts["2.1"].graded_as == "without_contract" and not encode.passed and "'heloo'" in encode.message


def test_evidence_parts_are_pending_review_in_the_exports_and_explained_on_the_page(script_class):
    _, out = script_class
    with open(out / "grades.csv", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["scripter"]["state 2.1"] == "suggested" and rows["scripter"]["state 2.2"] == "automatic"
    assert "2.1" in rows["scripter"]["pending review"].split()
    with open(out / "review.csv", encoding="utf-8") as handle:
        assert {("scripter", "2.1"), ("scripter", "1.1")} <= {(r["student"], r["part"]) for r in csv.DictReader(handle)}
    page = (out / "students" / "scripter.html").read_text(encoding="utf-8")
    assert "Graded without the contract" in page and "Not attempted" in page


def test_evidence_that_leaves_out_a_scripts_reruns_is_refused():
    from grader.messages import render
    from grader.parts.part2_hello import validate_found

    failed = {"error": "RuntimeError: x"}
    model = {"source": "hello.py", "name": "net", "kind": "cell", "own": failed, "standard": [failed, failed]}
    request = {"seeds": [2, 6]}
    problem = validate_found(request, {"data": [], "models": [model]})
    assert problem is not None and "reruns" in render(problem)  # judged on its first run alone: refused
    assert validate_found(request, {"data": [], "models": [{**model, "reruns": [failed, failed]}]}) is None
    assert validate_found(request, {"data": [], "models": [{**model, "source": "notebook"}]}) is None


def test_code_too_deeply_nested_to_parse_is_skipped_not_fatal():
    from grader import integrity

    deep = "x = " + "-" * 200_000 + "1"  # the parser gives up (MemoryError on 3.11): no grader failure
    assert contract_names_defined([deep, "def srn_numpy(inputs, W, U, V, h0, activation): pass\n"]) == {"srn_numpy"}
    assert integrity.read_code([("deep.py", deep)]) == []

