"""End to end: `grade` over the example class and over submissions built to fail in one way each."""

from __future__ import annotations

import csv
import json
import tomllib

import pytest

from conftest import EXAMPLES, REPO, assignment_with, notebook_with
from grader.grade import main as grade
from grader.results import has_flag

pytestmark = pytest.mark.slow


def test_every_example_loses_points_exactly_where_its_readme_says(example_class):
    results, _ = example_class
    expected = tomllib.loads((REPO / "examples" / "examples.toml").read_text(encoding="utf-8"))
    assert set(results) == set(expected)
    for student, spec in expected.items():
        result = results[student]
        assert result.status == "graded", (student, result.error)
        for part in result.parts:
            if part.id in spec["loses"]:
                assert part.score < part.max_score, (student, part.id)
            else:
                assert part.score == part.max_score, (student, part.id, [c.message for c in part.checks])


def test_reference_scores_full_marks_as_notebook_and_as_modules(example_class):
    results, _ = example_class
    for student in ("alice", "bob"):
        assert results[student].score == results[student].max_score == 100


def test_hard_coded_outputs_pass_the_fixed_example_but_fail_the_hidden_cases(example_class):
    judy = {p.id: {c.id: c for c in p.checks} for p in example_class[0]["judy"].parts}
    for part in ("1.1", "1.2"):
        assert judy[part]["fixed_example"].passed
        assert judy[part]["hidden_cases"].score == 0


def test_a_cell_that_raises_costs_only_its_part_and_is_explained(example_class):
    ivan = example_class[0]["ivan"]
    part = next(p for p in ivan.parts if p.id == "1.3")
    assert part.score == 0
    assert "`make_srn_cell` is not defined" in part.checks[0].message
    assert "raised TypeError" in part.checks[0].message
    assert ivan.score == 90


def test_training_loop_bug_is_told_apart_from_a_model_bug(example_class):
    erin = {c.id: c for c in next(p for p in example_class[0]["erin"].parts if p.id == "2.1").checks}
    assert not erin["own_training"].passed and erin["model_trains"].passed
    assert "problem is in train_hello_cell" in erin["own_training"].message


def test_the_example_class_gets_no_integrity_notes(example_class):
    results, _ = example_class
    assert {student: r.integrity for student, r in results.items() if r.integrity} == {}


def test_results_files_follow_the_schema(example_class):
    results, out = example_class
    data = json.loads((out / "results" / "frank.json").read_text(encoding="utf-8"))
    assert data["schema"] == 2 and data["student"] == "frank" and data["status"] == "graded"
    assert [p["id"] for p in data["parts"]] == ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "3", "4", "5", "6"]
    for key in ("score", "max_score", "flags", "elapsed_s", "device", "grader_version"):
        assert key in data
    check = data["parts"][6]["checks"][0]
    assert set(check) >= {"id", "passed", "score", "max_score", "message", "expected", "got", "shows"}
    assert data["parts"][6]["titles"] == {"en": "Encoder-decoder seq2seq", "zh": "编码器-解码器 seq2seq"}
    assert all(set(flag) == {"code", "params"} for flag in data["flags"])
    assert set(data["sandbox"].get("applied", [])) <= {"network", "readonly_fs", "secrets_hidden", "private_proc",
                                                       "separate_user", "no_capabilities", "group_memory",
                                                       "group_pids", "group_cpu"}
    assert data["parts"][8]["needs_review"] is True and data["parts"][0]["needs_review"] is False
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert len(rows) == len(results)
    frank = next(r for r in rows if r["student"] == "frank")
    assert float(frank["total"]) == results["frank"].score and frank["part 3"] != "20"


