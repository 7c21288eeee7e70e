"""Part 2: the character model "hello" -> "ohlol", with nn.RNNCell (2.1) and nn.RNN (2.2).

Training is judged on what the trained model predicts when the grader runs it, not on the strings the
student's training function returns. Each model is trained twice per seed: by the student's loop and by
the grader's standard loop, which tells "your model is wrong" from "your training loop is wrong".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple, Optional, Union

import numpy as np
from pydantic import Field

from grader.messages import M, Msg, render
from grader.parts.base import (
    BestEffort,
    Described, Failure, JudgeContext, ModelState, Observed, Part, PlanContext, Problems, Strict, Verdict, as_array,
    compare_array, contract_lookup, count_mismatch, error_of, invalid, layer_arrays, missing_reason,
    plain, problems_or_results, shape_of, small_table, trained_layers, unavailable,
)
from grader.parts.found import script_error

# Check ids: the Part records and the judges both name them from here.
ENCODE, ONE_HOT, MODEL_SHAPES, OWN_TRAINING, MODEL_TRAINS = "encode", "one_hot", "model_shapes", "own_training", "model_trains"
MODEL_CHECKS = (MODEL_SHAPES, OWN_TRAINING, MODEL_TRAINS)

VOCAB = ["e", "h", "l", "o"]
SOURCE, TARGET = "hello", "ohlol"


def hidden_pair(rng: Any) -> list[str]:
    """A second task the student cannot know in advance: hello -> ohlol with its input letters and its
    output letters each relabelled (drawn from the parent's secret seed). It is exactly as hard as the
    public task, so the reference learns it as reliably, but a model that memorised 'ohlol', loaded
    pre-trained weights, or ignores its input cannot produce it.

    Why one task per run and not both in one batch: the contract's model has 4 hidden units that are
    also its logits; measured with the reference, it learns two unrelated sequences at once for fewer
    than 1 student in 5 (bench/calibrate.py)."""
    while True:
        sigma = dict(zip(VOCAB, (str(c) for c in rng.permutation(VOCAB))))
        tau = dict(zip(VOCAB, (str(c) for c in rng.permutation(VOCAB))))
        source, target = "".join(sigma[c] for c in SOURCE), "".join(tau[c] for c in TARGET)
        if source != SOURCE and target != TARGET:
            return [source, target]


def needed_passes(settings: dict[str, Any], seeds: int, hidden: bool) -> dict[str, int]:
    """How many seeds each kind of run must pass for full marks (``min_passing_*`` in grading.toml)."""
    training = settings.get("training", {})
    own = min(int(training.get("min_passing_seeds", 3)), seeds)
    if not hidden:
        return {"own": own, "standard": own}
    on_hidden = min(int(training.get("min_passing_hidden_seeds", 2)), seeds)
    return {"own": own, "own_hidden": on_hidden, "standard": on_hidden}


def _plan(ctx: PlanContext) -> dict[str, Any]:
    training = ctx.settings.get("training", {})
    seeds = [int(s) for s in training.get("seeds", [2, 6, 7, 11, 14])]
    request: dict[str, Any] = {"seeds": seeds[:2] if ctx.public_only else seeds,
                               "epochs": int(training.get("epochs", 50)), "lr": float(training.get("lr", 0.1))}
    if not ctx.public_only:
        request["hidden_pair"] = hidden_pair(ctx.rng)
    if training.get("stop_when_decided", True):
        # once a kind of run has passed this often, further seeds cannot change its score: the probe skips
        # them (about half the training of a correct submission). The judge recounts from the weights.
        request["enough"] = needed_passes(ctx.settings, len(request["seeds"]), "hidden_pair" in request)
    return request


def plan_cell(ctx: PlanContext) -> dict[str, Any]:
    request = _plan(ctx)
    words = ["hello", "ohlol"]
    if not ctx.public_only:
        words.append("".join(ctx.rng.choice(VOCAB, size=int(ctx.rng.integers(3, 8)))))
    request["encode_words"] = words
    return request


plan_rnn = _plan


# ---- in the kernel ---------------------------------------------------------------------------------

def _data(source: str = SOURCE, target: str = TARGET) -> tuple[Any, Any]:
    import torch

    index = {c: i for i, c in enumerate(VOCAB)}
    inputs = torch.eye(len(VOCAB))[[index[c] for c in source]].unsqueeze(1)  # (T, 1, 4)
    labels = torch.tensor([index[c] for c in target]).view(-1, 1)            # (T, 1)
    return inputs, labels


def _cell_logits(model: Any, inputs: Any) -> Any:
    import torch

    hidden, steps = model.init_hidden(), []
    for x_t in inputs:
        hidden = model(x_t, hidden)
        steps.append(hidden)
    return torch.cat(steps)  # (T*B, H)


def _prediction(logits: Any) -> str:
    return "".join(VOCAB[i] if 0 <= i < len(VOCAB) else "?" for i in logits.argmax(dim=1).tolist())


def _standard_training(model: Any, logits_of: Any, inputs: Any, labels: Any, epochs: int, lr: float) -> None:
    """The grader's own loop: Adam on the summed per-step cross-entropy."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    targets = labels.reshape(-1)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits_of(model, inputs), targets, reduction="sum")
        loss.backward()
        optimizer.step()


def _history(history: Any, epochs: int) -> dict[str, Any]:
    """Summarise what the student's training function returned (for plots; never for points)."""
    losses, words = [], []
    try:
        for loss, word in list(history)[:1000]:
            losses.append(float(loss))
            words.append(str(word)[:20])
    except (TypeError, ValueError):
        return {"well_formed": False, "losses": [], "words": []}
    return {"well_formed": len(losses) == epochs, "losses": losses, "words": words}


def _train_both(model_factory: Any, train: Any, logits_of: Any, request: dict[str, Any],
                kind: str) -> list[dict[str, Any]]:
    """Per seed: the student's loop on hello (and on the hidden task), the grader's loop on the hidden task
    (hello in a self-check). Each run reports its prediction *and* its trained weights: the parent
    evaluates the weights itself and believes its own prediction (see judge). With ``enough`` in the
    request, a kind of run that has passed that often (read as the judge reads it) is not run again:
    the remaining seeds report ``{"skipped": True}``."""
    import torch

    from grader.sandbox.runtime import call, describe, describe_state, observe, seed_everything

    hidden = request.get("hidden_pair")
    public_task, grader_task = (SOURCE, TARGET), tuple(hidden) if hidden else (SOURCE, TARGET)
    enough: dict[str, int] = request.get("enough") or {}
    passed = {"own": 0, "own_hidden": 0, "standard": 0}

    def outcome(model: Any, source: str, other: Optional[str] = None) -> dict[str, Any]:
        with torch.no_grad():
            logits = call(logits_of, model, _data(source)[0], label="forward")
            seen = {"claimed": _prediction(logits), "state": describe_state(model),
                    "h0": describe(call(model.init_hidden, label="init_hidden")) if kind == "cell" else None}
            if other is not None:  # does the output depend on the input at all?
                other_logits = call(logits_of, model, _data(other)[0], label="forward")
                seen["same_logits"] = bool(torch.equal(logits, other_logits))
        return seen

    def own(seed: int, task: tuple[str, str], other: Optional[str]) -> dict[str, Any]:
        seed_everything(seed)
        inputs, labels = _data(*task)
        model = call(model_factory, label="model")
        history = call(train, model, inputs.clone(), labels.clone(), request["epochs"], request["lr"],
                       label=train.__name__)
        return {**outcome(model, task[0], other), **_history(history, request["epochs"])}

    def standard(seed: int) -> dict[str, Any]:
        seed_everything(seed)
        inputs, labels = _data(*grader_task)
        model = call(model_factory, label="model")
        _standard_training(model, lambda m, x: call(logits_of, m, x, label="forward"), inputs, labels,
                           request["epochs"], request["lr"])
        return outcome(model, grader_task[0], SOURCE if hidden else None)

    def run_unless_decided(which: str, task: tuple[str, str], input_checked: bool,
                           run: Any) -> dict[str, Any]:
        if which in enough and passed[which] >= int(enough[which]):
            return {"skipped": True}
        observed = observe(run)
        if "value" in observed:
            try:
                passed[which] += read_run(kind, observed["value"], task[0], task[1], input_checked).reached
            except Exception:  # noqa: BLE001 - e.g. weights torch cannot load: the judge will say so; run on
                pass
        return observed

    runs = []
    for seed in request["seeds"]:
        run = {"seed": seed, "own": run_unless_decided(
            "own", public_task, bool(hidden), lambda: own(seed, public_task, hidden[0] if hidden else None))}
        if hidden:
            run["own_hidden"] = run_unless_decided("own_hidden", grader_task, False,
                                                   lambda: own(seed, grader_task, None))
        run["standard"] = run_unless_decided("standard", grader_task, bool(hidden), lambda: standard(seed))
        runs.append(run)
    return runs


def probe_cell(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import torch

    from grader.sandbox.runtime import call, describe, observe

    observation: dict[str, Any] = {}
    found, problems = contract_lookup(namespace, ["encode", "one_hot"])
    if problems:
        observation["data_problems"] = problems
    else:
        # the student's own constant: its training prints decode with it, whatever the grader passes in
        observation["vocab"] = observe(lambda: describe(namespace["HELLO_VOCAB"])) if "HELLO_VOCAB" in namespace \
            else {"error": "HELLO_VOCAB is not defined"}
        encode, one_hot = found["encode"], found["one_hot"]
        observation["encode"] = [observe(lambda w=w: describe(call(encode, w, list(VOCAB), label="encode")))
                                 for w in request["encode_words"]]
        observation["one_hot"] = observe(lambda: describe(call(one_hot, [1, 0, 2, 2, 3], 4, label="one_hot")))
    found, problems = contract_lookup(namespace, ["HelloCell", "train_hello_cell"])
    if problems:
        observation["model_problems"] = problems
        return observation
    Model, train = found["HelloCell"], found["train_hello_cell"]

    def shapes() -> dict[str, Any]:
        seen = {}
        for batch in (1, 3):
            model = call(Model, 4, 4, batch, label="HelloCell")
            hidden = call(model.init_hidden, label="init_hidden")
            seen[f"init_hidden_b{batch}"] = describe(hidden)
            seen[f"forward_b{batch}"] = describe(call(model, torch.zeros(batch, 4), torch.zeros(batch, 4),
                                                      label="HelloCell.forward"))
        return seen

    observation["shapes"] = observe(shapes)
    observation["training"] = _train_both(lambda: Model(4, 4, 1), train, _cell_logits, request, "cell")
    return observation


def probe_rnn(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import torch

    from grader.sandbox.runtime import call, describe, observe

    found, problems = contract_lookup(namespace, ["HelloRNN", "train_hello_rnn"])
    if problems:
        return {"model_problems": problems}
    Model, train = found["HelloRNN"], found["train_hello_rnn"]

    def shapes() -> dict[str, Any]:
        seen = {}
        for T, B, L in ((5, 1, 1), (5, 2, 1), (3, 1, 2)):
            model = call(Model, 4, 4, B, L, label="HelloRNN")
            seen[f"T{T}_B{B}_L{L}"] = describe(call(model, torch.zeros(T, B, 4), label="HelloRNN.forward"))
        return seen

    return {"shapes": observe(shapes),
            "training": _train_both(lambda: Model(4, 4, 1), train, lambda m, x: m(x), request, "rnn")}


# ---- in the parent ---------------------------------------------------------------------------------

class TrainedRun(Strict):
    """What one training run reports: its prediction (a claim), its weights (evaluated here) and plots."""
    claimed: Annotated[str, Field(max_length=40)]
    state: ModelState
    h0: Optional[Described] = None
    same_logits: Optional[bool] = None
    losses: Annotated[list[float], Field(max_length=1000)] = []
    words: Annotated[list[Annotated[str, Field(max_length=20)]], Field(max_length=1000)] = []
    well_formed: Optional[bool] = None


class RunFailure(Failure):
    pass


class RunValue(Strict):
    value: TrainedRun


class RunSkipped(Strict):
    """Not run: that kind of run had already passed often enough (``enough`` in the request)."""
    skipped: Literal[True]


RunObserved = Union[RunValue, RunFailure, RunSkipped]


class SeedRuns(Strict):
    seed: int
    own: RunObserved
    own_hidden: Optional[RunObserved] = None
    standard: RunObserved


class HelloObservation(Strict):
    data_problems: Optional[Problems] = None
    vocab: Optional[Observed] = None
    encode: Optional[list[Observed]] = None
    one_hot: Optional[Observed] = None
    model_problems: Optional[Problems] = None
    shapes: Optional[Observed] = None
    training: Optional[Annotated[list[SeedRuns], Field(max_length=20)]] = None


CELL_SHAPE_KEYS = ("init_hidden_b1", "forward_b1", "init_hidden_b3", "forward_b3")
RNN_SHAPE_KEYS = ("T5_B1_L1", "T5_B2_L1", "T3_B1_L2")


def _validate(request: dict[str, Any], observation: Any, with_data: bool, shape_keys: tuple[str, ...]) -> Optional[Msg]:
    problem = invalid(HelloObservation, observation)
    if problem:
        return problem
    if with_data:
        problem, reported = problems_or_results(observation, "data_problems", ("vocab", "encode", "one_hot"))
        if not problem and not reported:
            problem = count_mismatch("encode", len(request["encode_words"]), observation["encode"])
        if problem:
            return problem
    elif any(observation.get(key) is not None for key in ("data_problems", "vocab", "encode", "one_hot")):
        return M("observation_invalid", where="encode", problem="not asked for")
    problem, reported = problems_or_results(observation, "model_problems", ("shapes", "training"))
    if problem or reported:
        return problem
    shapes = observation["shapes"]
    if "value" in shapes and (not isinstance(shapes["value"], dict) or set(shapes["value"]) != set(shape_keys)):
        return M("observation_invalid", where="shapes", problem="not the shapes the grader asked for")
    seeds = [run["seed"] for run in observation["training"]]
    if seeds != list(request["seeds"]):
        return M("observation_count", what="training seeds", asked=len(request["seeds"]), got=len(seeds))
    hidden = "hidden_pair" in request
    if any((run.get("own_hidden") is not None) != hidden for run in observation["training"]):
        return M("observation_invalid", where="training.own_hidden", problem="does not match the request")
    return None


def validate_cell(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    return _validate(request, observation, True, CELL_SHAPE_KEYS)


def validate_rnn(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    return _validate(request, observation, False, RNN_SHAPE_KEYS)


def _contract_layer(state: dict[str, Any], kind: str) -> Optional[tuple[Any, dict[str, np.ndarray], str]]:
    """(layer settings, its arrays by short name, nonlinearity) when the trained model is exactly the
    contract's (one torch nn.RNNCell / nn.RNN, 4 hidden units that are the logits); else None."""
    found = trained_layers(state)
    wanted = "RNNCell" if kind == "cell" else "RNN"
    if found is None or len(found[0]) != 1 or found[0][0].type != wanted or not found[0][0].library:
        return None
    (layer,), arrays = found
    short = layer_arrays(layer, arrays)
    if len(short) != len(arrays):  # a parameter outside the one layer
        return None
    config = layer.config
    nonlinearity = config.get("nonlinearity", "tanh")
    if nonlinearity not in ("tanh", "relu") or config.get("batch_first") or config.get("bidirectional") \
            or config.get("proj_size", 0):
        return None
    layers_n = int(config.get("num_layers", 1)) if kind == "rnn" else 1
    suffixes = [""] if kind == "cell" else [f"_l{k}" for k in range(layers_n)]
    with_bias = {f"{w}{x}" for x in suffixes for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    without = {f"{w}{x}" for x in suffixes for w in ("weight_ih", "weight_hh")}
    if set(short) not in (with_bias, without):
        return None
    for x in suffixes:
        hidden = short[f"weight_hh{x}"].shape
        if hidden != (4, 4) or short[f"weight_ih{x}"].shape != (4, 4):
            return None
    return config, short, nonlinearity


def evaluate_trained(kind: str, run: dict[str, Any], source: str) -> Optional[str]:
    """The grader's own prediction for `source` from the run's trained weights, using the contract's
    architecture; None when the model is not the contract's (then only the student's process has run it)."""
    import torch

    fitted = _contract_layer(run["state"], kind)
    if fitted is None:
        return None
    config, short, nonlinearity = fitted
    tensors = {name: torch.from_numpy(array.copy()) for name, array in short.items()}
    inputs = _data(source)[0]
    with torch.no_grad():
        if kind == "cell":
            cell = torch.nn.RNNCell(4, 4, bias="bias_ih" in short, nonlinearity=nonlinearity)
            cell.load_state_dict(tensors)
            h0 = as_array(run.get("h0"))
            hidden = torch.tensor(h0, dtype=torch.float32) if h0 is not None and h0.shape == (1, 4) \
                else torch.zeros(1, 4)
            steps = []
            for x_t in inputs:
                hidden = cell(x_t, hidden)
                steps.append(hidden)
            logits = torch.cat(steps)
        else:
            layers = int(config.get("num_layers", 1))
            rnn = torch.nn.RNN(4, 4, layers, nonlinearity=nonlinearity, bias="bias_ih_l0" in short)
            rnn.load_state_dict(tensors)
            logits = rnn(inputs, torch.zeros(layers, 1, 4))[0].reshape(-1, 4)
    return _prediction(logits)


class RunReading(NamedTuple):
    word: str  # the prediction believed
    reached: bool  # whether the run counts as reaching the target
    in_process: bool  # not the contract's model: only the student's process has run it
    blind: bool  # ... and its output ignores the input, so a claimed success does not count
    disagrees: bool  # a claimed success that the weights do not support


def read_run(kind: str, value: dict[str, Any], source: str, target: str, input_checked: bool) -> RunReading:
    """How the judge reads one trained run: the parent's own evaluation of the weights for the contract's
    model; otherwise the process's claim, which counts only if the output was shown to depend on the input
    (where the probe tested that). The probe reads its runs the same way to know when to stop."""
    evaluated = evaluate_trained(kind, value, source)
    if evaluated is None:
        word = value["claimed"]
        blind = word == target and input_checked and value.get("same_logits") is not False
        return RunReading(word, word == target and not blind, True, blind, False)
    # a forward that differs from the contract's can make the two differ honestly: only a claimed success
    # that the weights do not support is worth an instructor's look
    return RunReading(evaluated, evaluated == target, False, False, value["claimed"] == target and evaluated != target)


def _judge_training(request: dict[str, Any], runs: list[dict[str, Any]], ctx: JudgeContext,
                    train_name: str, model_name: str, kind: str) -> list[Verdict]:
    """Predictions come from the parent's own evaluation of the trained weights whenever the model is the
    contract's; the student's process is believed only for other architectures, and the check says so."""
    hidden = request.get("hidden_pair")
    total = len(request["seeds"])  # from the request: a self-check asks for fewer seeds
    needs = needed_passes(ctx.settings, total, bool(hidden))
    needed = needs["own"]
    in_process_only, disagreements, early = False, [], []
    ok: dict[str, list[int]] = {"own": [], "own_hidden": [], "standard": []}
    ran = {which: 0 for which in ok}
    blind: list[int] = []

    def outcome(which: str, observed: dict[str, Any], seed: int, source: str, target: str, label: str,
                input_checked: bool) -> Optional[str]:
        """Counts one run; returns the prediction believed (None where there is none)."""
        nonlocal in_process_only
        if "skipped" in observed:
            if len(ok[which]) < needs[which]:  # nothing had decided it: the probe stopped on its own
                early.append(f"seed {seed} ({label})")
            return None
        ran[which] += 1
        if "value" not in observed:
            return None
        reading = read_run(kind, observed["value"], source, target, input_checked)
        in_process_only = in_process_only or reading.in_process
        if reading.blind:
            blind.append(seed)
        if reading.disagrees:
            disagreements.append(f"seed {seed} ({label}): reported {observed['value']['claimed']!r}, "
                                 f"the weights give {reading.word!r}")
        if reading.reached:
            ok[which].append(seed)
        return reading.word

    predictions: dict[int, str] = {}
    grader_task = tuple(hidden) if hidden else (SOURCE, TARGET)
    for run in runs:
        seed = run["seed"]
        word = outcome("own", run["own"], seed, SOURCE, TARGET, train_name, bool(hidden))
        if "skipped" not in run["own"]:
            predictions[seed] = word if word is not None else render(error_of(run["own"]) or "?")
        if hidden:
            outcome("own_hidden", run["own_hidden"], seed, hidden[0], hidden[1], f"{train_name}, hidden task", False)
        outcome("standard", run["standard"], seed, grader_task[0], grader_task[1], "the grader's loop", bool(hidden))
    own_ok, hidden_ok, standard_ok = ok["own"], ok["own_hidden"], ok["standard"]
    if disagreements:
        ctx.interference.append(f"{model_name}: the predictions reported from the student's process differ from "
                                f"the grader's evaluation of the trained weights ({disagreements[0]})")
    if early:
        ctx.interference.append(f"{model_name}: the student's process skipped runs that had not yet passed often "
                                f"enough ({early[0]}); they count as failed")
    epochs = request["epochs"]
    seen = ", ".join(f"seed {seed}: {word}" for seed, word in predictions.items())
    plot = {"series": {f"seed {r['seed']}": [[i + 1, loss] for i, loss in enumerate(r["own"]["value"]["losses"])]
                       for r in runs if r["own"].get("value", {}).get("losses")},
            "threshold": None, "log_y": False, "x": "epoch", "y": "loss", "title": "plot.hello"}
    # totals are the runs made: where enough had passed, the rest were not run and a note says so
    counts = {"target": TARGET, "epochs": epochs, "passed": len(own_ok), "total": ran["own"], "needed": needed,
              "train": train_name, "model": model_name}

    def not_run(which: str) -> Msg:
        return M("hello_decided", count=total - ran[which]) if ran[which] < total and not early else M("empty")

    own_fraction = min(1.0, len(own_ok) / max(needed, 1))
    hidden_note: Msg = M("empty")
    if hidden:
        own_fraction = min(own_fraction, len(hidden_ok) / max(needs["own_hidden"], 1))
        hidden_note = M("hello_hidden", passed=len(hidden_ok), total=ran["own_hidden"], needed=needs["own_hidden"],
                        train=train_name)
    if blind:
        hidden_note = M("concat", first=hidden_note,
                        second=M("hello_input_blind", model=model_name, count=len(set(blind))))
    standard_needed = needs["standard"]  # on the hidden task where there is one
    if own_fraction >= 1.0:
        disagree = _prints_disagree(runs, own_ok, train_name)
        own = Verdict(OWN_TRAINING, 1.0, M("concat", first=M("concat", first=M("hello_own_ok", **counts),
                                                               second=not_run("own")),
                                             second=disagree or M("empty")),
                      expected=TARGET, got=seen, plot=plot, hidden=bool(hidden))
    else:
        raised = [error_of(r["own"]) for r in runs if error_of(r["own"])]
        if raised and not own_ok:  # lead with the error: a crash is not a training problem
            message = M("hello_own_raised", train=train_name, error=raised[0], count=len(raised), total=ran["own"])
        else:
            # a hint only where the evidence supports it: the grader's loop teaches this very model
            hint_key = "hello_loop_hint" if kind == "cell" else "hello_loop_hint_rnn"
            hint = M(hint_key, **counts) if len(standard_ok) >= standard_needed else M("empty")
            message = M("hello_own_short", hint=M("concat", first=hint, second=hidden_note), **counts)
        own = Verdict(OWN_TRAINING, min(1.0, max(0.0, own_fraction)), message,
                      expected=TARGET, got=seen, plot=plot, hidden=bool(hidden))
    standard_counts = {**counts, "passed": len(standard_ok), "total": ran["standard"], "needed": standard_needed}
    prefix = "hello_model_hidden" if hidden else "hello_model"
    if len(standard_ok) >= standard_needed:
        model = Verdict(MODEL_TRAINS, 1.0, M("concat", first=M(f"{prefix}_ok", **standard_counts),
                                              second=not_run("standard") if hidden else M("empty")),
                        hidden=bool(hidden))
    else:
        errors = [error_of(r["standard"]) for r in runs if error_of(r["standard"])]
        model = Verdict(MODEL_TRAINS, len(standard_ok) / max(standard_needed, 1),
                        M(f"{prefix}_short", **standard_counts,
                          error=M("suffix", text=errors[0]) if errors else M("empty")), hidden=bool(hidden))
    if in_process_only:
        own, model = (Verdict(v.check, v.fraction, M("verified_in_process", message=v.message), v.expected, v.got,
                              v.hidden, v.plot) for v in (own, model))
    return [own, model]


def _prints_disagree(runs: list[dict[str, Any]], passing: list[int], train: str) -> Optional[Msg]:
    """Where the model learned 'ohlol', the last string train_hello_* returned should say so too: otherwise
    the student's own prints decode with other letters than the model uses."""
    mismatched = []
    for run in runs:
        value = run["own"].get("value") if run["seed"] in passing else None
        if value and value.get("words") and value["words"][-1] != TARGET:
            mismatched.append(value["words"][-1])
    if passing and len(mismatched) == len(passing):
        return M("prints_disagree", got=mismatched[0], target=TARGET, train=train)
    return None


def expect_cell(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    """The reference's answers to a 2.1 request: each word encoded, "hello" as one-hot rows."""
    return {"encode": [reference.encode(word, VOCAB) for word in request["encode_words"]],
            "hello": reference.encode("hello", VOCAB), "one_hot": reference.one_hot([1, 0, 2, 2, 3], 4).numpy()}


def judge_cell(request: dict[str, Any], observation: Optional[dict[str, Any]],
               ctx: JudgeContext) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if observation.get("data_problems"):
        verdicts += unavailable((ENCODE, ONE_HOT), missing_reason(observation["data_problems"], ctx))
    else:
        wrong, hidden = [], False
        for word, seen, expected in zip(request["encode_words"], observation["encode"], ctx.expected["encode"]):
            got = seen.get("value")
            if isinstance(got, dict) and "items" in got:
                got = got["items"]
            if got != expected:
                hidden = hidden or word not in ("hello", "ohlol")
                wrong.append(M("encode_wrong", word=repr(word), got=error_of(seen) or got, expected=expected))
        vocab = plain(observation["vocab"].get("value"))
        fraction = 1.0 - len(wrong) / len(request["encode_words"])
        if vocab != VOCAB:  # the contract's constant: a reordered vocabulary makes the student's prints nonsense
            wrong.insert(0, error_of(observation["vocab"]) or M("constant_wrong", name="HELLO_VOCAB", got=vocab,
                                                               expected=VOCAB))
            fraction = 0.0
        verdicts.append(Verdict(ENCODE, fraction,
                                M("list", items=wrong) if wrong else M("encode_ok"), hidden=hidden,
                                expected=ctx.expected["hello"]))
        expected = ctx.expected["one_hot"]
        seen = observation["one_hot"]
        problem = error_of(seen) or compare_array(expected, seen.get("value"), atol=0, what="one_hot")
        if not problem and not str(seen["value"].get("dtype", "")).startswith("float"):
            problem = M("one_hot_dtype", dtype=seen["value"].get("dtype"))
        verdicts.append(Verdict(ONE_HOT, 0.0 if problem else 1.0, problem or M("one_hot_ok"),
                                expected=list(expected.shape),
                                got=small_table(seen.get("value")) if not error_of(seen) else None))
    model_checks = MODEL_CHECKS
    if observation.get("model_problems"):
        return verdicts + unavailable(model_checks, missing_reason(observation["model_problems"], ctx))
    shapes = observation["shapes"]
    problem = error_of(shapes)
    if not problem:
        wrong = [M("array_shape", what=name, got=shape_of(got), expected=(int(name[-1]), 4))
                 for name, got in shapes["value"].items() if shape_of(got) != (int(name[-1]), 4)]
        problem = M("list", items=wrong) if wrong else None
    verdicts.append(Verdict(MODEL_SHAPES, 0.0 if problem else 1.0, problem or M("hello_cell_shapes_ok")))
    return verdicts + _judge_training(request, observation["training"], ctx, "train_hello_cell", "HelloCell", "cell")


def judge_rnn(request: dict[str, Any], observation: Optional[dict[str, Any]],
              ctx: JudgeContext) -> list[Verdict]:
    checks = MODEL_CHECKS
    if observation.get("model_problems"):
        return unavailable(checks, missing_reason(observation["model_problems"], ctx))
    shapes = observation["shapes"]
    problem = error_of(shapes)
    if not problem:
        wrong = []
        for name, got in shapes["value"].items():
            T, B = int(name.split("_")[0][1:]), int(name.split("_")[1][1:])
            if shape_of(got) != (T * B, 4):
                wrong.append(M("hello_rnn_shape", input=(T, B, 4), layers=name.split("_")[2][1:],
                               got=shape_of(got), expected=(T * B, 4)))
        problem = M("list", items=wrong) if wrong else None
    verdicts = [Verdict(MODEL_SHAPES, 0.0 if problem else 1.0, problem or M("hello_rnn_shapes_ok"))]
    return verdicts + _judge_training(request, observation["training"], ctx, "train_hello_rnn", "HelloRNN", "rnn")


# ---- without the contract: evidence from scripts (grader.parts.found) ---------------------------------

def _found_logits(model: Any, kind: str, inputs: Any) -> Any:
    """(T*B, classes) logits of a script's model on `inputs` (T, B, 4), called the way the lecture's models
    are: an RNNCell model step by step from `init_hidden()` (zeros when it has none), an RNN model at once."""
    import torch

    from grader.sandbox.runtime import call

    if kind == "rnn":
        out = call(model, inputs, label=f"{type(model).__name__}.forward")
        out = out[0] if isinstance(out, tuple) else out
        return out.reshape(-1, out.shape[-1])
    init = getattr(model, "init_hidden", None)
    if callable(init):
        hidden = call(init, label="init_hidden")
    else:
        size = next(m.hidden_size for m in model.modules() if isinstance(m, torch.nn.RNNCell))
        hidden = torch.zeros(inputs.shape[1], size)
    steps = []
    for x_t in inputs:
        hidden = call(model, x_t, hidden, label=f"{type(model).__name__}.forward")
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        steps.append(hidden)
    return torch.cat(steps)


def probe_found(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """What the scripts hold for part 2: their data (letter lists, index lists, small one-hot tensors) and
    every model with an nn.RNNCell or nn.RNN: its own trained weights and, per seed, the grader's loop on a
    fresh copy of it."""
    import torch

    from grader.parts.found import fresh_copy, instances, run_script_again, short_list, sources, values
    from grader.sandbox.runtime import describe, describe_state, observe

    data, models = [], []
    for source, scope in sources(namespace):
        lists = {name: found for name, found in ((n, short_list(v, 10)) for n, v in values(scope)) if found}
        tensors = {name: describe(value) for name, value in values(scope) if isinstance(value, torch.Tensor)
                   and value.dim() >= 2 and value.numel() <= 64 and value.shape[-1] == len(VOCAB)}
        data.append({"source": source, "lists": dict(list(lists.items())[:16]),
                     "tensors": dict(list(tensors.items())[:8])})
        for name, model in instances(scope, torch.nn.Module):
            recurrent = [m for m in model.modules() if isinstance(m, (torch.nn.RNNCell, torch.nn.RNNBase))]
            # the lecture's model: one recurrent layer over the four letters (not part 3's encoder-decoder)
            if type(model).__module__.startswith("torch") or len(recurrent) != 1 \
                    or recurrent[0].input_size != len(VOCAB) or type(recurrent[0]).__name__ not in ("RNNCell", "RNN"):
                continue
            kind = "cell" if isinstance(recurrent[0], torch.nn.RNNCell) else "rnn"

            def outcome(trained: Any, kind: str = kind) -> dict[str, Any]:
                with torch.no_grad():
                    logits = _found_logits(trained, kind, _data()[0])
                    h0 = getattr(trained, "init_hidden", None)
                    return {"claimed": _prediction(logits), "state": describe_state(trained),
                            "h0": describe(h0()) if kind == "cell" and callable(h0) else None}

            def standard(seed: int, model: Any = model, kind: str = kind) -> dict[str, Any]:
                fresh = fresh_copy(model, seed)
                inputs, labels = _data()
                _standard_training(fresh, lambda m, x: _found_logits(m, kind, x), inputs, labels,
                                   request["epochs"], request["lr"])
                return outcome(fresh)

            def rerun(seed: int, source: str = source, name: str = name, kind: str = kind) -> dict[str, Any]:
                """The student's own script once more, from the top, under one of the grader's seeds."""
                scope = run_script_again(source, seed)
                return outcome(scope[name], kind)

            models.append({"source": source, "name": name[:100], "kind": kind,
                           "own": observe(lambda: outcome(model)),
                           "reruns": [observe(lambda seed=seed: rerun(seed)) for seed in request["seeds"]]
                           if source.endswith(".py") else None,
                           "standard": [observe(lambda seed=seed: standard(seed)) for seed in request["seeds"]]})
    return {"data": data[:20], "models": models[:8]}


class FoundData(Strict):
    source: Annotated[str, Field(max_length=100)]
    lists: Annotated[dict[str, Annotated[list[Union[int, Annotated[str, Field(max_length=1)]]],
                                          Field(max_length=10)]], Field(max_length=16)]
    tensors: Annotated[dict[str, Described], Field(max_length=8)]


class FoundModel(Strict):
    source: Annotated[str, Field(max_length=100)]
    name: Annotated[str, Field(max_length=100)]
    kind: Annotated[str, Field(pattern="^(cell|rnn)$")]
    own: RunObserved
    reruns: Optional[Annotated[list[RunObserved], Field(max_length=20)]] = None
    standard: list[RunObserved]


class FoundHello(Strict):
    data: Annotated[list[FoundData], Field(max_length=20)]
    models: Annotated[list[FoundModel], Field(max_length=8)]


def validate_found(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    problem = invalid(FoundHello, observation)
    if problem:
        return problem
    for model in observation["models"]:
        if model["source"].endswith(".py") and model.get("reruns") is None:  # a script is always run again
            return M("observation_invalid", where="models.reruns", problem="missing")
        problem = count_mismatch("training seeds", len(request["seeds"]), model["standard"]) or (
            count_mismatch("reruns", len(request["seeds"]), model["reruns"]) if model.get("reruns") is not None
            else None)
        if problem:
            return problem
    return None


def _decoded(vocab: list[str], indices: list[Any]) -> Optional[str]:
    if all(isinstance(i, int) and 0 <= i < len(vocab) for i in indices):
        return "".join(vocab[i] for i in indices)
    return None


def _judge_found_data(data: dict[str, Any]) -> Optional[list[Verdict]]:
    """encode and one_hot from a script's data: its letters, its index lists and its one-hot tensor."""
    vocabularies = {n: v for n, v in data["lists"].items() if all(isinstance(c, str) for c in v)
                    and sorted(v) == sorted(VOCAB)}
    sequences = {n: v for n, v in data["lists"].items() if all(isinstance(i, int) for i in v) and len(v) == 5}
    if not vocabularies or not sequences:
        return None
    vocab_name, vocab = next(iter(vocabularies.items()))
    decoded = {name: _decoded(vocab, indices) for name, indices in sequences.items()}
    where = M("found_data", vocab=vocab_name, source=data["source"])
    words = ", ".join(f"{name} -> {word!r}" for name, word in decoded.items())
    encode_ok = SOURCE in decoded.values() and TARGET in decoded.values()
    encode = Verdict(ENCODE, 1.0 if encode_ok else 0.0,
                     M("found_encode_ok" if encode_ok else "found_encode_wrong", where=where, words=words,
                       source=SOURCE, target=TARGET), expected=[SOURCE, TARGET], got=words)
    one_hot = Verdict(ONE_HOT, 0.0, M("found_one_hot_missing", where=where))
    for name, tensor in data["tensors"].items():
        values = as_array(tensor)
        if values is None:
            continue
        rows = values.reshape(-1, len(VOCAB))
        if rows.shape[0] == 5 and np.all((rows == 0) | (rows == 1)) and np.all(rows.sum(axis=1) == 1):
            word = "".join(vocab[int(i)] for i in rows.argmax(axis=1))
            one_hot = Verdict(ONE_HOT, 1.0 if word == SOURCE else 0.0,
                              M("found_one_hot", name=name, word=word, source=SOURCE, where=where),
                              expected=SOURCE, got=word)
            break
    return [encode, one_hot]


def _judge_found_model(request: dict[str, Any], model: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    """model_shapes, own_training and model_trains for a script's model: its own weights and the grader's
    loop on fresh copies, evaluated here whenever the model is the lecture's (one RNNCell/RNN, 4 units)."""
    kind, where = model["kind"], M("found_model", name=model["name"], source=model["source"])
    needed = needed_passes(ctx.settings, len(request["seeds"]), False)["own"]

    in_process = False

    def prediction(observed: dict[str, Any]) -> Optional[str]:
        """The parent's own prediction from the weights; the process's claim only for other architectures."""
        nonlocal in_process
        if "value" not in observed:
            return None
        evaluated = evaluate_trained(kind, observed["value"], SOURCE)
        if evaluated is None:
            in_process = True
            return observed["value"]["claimed"]
        return evaluated

    fits = "value" in model["own"] and _contract_layer(model["own"]["value"]["state"], kind) is not None
    shapes = Verdict(MODEL_SHAPES, 1.0 if fits else 0.5,
                     M("found_shapes_ok" if fits else "found_shapes_other", where=where))
    own_word = prediction(model["own"])
    error = error_of(model["own"]) or script_error(ctx.cells, model["source"])
    if model.get("reruns") is not None:  # the script itself, run again under the grader's calibrated seeds
        reruns = [prediction(run) for run in model["reruns"]]
        rerun_error = next((error_of(run) for run in model["reruns"] if error_of(run)), None)
        passed_own = sum(1 for word in reruns if word == TARGET)
        own = Verdict(OWN_TRAINING, min(1.0, passed_own / max(needed, 1)),
                      M("found_own_reruns", where=where, passed=passed_own, total=len(reruns), needed=needed,
                        target=TARGET, got=own_word or "-",
                        error=M("suffix", text=rerun_error or error) if (rerun_error or error) else M("empty")),
                      expected=TARGET, got=", ".join(f"seed {s}: {w or '-'}" for s, w in zip(request["seeds"], reruns)))
    else:
        own = Verdict(OWN_TRAINING, 1.0 if own_word == TARGET else 0.0,
                      M("found_own_ok" if own_word == TARGET else "found_own_short", where=where, got=own_word or "-",
                        target=TARGET, error=M("suffix", text=error) if error else M("empty")),
                      expected=TARGET, got=own_word)
    words = [prediction(run) for run in model["standard"]]
    passed = sum(1 for word in words if word == TARGET)
    trains = Verdict(MODEL_TRAINS, min(1.0, passed / max(needed, 1)),
                     M("found_trains", where=where, passed=passed, total=len(words), needed=needed,
                       epochs=request["epochs"], target=TARGET),
                     expected=TARGET, got=", ".join(f"seed {s}: {w}" for s, w in zip(request["seeds"], words)))
    if in_process:  # said as the contract's judge says it: the grader could not evaluate these weights itself
        own, trains = (Verdict(v.check, v.fraction, M("verified_in_process", message=v.message), v.expected, v.got,
                               v.hidden, v.plot) for v in (own, trains))
    return [shapes, own, trains]


def _judge_found(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext, kind: str) -> list[Verdict]:
    models = [m for m in observation["models"] if m["kind"] == kind]
    verdicts: list[Verdict] = []
    if kind == "cell":
        sources = [m["source"] for m in models]
        ordered = sorted(observation["data"], key=lambda d: d["source"] not in sources)
        data = next((v for v in (_judge_found_data(d) for d in ordered) if v), None)
        if data is None and not models:
            return []
        verdicts += data or [Verdict(check, 0.0, M("found_no_data")) for check in (ENCODE, ONE_HOT)]
    elif not models:
        return []
    if not models:
        return verdicts + [Verdict(check, 0.0, M("found_no_model", layer="nn.RNNCell" if kind == "cell" else "nn.RNN"))
                           for check in MODEL_CHECKS]
    judged = [_judge_found_model(request, model, ctx) for model in models]
    return verdicts + max(judged, key=lambda vs: sum(v.fraction for v in vs))


def judge_found_cell(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    return _judge_found(request, observation, ctx, "cell")


def judge_found_rnn(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    return _judge_found(request, observation, ctx, "rnn")


MODULE = __name__
PARTS = [
    Part("2.1", "hello -> ohlol with nn.RNNCell", "用 nn.RNNCell 实现 hello -> ohlol",
         (ENCODE, ONE_HOT, *MODEL_CHECKS),
         judge_cell, plan_cell, "probe_cell", MODULE, validate=validate_cell, expect=expect_cell,
         found=BestEffort("probe_found", judge_found_cell, validate_found,
                          ("HELLO_VOCAB", "encode", "one_hot", "HelloCell", "train_hello_cell"))),
    Part("2.2", "hello -> ohlol with nn.RNN", "用 nn.RNN 实现 hello -> ohlol",
         MODEL_CHECKS, judge_rnn, plan_rnn, "probe_rnn", MODULE,
         validate=validate_rnn, found=BestEffort("probe_found", judge_found_rnn, validate_found,
                                                         ("HelloRNN", "train_hello_rnn"))),
]

