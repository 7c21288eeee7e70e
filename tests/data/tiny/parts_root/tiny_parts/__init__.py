"""The tiny homework's parts (tests/test_assignments.py): add two vectors, and a written reflection."""

from __future__ import annotations

from typing import Any, Optional

from grader.messages import M
from grader.parts.base import JudgeContext, Part, PlanContext, Verdict
from grader.parts.written import rubric_verdict

EXAMPLES = [([1, 2], [3, 4])]
CHECKS = ("examples", "hidden_cases")


def plan(ctx: PlanContext) -> dict[str, Any]:
    def vector() -> list[int]:
        return [int(v) for v in ctx.rng.integers(-9, 9, size=3)]

    hidden = [] if ctx.public_only else [[vector(), vector()]]
    return {"cases": [[list(a), list(b)] for a, b in EXAMPLES] + hidden}


def probe(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    add = namespace.get("add")
    if not callable(add):
        return {"missing": "add"}
    results = []
    for a, b in request["cases"]:
        try:
            results.append([float(v) for v in add(a, b)])
        except Exception as error:  # noqa: BLE001 - the student's error is the observation
            results.append(f"{type(error).__name__}: {error}"[:200])
    return {"results": results}


def expect(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    """The reference's sums, one per case (a student kit records these for the public cases)."""
    return {"sums": [[float(v) for v in reference.add(a, b)] for a, b in request["cases"]]}


def judge(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    if not isinstance(observation, dict) or "results" not in observation:
        return [Verdict(check, 0.0, M("not_checked", reason=M("checks_did_not_run"))) for check in CHECKS]
    verdicts = []
    cases, results = request["cases"], observation["results"]  # one result per case
    for check, chosen in ((CHECKS[0], range(len(EXAMPLES))), (CHECKS[1], range(len(EXAMPLES), len(cases)))):
        right = sum(1 for i in chosen if i < len(results) and results[i] == ctx.expected["sums"][i])
        total = len(chosen)
        verdicts.append(Verdict(check, right / total if total else 1.0, M("list", items=[f"{right} of {total} right"]),
                                hidden=check == CHECKS[1]))
    return verdicts


def judge_reflection(request: dict[str, Any], observation: Optional[dict[str, Any]],
                     ctx: JudgeContext) -> list[Verdict]:
    return [rubric_verdict("answer", "2", ctx)]


ALL_PARTS = (
    Part("1", "Add two vectors", "两个向量相加", CHECKS, judge, plan, "probe", __name__, expect=expect),
    Part("2", "Reflection", "心得", ("answer",), judge_reflection, written=True, answer_names=r"(reflection|心得)"),
)
