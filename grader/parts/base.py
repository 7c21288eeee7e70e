"""What every part module shares: the Part record, verdicts, and the comparisons the judges use.

A part module holds, side by side:
* ``plan_*(ctx) -> request``: runs in the parent; draws hidden inputs from the parent's secret seed;
* ``probe_*(namespace, request) -> observation``: runs in the student's kernel; calls student code and
  describes what came back (see ``grader.sandbox.runtime``), deciding nothing;
* ``expect*(request, reference) -> data``: runs in the parent; the reference's answers to the request (numpy
  arrays, lists, numbers, strings), which the judge reads as ``ctx.expected``. A student kit holds these
  answers recorded for the public requests instead of the reference (``grader.expected``);
* ``judge_*(request, observation, ctx) -> [Verdict]``: runs in the parent; compares with ``ctx.expected``.
Points come later, from the grading config: a verdict only says which fraction of a check was earned.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Optional, Union

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from grader.messages import M, Msg


@dataclass(frozen=True)
class Verdict:
    check: str
    fraction: float  # 0..1 of the check's points
    message: Msg | str
    expected: Any = None
    got: Any = None
    hidden: bool = False  # built from hidden inputs: never shown in a student self-check
    # for reports: {"series": {name: [[x, y], ...]}, "threshold", "log_y", "title": a catalogue key}
    plot: Optional[dict[str, Any]] = None
    shows: Optional[str] = None  # what `got` is for the report: "rubric" (found/missed points), "table" (rows)


@dataclass
class PlanContext:
    rng: np.random.Generator  # seeded from the parent's secret and the student id
    settings: dict[str, Any]  # this part's table in grading.toml
    device: str
    public_only: bool = False  # self-check: no hidden cases


@dataclass
class JudgeContext:
    settings: dict[str, Any]
    # the reference's answers to this part's request (its `expect`, or a student kit's recording of them):
    # judges never see the reference itself, so they judge alike with or without it
    expected: Any = None
    answers: dict[str, str] = field(default_factory=dict)  # written answers by part id
    cell_errors: list[Msg] = field(default_factory=list)  # "cell 7 raised TypeError: ..."
    rubric: dict[str, Any] = field(default_factory=dict)
    answer_sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # {"cells": [...]} / {"file": ...}
    # what the judge found the student's process claimed falsely (shown as integrity notes, never scored)
    interference: list[str] = field(default_factory=list)
    # the student's cells as they ran (source, printed output, file): evidence for code without the contract
    cells: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BestEffort:
    """A part's evidence probe and its judge, for code written without the contract (grader.parts.found).
    The probe runs with the part's own request; the judge returns no verdicts when it found nothing of the
    part at all (the part is then "not attempted")."""
    probe: str
    judge: Callable[[dict[str, Any], dict[str, Any], "JudgeContext"], list[Verdict]]
    validate: Callable[[dict[str, Any], Any], Optional[Msg]]
    names: tuple[str, ...]  # the contract names of this part: evidence is gathered only where none is defined


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    title_zh: str
    checks: tuple[str, ...]
    judge: Callable[[dict[str, Any], Optional[dict[str, Any]], JudgeContext], list[Verdict]]
    plan: Optional[Callable[[PlanContext], dict[str, Any]]] = None  # None: nothing runs in the kernel
    probe: Optional[str] = None  # name of the probe function in the part's module
    module: str = ""
    written: bool = False  # a person confirms the score
    # (request, observation) -> None when the observation answers the request, else what is wrong (a Msg)
    validate: Optional[Callable[[dict[str, Any], Any], Optional[Msg]]] = None
    # how a written part is titled when students drop its number ("心得体会"): a regex, for grader.answers
    answer_names: str = ""
    found: Optional[BestEffort] = None  # best-effort grading for code written without the contract
    # (request, reference module) -> the reference's answers to the request, as data: the judge's ctx.expected
    expect: Optional[Callable[[dict[str, Any], Any], Any]] = None

    @property
    def titles(self) -> dict[str, str]:
        return {"en": self.title, "zh": self.title_zh}


# ---- helpers for probes (run in the kernel) -------------------------------------------------------

def contract_lookup(namespace: dict[str, Any], names: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fetch contract names; the second value lists those missing or off-contract, as facts
    (``{"issue": "not_defined", "name": ...}``): the parent turns them into messages (``problem_message``)."""
    from grader.contract import CONTRACT, signature_issue

    entries = {entry.name: entry for entry in CONTRACT}
    found, problems = {}, []
    for name in names:
        if name not in namespace:
            problems.append({"issue": "not_defined", "name": name})
            continue
        problem = signature_issue(entries[name], namespace[name])
        if problem:
            problems.append(problem_fact(problem))
        else:
            found[name] = namespace[name]
    return found, problems


# ---- what crosses the boundary: facts the parent turns into messages ------------------------------

