"""Part 2: the character model "hello" -> "ohlol", with nn.RNNCell (2.1) and nn.RNN (2.2).

Training is judged on what the trained model predicts when the grader runs it, not on the strings the
student's training function returns. Each model is trained twice per seed: by the student's loop and by
the grader's standard loop, which tells "your model is wrong" from "your training loop is wrong".
"""

from __future__ import annotations

from typing import Any, Optional

from grader.messages import M, render
from grader.parts.base import (
    JudgeContext, Part, PlanContext, Verdict, compare_array, contract_lookup, error_of, missing_reason,
    shape_of, small_table, unavailable,
)

VOCAB = ["e", "h", "l", "o"]
SOURCE, TARGET = "hello", "ohlol"


def _plan(ctx: PlanContext) -> dict[str, Any]:
    training = ctx.settings.get("training", {})
    seeds = [int(s) for s in training.get("seeds", [2, 6, 7, 11, 14])]
    return {"seeds": seeds[:2] if ctx.public_only else seeds,
            "epochs": int(training.get("epochs", 50)), "lr": float(training.get("lr", 0.1))}


def plan_cell(ctx: PlanContext) -> dict[str, Any]:
    request = _plan(ctx)
    words = ["hello", "ohlol"]
    if not ctx.public_only:
        words.append("".join(ctx.rng.choice(VOCAB, size=int(ctx.rng.integers(3, 8)))))
    request["encode_words"] = words
    return request


plan_rnn = _plan


# ---- in the kernel ---------------------------------------------------------------------------------

def _data() -> tuple[Any, Any]:
    import torch

    index = {c: i for i, c in enumerate(VOCAB)}
    inputs = torch.eye(len(VOCAB))[[index[c] for c in SOURCE]].unsqueeze(1)  # (T, 1, 4)
    labels = torch.tensor([index[c] for c in TARGET]).view(-1, 1)            # (T, 1)
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


