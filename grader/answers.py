"""Read the written answers (parts 4-6) from a submission, in the parent: parsing only, never executing.

Notebook: the handout's answer cells carry the tag ``answer-partN``. A student who rewrote or re-created
the cell is still found by its heading ("Part 4 answer", "第四部分作答", ...), and as a last resort by the
markdown written under the part's heading (in the heading's own cell or the cells after it) that is not the
handout's own text. A part's heading is found as a reader would: "Part 5", "第五部分", "五、", "5.", "5 ",
or its name ("心得体会") where no number is given; a write-up's plain first line "4.简单总结…" counts too.
Modules: ``answers.md`` with part headings at any level.

Which parts are written, and the names students give them, come from the assignment's Part records
(``Part.written``, ``Part.answer_names``): callers pass ``{part id: name pattern}`` in report order.
"""

from __future__ import annotations

ANSWERS_MAX_BYTES = 1 << 20

import re
from pathlib import Path
from typing import Any

WrittenParts = dict[str, str]  # part id -> how students name the part without its number (a regex, or "")

_ZH_DIGITS = dict(zip("123456789", "一二三四五六七八九"))
PLACEHOLDER = re.compile(r"\*?write your answer here\.? / 在此作答。?\*?", re.I)


def _numbered(part: str) -> str:
    """'Part 5', '第五部分', '五、', '5.', '5 ', '5：' at the start of a title (not '5.1' nor '50')."""
    digits = f"[{part}{_ZH_DIGITS.get(part, '')}]"
    return (rf"(part\s*{part}\b|第\s*{digits}\s*(部分|题|问)|"
            rf"^\s*(#+\s*)?{digits}(?![\d.．]\d)\s*[、.．:：)）]?\s*(?=\S)(?![\d]))")


def _title_pattern(part: str) -> re.Pattern[str]:
    """A plain first line that titles part N the way write-ups do ('4.简单总结nn.RNNCell、nn.RNN', '五、谈谈…')."""
    return re.compile(rf"^\s*{_numbered(part)}", re.I)


_ANY_NUMBER = re.compile(r"(part\s*\d|第\s*[\d一二三四五六七八九十]+\s*(部分|题|问)|"
                         r"^\s*[\d一二三四五六七八九十]+\s*([、.．:：)）\s]|(?=[^\d\s.．])))", re.I)


def _opens(part: str, line: str, first_line: bool, names: str) -> bool:
    """Whether `line` opens part N: a heading with its number, or with its name and no number at all
    (part 2's '实现“序列”到“序列”' is not part 5); or, as a cell's first line, a numbered title."""
    title = line.strip().lstrip("#").strip()
    if re.match(r"^\s*#+\s", line):
        if re.search(_numbered(part), title, re.I):
            return True
        return bool(names) and not _ANY_NUMBER.search(title) and bool(re.search(names, title, re.I))
    return first_line and len(title) <= 80 and bool(_title_pattern(part).match(title))


def _answer_heading(part: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*#+.*(part\s*{part}\b.*answer|第\s*[{part}{_ZH_DIGITS.get(part, '')}]\s*部分.*(作答|回答|答))",
                      re.I | re.M)


def clean(text: str, written: WrittenParts) -> str:
    """Drop the answer heading and the handout's placeholder, keep what the student wrote."""
    lines = [line for line in text.splitlines() if not any(_answer_heading(p).match(line) for p in written)]
    text = re.sub(r"<!--.*?-->", "", "\n".join(lines), flags=re.S)  # authoring markers are not answers
    return PLACEHOLDER.sub("", text).strip()


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def from_notebook(cells: list[dict[str, Any]], written: WrittenParts,
                  handout_texts: set[str] | None = None) -> dict[str, str]:
    return {part: text for part, (text, _) in locate_in_notebook(cells, written, handout_texts).items()}


