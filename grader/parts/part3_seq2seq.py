"""Part 3: the encoder-decoder on six word pairs.

Training is judged on the grader's own measure: the mean per-letter cross-entropy of the model on the six
pairs with teacher forcing, computed after each chunk of the student's ``train_seq2seq``. Students report
losses in many scales (sum, mean, per batch); this one is comparable across them.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Optional, Union

from pydantic import Field

from grader.messages import M, Msg, render
from grader.parts.base import (
    BestEffort,
    Failure, JudgeContext, ModelState, Observed, Part, PlanContext, Problems, Strict, Verdict, compare_array,
    contract_lookup, count_mismatch, error_of, invalid, layer_arrays, missing_reason, plain, problems_or_results,
    shape_of, trained_layers, unavailable,
)
from grader.parts.found import script_error

# Check ids: the Part records and the judges both name them from here.
MAKE_DATA, MODEL_SHAPE, TRAINING, TRANSLATIONS = "make_data", "model_shape", "training", "translations"

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
        words = [str(w) for w in ctx.rng.permutation(HIDDEN_WORDS)]
        request["data_cases"].append({"pairs": [(words[0], words[1]), (words[2], words[3])], "n_step": 6})
        # trained beside the six public pairs: a model cannot know these in advance (pre-trained weights,
        # memorised outputs), and a train_seq2seq that ignores its `pairs` argument never learns them
        request["pairs"] = PAIRS + [(words[4], words[5]), (words[6], words[7])]
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


def _grader_loss(model: Any, device: str, pairs: list[tuple[str, str]]) -> float:
    import torch

    enc, dec, out = _tensors(pairs)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(enc.to(device), torch.zeros(1, len(pairs), model_hidden_size(model), device=device),
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

    from grader.sandbox.runtime import call, describe, describe_state, observe, seed_everything

    observation: dict[str, Any] = {}
    found, problems = contract_lookup(namespace, ["make_data"])
    if problems:
        observation["data_problems"] = problems
    else:
        observation["constants"] = {name: observe(lambda name=name: describe(namespace[name])) if name in namespace
                                    else {"error": f"{name} is not defined"} for name in ("LETTERS", "PAIRS")}
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
        pairs = [tuple(p) for p in request["pairs"]]
        model = call(Model, len(LETTERS), 128, label="Seq2Seq").to(device)
        curve, student_losses, epochs = [], [], 0
        started = time.perf_counter()
        curve.append((0, _grader_loss(model, device, pairs)))
        while epochs < request["epoch_budget"]:
            returned = call(train, model, list(pairs), request["chunk_epochs"], device, label="train_seq2seq")
            epochs += request["chunk_epochs"]
            try:
                student_losses += [float(x) for x in list(returned)[:request["chunk_epochs"]]]
            except (TypeError, ValueError):
                pass  # malformed return values only cost the plot
            curve.append((epochs, _grader_loss(model, device, pairs)))
            if curve[-1][1] < request["loss_threshold"]:
                break
        seconds = time.perf_counter() - started
        words = [observe(lambda word=word: describe(call(translate, model, word, device, label="translate")))
                 for word, _ in pairs]
        return {"curve": curve, "student_losses": student_losses[:2000], "epochs": epochs,
                "seconds": seconds, "translations": words, "state": describe_state(model)}

    observation["training"] = observe(training)
    return observation


# ---- in the parent ---------------------------------------------------------------------------------

def _dtype_family(dtype: Optional[str]) -> str:
    dtype = str(dtype or "")
    return "float" if "float" in dtype else "int" if "int" in dtype else dtype


class TrainingResult(Strict):
    curve: Annotated[list[Annotated[list[float], Field(min_length=2, max_length=2)]], Field(min_length=1, max_length=200)]
    student_losses: Annotated[list[float], Field(max_length=2000)] = []
    epochs: Annotated[int, Field(ge=0, le=1_000_000)]
    seconds: Annotated[float, Field(ge=0)]
    translations: list[Observed]
    state: ModelState


class TrainingValue(Strict):
    value: TrainingResult


class Constants(Strict):
    LETTERS: Observed
    PAIRS: Observed


class Seq2SeqObservation(Strict):
    data_problems: Optional[Problems] = None
    constants: Optional[Constants] = None
    make_data: Optional[list[Observed]] = None
    model_problems: Optional[Problems] = None
    shapes: Optional[Observed] = None
    training: Optional[Union[TrainingValue, Failure]] = None


def validate(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    problem = invalid(Seq2SeqObservation, observation)
    if problem:
        return problem
    problem, reported = problems_or_results(observation, "data_problems", ("constants", "make_data"))
    if not problem and not reported:
        problem = count_mismatch("make_data cases", len(request["data_cases"]), observation["make_data"])
    if problem:
        return problem
    problem, reported = problems_or_results(observation, "model_problems", ("shapes", "training"))
    if problem or reported:
        return problem
    shapes = observation["shapes"]
    if "value" in shapes and (not isinstance(shapes["value"], dict) or set(shapes["value"]) != {"B2", "B6"}):
        return M("observation_invalid", where="shapes", problem="not the shapes the grader asked for")
    if "value" in observation["training"]:
        return count_mismatch("translations", len(request["pairs"]), observation["training"]["value"]["translations"])
    return None


def constant_baseline(pairs: list[tuple[str, str]]) -> float:
    """Cross-entropy of the best input-blind predictor: the frequencies of the target letters (and 'E')."""
    counts: dict[str, int] = {}
    for _, target in pairs:
        for letter in target.ljust(5, "?") + "E":
            counts[letter] = counts.get(letter, 0) + 1
    total = sum(counts.values())
    return -sum(n / total * math.log(n / total) for n in counts.values())


class ContractModel:
    """The contract's seq2seq (nn.RNN encoder, nn.RNN decoder, nn.Linear), rebuilt in the parent from a
    student's trained weights, with the reference's forward: the grader's loss and translations come from
    here, not from the student's process."""

    def __init__(self, encoder: Any, decoder: Any, fc: Any) -> None:
        self.encoder, self.decoder, self.fc = encoder, decoder, fc
        self.n_hidden = encoder.hidden_size

    def __call__(self, enc_input: Any, enc_hidden: Any, dec_input: Any) -> Any:
        _, context = self.encoder(enc_input.transpose(0, 1), enc_hidden)
        decoded, _ = self.decoder(dec_input.transpose(0, 1), context)
        return self.fc(decoded)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Optional["ContractModel"]:
        import torch

        found = trained_layers(state)
        if found is None:
            return None
        layers, arrays = found
        rnns = [m for m in layers if m.type == "RNN" and m.library]
        linears = [m for m in layers if m.type == "Linear" and m.library]
        others = [m for m in layers if m not in rnns and m not in linears and not (m.type == "Dropout" and m.library)]
        if len(rnns) != 2 or len(linears) != 1 or others:
            return None
        named = sorted(rnns, key=lambda m: 0 if "enc" in m.path.lower() else 1 if "dec" in m.path.lower() else 0.5)
        built, loaded = [], 0
        for layer in (*named, linears[0]):
            short = layer_arrays(layer, arrays)
            loaded += len(short)
            config = layer.config
            try:
                if layer.type == "RNN":
                    if config.get("num_layers", 1) != 1 or config.get("batch_first") or config.get("bidirectional") \
                            or config.get("proj_size", 0) or config.get("nonlinearity", "tanh") not in ("tanh", "relu"):
                        return None
                    module = torch.nn.RNN(int(config["input_size"]), int(config["hidden_size"]),
                                          nonlinearity=str(config.get("nonlinearity", "tanh")),
                                          bias="bias_ih_l0" in short)
                else:
                    module = torch.nn.Linear(int(config["in_features"]), int(config["out_features"]),
                                             bias="bias" in short)
                module.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in short.items()})
            except (KeyError, TypeError, ValueError, RuntimeError):
                return None
            built.append(module.eval())
        if loaded != len(arrays):  # a parameter outside the three layers
            return None
        encoder, decoder, fc = built
        if encoder.input_size != len(LETTERS) or decoder.input_size != len(LETTERS) or \
                decoder.hidden_size != encoder.hidden_size or fc.in_features != encoder.hidden_size or \
                fc.out_features != len(LETTERS):
            return None
        return cls(encoder, decoder, fc)

    def loss(self, pairs: list[tuple[str, str]]) -> float:
        import torch

        enc, dec, out = _tensors(pairs)
        with torch.no_grad():
            logits = self(enc, torch.zeros(1, len(pairs), self.n_hidden), dec)
            return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), out.t().reshape(-1)))

    def translate(self, word: str, n_step: int = 5) -> str:
        """Greedy decoding, as the reference's translate."""
        import torch

        eye = torch.eye(len(LETTERS))
        position = {c: i for i, c in enumerate(LETTERS)}
        enc = eye[[position[c] for c in word.ljust(max(n_step, len(word)), "?") + "E"]].unsqueeze(0)
        decoder_input = eye[[position["S"]]].unsqueeze(0)
        letters: list[str] = []
        with torch.no_grad():
            for _ in range(n_step + 1):
                logits = self(enc, torch.zeros(1, 1, self.n_hidden), decoder_input)
                letter = LETTERS[int(logits[-1, 0].argmax())]
                if letter == "E":
                    break
                letters.append(letter)
                decoder_input = torch.cat([decoder_input, eye[[position[letter]]].unsqueeze(0)], dim=1)
        return "".join(letters).replace("?", "")

    def translate_all_at_once(self, word: str, n_step: int = 5) -> str:
        """The tutorials' decoding: the word padded to n_step (no end mark) into the encoder, 'S' and padding
        into the decoder in one pass, letters up to the first 'E'."""
        import torch

        eye = torch.eye(len(LETTERS))
        position = {c: i for i, c in enumerate(LETTERS)}
        enc = eye[[position[c] for c in word.ljust(n_step, "?")[:n_step]]].unsqueeze(0)
        dec = eye[[position[c] for c in "S" + "?" * n_step]].unsqueeze(0)
        with torch.no_grad():
            logits = self(enc, torch.zeros(1, 1, self.n_hidden), dec)
        letters = [LETTERS[int(i)] for i in logits[:, 0].argmax(dim=1)]
        return "".join(letters[:letters.index("E")] if "E" in letters else letters).replace("?", "")


