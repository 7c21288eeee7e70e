"""Verdicts that student code cannot forge (issue: trust boundary). Each attack is a correct submission (the
example class's bob, as modules) with one module added; its *twin* is the same broken code without the
forging part. Every attack must score no more than its twin on the parts it targets, leave a note for the
instructor where it tampered with what came back, and leave the rest of the class graded."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from conftest import EXAMPLES
from grader.grade import main as grade

pytestmark = pytest.mark.slow
PARTS = ["2.1", "2.2", "3"]

# Rewrites every result file the probes write, from a thread, as soon as it appears (no grader module needed:
# it works even where the probes are out of reach), and wraps run_probe as the attacker did.
FORGER = '''
import glob, json, os, sys, threading, time

def _rewrite(data):
    if isinstance(data, dict):
        for key in list(data):
            if key in ("claimed", "predicted"):
                data[key] = "ohlol"
            else:
                _rewrite(data[key])
    elif isinstance(data, list):
        for item in data:
            _rewrite(item)
    return data

def _forge(path):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    {forge}
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)

def _watch():
    done = set()
    while True:
        for path in glob.glob(os.path.join(os.getcwd(), "..", "channel", "result-*.json")):
            if path not in done and not path.endswith(".tmp"):
                done.add(path)
                try:
                    _forge(path)
                except Exception:
                    pass
        time.sleep(0.0005)

threading.Thread(target=_watch, daemon=True).start()
_runtime = sys.modules.get("grader.sandbox.runtime")
if _runtime is not None:
    _original = _runtime.run_probe
    def _wrapped(namespace, part_id, request_path, result_path, *rest):
        _original(namespace, part_id, request_path, result_path, *rest)
        _forge(result_path)
    _runtime.run_probe = _wrapped
'''

LAST_STEP_TRAINING = '''
import torch
import torch.nn as nn

def train_hello_cell(model, inputs, labels, epochs=15, lr=0.1):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        hidden = model.init_hidden()
        for x_t in inputs:
            hidden = model(x_t, hidden)
        loss = criterion(hidden, labels[-1])  # only the last step is trained
        loss.backward()
        optimizer.step()
        history.append((loss.item(), "ohlol"))
    return history
'''

NO_MODELS = '''
del HelloCell, HelloRNN, Seq2Seq
'''

EMPTY_PROBES = '''
import importlib
_p2 = importlib.import_module("grader.parts.part2_hello")
_p3 = importlib.import_module("grader.parts.part3_seq2seq")
_p2.probe_cell = lambda ns, request: {"encode": [], "one_hot": {"value": None}, "shapes": {"value": {}}, "training": []}
_p2.probe_rnn = lambda ns, request: {"shapes": {"value": {}}, "training": []}
_p3.probe = lambda ns, request: {"make_data": [], "shapes": {"value": {}}, "training": {"error": "none"}}
'''

INPUT_BLIND = '''
import torch
import torch.nn as nn

class HelloRNN(nn.Module):
    """Never calls its nn.RNN: a learned logit per time step, whatever the input."""
    def __init__(self, input_size, hidden_size, batch_size, num_layers=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = nn.RNN(input_size, hidden_size, num_layers)
        self.per_step = nn.Parameter(torch.zeros(8, hidden_size))

    def forward(self, inputs):
        steps, batch = inputs.shape[0], inputs.shape[1]
        logits = self.per_step[:steps].unsqueeze(1).expand(steps, batch, self.hidden_size)
        return (logits + 0 * inputs.sum()).reshape(-1, self.hidden_size)
'''

INPUT_BLIND_TWIN = '''
import torch
import torch.nn as nn

class HelloRNN(nn.Module):
    def __init__(self, input_size, hidden_size, batch_size, num_layers=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = nn.RNN(input_size, hidden_size, num_layers)

    def forward(self, inputs):
        return torch.zeros(inputs.shape[0] * inputs.shape[1], self.hidden_size, requires_grad=True)
'''

NO_OP_TRAINING = '''
def train_seq2seq(model, pairs, epochs, device, lr=1e-3, batch_size=3):
    return [0.0] * epochs
'''

PRETRAINED = '''
import torch
from part3 import PAIRS, Seq2Seq as _Honest, train_seq2seq as _honest_train

torch.manual_seed(1)
_teacher = _Honest(29, 128)
_honest_train(_teacher, PAIRS, 300, "cpu")  # trained on the six public pairs before the grader asks anything
_WEIGHTS = {name: value.clone() for name, value in _teacher.state_dict().items()}

class Seq2Seq(_Honest):
    def __init__(self, n_class=29, n_hidden=128):
        super().__init__(n_class, n_hidden)
        self.load_state_dict(_WEIGHTS)
''' + NO_OP_TRAINING

CONSTANT_LOGITS = '''
import torch
import torch.nn as nn
from part3 import Seq2Seq as _Honest

class Seq2Seq(_Honest):
    def __init__(self, n_class=29, n_hidden=128):
        super().__init__(n_class, n_hidden)
        self.constant = nn.Parameter(torch.zeros(n_class))

    def forward(self, enc_input, enc_hidden, dec_input):
        steps, batch = dec_input.shape[1], dec_input.shape[0]
        return self.constant.expand(steps, batch, -1) + 0 * dec_input.sum()
'''

# Reads every hello run as a success inside the student's process, so the probe stops after the first seeds:
# the parent recounts from the weights, and what was never run counts as failed.
EARLY_STOP = """
import importlib
_p2 = importlib.import_module("grader.parts.part2_hello")
_p2.read_run = lambda *args, **kwargs: _p2.RunReading("ohlol", True, False, False, False)
"""

UNKNOWN_KEY = FORGER.replace("{forge}", 'data = {"ok": True, "observation": {"problems": [{"key": "no_such_key", '
                                          '"params": {}}], "model_problems": [{"issue": "array_shape"}]}}')
# encode returns 256 x 256 references to one 1,500-character string: cheap to build; three words ask for it,
# so the observation is about 300 MB
HUGE = """
_row = ["x" * 1500] * 256

