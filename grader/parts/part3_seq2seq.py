"""Part 3: the encoder-decoder on six word pairs.

Training is judged on the grader's own measure: the mean per-letter cross-entropy of the model on the six
pairs with teacher forcing, computed after each chunk of the student's ``train_seq2seq``. Students report
losses in many scales (sum, mean, per batch); this one is comparable across them.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from grader.messages import M, render
from grader.parts.base import (
    JudgeContext, Part, PlanContext, Verdict, compare_array, contract_lookup, error_of, missing_reason,
    shape_of, unavailable,
)

PAIRS = [("man", "women"), ("black", "white"), ("king", "queen"), ("girl", "boy"), ("up", "down"), ("high", "low")]
LETTERS = "SE?abcdefghijklmnopqrstuvwxyz"
HIDDEN_WORDS = ["cat", "dog", "sun", "moon", "tree", "leaf", "rain", "snow", "fast", "slow", "hot", "cold"]


def plan(ctx: PlanContext) -> dict[str, Any]:
    training = ctx.settings.get("training", {})
    request: dict[str, Any] = {
        "pairs": PAIRS, "device": ctx.device,
        "chunk_epochs": int(training.get("chunk_epochs", 50)),
        "epoch_budget": int(training.get("epoch_budget", 1000)),
        "loss_threshold": float(training.get("loss_threshold", 0.05)),
        "seed": int(training.get("seed", 0)),
        "data_cases": [{"pairs": PAIRS, "n_step": 5}],
    }
    if ctx.public_only:
        request["epoch_budget"] = min(request["epoch_budget"], int(training.get("self_check_budget", 100)))
    else:
        words = list(ctx.rng.permutation(HIDDEN_WORDS)[:4])
        request["data_cases"].append({"pairs": [(words[0], words[1]), (words[2], words[3])], "n_step": 6})
    return request


# ---- in the kernel ---------------------------------------------------------------------------------

def _tensors(pairs: list[tuple[str, str]]) -> tuple[Any, Any, Any]:
    """Teacher-forcing tensors built by the grader, independent of the student's make_data."""
    import torch

    eye = torch.eye(len(LETTERS))
    position = {c: i for i, c in enumerate(LETTERS)}
    enc, dec, out = [], [], []
    for word, target in pairs:
        word, target = word.ljust(5, "?"), target.ljust(5, "?")
        enc.append(eye[[position[c] for c in word + "E"]])
        dec.append(eye[[position[c] for c in "S" + target]])
        out.append([position[c] for c in target + "E"])
    return torch.stack(enc), torch.stack(dec), torch.tensor(out)


def _grader_loss(model: Any, device: str) -> float:
    import torch

    enc, dec, out = _tensors(PAIRS)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(enc.to(device), torch.zeros(1, len(PAIRS), model_hidden_size(model), device=device),
                       dec.to(device))  # (T, B, C)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float().cpu(),
                                                 out.t().reshape(-1))
    model.train(was_training)
    return float(loss)


def model_hidden_size(model: Any) -> int:
    """The hidden size, from the attribute students name in several ways, else from the encoder."""
    import torch

    for name in ("n_hidden", "hidden_size"):
        if isinstance(getattr(model, name, None), int):
            return int(getattr(model, name))
    for module in model.modules():
        if isinstance(module, torch.nn.RNNBase):
            return int(module.hidden_size)
    return 128


