"""Scores and the files they are written to: results/<student>.json (docs/results-schema.md) and grades.csv."""

from __future__ import annotations

import csv
import json
import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2  # 2: flags and sandbox protections as codes, part titles by language, error_i18n, shows

# What a flag can say about a run; labels in grader/catalog/*.toml under [flag], parameters as named there.
FLAG_CODES = ("timeout", "crashed", "cells_failed", "output_truncated", "memory_limit", "process_limit",
              "integrity_notes", "link_not_followed", "notebook_upgraded", "kernel_replaced", "installs_skipped",
              "without_contract", "note")


@dataclass(frozen=True)
class Flag:
    code: str  # one of FLAG_CODES
    params: dict[str, Any] = field(default_factory=dict)


def has_flag(result: "SubmissionResult", code: str) -> bool:
    return any(flag.code == code for flag in result.flags)


def flag_text(flag: Flag | dict[str, Any], lang: str = "en") -> str:
    """A flag's label in ``lang`` (grader/catalog/*.toml, [flag]); an unknown code reads as itself."""
    from grader.i18n import catalog

    code, params = (flag.code, flag.params) if isinstance(flag, Flag) else (flag.get("code"), flag.get("params"))
    try:
        return catalog(lang)[f"flag.{code}"].format(**(params or {}))
    except (KeyError, IndexError, ValueError, TypeError):
        return str(code)


@dataclass
class CheckResult:
    id: str
    passed: bool
    score: float
    max_score: float
    message: str
    expected: Any = None
    got: Any = None
    hidden: bool = False
    plot: dict[str, Any] | None = None  # {series, threshold, log_y, title}: `title` a catalogue key
    message_i18n: dict[str, Any] | None = None  # {"key", "params"}: the message in any language, see messages.py
    shows: str | None = None  # what `got` holds for the report: "rubric", "table" or None (a value)


@dataclass
class PartResult:
    id: str
    titles: dict[str, str]  # by language ("en", "zh", ...): a new language is a key, not a schema change
    score: float
    max_score: float
    needs_review: bool
    checks: list[CheckResult]
    seconds: float = 0.0
    reviewed: bool = False  # an instructor confirmed the score in review.csv
    suggested_score: float | None = None  # the rubric's suggestion, kept when a review replaced it
    review_comment: str = ""
    # "contract": graded through the handout's functions; "without_contract": from evidence in code written
    # another way (a suggestion, needs review); "not_attempted": nothing of this part was found
    graded_as: str = "contract"


@dataclass
class SubmissionResult:
    student: str
    score: float
    max_score: float
    status: str  # "graded" or "error"
    parts: list[PartResult]
    flags: list[Flag] = field(default_factory=list)
    error: str | None = None  # English; error_i18n renders it in any catalogue language
    error_i18n: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    device: str = "cpu"
    grader_version: str = ""
    submission_hash: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    from_cache: bool = False  # reused from an earlier run of the same submission, grader and config
    sandbox: dict[str, list[str]] = field(default_factory=dict)  # protection codes applied / missing
    integrity: list[dict[str, str]] = field(default_factory=list)  # grader.integrity.Finding, as JSON
    lms: dict[str, Any] | None = None  # where an LMS download named the student: {id, name, lms, late, files}
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SubmissionResult":
        data = current_schema(data)
        parts = [PartResult(**{**part, "checks": [CheckResult(**check) for check in part["checks"]]})
                 for part in data["parts"]]
        return cls(**{**data, "parts": parts, "flags": [Flag(**flag) for flag in data.get("flags", [])]})

    def recompute_total(self) -> None:
        self.score = round(sum(part.score for part in self.parts), 2)


# Schema 1 wrote flags and protections as English sentences.
_FLAG_SENTENCES = [
    (re.compile(r"^timeout$"), "timeout", ()), (re.compile(r"^crashed$"), "crashed", ()),
    (re.compile(r"^(\d+) cell\(s\) failed$"), "cells_failed", ("count",)),
    (re.compile(r"^output truncated$"), "output_truncated", ()),
    (re.compile(r"^memory limit reached$"), "memory_limit", ()),
    (re.compile(r"^process limit reached$"), "process_limit", ()),
    (re.compile(r"^(\d+) integrity note\(s\)$"), "integrity_notes", ("count",)),
]
_PROTECTION_NAMES = {
    "network isolation": "network", "read-only filesystem": "readonly_fs", "secrets hidden": "secrets_hidden",
    "private /proc": "private_proc", "separate user": "separate_user", "capabilities dropped": "no_capabilities",
    "memory limit per submission (cgroup)": "group_memory", "process limit per submission (cgroup)": "group_pids",
    "fair CPU share per submission (cgroup)": "group_cpu",
}


