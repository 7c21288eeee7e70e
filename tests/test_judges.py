"""Judges fail closed (no kernel needed): whatever comes back from the student's process, a judge gives
points only for an observation that answers exactly what the parent asked, and never raises.

Valid observations are produced here by running each part's probe in this process on the reference (the
probes are plain functions); the tests then damage them the ways hostile code could."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.expected import computed
from grader.messages import render
from grader.parts import ALL_PARTS
from grader.parts.base import JudgeContext, PlanContext
from grader.pipeline import judge_part
from grader.sandbox.launch import ExecutionRecord

PROBED = [part for part in ALL_PARTS if part.plan is not None]


def _context(config, part, reference, request):
    return JudgeContext(settings=config.parts[part.id].model_dump(), expected=computed(part, request, reference), rubric=config.rubric)


def _request(config, part):
    ctx = PlanContext(np.random.default_rng(7), config.parts[part.id].model_dump(), "cpu")
    return {**part.plan(ctx), "seed": config.seeds.student, "module": part.module, "probe": part.probe}


def _judge(part, request, observation, config, reference):
    record = ExecutionRecord("completed", probes={part.id: {"ok": True, "observation": observation, "seconds": 0}})
    ctx = _context(config, part, reference, request)
    verdicts = judge_part(part, request, record, ctx)
    for verdict in verdicts:
        render(verdict.message)  # every message renders
    return verdicts, ctx


def _namespace(reference):
    """The reference's names, as a student's notebook would leave them."""
    return {name: getattr(reference, name) for name in dir(reference) if not name.startswith("__")}


def _probed(part, namespace, request):
    """The part's probe run in this process, its observation through JSON as it would come back."""
    import importlib

    from grader.sandbox.runtime import seed_everything

    seed_everything(request["seed"])
    probe = getattr(importlib.import_module(part.module), part.probe)
    return json.loads(json.dumps(probe(namespace, request)))


@pytest.fixture(scope="module")
def honest(config, reference):
    """(request, observation) per part, from the probes run on the reference in this process."""
    namespace = _namespace(reference)
    found = {}
    for part in PROBED:
        request = _request(config, part)
        found[part.id] = (request, _probed(part, namespace, request))
    return found


def _earned(verdicts):
    return sum(v.fraction for v in verdicts)


@pytest.mark.parametrize("part", PROBED, ids=lambda p: p.id)
def test_the_reference_earns_every_point_from_its_own_observation(part, honest, config, reference):
    request, observation = honest[part.id]
    verdicts, ctx = _judge(part, request, observation, config, reference)
    automatic = [v for v in verdicts if v.check not in ("summary",)]
    assert all(v.fraction == 1.0 for v in automatic), [(v.check, render(v.message)) for v in automatic]
    assert ctx.interference == []


def _paired_lists(observation, path=()):
    """Every list in the observation that pairs with something the parent asked for."""
    if isinstance(observation, dict):
        for key, value in observation.items():
            if key in ("cases", "encode", "training", "make_data", "translations") and isinstance(value, list):
                yield path + (key,)
            yield from _paired_lists(value, path + (key,))
    elif isinstance(observation, list):
        for index, value in enumerate(observation):
            yield from _paired_lists(value, path + (index,))


def _at(observation, path):
    for step in path:
        observation = observation[step]
    return observation


@pytest.mark.parametrize("part", PROBED, ids=lambda p: p.id)
def test_truncated_padded_or_emptied_lists_earn_nothing(part, honest, config, reference):
    request, observation = honest[part.id]
    paths = list(_paired_lists(observation))
    assert paths or part.id == "4"
    for path in paths:
        for damage in ("empty", "truncate", "extend"):
            damaged = copy.deepcopy(observation)
            target = _at(damaged, path)
            if damage == "empty":
                target.clear()
            elif damage == "truncate" and target:
                target.pop()
            else:
                target.append(copy.deepcopy(target[-1]) if target else {"value": 1})
            verdicts, ctx = _judge(part, request, damaged, config, reference)
            assert _earned([v for v in verdicts if v.check != "summary"]) == 0, (part.id, path, damage)
            assert ctx.interference, (part.id, path, damage)


@pytest.mark.parametrize("part", PROBED, ids=lambda p: p.id)
def test_missing_extra_and_wrong_typed_fields_earn_nothing(part, honest, config, reference):
    request, observation = honest[part.id]
    variants = [{}, None, [], "ok", 42, {**observation, "bonus": 1}]
    for key in observation:
        variants.append({k: v for k, v in observation.items() if k != key})
        variants.append({**observation, key: "not what was asked"})
    for variant in variants:
        verdicts, _ = _judge(part, request, variant, config, reference)
        assert _earned([v for v in verdicts if v.check != "summary"]) == 0, (part.id, str(variant)[:200])


def test_an_oversized_observation_is_refused(honest, config, reference):
    part = next(p for p in PROBED if p.id == "1.1")
    request, observation = honest["1.1"]
    huge = copy.deepcopy(observation)
    huge["cases"][0] = {"value": {"type": "list", "items": list(range(300_000)), "length": 300_000}}
    verdicts, ctx = _judge(part, request, huge, config, reference)
    assert _earned(verdicts) == 0 and ctx.interference


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=5)
                    | st.dictionaries(st.sampled_from(["value", "error", "cases", "training", "shapes", "problems",
                                                       "issue", "name", "seed", "own", "claimed", "state", "x"]),
                                      children, max_size=5),
                    max_leaves=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(observation=JSON, index=st.integers(min_value=0, max_value=len(PROBED) - 1))
