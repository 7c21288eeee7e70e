"""Find a rubric's key points in a written answer by what it says, not by one phrasing.

A key point has several patterns; a pattern is one or more term groups joined by ``+`` whose terms are
alternatives joined by ``|``: ``"长度|length + 不同|不一样|不一定相同|differ"`` holds when one sentence has a
term of every group. Chinese terms match anywhere (no word segmentation is needed to find a substring);
English terms match at the start of a word, so ``differ`` finds "differs" and "different" but ``text``
does not find "context". A term is ignored where a negation governs it, the way NegEx reads clinical notes:
a cue shortly before it in the same clause ("不需要解码器", "没有用到注意力", "did not use attention") or
a dismissal after it ("顺序不重要", "order doesn't matter"). Words that only look negative ("不同", "不断",
"不仅", "not only") are not cues. A term that carries its own negation ("不一定相同", "need not") matches as
written, and is no cue for the pattern's other terms ("need not be as long"). The sentence that carried each point is kept as the quote a reviewer sees.

Measured against a person's scores in ``tests/data/written_answers.toml`` (``bench/rubric_agreement.py``).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Cues that negate what follows them within a few words in the same clause.
_CUES_BEFORE = re.compile(
    r"不需要|不用|不必|不是|并不|并非|没有|没|无需|无法|不能|不会|未|不"
    r"|\b(?:not|no|never|without|cannot|can't|don't|doesn't|didn't|isn't|aren't|wasn't|weren't|won't|neither|nor)\b")
# ... and dismissals that negate what precedes them.
_CUES_AFTER = re.compile(
    r"不重要|无关|无所谓|没关系|没有关系|没有意义|不影响"
    r"|\b(?:doesn't matter|does not matter|do not matter|don't matter|is irrelevant|irrelevant|not important"
    r"|isn't important|is not important|makes no difference)\b")
# Words that contain a cue but do not negate ("不同的时间步", "不断地生成", "not only ... but").
_PSEUDO = re.compile(r"不同|不断|不仅|不只|不但|不管|不少|不错|不停|不论|无论|不光|不过|不久|没想到"
                     r"|\bnot only\b|\bnot just\b|\bno matter\b")
_SENTENCE_END = re.compile(r"[。．!?;！？；\n]+|(?<=[A-Za-z0-9)\]'\"])\.(?=\s|$)")
_ABBREVIATION = re.compile(r"(?<![a-z])(e\.g|i\.e|etc|vs|cf|approx)\.$")
_CLAUSE_BREAK = re.compile(r"[,、:]")
_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")
WINDOW_BEFORE = 6  # tokens (an English word or one Chinese character) a cue may stand before its term
WINDOW_AFTER = 8


def normalise(text: str) -> str:
    """Full-width forms to ASCII (NFKC), lower case, ``_`` and ``-`` as spaces, runs of space as one."""
    text = unicodedata.normalize("NFKC", text).lower().replace("_", " ").replace("-", " ")
    return re.sub(r"[ \t]+", " ", text)


@dataclass(frozen=True)
class Term:
    text: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Pattern:
    """Every group must have a term in one sentence; terms of a group are alternatives."""

    source: str
    groups: tuple[tuple[Term, ...], ...]


@dataclass(frozen=True)
class KeyPoint:
    id: str
    en: str
    zh: str
    patterns: tuple[Pattern, ...]
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class PointFound:
    point: KeyPoint
    quote: str  # the sentence of the answer that carried the point


class PatternError(ValueError):
    pass


def _term(text: str) -> Term:
    term = normalise(text).strip()
    if not term:
        raise PatternError("empty term")
    start = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", term) else ""
    return Term(term, re.compile(start + re.escape(term)))


def parse_pattern(source: str) -> Pattern:
    """``"长度|length + 不同|differ"`` -> two groups of alternatives."""
    if not source.strip():
        raise PatternError("empty pattern")
    try:
        groups = tuple(tuple(_term(t) for t in group.split("|")) for group in source.split("+"))
    except PatternError as error:
        raise PatternError(f"{error} in pattern {source!r}") from None
    return Pattern(source, groups)


def sentences(text: str) -> list[str]:
    """The answer cut into sentences (Chinese and English punctuation, line breaks), as written."""
    pieces, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text[start:end.end()].lower()):
            continue  # "i.e. h_t for all steps" goes on
        pieces.append(text[start:end.end()])
        start = end.end()
    pieces.append(text[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def _negated(pseudo_free: str, start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Whether a cue governs the term at [start:end] within its clause, in the sentence with its
    pseudo-negations blanked (`pseudo_free`). The pattern's own terms are not cues ("need not be as *long*":
    "need not" is what the pattern asks for)."""
    if _CUES_BEFORE.search(pseudo_free[start:end]):
        return False  # a term that carries its own negation ("不相等也没关系") is read as written
    chars = list(pseudo_free)
    for other_start, other_end in spans:
        if (other_start, other_end) != (start, end):
            chars[other_start:other_end] = " " * (other_end - other_start)
    masked = "".join(chars)
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(masked)]
    clause_start = max([b + 1 for b in breaks if b < start], default=0)
    clause_end = min([b for b in breaks if b >= end], default=len(masked))
    # a dismissal after the pattern's next term is that term's ("长度不相等也没关系")
    next_term = min([other for other, _ in spans if other >= end], default=clause_end)
    before, after = masked[clause_start:start], masked[end:min(clause_end, next_term)]
    tokens = list(_TOKEN.finditer(before))
    window = before[tokens[-WINDOW_BEFORE].start():] if len(tokens) >= WINDOW_BEFORE else before
    if _CUES_BEFORE.search(window):
        return True
    tokens = list(_TOKEN.finditer(after))
    window = after[:tokens[WINDOW_AFTER - 1].end()] if len(tokens) >= WINDOW_AFTER else after
    return bool(_CUES_AFTER.search(window))


