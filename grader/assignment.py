"""An assignment is one folder: ``assignment.toml`` names its parts package, reference solution and handout;
``grading.toml`` and ``rubric.toml`` beside it give points, limits and written-answer key points.

    title = "RNN basics"              # shown in reports and LMS exports
    title_zh = "循环神经网络基础"
    parts = "grader.parts"            # a package whose ALL_PARTS lists the parts, in report order
    import_path = ""                  # folder to import `parts` from (relative to this file; "" = installed)
    reference = "../../reference/rnn_basics.py"
    handout = "homework.ipynb"        # its markdown is never mistaken for a student's answer

A student kit's folder (``grader.kit``) names ``expectations = "expectations.json"`` instead of a reference:
the reference's answers recorded for the public requests, and nothing from which to grade hidden cases.

The parts package runs on both sides of the sandbox (judges in the grader, probes in the student's kernel),
so ``import_path`` must not lie inside the assignment folder, which holds the hidden seed and is hidden
from student code.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.parts.base import Part

MANIFEST = "assignment.toml"
ModelT = TypeVar("ModelT", bound=BaseModel)


class AssignmentError(Exception):
    """The assignment folder is unusable; the message says where."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    title_zh: str = ""
    parts: str = Field(pattern=r"^[A-Za-z_][\w.]*$")
    import_path: str = ""
    reference: str = ""
    expectations: str = ""  # a student kit's recorded answers, in place of the reference
    handout: str = ""


@dataclass(frozen=True)
class Assignment:
    folder: Path
    title: str
    title_zh: str
    parts: tuple[Part, ...]
    reference_path: Optional[Path]  # None in a student kit
    handout_path: Optional[Path]
    import_paths: tuple[Path, ...]  # where the parts package is imported from, kept visible in the sandbox
    source_files: tuple[Path, ...] = ()  # the parts package's Python files (hashed into the cache key)
    expectations_path: Optional[Path] = None  # a student kit: the reference's answers to the public requests

    @property
    def is_kit(self) -> bool:
        """A student kit grades public checks only: it has no reference and no hidden seed."""
        return self.reference_path is None

    @property
    def part_ids(self) -> tuple[str, ...]:
        return tuple(part.id for part in self.parts)

    @property
    def written_ids(self) -> tuple[str, ...]:
        return tuple(part.id for part in self.parts if part.written)

    def part(self, part_id: str) -> Part:
        for part in self.parts:
            if part.id == part_id:
                return part
        raise KeyError(part_id)

    def title_in(self, lang: str) -> str:
        return self.title_zh if lang == "zh" and self.title_zh else self.title

    @cached_property
    def files_digest(self) -> str:
        """sha256 of the reference, every file of the folder and the parts package's source, read once per
        load (the cache key: an edited reference or handout never serves stale verdicts)."""
        digest = hashlib.sha256()
        # each file named relative to its own root: the same course in another folder (a clone elsewhere, a
        # cluster worker's mount) has the same digest; its contents are what decide
        package_root = Path(os.path.commonpath([p.parent for p in self.source_files])) if self.source_files \
            else self.folder
        named = [(f"reference/{self.reference_path.name}", self.reference_path)] if self.reference_path else []
        named += [(f"assignment/{p.relative_to(self.folder)}", p)
                  for p in sorted(p for p in self.folder.rglob("*") if p.is_file())]
        named += [(f"parts/{_relative(p, package_root)}", p) for p in self.source_files]
        for name, path in named:
            digest.update(name.encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"unreadable")
        return digest.hexdigest()

    @cached_property
    def handout_markdown(self) -> frozenset[str]:
        """The handout's markdown cells, read once: text of the handout's own is never a student's answer."""
        try:
            cells = json.loads(self.handout_path.read_text(encoding="utf-8"))["cells"] if self.handout_path else []
            return frozenset("".join(c["source"]).strip() for c in cells if c.get("cell_type") == "markdown")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return frozenset()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AssignmentError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise AssignmentError(f"{path} is not valid TOML: {error}") from None


def validated(model: type[ModelT], table: dict[str, Any], path: Path, context: Any = None) -> ModelT:
    """`table` (read from `path`) as `model`, or AssignmentError saying where it is wrong."""
    try:
        return model.model_validate(table, context=context)
    except ValidationError as error:
        raise AssignmentError(f"{path} is invalid:\n{error}") from None


def load_assignment(folder: Path) -> Assignment:
    path = folder / MANIFEST
    manifest = validated(Manifest, read_toml(path), path)
    import_paths: tuple[Path, ...] = ()
    if manifest.import_path:
        root = (folder / manifest.import_path).resolve()
        if root == folder.resolve() or folder.resolve() in root.parents:
            raise AssignmentError(f"{path}: import_path must lie outside the assignment folder (it is hidden "
                                  f"from student code, and the parts' probes run beside it)")
        import_paths = (root,)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
    try:
        package = importlib.import_module(manifest.parts)
        parts = tuple(package.ALL_PARTS)
    except (ImportError, AttributeError) as error:
        raise AssignmentError(f"{path}: parts package {manifest.parts!r} cannot be used: {error}") from None
    if not parts or not all(isinstance(part, Part) for part in parts):
        raise AssignmentError(f"{path}: {manifest.parts}.ALL_PARTS must list Part records")
    ids = [part.id for part in parts]
    if len(ids) != len(set(ids)):
        raise AssignmentError(f"{path}: part ids repeat: {ids}")
    if bool(manifest.reference) == bool(manifest.expectations):
        raise AssignmentError(f"{path}: name either a reference solution or (a student kit) recorded expectations")
    reference = (folder / manifest.reference).resolve() if manifest.reference else None
    if reference is not None and not reference.is_file():
        raise AssignmentError(f"{path}: reference {reference} is not a file")
    expectations = (folder / manifest.expectations).resolve() if manifest.expectations else None
    if expectations is not None and not expectations.is_file():
        raise AssignmentError(f"{path}: expectations {expectations} is not a file")
    handout = (folder / manifest.handout).resolve() if manifest.handout else None
    package_dir = Path(package.__file__ or "").parent
    sources = tuple(sorted(package_dir.rglob("*.py"))) if package.__file__ else ()
    return Assignment(folder.resolve(), manifest.title, manifest.title_zh, parts, reference, handout, import_paths,
                      sources, expectations)