def _constant_problems(constants: dict[str, Any]) -> list[Msg]:
    """LETTERS and PAIRS as the homework fixes them: the student's make_data and translate rely on them."""
    problems = []
    letters = plain(constants["LETTERS"].get("value"))
    if isinstance(letters, list) and all(isinstance(c, str) for c in letters):  # list("SE?abc...") is fine too
        letters = "".join(letters)
    if letters != LETTERS:
        problems.append(error_of(constants["LETTERS"]) or M("constant_wrong", name="LETTERS", got=letters,
                                                            expected=LETTERS))
    pairs = plain(constants["PAIRS"].get("value"))
    if pairs != [list(pair) for pair in PAIRS]:
        problems.append(error_of(constants["PAIRS"]) or M("constant_wrong", name="PAIRS", got=pairs,
                                                          expected=[list(pair) for pair in PAIRS]))
    return problems


def expect(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    """The reference's answers to a part 3 request: make_data's three tensors for every data case."""
    return {"make_data": [[tensor.numpy() for tensor in reference.make_data([tuple(p) for p in case["pairs"]],
                                                                         n_step=case["n_step"])]
                          for case in request["data_cases"]]}


def judge(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if observation.get("data_problems"):
        verdicts.append(Verdict(MAKE_DATA, 0.0, missing_reason(observation["data_problems"], ctx)))
    else:
        wrong = []
        for case, seen, expected in zip(request["data_cases"], observation["make_data"], ctx.expected["make_data"]):
            error = error_of(seen)
            items = seen.get("value", {}).get("items") if isinstance(seen.get("value"), dict) else None
            if error or not isinstance(items, list) or len(items) != 3:
                wrong.append(error or M("make_data_tuple"))
                continue
            for name, want, got in zip(("enc_input", "dec_input", "dec_output"), expected, items):
                problem = compare_array(want, got, atol=0, what=f"{name} (n_step={case['n_step']})")
                if not problem and _dtype_family(got.get("dtype")) != _dtype_family(str(want.dtype)):
                    problem = M("dtype", what=name, got=got.get("dtype"), expected=str(want.dtype))
                if problem:
                    wrong.append(problem)
        wrong = _constant_problems(observation["constants"]) + wrong
        verdicts.append(Verdict(MAKE_DATA, 0.0 if wrong else 1.0,
                                M("list", items=wrong[:3]) if wrong else M("make_data_ok"),
                                hidden=len(request["data_cases"]) > 1))
    checks = (MODEL_SHAPE, TRAINING, TRANSLATIONS)
    if observation.get("model_problems"):
        return verdicts + unavailable(checks, missing_reason(observation["model_problems"], ctx))
    shapes = observation["shapes"]
    problem = error_of(shapes)
    if not problem:
        wrong = [M("seq2seq_shape", batch=name[1:], got=shape_of(got), expected=(6, int(name[1:]), 29))
                 for name, got in shapes["value"].items() if shape_of(got) != (6, int(name[1:]), 29)]
        problem = M("list", items=wrong) if wrong else None
    verdicts.append(Verdict(MODEL_SHAPE, 0.0 if problem else 1.0, problem or M("seq2seq_shape_ok")))
    training = observation["training"]
    if error_of(training):
        return verdicts + unavailable((TRAINING, TRANSLATIONS), M("training_failed", error=error_of(training)))
    result = training["value"]
    pairs = [tuple(p) for p in request["pairs"]]
    threshold = request["loss_threshold"]
    rebuilt = ContractModel.from_state(result["state"])
    claimed = result["curve"][-1][1]
    if rebuilt is not None:
        final = rebuilt.loss(pairs)  # the parent's own measure; the student's process only claimed `claimed`
        if claimed < threshold <= final:  # a pass the weights do not support (an honest forward may differ a bit)
            ctx.interference.append(f"Seq2Seq: the loss reported from the student's process ({claimed:.4f}) differs "
                                    f"from the grader's evaluation of the trained weights ({final:.4f})")
    else:
        final = claimed
    curve = [list(point) for point in result["curve"][:-1]] + [[result["curve"][-1][0], final]]
    plot = {"series": {"grader": curve,
                       "train_seq2seq": [[i + 1, loss] for i, loss in enumerate(result["student_losses"])]},
            "threshold": threshold, "log_y": True, "x": "epoch", "y": "loss", "title": "plot.seq2seq"}
    hidden = len(pairs) > len(PAIRS)
    if final < threshold:
        training_verdict = Verdict(TRAINING, 1.0, M("seq2seq_trained", threshold=threshold, epochs=result["epochs"],
                                                      seconds=result["seconds"], device=request["device"]),
                                   expected=threshold, got=round(final, 5), plot=plot, hidden=hidden)
    else:
        # progress from the best *constant* prediction (the target letters' frequencies), computed here: a
        # model that ignores its input earns nothing, and the student's own starting loss is not needed
        start = constant_baseline(pairs)
        progress = max(0.0, min(1.0, (start - final) / max(start - threshold, 1e-9)))
        if hidden and rebuilt is not None:  # progress must include the pairs nobody could learn in advance
            hidden_start, hidden_loss = constant_baseline(pairs[len(PAIRS):]), rebuilt.loss(pairs[len(PAIRS):])
            progress = min(progress, max(0.0, min(1.0, (hidden_start - hidden_loss) / max(hidden_start - threshold,
                                                                                            1e-9))))
        training_verdict = Verdict(TRAINING, 0.5 * progress,
                                   M("seq2seq_short", loss=final, epochs=result["epochs"], threshold=threshold),
                                   expected=threshold, got=round(final, 5), plot=plot, hidden=hidden)
    correct, wrong, table = 0, [], []
    for (word, target), seen in zip(pairs, result["translations"]):
        error = error_of(seen)
        got = seen.get("value") if isinstance(seen.get("value"), str) else (render(error) if error else seen.get("value"))
        decoded = rebuilt.translate(word) if rebuilt is not None else None
        table.append({"word": word, "expected": target, "got": got, **({"grader": decoded} if rebuilt else {})})
        if got == target and (decoded is None or decoded == target):
            correct += 1
        elif got == target:
            wrong.append(f"{word} -> {got!r}, but the grader's decoding of your weights gives {decoded!r}")
        else:
            wrong.append(f"{word} -> {got!r}")
    hidden_right = sum(1 for row in table[len(PAIRS):] if row["got"] == row["expected"]
                       and row.get("grader", row["expected"]) == row["expected"])
    fraction = correct / len(pairs)
    message = M("translations", correct=correct, total=len(pairs),
                wrong=(": " + ", ".join(wrong[:4])) if wrong else "")
    if hidden and correct and hidden_right == 0:
        # the public pairs can be memorised or pre-trained; a model trained by train_seq2seq knows the others too
        fraction, message = 0.0, M("seq2seq_public_only", correct=correct - hidden_right)
    translations = Verdict(TRANSLATIONS, fraction, message, expected=None, got=table, hidden=hidden,
                           shows="table")
    if rebuilt is None:
        training_verdict, translations = (
            Verdict(v.check, v.fraction, M("verified_in_process", message=v.message), v.expected, v.got, v.hidden,
                    v.plot) for v in (training_verdict, translations))
    return verdicts + [training_verdict, translations]


# ---- without the contract: evidence from scripts (grader.parts.found) ---------------------------------

PADDING = "?P"  # the tutorials pad words with 'P' (and pad the lists in place while batching)


def _word_pairs(value: Any) -> Optional[list[list[str]]]:
    if isinstance(value, (list, tuple)) and 0 < len(value) <= 40 and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(w, str) and len(w) <= 30 for w in p)
            for p in value):
        return [[str(p[0]), str(p[1])] for p in value]
    return None