def probe(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import torch

    from grader.sandbox.runtime import call, describe, observe, seed_everything

    observation: dict[str, Any] = {}
    found, problems = contract_lookup(namespace, ["make_data"])
    if problems:
        observation["data_problems"] = problems
    else:
        observation["make_data"] = [
            observe(lambda case=case: describe(call(found["make_data"], [tuple(p) for p in case["pairs"]],
                                                    case["n_step"], label="make_data")))
            for case in request["data_cases"]]
    found, problems = contract_lookup(namespace, ["Seq2Seq", "train_seq2seq", "translate"])
    if problems:
        observation["model_problems"] = problems
        return observation
    Model, train, translate = found["Seq2Seq"], found["train_seq2seq"], found["translate"]
    device = request["device"]

    def shapes() -> dict[str, Any]:
        seen = {}
        for batch in (2, 6):
            model = call(Model, len(LETTERS), 128, label="Seq2Seq").to(device)
            enc, dec, _ = _tensors(PAIRS[:batch])
            with torch.no_grad():
                seen[f"B{batch}"] = describe(call(model, enc.to(device), torch.zeros(1, batch, 128, device=device),
                                                  dec.to(device), label="Seq2Seq.forward"))
        return seen

    observation["shapes"] = observe(shapes)

    def training() -> dict[str, Any]:
        seed_everything(request["seed"])
        model = call(Model, len(LETTERS), 128, label="Seq2Seq").to(device)
        curve, student_losses, epochs = [], [], 0
        started = time.perf_counter()
        curve.append((0, _grader_loss(model, device)))
        while epochs < request["epoch_budget"]:
            returned = call(train, model, [tuple(p) for p in request["pairs"]], request["chunk_epochs"], device,
                            label="train_seq2seq")
            epochs += request["chunk_epochs"]
            try:
                student_losses += [float(x) for x in list(returned)[:request["chunk_epochs"]]]
            except (TypeError, ValueError):
                pass  # malformed return values only cost the plot
            curve.append((epochs, _grader_loss(model, device)))
            if curve[-1][1] < request["loss_threshold"]:
                break
        seconds = time.perf_counter() - started
        words = {}
        for word, _ in request["pairs"]:
            seen = observe(lambda word=word: describe(call(translate, model, word, device, label="translate")))
            words[word] = seen
        return {"curve": curve, "student_losses": student_losses[:2000], "epochs": epochs,
                "seconds": seconds, "translations": words}

    observation["training"] = observe(training)
    return observation


# ---- in the parent ---------------------------------------------------------------------------------

def _dtype_family(dtype: Optional[str]) -> str:
    dtype = str(dtype or "")
    return "float" if "float" in dtype else "int" if "int" in dtype else dtype


def judge(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if observation.get("data_problems"):
        verdicts.append(Verdict("make_data", 0.0, missing_reason(observation["data_problems"], ctx)))
    else:
        wrong = []
        for case, seen in zip(request["data_cases"], observation["make_data"]):
            error = error_of(seen)
            items = seen.get("value", {}).get("items") if isinstance(seen.get("value"), dict) else None
            if error or not isinstance(items, list) or len(items) != 3:
                wrong.append(error or M("make_data_tuple"))
                continue
            expected = ctx.reference.make_data([tuple(p) for p in case["pairs"]], n_step=case["n_step"])
            for name, want, got in zip(("enc_input", "dec_input", "dec_output"), expected, items):
                want_np = want.numpy()
                problem = compare_array(want_np, got, atol=0, what=f"{name} (n_step={case['n_step']})")
                if not problem and _dtype_family(got.get("dtype")) != _dtype_family(str(want.dtype)):
                    problem = M("dtype", what=name, got=got.get("dtype"), expected=str(want.dtype).replace("torch.", ""))
                if problem:
                    wrong.append(problem)
        verdicts.append(Verdict("make_data", 0.0 if wrong else 1.0,
                                M("list", items=wrong[:3]) if wrong else M("make_data_ok"),
                                hidden=len(request["data_cases"]) > 1))
    checks = ("model_shape", "training", "translations")
    if observation.get("model_problems"):
        return verdicts + unavailable(checks, missing_reason(observation["model_problems"], ctx))
    shapes = observation["shapes"]
    problem = error_of(shapes)
    if not problem:
        wrong = [M("seq2seq_shape", batch=name[1:], got=shape_of(got), expected=(6, int(name[1:]), 29))
                 for name, got in shapes["value"].items() if shape_of(got) != (6, int(name[1:]), 29)]
        problem = M("list", items=wrong) if wrong else None
    verdicts.append(Verdict("model_shape", 0.0 if problem else 1.0, problem or M("seq2seq_shape_ok")))
    training = observation["training"]
    if error_of(training):
        return verdicts + unavailable(("training", "translations"), M("training_failed", error=error_of(training)))
    result = training["value"]
    final = result["curve"][-1][1]
    threshold = request["loss_threshold"]
    plot = {"series": {"grader": [list(point) for point in result["curve"]],
                       "train_seq2seq": [[i + 1, loss] for i, loss in enumerate(result["student_losses"])]},
            "threshold": threshold, "log_y": True, "x": "epoch", "y": "loss"}
    if final < threshold:
        verdicts.append(Verdict("training", 1.0, M("seq2seq_trained", threshold=threshold, epochs=result["epochs"],
                                                   seconds=result["seconds"], device=request["device"]),
                                expected=threshold, got=round(final, 5), plot=plot))
    else:
        start = result["curve"][0][1]
        progress = max(0.0, min(1.0, (start - final) / max(start - threshold, 1e-9)))
        verdicts.append(Verdict("training", 0.5 * progress,
                                M("seq2seq_short", loss=final, epochs=result["epochs"], threshold=threshold),
                                expected=threshold, got=round(final, 5), plot=plot))
    correct, wrong = 0, []
    table = []
    for word, target in request["pairs"]:
        seen = result["translations"].get(word, {})
        error = error_of(seen)
        got = seen.get("value") if isinstance(seen.get("value"), str) else (render(error) if error else seen.get("value"))
        table.append({"word": word, "expected": target, "got": got})
        if got == target:
            correct += 1
        else:
            wrong.append(f"{word} -> {got!r}")
    verdicts.append(Verdict("translations", correct / len(request["pairs"]),
                            M("translations", correct=correct, total=len(request["pairs"]),
                              wrong=(": " + ", ".join(wrong)) if wrong else ""), expected=None, got=table))
    return verdicts


MODULE = __name__
PARTS = [Part("3", "Encoder-decoder seq2seq", "编码器-解码器 seq2seq",
              ("make_data", "model_shape", "training", "translations"), judge, plan, "probe", MODULE)]