def locate_in_notebook(cells: list[dict[str, Any]], written: WrittenParts,
                       handout_texts: set[str] | None = None) -> dict[str, tuple[str, list[int]]]:
    """(answer, where it was found) per written part: the tagged cell, else a rewritten answer cell found by
    its heading, else whatever the student wrote under the part's heading (same cell or the cells after it,
    up to the next part), leaving out the handout's own text."""
    handout_texts = handout_texts or set()
    markdown = [(i, _source(c), c.get("metadata") or {}) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"]
    answers: dict[str, tuple[str, list[int]]] = {}
    for part in written:
        tagged = [(i, text) for i, text, meta in markdown
                  if f"answer-part{part}" in (meta.get("tags") or [])
                  or (meta.get("rnn_grader") or {}).get("answer") == part]
        if not tagged:
            tagged = [(i, text) for i, text, _ in markdown if _answer_heading(part).search(text)]
        if not tagged:
            tagged = _under_heading(markdown, part, handout_texts, written)
        text = clean("\n\n".join(text for _, text in tagged), written)
        answers[part] = (text, [i + 1 for i, _ in tagged] if text else [])
    return answers


def _under_heading(markdown: list[tuple[int, str, dict[str, Any]]], part: str,
                   handout: set[str], written: WrittenParts) -> list[tuple[int, str]]:
    """The text after part N's heading, in its own cell and the following ones, up to another part's."""
    handout_lines = {line.strip() for block in handout for line in block.splitlines() if line.strip()}
    collected: list[tuple[int, str]] = []
    inside = False
    for index, text, _ in markdown:
        kept: list[str] = []
        first = True  # until the cell's first non-blank line: a plain numbered title counts only there
        for line in text.splitlines():
            if _opens(part, line, first, written[part]):
                inside, kept = True, []
            elif inside and any(_opens(other, line, first, written[other]) for other in written if other != part):
                inside = False
                break
            elif inside:
                kept.append(line)
            first = first and not line.strip()
        body = "\n".join(line for line in kept if line.strip() not in handout_lines).strip()
        if body and text.strip() not in handout:
            collected.append((index, body))
        if not inside and collected:
            break
    return collected


def from_markdown(text: str, written: WrittenParts) -> dict[str, str]:
    """Split answers.md at part headings of any level ('# Part 5', '### 五、…', '## 6 心得体会');
    other headings stay inside the current answer."""
    buffer: dict[str, list[str]] = {part: [] for part in written}
    current = None
    for line in text.splitlines():
        opened = next((p for p in written if re.match(r"^\s*#{1,6}\s", line) and _opens(p, line, False, written[p])),
                      None)
        if opened:
            current = opened
        elif current:
            buffer[current].append(line)
    return {part: clean("\n".join(lines), written) for part, lines in buffer.items()}


def read_answers(notebook_cells: list[dict[str, Any]] | None, answers_file: Path | None, written: WrittenParts,
                 handout_texts: set[str] | None = None,
                 sources: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """The answer to each written part; `sources`, when given, gets where each was taken from
    (``{"cells": [12, 13]}`` or ``{"file": "answers.md"}``), so a reviewer can see a miss."""
    answers = {part: "" for part in written}
    where: dict[str, dict[str, Any]] = {}
    if notebook_cells is not None:
        for part, (text, cells) in locate_in_notebook(notebook_cells, written, handout_texts).items():
            answers[part] = text
            if text:
                where[part] = {"cells": cells}
    if answers_file is not None:
        try:
            with open(answers_file, "rb") as handle:  # a huge file costs no memory: answers are short
                from_file = from_markdown(handle.read(ANSWERS_MAX_BYTES).decode("utf-8", errors="replace"), written)
        except OSError:
            from_file = {}
        for part, text in from_file.items():
            if text and not answers.get(part):
                answers[part] = text
                where[part] = {"file": answers_file.name}
    if sources is not None:
        sources.update(where)
    return answers