def _flag_from_sentence(text: str) -> dict[str, Any]:
    for pattern, code, names in _FLAG_SENTENCES:
        match = pattern.match(text)
        if match:
            return {"code": code, "params": {name: int(value) for name, value in zip(names, match.groups())}}
    return {"code": "note", "params": {"text": text}}


def upgrade_from_1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 result as schema 2 (results folders and caches written by grader 0.x stay readable)."""
    parts = []
    for part in data.get("parts", []):
        part = dict(part)
        part["titles"] = {"en": part.pop("title", ""), "zh": part.pop("title_zh", "")}
        part["checks"] = [{**check, "shows": "rubric" if isinstance(check.get("got"), dict) and "found" in check["got"]
                           else None} for check in part.get("checks", [])]
        parts.append(part)
    sandbox = {key: [_PROTECTION_NAMES.get(name, name) for name in names]
               for key, names in (data.get("sandbox") or {}).items()}
    return {**data, "schema": 2, "parts": parts, "sandbox": sandbox,
            "flags": [_flag_from_sentence(f) if isinstance(f, str) else f for f in data.get("flags", [])]}


def current_schema(data: dict[str, Any]) -> dict[str, Any]:
    """A results dict in this grader's schema: schema 1 upgraded, anything else refused (ValueError)."""
    if data.get("schema") == 1:
        data = upgrade_from_1(data)
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"results schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
    return data


def safe_file_name(student: str) -> str:
    """A file name for any student id: letters of any script and digits stay, the rest becomes '_'.

    Where anything was replaced, a short hash of the id follows, so "li lei" and "li_lei" get two files."""
    name = "".join(c if (unicodedata.category(c)[0] in "LN" or c in "-_.") else "_"
                   for c in unicodedata.normalize("NFC", student))
    name = re.sub(r"\.{2,}", "_", name).strip() or "_"
    name = ("_" + name) if name.startswith(".") else name[:120]
    if name != student:
        name += "-" + hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return name


def write_results(results: list[SubmissionResult], out: Path, part_ids: list[str]) -> None:
    folder = out / "results"
    folder.mkdir(parents=True, exist_ok=True)
    for result in results:
        path = folder / f"{safe_file_name(result.student)}.json"
        path.write_text(json.dumps(result.to_json(), indent=1, ensure_ascii=False, default=str) + "\n",
                        encoding="utf-8")
    write_grades_csv(results, out / "grades.csv", part_ids)


def pending_review(result: SubmissionResult) -> list[str]:
    """Parts whose score is still the rubric's suggestion: not a grade until a person confirms it."""
    return [part.id for part in result.parts if part.needs_review]


def part_state(part: PartResult) -> str:
    if part.needs_review:
        return "suggested"
    return "confirmed" if part.reviewed else "automatic"


def write_grades_csv(results: list[SubmissionResult], path: Path, part_ids: list[str]) -> None:
    """One row per student: the total (suggestions included), the parts, then what is *not* a grade yet:
    the parts pending review, the total without them, and each part's state."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "total", "max", "status", *[f"part {p}" for p in part_ids],
                         "pending review", "total without pending", *[f"state {p}" for p in part_ids]])
        for result in sorted(results, key=lambda r: r.student):
            parts = {part.id: part for part in result.parts}
            pending = pending_review(result)
            settled = sum(part.score for part in result.parts if part.id not in pending)
            writer.writerow([result.student, _number(result.score), _number(result.max_score), result.status,
                             *[_number(parts[p].score) if p in parts else "" for p in part_ids],
                             " ".join(pending), _number(round(settled, 2)),
                             *[part_state(parts[p]) if p in parts else "" for p in part_ids]])


def _number(value: float) -> str:
    return f"{value:g}"