def _holds(sentence: str, pattern: Pattern) -> bool:
    """Every group has an un-negated term in the sentence, each at its own place (in "RNNCell", the
    group "rnn" of "rnncell + rnn" finds nothing more)."""
    hits = [[(m.start(), m.end()) for term in group for m in term.pattern.finditer(sentence)]
            for group in pattern.groups]
    everywhere = [span for group in hits for span in group]
    pseudo_free = _PSEUDO.sub(_blank, sentence)  # same length: offsets still hold
    usable = [[span for span in group if not _negated(pseudo_free, *span, everywhere)][:8] for group in hits]
    if not all(usable):
        return False
    return any(all(a[1] <= b[0] or b[1] <= a[0] for a, b in itertools.combinations(choice, 2))
               for choice in itertools.product(*usable))


def find(point: KeyPoint, answer: str) -> Optional[PointFound]:
    """The first sentence of ``answer`` in which one of the point's patterns holds, if any. Phrases in
    ``point.unless`` never count (part 4's "the last time step" is not "one time step")."""
    for sentence in sentences(answer):
        plain = normalise(sentence)
        for phrase in point.unless:
            plain = plain.replace(phrase, " " * len(phrase))
        if any(_holds(plain, pattern) for pattern in point.patterns):
            return PointFound(point, sentence)
    return None


def key_point(id: str, en: str, zh: str, patterns: list[str], unless: list[str] = ()) -> KeyPoint:
    """A key point from the rubric's text; PatternError where a pattern is empty or malformed."""
    return KeyPoint(id, en, zh, tuple(parse_pattern(p) for p in patterns),
                    tuple(normalise(u).strip() for u in unless if u.strip()))


class RubricPoint(BaseModel):
    """One key point of a written answer (rubric.toml): patterns as grader/keypoints.py reads them."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    en: str
    zh: str
    any: list[str] = Field(min_length=1)
    unless: list[str] = Field(default_factory=list)

    @field_validator("any")
    @classmethod
    def _patterns_parse(cls, patterns: list[str]) -> list[str]:
        try:
            key_point("check", "", "", patterns)
        except PatternError as error:
            raise ValueError(str(error)) from None
        return patterns


class RubricPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_chars: int = Field(40, ge=0)
    point: list[RubricPoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids_unique(self) -> "RubricPart":
        ids = [point.id for point in self.point]
        if len(ids) != len(set(ids)):
            raise ValueError(f"key point ids must be unique, found {ids}")
        return self

    @cached_property
    def points(self) -> list[KeyPoint]:
        return [key_point(p.id, p.en, p.zh, p.any, p.unless) for p in self.point]
