"""Written answers (the summary of part 4, parts 5 and 6): a rubric suggests, a person decides.

The rubric (``assignments/rnn-basics/rubric.toml``) lists key points, each with Chinese and English
phrasings; an answer earns the share of points it mentions. Every written part stays "needs review" until
an instructor confirms a score.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from grader.messages import M
from grader.parts.base import JudgeContext, Part, Verdict


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("_", " ").replace("-", " "))


def rubric_verdict(check: str, part_id: str, ctx: JudgeContext) -> Verdict:
    rubric = ctx.rubric.get(f"part{part_id}", {})
    text = ctx.answers.get(part_id, "").strip()
    minimum = int(rubric.get("min_chars", 40))
    if not text:
        return Verdict(check, 0.0, M("no_answer"), got={"found": [], "missed": _labels(rubric), "answer": ""})
    if len(text) < minimum:
        return Verdict(check, 0.0, M("answer_short", length=len(text), minimum=minimum),
                       got={"found": [], "missed": _labels(rubric), "answer": text,
                            "from": ctx.answer_sources.get(part_id, {})})
    haystack = _normalise(text)
    found, missed = [], []
    for point in rubric.get("point", []):
        phrases = [_normalise(p) for p in point.get("any", [])]
        label = {"en": point["en"], "zh": point.get("zh", point["en"])}
        (found if any(p and p in haystack for p in phrases) else missed).append(label)
    total = len(found) + len(missed)
    fraction = len(found) / total if total else 1.0
    return Verdict(check, fraction, M("rubric", found=len(found), total=total),
                   got={"found": found, "missed": missed, "answer": text,
                        "from": ctx.answer_sources.get(part_id, {})})


def _labels(rubric: dict[str, Any]) -> list[str]:
    return [{"en": point["en"], "zh": point.get("zh", point["en"])} for point in rubric.get("point", [])]


def judge_part5(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    return [rubric_verdict("answer", "5", ctx)]


def judge_part6(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    return [rubric_verdict("answer", "6", ctx)]


PARTS = [
    Part("5", "Sequence and sequence to sequence", "谈谈“序列”与“序列到序列”", ("answer",), judge_part5, written=True),
    Part("6", "Reflection", "心得体会", ("answer",), judge_part6, written=True),
]
