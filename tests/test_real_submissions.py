"""Real published student code (../shared/real-submissions) is top-level scripts, none of it written to the
contract. Each of the nine students gets, part by part, what the careful grader in that folder's README
concludes, every part graded from evidence marked for review. Skipped where ../shared is absent."""

from __future__ import annotations

import pytest

from conftest import SHARED
from grader.grade import main as grade
from grader.results import pending_review

REAL = SHARED / "real-submissions"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-submissions absent")]


@pytest.fixture(scope="module")
def real_class(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    batch = grade(paths=sorted(p for p in REAL.iterdir() if p.is_dir()), out=out, jobs=2, quiet=True)
    return {r.student: {p.id: p for p in r.parts} for r in batch.results}, {r.student: r for r in batch.results}


def checks(part):
    return {c.id: c for c in part.checks}


def test_every_attempted_part_is_graded_from_evidence_and_marked_for_review(real_class):
    parts, results = real_class
    attempted = {"s00": {"3"}, "s01": {"1.1", "1.2", "1.3", "1.4", "2.1", "3"}, "s02": {"2.1", "2.2"},
                 "s03": {"2.1", "2.2"}, "s06": {"3"}, "s08": {"3"}, "s09": {"2.1", "2.2"}, "s10": {"1.1", "1.2"},
                 "s13": {"3"}}
    assert set(parts) == set(attempted)
    for student, wanted in attempted.items():
        graded = {pid for pid, p in parts[student].items() if p.graded_as == "without_contract"}
        assert graded == wanted, student
        assert all(parts[student][pid].needs_review for pid in wanted)
        for pid in ("1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "3"):
            if pid not in wanted:  # not attempted: no points, nothing to review, said so
                assert parts[student][pid].graded_as == "not_attempted" and parts[student][pid].score == 0
                assert not parts[student][pid].needs_review
        assert set(wanted) <= set(pending_review(results[student]))


def test_part_1_correct_from_printed_values_and_from_modules_run_in_the_grader(real_class):
    parts, _ = real_class
    for student in ("s01", "s10"):
        for pid in ("1.1", "1.2"):  # 4/12/32 and 1.928/1.998/2.000 printed: half credit, said so
            assert all(c.score > 0 for c in parts[student][pid].checks)
            assert "printed" in parts[student][pid].checks[0].message
    for pid in ("1.3", "1.4"):  # the RNNCell / RNN and Linear objects, evaluated by the grader itself
        found = checks(parts["s01"][pid])
        assert found["initialisation"].passed and found["fixed_example"].passed
        assert "the grader ran your modules' weights" in found["fixed_example"].message


def test_part_2_verdicts(real_class):
    parts, _ = real_class
    s02 = checks(parts["s02"]["2.1"])
    assert not s02["encode"].passed and "'heloo'" in s02["encode"].message  # x_data encodes "heloo"
    assert not checks(parts["s02"]["2.2"])["own_training"].passed  # labels of shape [5, 1]: it raises
    assert "RuntimeError" in checks(parts["s02"]["2.2"])["own_training"].message
    for pid in ("2.1", "2.2"):  # s03: correct code, retrained under the grader's seeds
        assert parts["s03"][pid].score == parts["s03"][pid].max_score
    s09 = checks(parts["s09"]["2.1"])  # `loss = + criterion(...)`: trains on the last step only
    assert not s09["own_training"].passed and "'lllll'" in s09["own_training"].message
    assert s09["model_trains"].passed  # the model itself is fine: the grader's loop teaches it
    assert parts["s09"]["2.2"].score == parts["s09"]["2.2"].max_score
    assert parts["s01"]["2.2"].graded_as == "not_attempted"  # no nn.RNN variant


def test_part_3_verdicts(real_class):
    parts, _ = real_class
    for student in ("s00", "s06"):  # the tutorial's code: trains, translates all six
        assert parts[student]["3"].score == parts[student]["3"].max_score
    s01 = checks(parts["s01"]["3"])  # English to Spanish, not the six pairs
    assert not s01["make_data"].passed and "other word pairs" in s01["make_data"].message
    assert s01["translations"].score == 0
    s08 = checks(parts["s08"]["3"])  # translate() calls make_batch(word): TypeError, no translation
    assert s08["translations"].score == 0 and "TypeError" in s08["translations"].message
    s13 = checks(parts["s13"]["3"])  # a stray torch.cat() stops the script before anything trains
    assert s13["translations"].score == 0 and "TypeError" in s13["translations"].message