def _grader_training(model: Any, device: str, pairs: list[tuple[str, str]], request: dict[str, Any]) -> dict[str, Any]:
    """The grader's own loop for a script's model: Adam (lr 1e-3) on shuffled batches of 3 from zeros as the
    encoder's first state, in chunks, until its loss is under the threshold or the epoch budget is spent."""
    import torch

    enc, dec, out = _tensors(pairs)
    enc, dec, out = enc.to(device), dec.to(device), out.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(int(request["seed"]))
    hidden_size, epochs = model_hidden_size(model), 0
    curve = [(0, _grader_loss(model, device, pairs))]
    while epochs < request["epoch_budget"] and curve[-1][1] >= request["loss_threshold"]:
        model.train()
        for _ in range(request["chunk_epochs"]):
            for batch in torch.randperm(len(pairs), generator=generator).split(3):
                optimizer.zero_grad()
                logits = model(enc[batch], torch.zeros(1, len(batch), hidden_size, device=device), dec[batch])
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                         out[batch].t().reshape(-1))
                loss.backward()
                optimizer.step()
        epochs += request["chunk_epochs"]
        curve.append((epochs, _grader_loss(model, device, pairs)))
    return {"curve": curve, "epochs": epochs}


def probe_found(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """What the scripts hold for part 3: their word pairs, their seq2seq model (the trained instance, else the
    class built without arguments), its own weights, what their `translate` says for the six words, and a
    fresh copy trained by the grader's loop on the request's pairs."""
    import inspect

    import torch

    from grader.parts.found import fresh_copy, instances, layer_types, sources, student_module_classes, values
    from grader.sandbox.runtime import call, describe_state, observe

    device = request["device"]
    found: list[dict[str, Any]] = []
    for source, scope in sources(namespace):
        pairs = {name: p for name, p in ((n, _word_pairs(v)) for n, v in values(scope)) if p}
        candidates = [(name, model, True) for name, model in instances(scope, torch.nn.Module)
                      if not type(model).__module__.startswith("torch")]
        built = {type(model) for _, model, _ in candidates}
        for name, cls in student_module_classes(scope):
            if cls not in built:
                candidates.append((name, cls, False))
        entry: dict[str, Any] = {"source": source, "pairs": dict(list(pairs.items())[:4]), "models": []}
        for name, candidate, trained in candidates:
            if not trained:
                made = observe(lambda cls=candidate: call(cls, label=cls.__name__))
                if "error" in made:
                    continue
                candidate = call(candidate, label=name)
            if sum(1 for t in layer_types(candidate) if t in ("RNN", "GRU", "LSTM")) < 2:
                continue
            model = candidate

            def standard(model: Any = model) -> dict[str, Any]:
                fresh = fresh_copy(model, int(request["seed"])).to(device)
                pairs_ = [tuple(p) for p in request["pairs"]]
                return {**_grader_training(fresh, device, pairs_, request), "state": describe_state(fresh)}

            entry["models"].append({"name": name[:100], "trained": trained,
                                    "own": observe(lambda model=model: {"state": describe_state(model)}),
                                    "standard": observe(standard)})
            break
        translate = scope.get("translate")
        if callable(translate):
            try:
                takes = len(inspect.signature(translate).parameters)
            except (TypeError, ValueError):
                takes = 1
            entry["translations"] = [observe(lambda word=word: str(call(translate, word, label="translate"))[:40])
                                     for word, _ in PAIRS] if takes == 1 else None
        if entry["pairs"] or entry["models"] or "translations" in entry:
            found.append(entry)
    return {"sources": found[:8]}


class FoundTraining(Strict):
    curve: Annotated[list[Annotated[list[float], Field(min_length=2, max_length=2)]], Field(min_length=1, max_length=200)]
    epochs: Annotated[int, Field(ge=0, le=1_000_000)]
    state: ModelState


class FoundState(Strict):
    state: ModelState


class FoundStateValue(Strict):
    value: FoundState


class FoundTrainingValue(Strict):
    value: FoundTraining


class FoundSeq2SeqModel(Strict):
    name: Annotated[str, Field(max_length=100)]
    trained: bool
    own: Union["FoundStateValue", Failure]
    standard: Union["FoundTrainingValue", Failure]


class FoundSource(Strict):
    source: Annotated[str, Field(max_length=100)]
    pairs: Annotated[dict[str, Annotated[list[Annotated[list[Annotated[str, Field(max_length=30)]],
                                                        Field(min_length=2, max_length=2)]], Field(max_length=40)]],
                     Field(max_length=4)]
    models: Annotated[list[FoundSeq2SeqModel], Field(max_length=1)]
    translations: Optional[list[Observed]] = None


class FoundSeq2Seq(Strict):
    sources: Annotated[list[FoundSource], Field(max_length=8)]


def validate_found(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    problem = invalid(FoundSeq2Seq, observation)
    if problem:
        return problem
    for source in observation["sources"]:
        if source.get("translations") is not None:
            problem = count_mismatch("translations", len(PAIRS), source["translations"])
            if problem:
                return problem
    return None


def judge_found(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    """make_data from the script's pairs, model_shape from its model's layers, training from the grader's
    loop on a fresh copy (evaluated here), translations from the script's own `translate` on the six words,
    checked against the grader's decoding of the script's own trained weights."""
    sources = observation["sources"]
    if not sources:
        return []
    source = max(sources, key=lambda s: (bool(s["models"]), "translations" in s and s["translations"] is not None,
                                         bool(s["pairs"])))
    where = M("found_in", source=source["source"])
    wanted = [list(pair) for pair in PAIRS]
    verdicts = []
    found_pairs = {name: [[w.rstrip(PADDING) for w in pair] for pair in pairs] for name, pairs in source["pairs"].items()}
    homework = [name for name, pairs in found_pairs.items() if sorted(pairs) == sorted(wanted)]
    if homework:
        verdicts.append(Verdict(MAKE_DATA, 1.0, M("found_pairs_ok", name=homework[0], where=where)))
    else:
        other = next(iter(found_pairs.items()), None)
        verdicts.append(Verdict(MAKE_DATA, 0.0, M("found_pairs_other", name=other[0], got=other[1][:3], where=where)
                                if other else M("found_pairs_missing", where=where), expected=wanted))
    model = source["models"][0] if source["models"] else None
    if model is None:
        verdicts += [Verdict(check, 0.0, M("found_no_seq2seq", where=where)) for check in (MODEL_SHAPE, TRAINING)]
        own = None
    else:
        where = M("found_model", name=model["name"], source=source["source"])
        own = ContractModel.from_state(model["own"]["value"]["state"]) if "value" in model["own"] else None
        standard = model["standard"].get("value")
        rebuilt = ContractModel.from_state(standard["state"]) if standard else None
        verdicts.append(Verdict(MODEL_SHAPE, 1.0 if (own or rebuilt) else 0.5,
                                M("found_seq2seq_ok" if (own or rebuilt) else "found_seq2seq_other", where=where)))
        pairs = [tuple(p) for p in request["pairs"]]
        threshold = request["loss_threshold"]
        if not standard:
            verdicts.append(Verdict(TRAINING, 0.0, M("found_training_failed", where=where,
                                                     error=error_of(model["standard"]) or M("unreadable"))))
        else:
            final = rebuilt.loss(pairs) if rebuilt is not None else standard["curve"][-1][1]
            start = constant_baseline(pairs)
            fraction = 1.0 if final < threshold else 0.5 * max(0.0, min(1.0, (start - final) / max(start - threshold, 1e-9)))
            plot = {"series": {"grader": [list(p) for p in standard["curve"]]}, "threshold": threshold,
                    "log_y": True, "x": "epoch", "y": "loss", "title": "plot.seq2seq"}
            verdicts.append(Verdict(TRAINING, fraction, M("found_training", where=where, loss=final,
                                                          epochs=standard["epochs"], threshold=threshold),
                                    expected=threshold, got=round(final, 5), plot=plot))
    translations = source.get("translations")
    if translations is None:
        stopped = script_error(ctx.cells, source["source"])
        verdicts.append(Verdict(TRANSLATIONS, 0.0, M("found_no_translate", where=M("found_in", source=source["source"]),
                                                     error=M("suffix", text=stopped) if stopped else M("empty"))))
        return verdicts
    table, correct, failures = [], 0, []
    for (word, target), seen in zip(PAIRS, translations):
        got = seen.get("value") if isinstance(seen.get("value"), str) else None
        decoded = None
        if own is not None and model and model["trained"]:  # the grader's decodings of the script's weights
            decodings = [own.translate(word), own.translate_all_at_once(word)]
            decoded = target if target in decodings else decodings[0]
        table.append({"word": word, "expected": target, "got": got if got is not None else render(error_of(seen) or "?"),
                      **({"grader": decoded} if decoded is not None else {})})
        if got == target and decoded in (None, target):
            correct += 1
        elif got is None and error_of(seen):
            failures.append(error_of(seen))
    message = M("found_translations", correct=correct, total=len(PAIRS), where=M("found_in", source=source["source"]),
                error=M("suffix", text=failures[0]) if failures else M("empty"))
    verdicts.append(Verdict(TRANSLATIONS, correct / len(PAIRS), message, got=table, shows="table"))
    return verdicts


MODULE = __name__
PARTS = [Part("3", "Encoder-decoder seq2seq", "编码器-解码器 seq2seq",
              (MAKE_DATA, MODEL_SHAPE, TRAINING, TRANSLATIONS), judge, plan, "probe", MODULE,
              validate=validate, expect=expect, found=BestEffort("probe_found", judge_found, validate_found,
                                ("make_data", "Seq2Seq", "train_seq2seq", "translate")))]

