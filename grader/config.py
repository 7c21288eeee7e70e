"""The grading configuration (assignments/<name>/grading.toml and rubric.toml), validated on load."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.keypoints import RubricPart
from grader.parts import ALL_PARTS

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ASSIGNMENT = REPO_ROOT / "assignments" / "rnn-basics"
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
    model_config = ConfigDict(extra="forbid")
    limits: Limits = Field(default_factory=Limits)
    seeds: Seeds = Field(default_factory=Seeds)
    parts: dict[str, PartConfig]
    rubric: dict[str, RubricPart] = Field(default_factory=dict)
    reference_path: Path = DEFAULT_REFERENCE
    assignment_dir: Path = DEFAULT_ASSIGNMENT  # holds the hidden seed: never visible to student code

    @model_validator(mode="after")
    def _checks_match_parts(self) -> "GradingConfig":
        known = {part.id: set(part.checks) for part in ALL_PARTS}
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

    def part_points(self, part_id: str) -> float:
        return sum(self.parts[part_id].points.values())

    @property
    def total(self) -> float:
        return sum(self.part_points(part.id) for part in ALL_PARTS)

    def fingerprint(self) -> str:
        """Stable text of everything that changes a grade (for caches and results metadata)."""
        return self.model_dump_json(exclude={"reference_path", "assignment_dir"})


def load_config(assignment_dir: Path = DEFAULT_ASSIGNMENT) -> GradingConfig:
    grading_file = assignment_dir / "grading.toml"
    try:
        table = tomllib.loads(grading_file.read_text(encoding="utf-8"))
        rubric_file = assignment_dir / "rubric.toml"
        if rubric_file.exists():
            table["rubric"] = tomllib.loads(rubric_file.read_text(encoding="utf-8"))
        config = GradingConfig.model_validate(table)
    except OSError as error:
        raise ConfigError(f"cannot read {grading_file}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{grading_file} is not valid TOML: {error}") from None
    except ValidationError as error:
        raise ConfigError(f"{grading_file} is invalid:\n{error}") from None
    config.assignment_dir = assignment_dir
    override = os.environ.get("RNN_GRADER_HIDDEN_SEED")
    if override:
        config.seeds.hidden = int(override)
    return config
