"""Read the written answers (parts 4-6) from a submission, in the parent: parsing only, never executing.

Notebook: the handout's answer cells carry the tag ``answer-partN``. A student who rewrote or re-created
the cell is still found by its heading ("Part 4 answer", "第四部分作答", ...), and as a last resort by the
markdown written under the part's heading that is not the handout's own text.
Modules: ``answers.md`` with headings ``## Part 4``, ``## Part 5``, ``## Part 6``.
"""

from __future__ import annotations

ANSWERS_MAX_BYTES = 1 << 20

import re
from pathlib import Path
from typing import Any

from grader.contract import WRITTEN_PARTS

_ZH_DIGITS = {"4": "四", "5": "五", "6": "六"}
PLACEHOLDER = re.compile(r"\*?write your answer here\.? / 在此作答。?\*?", re.I)


def _heading_pattern(part: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*#+\s*.*(part\s*{part}\b|第\s*[{part}{_ZH_DIGITS[part]}]\s*部分)", re.I | re.M)


def _answer_heading(part: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*#+.*(part\s*{part}\b.*answer|第\s*[{part}{_ZH_DIGITS[part]}]\s*部分.*(作答|回答|答))",
                      re.I | re.M)


def clean(text: str) -> str:
    """Drop the answer heading and the handout's placeholder, keep what the student wrote."""
    lines = [line for line in text.splitlines() if not any(_answer_heading(p).match(line) for p in WRITTEN_PARTS)]
    text = re.sub(r"<!--.*?-->", "", "\n".join(lines), flags=re.S)  # authoring markers are not answers
    return PLACEHOLDER.sub("", text).strip()


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def from_notebook(cells: list[dict[str, Any]], handout_texts: set[str] | None = None) -> dict[str, str]:
    handout_texts = handout_texts or set()
    markdown = [(i, _source(c), c.get("metadata") or {}) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"]
    answers: dict[str, str] = {}
    for part in WRITTEN_PARTS:
        tagged = [text for _, text, meta in markdown
                  if f"answer-part{part}" in (meta.get("tags") or [])
                  or (meta.get("rnn_grader") or {}).get("answer") == part]
        if not tagged:
            tagged = [text for _, text, _ in markdown if _answer_heading(part).search(text)]
        if not tagged:
            tagged = _under_heading(markdown, part, handout_texts)
        answers[part] = clean("\n\n".join(tagged))
    return answers


def _under_heading(markdown: list[tuple[int, str, dict[str, Any]]], part: str, handout: set[str]) -> list[str]:
    start = next((i for i, text, _ in markdown if _heading_pattern(part).search(text)), None)
    if start is None:
        return []
    collected = []
    for index, text, _ in markdown:
        if index <= start:
            continue
        if any(_heading_pattern(p).search(text) for p in ("4", "5", "6") if p != part):
            break
        if text.strip() not in handout:
            collected.append(text)
    return collected


def from_markdown(text: str) -> dict[str, str]:
    """Split answers.md at its top-level headings; a '## Part N' heading starts part N's answer."""
    buffer: dict[str, list[str]] = {part: [] for part in WRITTEN_PARTS}
    current = None
    for line in text.splitlines():
        if re.match(r"^\s*#{1,2}\s", line):
            current = next((p for p in WRITTEN_PARTS if _heading_pattern(p).match(line)), None)
        elif current:
            buffer[current].append(line)
    return {part: clean("\n".join(lines)) for part, lines in buffer.items()}


def read_answers(notebook_cells: list[dict[str, Any]] | None, answers_file: Path | None,
                 handout_texts: set[str] | None = None) -> dict[str, str]:
    answers = {part: "" for part in WRITTEN_PARTS}
    if notebook_cells is not None:
        answers.update(from_notebook(notebook_cells, handout_texts))
    if answers_file is not None:
        try:
            with open(answers_file, "rb") as handle:  # a huge file costs no memory: answers are short
                from_file = from_markdown(handle.read(ANSWERS_MAX_BYTES).decode("utf-8", errors="replace"))
        except OSError:
            from_file = {}
        for part, text in from_file.items():
            if text and not answers.get(part):
                answers[part] = text
    return answers
