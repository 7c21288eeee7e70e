"""Part 1: the simple recurrent network, in numpy (1.1, 1.2), with nn.RNNCell (1.3) and nn.RNN (1.4)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable, Optional, Union

import numpy as np
from pydantic import Field, StrictFloat, StrictInt, StrictStr

from grader.messages import M, Msg
from grader.parts.base import (
    BestEffort,
    Failure, JudgeContext, ModelState, Observed, Part, PlanContext, Problems, Strict, Verdict, compare_array, contract_lookup,
    count_mismatch, error_of, fraction_message, invalid, missing_reason, problems_or_results, rounded, shape_of,
    small_table, decode_state, unavailable,
)

# Check ids: the Part records and the judges both name them from here.
FIXED, HIDDEN, INIT, RANDOM, SHAPES = "fixed_example", "hidden_cases", "initialisation", "random_weights", "shapes"
NUMPY_CHECKS = (FIXED, HIDDEN)
MODULE_CHECKS = (INIT, FIXED, RANDOM, SHAPES)

EXAMPLE_INPUTS = [[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]  # the homework's all-ones example
ATOL = 1e-4


# ---- 1.1 / 1.2 srn_numpy --------------------------------------------------------------------------

def _plan_numpy(ctx: PlanContext, activation: Optional[str]) -> dict[str, Any]:
    ones = np.ones((2, 2)).tolist()
    cases = [{"inputs": EXAMPLE_INPUTS, "W": ones, "U": ones, "V": ones, "h0": None,
              "activation": activation, "hidden": False}]
    if not ctx.public_only:
        for index in range(int(ctx.settings.get("hidden_cases", 3))):
            T, I, H, O = (int(ctx.rng.integers(lo, hi)) for lo, hi in ((2, 7), (1, 5), (2, 6), (1, 4)))
            cases.append({
                "inputs": ctx.rng.uniform(-1, 1, (T, I)).round(4).tolist(),
                "W": ctx.rng.uniform(-1, 1, (I, H)).round(4).tolist(),
                "U": ctx.rng.uniform(-1, 1, (H, H)).round(4).tolist(),
                "V": ctx.rng.uniform(-1, 1, (H, O)).round(4).tolist(),
                # one case starts from a non-zero state: h0 must be used, not replaced by zeros
                "h0": ctx.rng.uniform(-1, 1, H).round(4).tolist() if index == 0 else None,
                "activation": activation, "hidden": True,
            })
    return {"cases": cases}


def plan_numpy_linear(ctx: PlanContext) -> dict[str, Any]:
    return _plan_numpy(ctx, None)


def plan_numpy_tanh(ctx: PlanContext) -> dict[str, Any]:
    return _plan_numpy(ctx, "tanh")


def _numpy_case(reference: Any, case: dict[str, Any]) -> np.ndarray:
    return np.asarray(reference.srn_numpy(
        np.asarray(case["inputs"]), np.asarray(case["W"]), np.asarray(case["U"]), np.asarray(case["V"]),
        None if case["h0"] is None else np.asarray(case["h0"]), np.tanh if case["activation"] == "tanh" else None))


def _numpy_example(reference: Any, activation: Optional[str]) -> list[np.ndarray]:
    """The all-ones example's outputs, from h0 = 0 and from h0 = 1 (scripts start from either)."""
    ones = np.ones((2, 2))
    return [np.asarray(reference.srn_numpy(np.asarray(EXAMPLE_INPUTS), ones, ones, ones, h0,
                                           np.tanh if activation else None))
            for h0 in (None, np.ones(2))]


