"""Written answers (the summary of part 4, parts 5 and 6): a rubric suggests, a person decides.

The rubric (``assignments/rnn-basics/rubric.toml``) lists each part's key points as patterns that match
what an answer says in Chinese or English (``grader/keypoints.py``); an answer earns the share of points it
states, and the sentence that carried each point is kept for the reviewer. Every written part stays
"needs review" until an instructor confirms a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from grader.keypoints import KeyPoint, PointFound, RubricPart, find
from grader.messages import M
from grader.parts.base import JudgeContext, Part, Verdict


@dataclass(frozen=True)
class Suggestion:
    found: list[PointFound]
    missed: list[KeyPoint]

    @property
    def fraction(self) -> float:
        total = len(self.found) + len(self.missed)
        return len(self.found) / total if total else 1.0


def suggest(rubric: RubricPart, text: str) -> Suggestion:
    """Which of the part's key points the answer states (length aside: see rubric_verdict)."""
    found, missed = [], []
    for point in rubric.points:
        hit = find(point, text)
        if hit:
            found.append(hit)
        else:
            missed.append(point)
    return Suggestion(found, missed)


def _label(point: KeyPoint) -> dict[str, str]:
    return {"id": point.id, "en": point.en, "zh": point.zh}


def rubric_verdict(check: str, part_id: str, ctx: JudgeContext) -> Verdict:
    rubric: RubricPart = ctx.rubric.get(f"part{part_id}") or RubricPart()
    text = ctx.answers.get(part_id, "").strip()
    missed_all = [_label(point) for point in rubric.points]
    if not text:
        return Verdict(check, 0.0, M("no_answer"), got={"found": [], "missed": missed_all, "answer": ""},
                       shows="rubric")
    where = ctx.answer_sources.get(part_id, {})
    if len(text) < rubric.min_chars:
        return Verdict(check, 0.0, M("answer_short", length=len(text), minimum=rubric.min_chars),
                       got={"found": [], "missed": missed_all, "answer": text, "from": where}, shows="rubric")
    suggestion = suggest(rubric, text)
    found = [{**_label(hit.point), "quote": hit.quote[:300]} for hit in suggestion.found]
    return Verdict(check, suggestion.fraction,
                   M("rubric", found=len(suggestion.found), total=len(rubric.points)),
                   got={"found": found, "missed": [_label(point) for point in suggestion.missed],
                        "answer": text, "from": where}, shows="rubric")


def judge_part5(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    return [rubric_verdict("answer", "5", ctx)]


def judge_part6(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    return [rubric_verdict("answer", "6", ctx)]


PARTS = [
    Part("5", "Sequence and sequence to sequence", "谈谈“序列”与“序列到序列”", ("answer",), judge_part5, written=True,
         answer_names=r"(sequence[\s-]+to[\s-]+sequence|序列到序列|“序列”|对.*序列.*理解)"),
    Part("6", "Reflection", "心得体会", ("answer",), judge_part6, written=True, answer_names=r"(reflection|心得|体会)"),
]