# The contract problems a probe may report, with the parameters each needs. Anything else is refused.
PROBLEM_PARAMS: dict[str, tuple[str, ...]] = {
    "not_defined": ("name",), "not_function": ("name", "found"), "not_class": ("name", "found"),
    "member_missing": ("label",), "bad_signature": ("label", "found", "expected"), "not_dict": ("name", "found"),
}


def problem_fact(message: Msg) -> dict[str, str]:
    return {"issue": message.key, **{name: str(value)[:200] for name, value in message.params.items()}}


def problem_message(fact: Any) -> Optional[Msg]:
    """The parent's message for a reported contract problem, or None when the fact is not one it knows."""
    if not isinstance(fact, dict) or fact.get("issue") not in PROBLEM_PARAMS:
        return None
    params = PROBLEM_PARAMS[fact["issue"]]
    if set(fact) != {"issue", *params} or not all(isinstance(fact[name], str) for name in params):
        return None
    return M(fact["issue"], **{name: fact[name][:200] for name in params})


# ---- validating observations against the request (in the parent) ----------------------------------

Text = Annotated[str, Field(max_length=4000)]
MAX_NODES = 200_000  # values in one described value: far above any honest observation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _bounded(value: Any) -> Any:
    """A described value (``runtime.describe``) of bounded size and depth."""
    stack, nodes = [(value, 0)], 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES or depth > 16:
            raise ValueError("too large or too deeply nested")
        if isinstance(item, str) and len(item) > 100_000:
            raise ValueError("a string over 100,000 characters")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return value


Described = Annotated[Any, AfterValidator(_bounded)]


class Value(Strict):
    value: Described


class Failure(Strict):
    error: Text
    call: Text = ""
    traceback: Annotated[list[Text], Field(max_length=8)] = []


Observed = Union[Value, Failure]
Problems = Annotated[list[dict[str, Any]], Field(min_length=1, max_length=20)]


def invalid(model: type[BaseModel], observation: Any) -> Optional[Msg]:
    """None when ``observation`` fits ``model``; otherwise what is wrong with it (it came from the kernel)."""
    try:
        model.model_validate(observation)
    except ValidationError as error:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(item) for item in first.get("loc", ()))[:80]
        return M("observation_invalid", where=where or "-", problem=str(first.get("msg", ""))[:120])
    return None


def problems_invalid(problems: Any) -> Optional[Msg]:
    if any(problem_message(fact) is None for fact in problems or []):
        return M("observation_invalid", where="problems", problem="not a contract problem the grader knows")
    return None


def problems_or_results(observation: dict[str, Any], problems_key: str,
                        result_keys: tuple[str, ...]) -> tuple[Optional[Msg], bool]:
    """A probe reports either contract problems (known facts) or every result it was asked for, never both
    and never neither. Returns (what is wrong or None, whether problems were reported)."""
    if observation.get(problems_key) is not None:
        if any(observation.get(key) is not None for key in result_keys):
            return M("observation_invalid", where=problems_key, problem="problems and results together"), True
        return problems_invalid(observation[problems_key]), True
    missing = [key for key in result_keys if observation.get(key) is None]
    return (M("observation_invalid", where=missing[0], problem="missing") if missing else None), False


def count_mismatch(what: str, asked: int, got: Any) -> Optional[Msg]:
    """Each requested item has exactly one observation: fewer or more is refused, not judged."""
    count = len(got) if isinstance(got, (list, dict)) else -1
    return None if count == asked else M("observation_count", what=what, asked=asked, got=max(count, 0))


# ---- trained weights, evaluated in the parent -----------------------------------------------------

class Layer(Strict):
    path: Annotated[str, Field(max_length=100)]
    type: Annotated[str, Field(max_length=60)]
    library: bool
    config: dict[str, Union[bool, int, float, str]] = {}


class Parameter(Strict):
    shape: Annotated[list[Annotated[int, Field(ge=0, le=1 << 20)]], Field(max_length=6)]
    b64: Optional[Annotated[str, Field(max_length=6_000_000)]]


class ModelState(Strict):
    modules: Annotated[list[Layer], Field(max_length=64)]
    params: Annotated[dict[str, Parameter], Field(max_length=64)]


def trained_layers(state: dict[str, Any]) -> Optional[tuple[list[Layer], dict[str, np.ndarray]]]:
    """A trained model as it came back: its layers below the model itself and every parameter as an array;
    None when the parameters cannot be decoded."""
    model = ModelState.model_validate(state)
    arrays = decode_state(model)
    return None if arrays is None else ([layer for layer in model.modules if layer.path != ""], arrays)