def expect_numpy(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    """The reference's answers to a 1.1/1.2 request: every case's y, and the example for printed values."""
    return {"cases": [_numpy_case(reference, case) for case in request["cases"]],
            "example": _numpy_example(reference, request["cases"][0]["activation"])}


def probe_numpy(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    from grader.sandbox.runtime import call, describe, observe

    found, problems = contract_lookup(namespace, ["srn_numpy"])
    if problems:
        return {"problems": problems}
    srn_numpy = found["srn_numpy"]
    results = []
    for case in request["cases"]:
        arrays = [np.asarray(case[key], dtype=float) for key in ("inputs", "W", "U", "V")]
        h0 = None if case["h0"] is None else np.asarray(case["h0"], dtype=float)
        activation = np.tanh if case["activation"] == "tanh" else None
        results.append(observe(lambda: describe(np.asarray(
            call(srn_numpy, *arrays, h0, activation, label="srn_numpy")))))
    return {"cases": results}


def judge_numpy(request: dict[str, Any], observation: Optional[dict[str, Any]],
                ctx: JudgeContext) -> list[Verdict]:
    checks = NUMPY_CHECKS
    if observation.get("problems"):
        return unavailable(checks, missing_reason(observation["problems"], ctx))
    verdicts = []
    hidden_passed, hidden_total, failures = 0, 0, []
    for number, (case, seen) in enumerate(zip(request["cases"], observation["cases"])):
        expected = ctx.expected["cases"][number]
        problem = error_of(seen) or compare_array(expected, seen.get("value"), atol=ATOL, what="y")
        if not case["hidden"]:
            verdicts.append(Verdict(
                FIXED, 0.0 if problem else 1.0,
                problem or M("fixed_ok"),
                expected=rounded(expected), got=small_table(seen.get("value")) if "value" in seen else None))
            continue
        hidden_total += 1
        if problem:
            failures.append(M("numpy_case", number=number, T=len(case["inputs"]),
                              h0=M("h0_given" if case["h0"] is not None else "h0_none"), problem=problem))
        else:
            hidden_passed += 1
    if hidden_total:
        fraction, message = fraction_message(hidden_passed, hidden_total, failures, HIDDEN)
        verdicts.append(Verdict(HIDDEN, fraction, message, hidden=True))
    return verdicts


# ---- shared by 1.3 / 1.4: modules with weights chosen by the grader -------------------------------

def _random_state(ctx: PlanContext, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    return {name: ctx.rng.uniform(-0.8, 0.8, shape).round(4).tolist() for name, shape in shapes.items()}


def _load(module: Any, state: dict[str, Any]) -> Any:
    import torch

    module.load_state_dict({name: torch.tensor(value, dtype=torch.float32) for name, value in state.items()})
    return module


def _init_observation(cell_like: Any, linear: Any) -> dict[str, Any]:
    """What the grader needs to judge 'all weights 1, all biases 0'."""
    import torch

    report: dict[str, Any] = {"types": [type(cell_like).__name__, type(linear).__name__], "parameters": {}}
    for prefix, module in (("core", cell_like), ("linear", linear)):
        if isinstance(module, torch.nn.Module):
            for name, parameter in module.named_parameters():
                data = parameter.detach()
                report["parameters"][f"{prefix}.{name}"] = {
                    "shape": list(data.shape), "min": float(data.min()), "max": float(data.max())}
    return report


def _described(name: str, types: list[str]) -> str:
    """'core.weight_ih' -> "the RNNCell's weight_ih": the object the student made, not the grader's label."""
    owner, _, parameter = name.partition(".")
    kind = types[0] if owner == "core" else types[1]
    return f"the {kind}'s {parameter}"


def _judge_init(init: dict[str, Any], expected_types: list[str],
                expected_shapes: dict[str, list[int]]) -> Verdict:
    if "error" in init:
        return Verdict(INIT, 0.0, error_of(init) or M("failed"))
    seen = init["value"]
    if seen["types"] != expected_types:
        return Verdict(INIT, 0.0, M("init_types", got=", ".join(seen["types"]),
                                                 expected=", ".join(expected_types)),
                       expected=expected_types, got=seen["types"])
    wrong = []
    for name, shape in expected_shapes.items():
        parameter = seen["parameters"].get(name)
        target = 1.0 if ".weight" in name else 0.0
        label = _described(name, expected_types)
        if parameter is None:
            wrong.append(M("parameter_missing", name=label))
        elif parameter["shape"] != shape:
            wrong.append(M("array_shape", what=label, got=tuple(parameter["shape"]), expected=tuple(shape)))
        elif not (parameter["min"] == parameter["max"] == target):
            wrong.append(M("init_values", name=label, target=target, low=parameter["min"], high=parameter["max"]))
    if wrong:
        return Verdict(INIT, 0.0, M("list", items=wrong[:3]))
    return Verdict(INIT, 1.0, M("init_ok"))


def _judge_runs(cases: list[dict[str, Any]], seen: list[dict[str, Any]], expected_runs: list[list[np.ndarray]],
                names: list[str]) -> list[Verdict]:
    """Shapes and values of the grader-weighted runs; one failing case costs its share only."""
    shape_ok = value_ok = 0
    shape_failures, value_failures = [], []
    for case, observed, expected in zip(cases, seen, expected_runs):
        label = ", ".join(f"{k}={v}" for k, v in case["dims"].items())  # names, not words: no translation
        problem = error_of(observed)
        if problem:
            shape_failures.append(M("labelled", label=label, problem=problem))
            value_failures.append(M("labelled", label=label, problem=problem))
            continue
        items = observed["value"].get("items") if isinstance(observed["value"], dict) else None
        if not isinstance(items, list) or len(items) != len(expected):
            message = M("labelled", label=label, problem=M("tuple_of", count=len(expected), names=", ".join(names)))
            shape_failures.append(message)
            value_failures.append(message)
            continue
        shape_problems = [M("array_shape", what=name, got=shape_of(got), expected=tuple(want.shape))
                          for name, got, want in zip(names, items, expected)
                          if shape_of(got) != tuple(want.shape)]
        if shape_problems:
            shape_failures.append(M("labelled", label=label, problem=shape_problems))
        else:
            shape_ok += 1
        value_problems = [p for p in (compare_array(want, got, atol=ATOL, what=name)
                                      for name, got, want in zip(names, items, expected)) if p]
        if value_problems:
            value_failures.append(M("labelled", label=label, problem=value_problems))
        else:
            value_ok += 1
    fraction, message = fraction_message(shape_ok, len(cases), shape_failures, "shape_cases")
    shape_verdict = Verdict(SHAPES, fraction, message)
    fraction, message = fraction_message(value_ok, len(cases), value_failures, "weighted_cases")
    return [Verdict(RANDOM, fraction, message, hidden=True), shape_verdict]


# ---- 1.3 nn.RNNCell --------------------------------------------------------------------------------

CELL_DIMS = [  # (T, B, I, H, O): batch > 1 and unequal sizes catch transposed weights and lost batches
    (3, 1, 2, 2, 2), (4, 3, 3, 5, 2), (2, 2, 4, 3, 1), (5, 4, 1, 2, 3)]


def _cell_state_shapes(I: int, H: int, O: int) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    cell = {"weight_ih": (H, I), "weight_hh": (H, H), "bias_ih": (H,), "bias_hh": (H,)}
    return cell, {"weight": (O, H), "bias": (O,)}


def plan_cell(ctx: PlanContext) -> dict[str, Any]:
    cases = []
    for T, B, I, H, O in CELL_DIMS[: 2 if ctx.public_only else len(CELL_DIMS)]:
        cell_shapes, linear_shapes = _cell_state_shapes(I, H, O)
        cases.append({"dims": {"T": T, "B": B, "I": I, "H": H, "O": O},
                      "cell": _random_state(ctx, cell_shapes), "linear": _random_state(ctx, linear_shapes),
                      "inputs": ctx.rng.uniform(-1, 1, (T, B, I)).round(4).tolist(),
                      "h0": ctx.rng.uniform(-1, 1, (B, H)).round(4).tolist()})
    return {"cases": cases, "init_dims": [2, 3, 4]}


def probe_cell(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import torch

    from grader.sandbox.runtime import call, describe, observe

    found, problems = contract_lookup(namespace, ["make_srn_cell", "srn_cell"])
    if problems:
        return {"problems": problems}
    make, run = found["make_srn_cell"], found["srn_cell"]
    I, H, O = request["init_dims"]
    init = observe(lambda: _init_observation(*call(make, I, H, O, label="make_srn_cell")))

    def fixed() -> Any:
        cell, linear = call(make, 2, 2, 2, label="make_srn_cell")
        inputs = torch.tensor(EXAMPLE_INPUTS).unsqueeze(1)
        return describe(call(run, inputs, torch.ones(1, 2), cell, linear, label="srn_cell"))

    return {"init": init, "fixed": observe(fixed), "cases": _weighted_runs(run, "srn_cell", request["cases"])}


def _case_modules(case: dict[str, Any]) -> tuple[Any, Any]:
    """A random-weights case's RNNCell or RNN and its Linear, with the case's weights loaded."""
    import torch

    d = case["dims"]
    core = _load(torch.nn.RNN(d["I"], d["H"], d["L"]), case["rnn"]) if "rnn" in case else \
        _load(torch.nn.RNNCell(d["I"], d["H"]), case["cell"])
    return core, _load(torch.nn.Linear(d["H"], d["O"]), case["linear"])


def _run_case(run: Any, case: dict[str, Any]) -> Any:
    """`run(inputs, h0, core, linear)` on a case, without gradients (the student's function or the reference's)."""
    import torch

    core, linear = _case_modules(case)
    with torch.no_grad():
        return run(torch.tensor(case["inputs"]), torch.tensor(case["h0"]), core, linear)


def _weighted_runs(run: Any, label: str, cases: list[dict[str, Any]]) -> list[Any]:
    """The student's function on every random-weights case, each described (in the kernel)."""
    from grader.sandbox.runtime import call, describe, observe

    return [observe(lambda case=case: describe(_run_case(lambda *a: call(run, *a, label=label), case)))
            for case in cases]


def _expect_modules(request: dict[str, Any], make: Any, run: Any, h0: Any, item: int) -> dict[str, Any]:
    """The reference's answers to a 1.3/1.4 request: the fixed example's Y (item `item` of what `run` returns),
    every random-weights case's outputs, and the numpy example for printed values."""
    import torch

    core, linear = make(2, 2, 2)
    with torch.no_grad():
        fixed = run(torch.tensor(EXAMPLE_INPUTS).unsqueeze(1), h0, core, linear)[item]
    return {"fixed": fixed.numpy(),
            "runs": [[tensor.numpy() for tensor in _run_case(run, case)] for case in request["cases"]]}


def expect_cell(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    import torch

    return {**_expect_modules(request, reference.make_srn_cell, reference.srn_cell, torch.ones(1, 2), 0),
            "example": _numpy_example(reference, "tanh")}


def expect_rnn(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    import torch

    return {**_expect_modules(request, reference.make_srn_rnn, reference.srn_rnn, torch.zeros(1, 1, 2), 2),
            "example": _numpy_example(reference, "tanh")}


def _judge_fixed(fixed: dict[str, Any], expected: np.ndarray, item: int, what: str) -> Verdict:
    problem = error_of(fixed)
    got = None
    if not problem:
        items = fixed["value"].get("items") if isinstance(fixed["value"], dict) else None
        if not isinstance(items, list) or len(items) <= item:
            problem = M("tuple_item", item=item, what=what)
        else:
            got = items[item]
            problem = compare_array(expected, got, atol=ATOL, what=what)
    return Verdict(FIXED, 0.0 if problem else 1.0,
                   problem or M("fixed_ok"),
                   expected=rounded(expected), got=small_table(got) if got is not None else None)


def judge_cell(request: dict[str, Any], observation: Optional[dict[str, Any]],
               ctx: JudgeContext) -> list[Verdict]:
    checks = MODULE_CHECKS
    if observation.get("problems"):
        return unavailable(checks, missing_reason(observation["problems"], ctx))
    I, H, O = request["init_dims"]
    cell_shapes, linear_shapes = _cell_state_shapes(I, H, O)
    expected_shapes = {f"core.{k}": list(v) for k, v in cell_shapes.items()}
    expected_shapes.update({f"linear.{k}": list(v) for k, v in linear_shapes.items()})
    verdicts = [_judge_init(observation["init"], ["RNNCell", "Linear"], expected_shapes)]
    verdicts.append(_judge_fixed(observation["fixed"], ctx.expected["fixed"], 0, "Y"))
    verdicts += _judge_runs(request["cases"], observation["cases"], ctx.expected["runs"], ["Y", "h_T"])
    return verdicts


# ---- 1.4 nn.RNN -------------------------------------------------------------------------------------

RNN_DIMS = [  # (T, B, I, H, O, L)
    (3, 1, 2, 2, 2, 1), (4, 3, 3, 5, 2, 1), (3, 2, 2, 3, 2, 2), (2, 4, 4, 2, 1, 2)]


def _rnn_state_shapes(I: int, H: int, O: int, L: int) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    rnn: dict[str, tuple[int, ...]] = {}
    for layer in range(L):
        rnn.update({f"weight_ih_l{layer}": (H, I if layer == 0 else H), f"weight_hh_l{layer}": (H, H),
                    f"bias_ih_l{layer}": (H,), f"bias_hh_l{layer}": (H,)})
    return rnn, {"weight": (O, H), "bias": (O,)}


def plan_rnn(ctx: PlanContext) -> dict[str, Any]:
    cases = []
    for T, B, I, H, O, L in RNN_DIMS[: 3 if ctx.public_only else len(RNN_DIMS)]:
        rnn_shapes, linear_shapes = _rnn_state_shapes(I, H, O, L)
        cases.append({"dims": {"T": T, "B": B, "I": I, "H": H, "O": O, "L": L},
                      "rnn": _random_state(ctx, rnn_shapes), "linear": _random_state(ctx, linear_shapes),
                      "inputs": ctx.rng.uniform(-1, 1, (T, B, I)).round(4).tolist(),
                      "h0": ctx.rng.uniform(-1, 1, (L, B, H)).round(4).tolist()})
    return {"cases": cases, "init_dims": [2, 3, 4, 2]}


def probe_rnn(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import torch

    from grader.sandbox.runtime import call, describe, observe

    found, problems = contract_lookup(namespace, ["make_srn_rnn", "srn_rnn"])
    if problems:
        return {"problems": problems}
    make, run = found["make_srn_rnn"], found["srn_rnn"]
    I, H, O, L = request["init_dims"]
    init = observe(lambda: _init_observation(*call(make, I, H, O, L, label="make_srn_rnn")))

    def fixed() -> Any:
        rnn, linear = call(make, 2, 2, 2, label="make_srn_rnn")
        inputs = torch.tensor(EXAMPLE_INPUTS).unsqueeze(1)
        return describe(call(run, inputs, torch.zeros(1, 1, 2), rnn, linear, label="srn_rnn"))

    return {"init": init, "fixed": observe(fixed), "cases": _weighted_runs(run, "srn_rnn", request["cases"])}


def judge_rnn(request: dict[str, Any], observation: Optional[dict[str, Any]],
              ctx: JudgeContext) -> list[Verdict]:
    checks = MODULE_CHECKS
    if observation.get("problems"):
        return unavailable(checks, missing_reason(observation["problems"], ctx))
    I, H, O, L = request["init_dims"]
    rnn_shapes, linear_shapes = _rnn_state_shapes(I, H, O, L)
    expected_shapes = {f"core.{k}": list(v) for k, v in rnn_shapes.items()}
    expected_shapes.update({f"linear.{k}": list(v) for k, v in linear_shapes.items()})
    verdicts = [_judge_init(observation["init"], ["RNN", "Linear"], expected_shapes)]
    verdicts.append(_judge_fixed(observation["fixed"], ctx.expected["fixed"], 2, "Y"))
    verdicts += _judge_runs(request["cases"], observation["cases"], ctx.expected["runs"], ["out", "h_n", "Y"])
    return verdicts


# ---- what a probe may send back, checked against the request before any judge sees it ----------

class NumpyObservation(Strict):
    problems: Optional[Problems] = None
    cases: Optional[list[Observed]] = None


class ParameterRange(Strict):
    shape: list[int]
    min: Union[StrictInt, StrictFloat]
    max: Union[StrictInt, StrictFloat]


class InitReport(Strict):
    """What `_init_observation` reports: the two modules' types and each parameter's shape and range."""
    types: list[StrictStr]
    parameters: dict[str, ParameterRange]


class InitValue(Strict):
    value: InitReport


class ModuleObservation(Strict):  # 1.3 and 1.4
    problems: Optional[Problems] = None
    init: Optional[Union[InitValue, Failure]] = None
    fixed: Optional[Observed] = None
    cases: Optional[list[Observed]] = None


def _validate(model: type[Strict], fields: tuple[str, ...]) -> Any:
    def validate(request: dict[str, Any], observation: Any) -> Optional[Msg]:
        problem = invalid(model, observation)
        if problem:
            return problem
        problem, reported = problems_or_results(observation, "problems", fields)
        if problem or reported:
            return problem
        return count_mismatch("cases", len(request["cases"]), observation["cases"])
    return validate


validate_numpy = _validate(NumpyObservation, ("cases",))
validate_module = _validate(ModuleObservation, ("init", "fixed", "cases"))


# ---- without the contract: evidence from scripts (grader.parts.found) ---------------------------------

NUMPY_FORMS = (6, 5, 4)  # f(inputs, W, U, V[, h0[, activation]]), the most arguments a function accepts first
RNN_CALL = re.compile(r"\bRNN\s*\(")


def probe_found_numpy(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Functions that compute the SRN, found by behaviour: each of the student's functions is tried on the
    all-ones example in the usual argument orders; one that returns a (3, n) array is run on every case."""
    import types

    from grader.parts.found import MAX_FOUND, sources, values
    from grader.sandbox.runtime import call, describe, observe

    found: list[dict[str, Any]] = []
    for source, scope in sources(namespace):
        for name, function in values(scope):
            if not isinstance(function, types.FunctionType) or len(found) >= MAX_FOUND:
                continue
            for form in NUMPY_FORMS:
                def run(case: dict[str, Any], function: Any = function, form: int = form) -> Any:
                    arrays = [np.asarray(case[key], dtype=float) for key in ("inputs", "W", "U", "V")]
                    extra = [None if case["h0"] is None else np.asarray(case["h0"], dtype=float),
                             np.tanh if case["activation"] == "tanh" else None][: form - 4]
                    return describe(np.asarray(call(function, *arrays, *extra, label=name)))
                first = observe(lambda: run(request["cases"][0]))
                if len(shape_of(first.get("value")) or ()) == 2:
                    found.append({"source": source, "name": name[:100], "form": form,
                                  "cases": [first, *[observe(lambda c=c: run(c)) for c in request["cases"][1:]]]})
                    break
    return {"functions": found}


def probe_found_modules(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """nn.RNNCell, nn.RNN and nn.Linear objects the scripts built, as weights the parent evaluates itself."""
    import torch

    from grader.parts.found import instances, sources
    from grader.sandbox.runtime import describe_state

    layers = []
    for source, scope in sources(namespace):
        for name, layer in instances(scope, (torch.nn.RNNCell, torch.nn.RNN, torch.nn.Linear)):
            layers.append({"source": source, "name": name[:100], "state": describe_state(layer)})
    return {"layers": layers[:24]}


class FoundFunction(Strict):
    source: Annotated[str, Field(max_length=100)]
    name: Annotated[str, Field(max_length=100)]
    form: int
    cases: list[Observed]


class FoundNumpy(Strict):
    functions: Annotated[list[FoundFunction], Field(max_length=8)]


class FoundLayer(Strict):
    source: Annotated[str, Field(max_length=100)]
    name: Annotated[str, Field(max_length=100)]
    state: ModelState


class FoundModules(Strict):
    layers: Annotated[list[FoundLayer], Field(max_length=24)]


def validate_found_numpy(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    problem = invalid(FoundNumpy, observation)
    if problem:
        return problem
    for function in observation["functions"]:
        problem = count_mismatch("cases", len(request["cases"]), function["cases"])
        if problem:
            return problem
    return None


def validate_found_modules(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    return invalid(FoundModules, observation)


def _printed_match(ctx: JudgeContext, expected: list[np.ndarray], belongs: Callable[[str], bool]) -> tuple[bool, list[str]]:
    """(whether some script of this part printed the example's outputs in order, the scripts of this part)."""
    from grader.parts.found import printed_in_order, printed_numbers

    mine = [cell for cell in ctx.cells if belongs(cell.get("full_source") or "")]
    names = [cell.get("module") or f"cell {cell['index'] + 1}" for cell in mine]
    for cell in mine:
        numbers = printed_numbers(cell.get("output", ""))
        if any(printed_in_order(numbers, [float(y[0]) for y in outputs], 1e-3) for outputs in expected):
            return True, names
    return False, names


def _printed_verdicts(ctx: JudgeContext, expected: list[np.ndarray], belongs: Callable[[str], bool],
                      checks: tuple[str, ...], attempted: bool = False) -> list[Verdict]:
    """The weakest evidence: the example's outputs among what this part's scripts printed (half credit on
    every check, said so); none when no script of this part exists and nothing else was found."""
    printed, names = _printed_match(ctx, expected, belongs)
    if not names and not attempted:
        return []  # nothing of this part: not attempted
    where = ", ".join(names) or "-"
    if printed:
        return [Verdict(check, 0.5, M("found_printed_only", where=where)) for check in checks]
    return [Verdict(check, 0.0, M("found_printed_wrong", where=where)) for check in checks]


def _is_part1_numpy(activation: Optional[str]) -> Callable[[str], bool]:
    def belongs(source: str) -> bool:
        if "RNNCell" in source or RNN_CALL.search(source) or "ohlol" in source or "Seq2Seq" in source:
            return False
        return ("np." in source or "numpy" in source) and (("tanh" in source) == bool(activation))
    return belongs


def judge_found_numpy(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    activation = request["cases"][0]["activation"]
    expected = ctx.expected["cases"]
    for function in observation["functions"]:
        results = [compare_array(want, seen.get("value"), atol=ATOL, what="y") if "value" in seen else error_of(seen)
                   for want, seen in zip(expected, function["cases"])]
        if results[0] is None:  # it computes the example: judge it as the contract's function
            where = M("found_function", name=function["name"], source=function["source"])
            hidden = results[1:]
            verdicts = [Verdict(FIXED, 1.0, M("found_fixed_run", where=where), expected=rounded(expected[0]),
                                got=small_table(function["cases"][0]["value"]))]
            if hidden:
                fraction, message = fraction_message(sum(1 for r in hidden if r is None), len(hidden),
                                                     [r for r in hidden if r is not None], HIDDEN)
                verdicts.append(Verdict(HIDDEN, fraction, M("found_run_by_grader", where=where, message=message),
                                        hidden=True))
            return verdicts
    return _printed_verdicts(ctx, ctx.expected["example"], _is_part1_numpy(activation), NUMPY_CHECKS,
                             attempted=bool(observation["functions"]))


def _forward_in_parent(core: dict[str, np.ndarray], linear: dict[str, np.ndarray], h0: np.ndarray) -> Optional[np.ndarray]:
    """The all-ones example through a found RNNCell/RNN (one layer, tanh) and Linear, computed here in numpy:
    outputs per step, or None when the weights do not fit the example's sizes."""
    suffix = "_l0" if "weight_ih_l0" in core else ""
    try:
        w_ih, w_hh = core[f"weight_ih{suffix}"], core[f"weight_hh{suffix}"]
        b = core.get(f"bias_ih{suffix}", 0.0) + core.get(f"bias_hh{suffix}", 0.0)
        hidden, outputs = h0, []
        for x in np.asarray(EXAMPLE_INPUTS):
            hidden = np.tanh(x @ w_ih.T + hidden @ w_hh.T + b)
            outputs.append(hidden @ linear["weight"].T + linear.get("bias", 0.0))
        return np.asarray(outputs)
    except (KeyError, ValueError):
        return None


def _judge_found_modules(observation: dict[str, Any], ctx: JudgeContext, kind: str) -> list[Verdict]:
    belongs: Callable[[str], bool] = (lambda text: "RNNCell" in text) if kind == "RNNCell" else \
        (lambda text: bool(RNN_CALL.search(text)))
    not_other = (lambda text: "ohlol" not in text and "Seq2Seq" not in text and "hello" not in text)
    expected = ctx.expected["example"]
    by_source: dict[str, dict[str, Any]] = {}
    for layer in observation["layers"]:
        state = ModelState.model_validate(layer["state"])
        arrays = decode_state(state)
        if arrays is None or not state.modules or not state.modules[0].library:
            continue
        top = state.modules[0]  # a found layer is a library module itself: its own parameters
        by_source.setdefault(layer["source"], {}).setdefault(top.type, (layer["name"], top.config, arrays))
    for source, kinds in by_source.items():
        if kind not in kinds or "Linear" not in kinds:
            continue
        name, config, arrays = kinds[kind]
        if int(config.get("num_layers", 1)) != 1 or config.get("input_size") != 2:
            continue
        linear_name, _, linear = kinds["Linear"]
        outputs = [_forward_in_parent(arrays, linear, np.full((2,), h0)) for h0 in (0.0, 1.0)]
        where = M("found_modules", core=name, linear=linear_name, source=source, kind=kind)
        parameters = [*arrays.items(), *linear.items()]
        init_ok = all(np.all(a == 1.0) for n, a in parameters if "weight" in n) and \
            all(np.all(a == 0.0) for n, a in parameters if "bias" in n)
        fixed_ok = any(o is not None and any(np.allclose(o, e, atol=ATOL) for e in expected) for o in outputs)
        got = next((o for o in outputs if o is not None), None)
        verdicts = [Verdict(INIT, 1.0 if init_ok else 0.0, M("found_init_ok" if init_ok else "found_init_wrong",
                                                              where=where)),
                    Verdict(FIXED, 1.0 if fixed_ok else 0.0, M("found_fixed_parent" if fixed_ok else
                                                               "found_fixed_parent_wrong", where=where),
                            expected=rounded(expected[0]), got=rounded(got) if got is not None else None)]
        # the loop over time steps is the student's script, not a function: it cannot be run on other weights
        fraction = 0.5 if fixed_ok else 0.0
        verdicts += [Verdict(check, fraction, M("found_no_function", where=where)) for check in (RANDOM, SHAPES)]
        return verdicts
    return _printed_verdicts(ctx, expected, lambda text: belongs(text) and not_other(text), MODULE_CHECKS)


def judge_found_cell(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    return _judge_found_modules(observation, ctx, "RNNCell")


def judge_found_rnn(request: dict[str, Any], observation: dict[str, Any], ctx: JudgeContext) -> list[Verdict]:
    return _judge_found_modules(observation, ctx, "RNN")


FOUND_NUMPY = BestEffort("probe_found_numpy", judge_found_numpy, validate_found_numpy, ("srn_numpy",))


MODULE = __name__
PARTS = [
    Part("1.1", "SRN in numpy, no activation", "numpy 实现 SRN(无激活)", NUMPY_CHECKS,
         judge_numpy, plan_numpy_linear, "probe_numpy", MODULE, validate=validate_numpy, found=FOUND_NUMPY,
         expect=expect_numpy),
    Part("1.2", "SRN in numpy with tanh", "numpy 实现 SRN(tanh)", NUMPY_CHECKS,
         judge_numpy, plan_numpy_tanh, "probe_numpy", MODULE, validate=validate_numpy, found=FOUND_NUMPY,
         expect=expect_numpy),
    Part("1.3", "SRN with nn.RNNCell", "用 nn.RNNCell 实现 SRN",
         MODULE_CHECKS, judge_cell, plan_cell, "probe_cell", MODULE,
         validate=validate_module, expect=expect_cell,
         found=BestEffort("probe_found_modules", judge_found_cell, validate_found_modules,
                          ("make_srn_cell", "srn_cell"))),
    Part("1.4", "SRN with nn.RNN", "用 nn.RNN 实现 SRN",
         MODULE_CHECKS, judge_rnn, plan_rnn, "probe_rnn", MODULE,
         validate=validate_module, expect=expect_rnn,
         found=BestEffort("probe_found_modules", judge_found_rnn, validate_found_modules,
                          ("make_srn_rnn", "srn_rnn"))),
]