def encode(text, vocab):
    return [_row] * 256
"""

# name: (modules added to bob's, the twin's modules, parts whose score must not exceed the twin's)
ATTACKS = {
    "forged_predictions": ({"zz_attack.py": LAST_STEP_TRAINING + FORGER.replace("{forge}", "_rewrite(data)")},
                           {"zz_attack.py": LAST_STEP_TRAINING}),
    "early_stop": ({"zz_attack.py": LAST_STEP_TRAINING + EARLY_STOP}, {"zz_attack.py": LAST_STEP_TRAINING}),
    "empty_probes": ({"zz_attack.py": NO_MODELS + EMPTY_PROBES}, {"zz_attack.py": NO_MODELS}),
    "unknown_message_key": ({"zz_attack.py": UNKNOWN_KEY}, None),
    "input_blind": ({"zz_attack.py": INPUT_BLIND}, {"zz_attack.py": INPUT_BLIND_TWIN}),
    "pretrained_at_import": ({"zz_attack.py": PRETRAINED}, {"zz_attack.py": NO_OP_TRAINING}),
    "huge_observation": ({"zz_attack.py": HUGE}, None),
    "constant_logits": ({"zz_attack.py": CONSTANT_LOGITS}, {"zz_attack.py": NO_OP_TRAINING}),
}


def _student(root, name, modules):
    folder = root / name
    shutil.copytree(EXAMPLES / "bob", folder)
    for file, text in (modules or {}).items():
        (folder / file).write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("forgery")
    klass = root / "class"
    klass.mkdir()
    _student(klass, "honest", {})
    for name, (attack, twin) in ATTACKS.items():
        _student(klass, name, attack)
        if twin is not None:
            _student(klass, f"{name}-twin", twin)
    batch = grade(paths=[klass], out=root / "out", jobs=2, only=PARTS, quiet=True, use_cache=False)
    return {result.student: result for result in batch.results}, root / "out"


def _part_scores(result):
    return {part.id: part.score for part in result.parts}


def _checks_notes(result):
    return [note for note in result.integrity if note["category"] == "checks"]


def test_the_honest_submission_keeps_full_marks(graded):
    results, _ = graded
    assert results["honest"].score == results["honest"].max_score
    assert _checks_notes(results["honest"]) == []


@pytest.mark.parametrize("attack", [name for name, (_, twin) in ATTACKS.items() if twin is not None])
def test_no_attack_scores_above_its_honest_twin(graded, attack):
    results, _ = graded
    attacked, twin = _part_scores(results[attack]), _part_scores(results[f"{attack}-twin"])
    for part in PARTS:
        assert attacked[part] <= twin[part], (attack, part, attacked, twin)


def test_forged_predictions_are_replaced_by_the_parents_evaluation_and_noted(graded):
    results, _ = graded
    result = results["forged_predictions"]
    checks = {c.id: c for p in result.parts if p.id == "2.1" for c in p.checks}
    assert checks["own_training"].score < checks["own_training"].max_score
    notes = [n["detail"] for n in result.integrity]
    assert any("grader" in detail.lower() or "differ" in detail for detail in notes), notes


def test_a_probe_stopped_early_from_inside_gains_nothing_and_is_noted(graded):
    results, _ = graded
    result = results["early_stop"]
    checks = {c.id: c for p in result.parts if p.id == "2.1" for c in p.checks}
    assert checks["own_training"].score < checks["own_training"].max_score
    assert any("skipped runs" in note["detail"] for note in result.integrity), result.integrity


def test_a_huge_observation_costs_its_part_only_with_a_note(graded):
    result = graded[0]["huge_observation"]
    scores = _part_scores(result)
    assert scores["2.1"] == 0 and scores["2.2"] == 12 and scores["3"] == 20, scores
    assert _checks_notes(result), result.integrity


def test_a_result_rewritten_from_a_thread_never_raises_or_gains(graded):
    # whether the thread wins its race with the worker varies; what may not vary: no traceback, no gain,
    # and the instructor sees that this code reached for the grader
    results, _ = graded
    result = results["unknown_message_key"]
    assert result.status in ("graded", "error") and result.score <= results["honest"].score
    assert [n for n in result.integrity if n["category"] == "interpreter"], result.integrity


def test_an_input_blind_model_earns_no_training_points(graded):
    results, _ = graded
    checks = {c.id: c for p in results["input_blind"].parts if p.id == "2.2" for c in p.checks}
    assert checks["own_training"].score == 0 and checks["model_trains"].score == 0
    assert "verified in your process only" in checks["own_training"].message


def test_pretrained_weights_do_not_pass_training(graded):
    results, _ = graded
    checks = {c.id: c for p in results["pretrained_at_import"].parts if p.id == "3" for c in p.checks}
    assert checks["training"].score == 0 and checks["translations"].score == 0


def test_the_whole_class_is_graded_and_reported(graded):
    results, out = graded
    expected = {"honest", *ATTACKS, *(f"{name}-twin" for name, (_, twin) in ATTACKS.items() if twin)}
    assert set(results) == expected
    assert (out / "grades.csv").exists() and (out / "index.html").exists()
    grades = (out / "grades.csv").read_text(encoding="utf-8")
    assert all(name in grades for name in expected)
