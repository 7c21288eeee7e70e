"""The homework's parts, in report order. Each module holds its probes and its judgement side by side."""

from __future__ import annotations

from grader.parts import part1_srn, part2_hello, part3_seq2seq, part4_summary, written
from grader.parts.base import Part

ALL_PARTS: tuple[Part, ...] = (
    *part1_srn.PARTS, *part2_hello.PARTS, *part3_seq2seq.PARTS, *part4_summary.PARTS, *written.PARTS,
)
PART_IDS: tuple[str, ...] = tuple(part.id for part in ALL_PARTS)


def part_by_id(part_id: str) -> Part:
    for part in ALL_PARTS:
        if part.id == part_id:
            return part
    raise KeyError(part_id)
