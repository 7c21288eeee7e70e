"""Part 4: RNN_SHAPES (checked automatically, tolerant of spelling) and the written summary (reviewed)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional

from pydantic import Field

from grader.contract import RNN_SHAPE_KEYS
from grader.messages import M, Msg
from grader.parts.base import (
    JudgeContext, Part, PlanContext, Problems, Strict, Verdict, contract_lookup, invalid, missing_reason,
    problems_or_results,
)
from grader.parts.written import rubric_verdict

# Obvious synonyms students write for the five dimension names.
SYNONYMS = {
    "batch": "batch", "batch_size": "batch", "b": "batch", "n": "batch", "bs": "batch", "批量": "batch",
    "seq_len": "seq_len", "seq_length": "seq_len", "sequence_length": "seq_len", "seqlen": "seq_len",
    "seq": "seq_len", "seq_size": "seq_len", "t": "seq_len", "l": "seq_len", "time_steps": "seq_len", "序列长度": "seq_len",
    "input_size": "input_size", "input_dim": "input_size", "in_size": "input_size", "input": "input_size",
    "h_in": "input_size", "输入维度": "input_size",
    "hidden_size": "hidden_size", "hidden_dim": "hidden_size", "hidden": "hidden_size", "h": "hidden_size",
    "h_out": "hidden_size", "隐藏层维度": "hidden_size",
    "num_layers": "num_layers", "layers": "num_layers", "n_layers": "num_layers", "layer_num": "num_layers",
    "num_layer": "num_layers", "层数": "num_layers",
}


def normalise_shape(text: Any) -> Optional[tuple[str, ...]]:
    """'[Batch_Size x input_size]' -> ('batch', 'input_size'); None when a name is not recognised."""
    if not isinstance(text, str):
        return None
    cleaned = re.sub(r"[\(\)\[\]\{\}（）【】]", " ", text.strip().lower())
    tokens = [t.strip().replace(" ", "_").replace("-", "_") for t in re.split(r"[,，×*]|\bx\b", cleaned)]
    tokens = [t.strip("_") for t in tokens if t.strip("_")]
    names = tuple(SYNONYMS.get(t) for t in tokens)
    return None if not names or any(n is None for n in names) else names  # type: ignore[return-value]


def plan(ctx: PlanContext) -> dict[str, Any]:
    return {}


def probe(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    found, problems = contract_lookup(namespace, ["RNN_SHAPES"])
    if problems:
        return {"problems": problems}
    shapes = found["RNN_SHAPES"]
    if not isinstance(shapes, dict):
        return {"problems": [{"issue": "not_dict", "name": "RNN_SHAPES", "found": type(shapes).__name__[:100]}]}
    return {"shapes": {str(k)[:60]: (v[:200] if isinstance(v, str) else repr(v)[:200]) for k, v in shapes.items()}}


class ShapesObservation(Strict):
    problems: Optional[Problems] = None
    shapes: Optional[Annotated[dict[Annotated[str, Field(max_length=60)], Annotated[str, Field(max_length=200)]],
                               Field(max_length=64)]] = None


def validate(request: dict[str, Any], observation: Any) -> Optional[Msg]:
    problem = invalid(ShapesObservation, observation)
    if problem:
        return problem
    return problems_or_results(observation, "problems", ("shapes",))[0]


def expect(request: dict[str, Any], reference: Any) -> dict[str, Any]:
    """The reference's shapes, for the tensors the summary asks about."""
    return {"shapes": {key: reference.RNN_SHAPES[key] for key in RNN_SHAPE_KEYS}}


def judge(request: dict[str, Any], observation: Optional[dict[str, Any]], ctx: JudgeContext) -> list[Verdict]:
    verdicts = [rubric_verdict("summary", "4", ctx)]
    if observation.get("problems"):
        return [Verdict("shapes", 0.0, missing_reason(observation["problems"], ctx))] + verdicts
    seen = observation["shapes"]
    correct, wrong = 0, []
    table = []
    for key in RNN_SHAPE_KEYS:
        expected = ctx.expected["shapes"][key]
        given = seen.get(key)
        ok = given is not None and normalise_shape(given) == normalise_shape(expected)
        correct += ok
        table.append({"tensor": key, "expected": expected, "got": given})
        if not ok:
            wrong.append(f"{key}: {given!r}" if given else f"{key}: –")
    message = M("shapes_right", correct=correct, total=len(RNN_SHAPE_KEYS),
                wrong=(" (" + "; ".join(wrong[:4]) + ")") if wrong else "")
    return [Verdict("shapes", correct / len(RNN_SHAPE_KEYS), message, got=table, shows="table")] + verdicts


PARTS = [Part("4", "Summary of nn.RNNCell and nn.RNN", "总结 nn.RNNCell 与 nn.RNN", ("shapes", "summary"),
              judge, plan, "probe", __name__, written=True, validate=validate, expect=expect,
              answer_names=r"(summar\w*\b.*nn\.rnn|简单总结\s*nn\.rnn|nn\.rnncell\s*(、|,|and|与|和)\s*nn\.rnn)")]
