"""The grading configuration (assignments/<name>/grading.toml and rubric.toml), validated on load."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from grader.assignment import Assignment, AssignmentError, load_assignment, read_toml, validated
from grader.keypoints import RubricPart
from grader.parts.base import Part

REPO_ROOT = Path(__file__).resolve().parents[1]
# a student kit (grader.kit) carries its own assignment folder; the full grader's lives in the repository
KIT_ASSIGNMENT = Path(__file__).resolve().parent / "kit_data" / "assignment"
DEFAULT_ASSIGNMENT = KIT_ASSIGNMENT if KIT_ASSIGNMENT.is_dir() else REPO_ROOT / "assignments" / "rnn-basics"
DEFAULT_REFERENCE = REPO_ROOT / "reference" / "rnn_basics.py"


class ConfigError(Exception):
    """The grading configuration is unusable; the message says where."""


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    submission_timeout_s: float = Field(300, gt=0)
    cell_timeout_s: float = Field(60, gt=0)
    probe_timeout_s: float = Field(120, gt=0)
    kernel_start_timeout_s: float = Field(60, gt=0)
    memory_mb: int = Field(3072, ge=256)
    cpu_s: int = Field(600, gt=0)
    max_processes: int = Field(256, gt=0)
    output_kb: int = Field(256, gt=0)
    max_cells: int = Field(2000, gt=0)
    max_notebook_mb: int = Field(50, gt=0)


class Seeds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student: int = 0
    hidden: int = 0


class PartConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: dict[str, float]
    training: dict[str, Any] = Field(default_factory=dict)


class GradingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    limits: Limits = Field(default_factory=Limits)
    seeds: Seeds = Field(default_factory=Seeds)
    parts: dict[str, PartConfig]
    rubric: dict[str, RubricPart] = Field(default_factory=dict)
    # the folder this came from: its parts, reference and handout (never dumped: files are hashed instead)
    assignment: Optional[Assignment] = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _checks_match_parts(self, info: ValidationInfo) -> "GradingConfig":
        declared = (info.context or {}).get("parts", ())
        known = {part.id: set(part.checks) for part in declared}
        for part_id, part in self.parts.items():
            if part_id not in known:
                raise ValueError(f"unknown part {part_id!r} (known: {', '.join(known)})")
            if set(part.points) != known[part_id]:
                raise ValueError(f"part {part_id}: points must be given for exactly {sorted(known[part_id])}, "
                                 f"found {sorted(part.points)}")
        missing = set(known) - set(self.parts)
        if missing:
            raise ValueError(f"no points for part(s) {', '.join(sorted(missing))}")
        return self

    @property
    def all_parts(self) -> tuple[Part, ...]:
        return self.assignment.parts if self.assignment else ()

    @property
    def reference_path(self) -> Optional[Path]:  # None in a student kit
        return self.assignment.reference_path if self.assignment else DEFAULT_REFERENCE

    @property
    def is_kit(self) -> bool:
        return bool(self.assignment and self.assignment.is_kit)

    @property
    def assignment_dir(self) -> Path:  # holds the hidden seed: never visible to student code
        return self.assignment.folder if self.assignment else DEFAULT_ASSIGNMENT

    def part_points(self, part_id: str) -> float:
        return sum(self.parts[part_id].points.values())

    @property
    def total(self) -> float:
        return sum(self.part_points(part_id) for part_id in self.parts)

    def fingerprint(self) -> str:
        """Everything that changes a grade (for caches): the settings, and the bytes of the reference solution,
        every file of the assignment folder and the parts package's source (an edited reference or handout
        never serves stale verdicts)."""
        digest = hashlib.sha256(self.model_dump_json().encode())
        if self.assignment:
            digest.update(self.assignment.files_digest.encode())
        return digest.hexdigest()


def load_config(assignment_dir: Path = DEFAULT_ASSIGNMENT) -> GradingConfig:
    try:
        assignment = load_assignment(assignment_dir)
    except AssignmentError as error:
        raise ConfigError(str(error)) from None
    grading_file, rubric_file = assignment_dir / "grading.toml", assignment_dir / "rubric.toml"
    try:
        table = read_toml(grading_file)
        if rubric_file.exists():
            table["rubric"] = read_toml(rubric_file)
        config = validated(GradingConfig, table, grading_file, context={"parts": assignment.parts})
    except AssignmentError as error:
        raise ConfigError(str(error)) from None
    config.assignment = assignment
    override = os.environ.get("RNN_GRADER_HIDDEN_SEED")
    if override:
        config.seeds.hidden = int(override)
    return config
