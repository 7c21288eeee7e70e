"""Self-check, GitHub Actions / Classroom outputs and the Gradescope autograder, run as their users run them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from conftest import EXAMPLES, REPO
from grader.ci.gradescope import build_autograder_zip
from grader.config import load_config
from grader.pipeline import GradeOptions, plan_probes
from grader.parts import ALL_PARTS

GRADE = Path(sys.executable).with_name("grade")


def test_self_check_plans_no_hidden_case_and_other_inputs_than_grading():
    config = load_config()
    public = plan_probes("kim", list(ALL_PARTS), config, GradeOptions(public_only=True))
    graded = plan_probes("kim", list(ALL_PARTS), config, GradeOptions())
    assert not any(case["hidden"] for case in public["1.1"]["cases"])
    assert any(case["hidden"] for case in graded["1.1"]["cases"])
    assert public["1.3"]["cases"][0]["cell"] != graded["1.3"]["cases"][0]["cell"]  # public seed, not the secret
    assert public == plan_probes("lee", list(ALL_PARTS), config, GradeOptions(public_only=True))  # anyone's
    assert len(public["2.1"]["encode_words"]) == 2 and len(public["3"]["data_cases"]) == 1


@pytest.mark.slow
def test_self_check_reports_what_to_fix_without_expected_values(monkeypatch):
    import threading

    import grader.check as check_module
    from grader.check import main as check

    # torch for the judges is on its way before the notebook runs (imported after it, ~2 s of the student's wait)
    started, real_import, real_grade = threading.Event(), check_module.import_for_judges, check_module.grade_submission
    monkeypatch.setattr(check_module, "import_for_judges", lambda: started.set() or real_import())

    def grade_after_the_head_start(*args, **kwargs):
        assert started.wait(10), "the judges' imports did not start before the notebook ran"
        return real_grade(*args, **kwargs)

    monkeypatch.setattr(check_module, "grade_submission", grade_after_the_head_start)
    buffer = io.StringIO()
    outcome = check(path=EXAMPLES / "erin" / "homework.ipynb", console=Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert outcome.passed_parts == outcome.total_parts - 1  # only 2.1 fails, on its training loop
    assert "own_training" in text and "train_hello_cell" in text
    assert "Hidden cases run only when your instructor grades" in text and "graded by a person" in text
    assert "hidden_cases" not in text and "Expected" not in text
    assert outcome.result.parts[0].checks[1].hidden  # 1.1's hidden cases were not run


@pytest.mark.slow
def test_gradescope_autograder_zip_runs_on_a_fake_autograder_layout(tmp_path):
    archive = build_autograder_zip(tmp_path / "autograder.zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as unpacked:
        names = unpacked.namelist()
        unpacked.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "pyproject.toml", "grader/cli.py", "reference/rnn_basics.py",
            "assignments/rnn-basics/grading.toml"} <= set(names)
    shutil.copytree(EXAMPLES / "judy", root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADE": str(GRADE), "GRADE_ARGS": "--only 1.1,6"}
    completed = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"} <= set(data)
    assert data["score"] == 8 and isinstance(data["execution_time"], int)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed") and test["visibility"] in ("visible", "after_published")
    by_name = {t["name"]: t for t in data["tests"]}
    hidden = by_name["1.1 SRN in numpy, no activation: hidden_cases"]
    assert hidden["visibility"] == "after_published" and hidden["score"] == 0
    assert by_name["1.1 SRN in numpy, no activation: fixed_example"]["visibility"] == "visible"


def test_project_ci_workflow_runs_the_ci_script():
    workflow = (REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert "bash .ci/run" in workflow