def _train_both(model_factory: Any, train: Any, logits_of: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    import torch

    from grader.sandbox.runtime import call, observe, seed_everything

    inputs, labels = _data()
    runs = []
    for seed in request["seeds"]:
        def own() -> dict[str, Any]:
            seed_everything(seed)
            model = call(model_factory, label="model")
            history = call(train, model, inputs.clone(), labels.clone(), request["epochs"], request["lr"],
                           label=train.__name__)
            with torch.no_grad():
                predicted = _prediction(call(logits_of, model, inputs, label="forward"))
            return {"predicted": predicted, **_history(history, request["epochs"])}

        def standard() -> dict[str, Any]:
            seed_everything(seed)
            model = call(model_factory, label="model")
            _standard_training(model, lambda m, x: call(logits_of, m, x, label="forward"), inputs, labels,
                               request["epochs"], request["lr"])
            with torch.no_grad():
                return {"predicted": _prediction(call(logits_of, model, inputs, label="forward"))}

        runs.append({"seed": seed, "own": observe(own), "standard": observe(standard)})
    return runs


def probe_cell(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import torch

    from grader.sandbox.runtime import call, describe, observe

    observation: dict[str, Any] = {}
    found, problems = contract_lookup(namespace, ["encode", "one_hot"])
    if problems:
        observation["data_problems"] = problems
    else:
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
    observation["training"] = _train_both(lambda: Model(4, 4, 1), train, _cell_logits, request)
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
            "training": _train_both(lambda: Model(4, 4, 1), train, lambda m, x: m(x), request)}


# ---- in the parent ---------------------------------------------------------------------------------

def _judge_training(request: dict[str, Any], runs: list[dict[str, Any]], ctx: JudgeContext,
                    train_name: str, model_name: str) -> list[Verdict]:
    needed = int(ctx.settings.get("training", {}).get("min_passing_seeds", 3))
    needed = min(needed, len(runs))
    own_ok = [r["seed"] for r in runs if r["own"].get("value", {}).get("predicted") == TARGET]
    standard_ok = [r["seed"] for r in runs if r["standard"].get("value", {}).get("predicted") == TARGET]
    predictions = {r["seed"]: (r["own"].get("value", {}).get("predicted") or render(error_of(r["own"]) or "?"))
                   for r in runs}
    epochs = request["epochs"]
    seen = ", ".join(f"seed {seed}: {word}" for seed, word in predictions.items())
    plot = {"series": {f"seed {r['seed']}": [[i + 1, loss] for i, loss in enumerate(r["own"]["value"]["losses"])]
                       for r in runs if r["own"].get("value", {}).get("losses")},
            "threshold": None, "log_y": False, "x": "epoch", "y": "loss"}
    counts = {"target": TARGET, "epochs": epochs, "passed": len(own_ok), "total": len(runs), "needed": needed,
              "train": train_name, "model": model_name}
    if len(own_ok) >= needed:
        own = Verdict("own_training", 1.0, M("hello_own_ok", **counts), expected=TARGET, got=seen, plot=plot)
    else:
        hint = M("hello_loop_hint", **counts) if len(standard_ok) >= needed else M("empty")
        own = Verdict("own_training", len(own_ok) / max(needed, 1), M("hello_own_short", hint=hint, **counts),
                      expected=TARGET, got=seen, plot=plot)
    if len(standard_ok) >= needed:
        model = Verdict("model_trains", 1.0, M("hello_model_ok", **counts))
    else:
        errors = [error_of(r["standard"]) for r in runs if error_of(r["standard"])]
        model = Verdict("model_trains", len(standard_ok) / max(needed, 1),
                        M("hello_model_short", **{**counts, "passed": len(standard_ok)},
                          error=M("suffix", text=errors[0]) if errors else M("empty")))
    return [own, model]


def judge_cell(request: dict[str, Any], observation: Optional[dict[str, Any]],
               ctx: JudgeContext) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if observation.get("data_problems"):
        verdicts += unavailable(("encode", "one_hot"), missing_reason(observation["data_problems"], ctx))
    else:
        wrong, hidden = [], False
        for word, seen in zip(request["encode_words"], observation["encode"]):
            expected = ctx.reference.encode(word, VOCAB)
            got = seen.get("value")
            if isinstance(got, dict) and "items" in got:
                got = got["items"]
            if got != expected:
                hidden = hidden or word not in ("hello", "ohlol")
                wrong.append(M("encode_wrong", word=repr(word), got=error_of(seen) or got, expected=expected))
        verdicts.append(Verdict("encode", 1.0 - len(wrong) / len(request["encode_words"]),
                                M("list", items=wrong) if wrong else M("encode_ok"), hidden=hidden,
                                expected=ctx.reference.encode("hello", VOCAB)))
        expected = ctx.reference.one_hot([1, 0, 2, 2, 3], 4).numpy()
        seen = observation["one_hot"]
        problem = error_of(seen) or compare_array(expected, seen.get("value"), atol=0, what="one_hot")
        if not problem and not str(seen["value"].get("dtype", "")).startswith("float"):
            problem = M("one_hot_dtype", dtype=seen["value"].get("dtype"))
        verdicts.append(Verdict("one_hot", 0.0 if problem else 1.0, problem or M("one_hot_ok"),
                                expected=list(expected.shape),
                                got=small_table(seen.get("value")) if not error_of(seen) else None))
    model_checks = ("model_shapes", "own_training", "model_trains")
    if observation.get("model_problems"):
        return verdicts + unavailable(model_checks, missing_reason(observation["model_problems"], ctx))
    shapes = observation["shapes"]
    problem = error_of(shapes)
    if not problem:
        wrong = [M("array_shape", what=name, got=shape_of(got), expected=(int(name[-1]), 4))
                 for name, got in shapes["value"].items() if shape_of(got) != (int(name[-1]), 4)]
        problem = M("list", items=wrong) if wrong else None
    verdicts.append(Verdict("model_shapes", 0.0 if problem else 1.0, problem or M("hello_cell_shapes_ok")))
    return verdicts + _judge_training(request, observation["training"], ctx, "train_hello_cell", "HelloCell")


def judge_rnn(request: dict[str, Any], observation: Optional[dict[str, Any]],
              ctx: JudgeContext) -> list[Verdict]:
    checks = ("model_shapes", "own_training", "model_trains")
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
    verdicts = [Verdict("model_shapes", 0.0 if problem else 1.0, problem or M("hello_rnn_shapes_ok"))]
    return verdicts + _judge_training(request, observation["training"], ctx, "train_hello_rnn", "HelloRNN")


MODULE = __name__
PARTS = [
    Part("2.1", "hello -> ohlol with nn.RNNCell", "用 nn.RNNCell 实现 hello -> ohlol",
         ("encode", "one_hot", "model_shapes", "own_training", "model_trains"),
         judge_cell, plan_cell, "probe_cell", MODULE),
    Part("2.2", "hello -> ohlol with nn.RNN", "用 nn.RNN 实现 hello -> ohlol",
         ("model_shapes", "own_training", "model_trains"), judge_rnn, plan_rnn, "probe_rnn", MODULE),
]