def test_broken_submissions_get_clear_errors_and_the_batch_goes_on(tmp_path):
    klass = tmp_path / "class"
    (klass / "two").mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb"):
        (klass / "two" / name).write_text("{}", encoding="utf-8")
    (klass / "badjson").mkdir()
    (klass / "badjson" / "homework.ipynb").write_text("{not json", encoding="utf-8")
    (klass / "binary").mkdir()
    (klass / "binary" / "homework.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (klass / "empty").mkdir()
    (klass / "empty" / "notes.txt").write_text("nothing", encoding="utf-8")
    batch = grade(paths=[klass], out=tmp_path / "out", jobs=2, only=["1.1"], quiet=True)
    results = {r.student: r for r in batch.results}
    assert "more than one notebook" in results["two"].error
    assert "not a valid notebook" in results["badjson"].error
    assert "not UTF-8" in results["binary"].error
    assert "no code found" in results["empty"].error
    assert all(r.status == "error" and r.score == 0 for r in results.values())
    assert (tmp_path / "out" / "results" / "badjson.json").exists()


def test_sleeping_cell_and_looping_probe_time_out_and_the_rest_is_graded(tmp_path):
    sleeper = notebook_with(tmp_path / "class", "sleeper", extra_cells=["import time\ntime.sleep(600)"])
    looper = notebook_with(tmp_path / "class", "looper", edits=[(
        "    inputs = np.asarray(inputs, dtype=float)\n", "    while True:\n        pass\n")])
    assignment = assignment_with(tmp_path, cell_timeout_s=3, probe_timeout_s=5)
    batch = grade(paths=[sleeper, looper], out=tmp_path / "out", jobs=2, only=["1.1", "1.3", "2.2"],
                  assignment=assignment, quiet=True)
    results = {r.student: r for r in batch.results}
    sleeper_result = results["sleeper"]
    assert any(c["status"] == "timeout" for c in sleeper_result.cells)
    assert sleeper_result.score == sleeper_result.max_score  # the slow cell was interrupted, the rest ran
    looper_parts = {p.id: p for p in results["looper"].parts}
    assert looper_parts["1.1"].score == 0 and "timed out after 5 s" in looper_parts["1.1"].checks[0].message
    assert looper_parts["1.3"].score == looper_parts["1.3"].max_score
    assert looper_parts["2.2"].score == looper_parts["2.2"].max_score


def test_submission_budget_ends_a_hanging_submission_without_stopping_the_class(tmp_path):
    hanging = notebook_with(tmp_path / "class", "hanging", extra_cells=["while True:\n    pass"])
    honest = notebook_with(tmp_path / "class", "honest")
    batch = grade(paths=[hanging, honest], out=tmp_path / "out", jobs=2, timeout=20, only=["1.1"], quiet=True)
    results = {r.student: r for r in batch.results}
    assert has_flag(results["hanging"], "timeout")
    assert "timed out after 20 s" in results["hanging"].parts[0].checks[0].message
    assert results["honest"].score == results["honest"].max_score


def test_the_same_submission_graded_twice_gets_the_same_result(example_class, tmp_path):
    first = example_class[0]["frank"]  # graded in the class batch, next to nine others
    second = grade(paths=[EXAMPLES / "frank"], out=tmp_path / "b", jobs=1, device="cpu", quiet=True,
                   use_cache=False).results[0]  # and again, alone
    assert first.score == second.score
    assert [[(c.score, c.got) for c in p.checks] for p in first.parts] == \
           [[(c.score, c.got) for c in p.checks] for p in second.parts]

@pytest.mark.slow
def test_a_crash_in_the_students_training_leads_the_message_with_cell_line_and_code(tmp_path):
    """Not "predicts 'ohlol' for 0 of 5 seeds (is the loss summed…?)": the error, where it is, and the line."""
    student = notebook_with(tmp_path / "class", "crash", edits=[
        ("    targets = labels.reshape(-1)\n", "    targets = labels  # (T, B): not what CrossEntropyLoss takes\n")])
    result = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["2.2"], quiet=True,
                   use_cache=False).results[0]
    own = next(c for p in result.parts for c in p.checks if c.id == "own_training")
    cell = next(c for c in result.cells if "targets = labels  #" in c["source"])
    assert own.message.startswith("train_hello_rnn raised an error in 5 of 5 runs"), own.message
    assert f"cell {cell['index'] + 1}, line " in own.message and "loss = criterion(logits, targets)" in own.message
    assert "summed" not in own.message and "/tmp/" not in own.message


@pytest.mark.slow
def test_try_it_blocks_do_not_run_when_grading_but_other_top_level_code_does(tmp_path):
    """The notebook runs as a module is imported: a 5000-epoch demo (here: one that would hang or exit) under
    `if __name__ == "__main__":` costs nothing; a helper defined at top level is still there."""
    student = notebook_with(tmp_path / "class", "demos", extra_cells=[
        'if __name__ == "__main__":\n    import time\n    time.sleep(3600)  # a long training run left in\n',
        'if __name__ == "__main__":\n    raise SystemExit("the demo ran")\n',
        'SCALE = 1.0\nprint("module name:", __name__)\n',
    ])
    result = grade(paths=[student], out=tmp_path / "out", jobs=1, only=["1.1"], quiet=True,
                   use_cache=False).results[0]
    assert result.score == result.max_score and not has_flag(result, "timeout"), result.flags
    printing = next(cell for cell in result.cells if "module name:" in cell["source"])
    assert "module name: __student__" in printing["output"]
    assert all(cell["status"] == "ok" for cell in result.cells)
    assert result.elapsed_s < 60