def test_arbitrary_json_never_raises_and_never_earns(observation, index, honest, config, reference):
    part = PROBED[index]
    request, _ = honest[part.id]
    verdicts, _ = _judge(part, request, observation, config, reference)
    assert _earned([v for v in verdicts if v.check != "summary"]) == 0


def test_a_reported_problem_is_a_fact_the_parent_words(honest, config, reference):
    part = next(p for p in PROBED if p.id == "1.1")
    request, _ = honest["1.1"]
    known = {"problems": [{"issue": "not_defined", "name": "srn_numpy"}]}
    verdicts, ctx = _judge(part, request, known, config, reference)
    assert "`srn_numpy` is not defined" in render(verdicts[0].message) and not ctx.interference
    for forged in ({"problems": [{"key": "no_such_key", "params": {}}]},
                   {"problems": [{"issue": "array_shape"}]},
                   {"problems": [{"issue": "not_defined", "name": "x", "extra": "y"}]}):
        verdicts, ctx = _judge(part, request, forged, config, reference)
        assert _earned(verdicts) == 0 and ctx.interference


# ---- part 2: a kind of training run stops once enough seeds have passed --------------------------------

HELLO = {"2.1": ("train_hello_cell", "cell"), "2.2": ("train_hello_rnn", "rnn")}
RUN_KINDS = {"own": lambda request: (("hello", "ohlol"), "hidden_pair" in request),
             "own_hidden": lambda request: (tuple(request["hidden_pair"]), False),
             "standard": lambda request: (tuple(request["hidden_pair"]), True)}


@pytest.mark.parametrize("part_id", HELLO)
def test_each_kind_of_hello_run_stops_exactly_when_enough_have_passed(part_id, honest):
    """Read as the judge reads them: a run is skipped if and only if its kind had already passed `enough`."""
    from grader.parts.part2_hello import read_run

    request, observation = honest[part_id]
    assert request["enough"] == {"own": 3, "own_hidden": 2, "standard": 2}
    kind = HELLO[part_id][1]
    skipped = 0
    for which, task_of in RUN_KINDS.items():
        (source, target), input_checked = task_of(request)
        passed = 0
        for run in observation["training"]:
            if passed >= request["enough"][which]:
                assert run[which] == {"skipped": True}, (which, run["seed"])
                skipped += 1
            else:
                assert "value" in run[which], (which, run["seed"])
                passed += read_run(kind, run[which]["value"], source, target, input_checked).reached
    assert skipped >= 6  # the reference passes its first seeds: most of the 15 trainings are not needed


def _stingy(namespace, name):
    """The reference's training function, given too few epochs to settle on every seed."""
    train = namespace[name]

    def train_briefly(model, inputs, labels, epochs, lr):
        return train(model, inputs, labels, 4, lr)

    train_briefly.__name__ = name
    return {**namespace, name: train_briefly}


@pytest.mark.parametrize("part_id", HELLO)
def test_stopping_once_decided_changes_no_score(part_id, config, reference):
    """The same submissions probed with and without `enough` score the same on every check: the reference,
    and a training function at the margin (some seeds pass, some do not)."""
    namespace = _namespace(reference)
    part = next(p for p in PROBED if p.id == part_id)
    request = _request(config, part)
    full_request = {key: value for key, value in request.items() if key != "enough"}
    fractions = set()
    for variant in (namespace, _stingy(namespace, HELLO[part_id][0])):
        decided = _judge(part, request, _probed(part, variant, request), config, reference)[0]
        full = _judge(part, full_request, _probed(part, variant, full_request), config, reference)[0]
        assert [(v.check, v.fraction) for v in decided] == [(v.check, v.fraction) for v in full]
        fractions.add(tuple(v.fraction for v in full))
    assert len(fractions) == 2  # the stingy loop did land at the margin, not on the reference's score


@pytest.mark.parametrize("part_id", HELLO)
def test_runs_skipped_before_enough_passed_count_as_failed_and_are_noted(part_id, honest, config, reference):
    part = next(p for p in PROBED if p.id == part_id)
    request, observation = honest[part_id]
    early = copy.deepcopy(observation)
    for run in early["training"][1:]:
        run["own"] = {"skipped": True}  # a process that claims the student's loop was decided after one seed
    verdicts, ctx = _judge(part, request, early, config, reference)
    own = next(v for v in verdicts if v.check == "own_training")
    assert own.fraction == pytest.approx(1 / 3)
    assert any("skipped runs" in note for note in ctx.interference), ctx.interference
    everything = copy.deepcopy(observation)
    for run in everything["training"]:
        run.update({which: {"skipped": True} for which in RUN_KINDS})
    verdicts, ctx = _judge(part, request, everything, config, reference)
    assert _earned([v for v in verdicts if v.check in ("own_training", "model_trains")]) == 0
    assert ctx.interference
