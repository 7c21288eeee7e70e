"""Contract document, handout and reference agree on every name and signature."""

from __future__ import annotations

import ast
import json

from conftest import REPO
from grader.contract import CONTRACT, RNN_SHAPE_KEYS, signature_problem


def test_reference_satisfies_the_contract(reference):
    for entry in CONTRACT:
        assert hasattr(reference, entry.name), entry.name
        assert signature_problem(entry, getattr(reference, entry.name)) is None, entry.name
    assert set(reference.RNN_SHAPES) == set(RNN_SHAPE_KEYS)


def test_signature_problem_reports_a_missing_parameter():
    entry = next(e for e in CONTRACT if e.name == "srn_rnn")
    assert "takes (inputs, h0, rnn)" in signature_problem(entry, lambda inputs, h0, rnn: None)
    assert signature_problem(entry, 3).startswith("`srn_rnn` should be a function")


def test_contract_document_names_everything():
    text = (REPO / "assignments" / "rnn-basics" / "CONTRACT.md").read_text(encoding="utf-8")
    for entry in CONTRACT:
        assert f"`{entry.name}" in text, entry.name
    for key in RNN_SHAPE_KEYS:
        assert key in text


def test_handout_defines_every_contract_name():
    notebook = json.loads((REPO / "assignments" / "rnn-basics" / "homework.ipynb").read_text(encoding="utf-8"))
    defined = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    assert {entry.name for entry in CONTRACT} <= defined