def layer_arrays(layer: Layer, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One layer's parameters by their own names ('encoder.weight_ih_l0' -> 'weight_ih_l0')."""
    prefix = layer.path + "."
    return {name[len(prefix):]: array for name, array in arrays.items() if name.startswith(prefix)}


def decode_state(state: ModelState) -> Optional[dict[str, np.ndarray]]:
    """Parameters as float32 arrays, or None when any is missing or its bytes do not match its shape."""
    import base64
    import binascii

    arrays = {}
    for name, parameter in state.params.items():
        if parameter.b64 is None:
            return None
        try:
            raw = base64.b64decode(parameter.b64, validate=True)
        except (binascii.Error, ValueError):
            return None
        count = int(np.prod(parameter.shape)) if parameter.shape else 1
        if len(raw) != 4 * count:
            return None
        array = np.frombuffer(raw, dtype=np.float32).reshape(parameter.shape)
        if not np.all(np.isfinite(array)):
            return None
        arrays[name] = array
    return arrays


# ---- helpers for judges (run in the parent) -------------------------------------------------------

def unavailable(checks: tuple[str, ...] | list[str], reason: Msg | str) -> list[Verdict]:
    return [Verdict(check, 0.0, reason) for check in checks]


def missing_reason(problems: list[Any], ctx: JudgeContext) -> Msg:
    messages = [problem_message(fact) or M("unreadable") for fact in problems]
    if ctx.cell_errors:
        return M("with_cell_error", problems=messages, cell_error=ctx.cell_errors[0])
    return M("list", items=messages)


def as_array(description: Any) -> Optional[np.ndarray]:
    """Turn a probe's description of an array or tensor back into numpy, or None."""
    if not isinstance(description, dict) or description.get("type") not in ("tensor", "ndarray"):
        return None
    if description.get("data") is None:
        return None
    try:  # non-finite floats travel as strings ("nan", "inf"); other strings are not numbers at all
        data = [float(x) if isinstance(x, str) else x for x in description["data"]]
        return np.asarray(data, dtype=float).reshape(description["shape"])
    except (TypeError, ValueError):
        return None


def plain(description: Any) -> Any:
    """A described list or tuple back as nested plain lists (strings, numbers); anything else as it came."""
    if isinstance(description, dict) and description.get("type") in ("list", "tuple") \
            and isinstance(description.get("items"), list):
        return [plain(item) for item in description["items"]]
    return description


def shape_of(description: Any) -> Optional[tuple[int, ...]]:
    if isinstance(description, dict) and "shape" in description:
        return tuple(description["shape"])
    return None


def kind_of(description: Any) -> str:
    if isinstance(description, dict):
        return str(description.get("type", "dict"))
    return type(description).__name__


def error_of(observation: Any) -> Optional[Msg]:
    """The error of a failed observation, with the student's last frame when there is one."""
    if isinstance(observation, dict) and "error" in observation:
        where = observation.get("traceback") or []
        lines = [line.strip() for line in str(where[-1]).strip().splitlines()] if where else []
        if lines and lines[0]:
            # 'File "part2.py", line 24, in train' -> 'part2.py, line 24, in train', then the line itself
            last = re.sub(r'^File "(.+?)", line', r"\1, line", lines[0])
            if len(lines) > 1 and lines[1]:
                last += f": {lines[1][:160]}"
            return M("error_at", error=observation["error"], where=last)
        return M("raw", text=observation["error"])
    return None


def compare_array(expected: np.ndarray, got: Any, *, atol: float, rtol: float = 1e-4,
                  what: str = "output") -> Optional[Msg]:
    """None when ``got`` matches ``expected``; otherwise what differs."""
    got_shape = shape_of(got)
    if got_shape is None:
        return M("array_not_array", what=what, expected=tuple(expected.shape), got=kind_of(got))
    if got_shape != tuple(expected.shape):
        return M("array_shape", what=what, got=got_shape, expected=tuple(expected.shape))
    values = as_array(got)
    if values is None:
        return M("array_unreadable", what=what)
    if not np.allclose(values, expected, atol=atol, rtol=rtol, equal_nan=False):
        difference = float(np.nanmax(np.abs(values - expected))) if values.size else 0.0
        return M("array_values", what=what, difference=difference)
    return None


def small_table(description: Any, limit: int = 64) -> Any:
    """What a report shows as 'got': small arrays as nested lists, big ones by shape."""
    values = as_array(description)
    if values is not None and values.size <= limit:
        return np.round(values, 5).tolist()
    shape = shape_of(description)
    if shape is not None:
        return {"shape": list(shape), "dtype": description.get("dtype")}
    return description


def rounded(values: np.ndarray, limit: int = 64) -> Any:
    return np.round(values, 5).tolist() if values.size <= limit else {"shape": list(values.shape)}


def fraction_message(passed: int, total: int, failures: list[Msg], noun: str) -> tuple[float, Msg]:
    """Partial credit over cases; ``noun`` is a catalogue key under msg.noun (hidden_cases, ...)."""
    if total == 0:
        return 0.0, M("cases_none", noun=M(f"noun.{noun}"))
    if passed == total:
        return 1.0, M("cases_all", total=total, noun=M(f"noun.{noun}"))
    return passed / total, M("cases_some", passed=passed, total=total, noun=M(f"noun.{noun}"),
                             failures=failures[:3])
