"""What every part module shares: the Part record, verdicts, and the comparisons the judges use.

A part module holds, side by side:
* ``plan_*(ctx) -> request``: runs in the parent; draws hidden inputs from the parent's secret seed;
* ``probe_*(namespace, request) -> observation``: runs in the student's kernel; calls student code and
  describes what came back (see ``grader.sandbox.runtime``), deciding nothing;
* ``judge_*(request, observation, ctx) -> [Verdict]``: runs in the parent; compares with the reference.
Points come later, from the grading config: a verdict only says which fraction of a check was earned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from grader.messages import M, Msg


@dataclass(frozen=True)
class Verdict:
    check: str
    fraction: float  # 0..1 of the check's points
    message: Msg | str
    expected: Any = None
    got: Any = None
    hidden: bool = False  # built from hidden inputs: never shown in a student self-check
    plot: Optional[dict[str, Any]] = None  # {"series": {name: [[x, y], ...]}, "threshold", "log_y"} for reports


@dataclass
class PlanContext:
    rng: np.random.Generator  # seeded from the parent's secret and the student id
    settings: dict[str, Any]  # this part's table in grading.toml
    device: str
    public_only: bool = False  # self-check: no hidden cases


@dataclass
class JudgeContext:
    settings: dict[str, Any]
    reference: Any  # the reference solution module, loaded in the parent only
    answers: dict[str, str] = field(default_factory=dict)  # written answers by part id
    cell_errors: list[Msg] = field(default_factory=list)  # "cell 7 raised TypeError: ..."
    rubric: dict[str, Any] = field(default_factory=dict)
    # what the judge found the student's process claimed falsely (shown as integrity notes, never scored)
    interference: list[str] = field(default_factory=list)


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


# ---- helpers for probes (run in the kernel) -------------------------------------------------------

def contract_lookup(namespace: dict[str, Any], names: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fetch contract names; the second value lists (as message JSON) those missing or off-contract."""
    from grader.contract import CONTRACT, signature_issue

    entries = {entry.name: entry for entry in CONTRACT}
    found, problems = {}, []
    for name in names:
        if name not in namespace:
            problems.append(M("not_defined", name=name).to_json())
            continue
        problem = signature_issue(entries[name], namespace[name])
        if problem:
            problems.append(problem.to_json())
        else:
            found[name] = namespace[name]
    return found, problems


# ---- helpers for judges (run in the parent) -------------------------------------------------------

def unavailable(checks: tuple[str, ...] | list[str], reason: Msg | str) -> list[Verdict]:
    return [Verdict(check, 0.0, reason) for check in checks]


def missing_reason(problems: list[Any], ctx: JudgeContext) -> Msg:
    if ctx.cell_errors:
        return M("with_cell_error", problems=list(problems), cell_error=ctx.cell_errors[0])
    return M("list", items=list(problems))


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
        last = where[-1].strip().splitlines()[0].strip() if where else ""
        if last:
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
