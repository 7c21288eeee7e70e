"""Find the submissions in the paths given to ``grade``; each becomes a Submission or a clear error."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_NAMES = {"README.md", "readme.md", ".DS_Store", "__pycache__", ".ipynb_checkpoints", ".git"}
CODE_SUFFIXES = {".ipynb", ".py"}


@dataclass(frozen=True)
class Submission:
    student: str
    root: Path  # the student's folder, or the single file
    kind: str  # "notebook", "modules" or "invalid"
    notebook: Path | None = None
    modules: tuple[Path, ...] = ()
    answers_file: Path | None = None
    problem: str | None = None  # why it cannot be graded, for "invalid"
    files: tuple[Path, ...] = field(default=())
    links: tuple[tuple[str, str], ...] = ()  # (name in the submission, where it points): never followed

    def content_hash(self) -> str:
        """Hash of every file that makes up the submission (names and bytes)."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(str(path.relative_to(self.root if self.root.is_dir() else self.root.parent)).encode())
            try:
                with open(path, "rb") as handle:  # in blocks: a 10 GB file must not be read into memory
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            except OSError:
                digest.update(b"<unreadable>")
        return digest.hexdigest()


def _student_files(folder: Path) -> list[Path]:
    # rglob does not descend into linked folders; linked files are left out here and listed by _links
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and not set(p.parts) & IGNORED_NAMES)


def _links(folder: Path) -> tuple[tuple[str, str], ...]:
    """Symbolic links in a submission. The grader reads files as root: following `homework.ipynb ->
    ../../reference/solution.ipynb` would grade the reference, and `answers.md -> /etc/shadow` would print it."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not set(path.parts) & IGNORED_NAMES:
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            found.append((str(path.relative_to(folder)), target))
    return tuple(found)


def _link_problem(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return f"{path.name} is a symbolic link (to {target}); the grader does not follow links: submit the file itself"


def from_folder(folder: Path, student: str | None = None) -> Submission:
    student = student or folder.name
    files = _student_files(folder)
    top = [p for p in files if p.parent == folder]
    notebooks = [p for p in top if p.suffix == ".ipynb"]
    modules = tuple(p for p in top if p.suffix == ".py")
    answers = next((p for p in top if p.name.lower() == "answers.md"), None)
    common = {"student": student, "root": folder, "files": tuple(files), "links": _links(folder)}
    if len(notebooks) > 1:
        names = ", ".join(p.name for p in notebooks)
        return Submission(kind="invalid", problem=f"more than one notebook ({names}): keep exactly one", **common)
    if notebooks and modules:
        return Submission(kind="invalid", problem="both a notebook and .py modules: submit one or the other",
                          **common)
    if notebooks:
        return Submission(kind="notebook", notebook=notebooks[0], answers_file=answers, **common)
    if modules:
        return Submission(kind="modules", modules=modules, answers_file=answers, **common)
    linked = [name for name, _ in common["links"] if Path(name).suffix in CODE_SUFFIXES and "/" not in name]
    if linked:
        return Submission(kind="invalid", problem=_link_problem(folder / linked[0]), **common)
    return Submission(kind="invalid", problem="no code found: expected one .ipynb notebook or .py modules", **common)


def from_file(path: Path) -> Submission:
    if path.is_symlink():
        return Submission(path.stem, path, "invalid", problem=_link_problem(path))
    common = {"student": path.stem, "root": path, "files": (path,)}
    if path.suffix == ".ipynb":
        return Submission(kind="notebook", notebook=path, **common)
    return Submission(kind="modules", modules=(path,), **common)


def looks_like_one_submission(folder: Path) -> bool:
    """One student's folder: code at the top, at most one notebook, no sub-folder holding code.

    A folder of several notebooks is a class of single-file students; several .py files are one
    student's modules (the common case), so a class of single .py files needs one folder per student.
    """
    entries = [p for p in folder.iterdir() if p.name not in IGNORED_NAMES]
    top_code = [p for p in entries if (p.is_file() or p.is_symlink()) and p.suffix in CODE_SUFFIXES]
    notebooks = [p for p in top_code if p.suffix == ".ipynb"]
    sub_code = any(q.suffix in CODE_SUFFIXES for d in entries if d.is_dir() for q in d.rglob("*"))
    return bool(top_code) and len(notebooks) <= 1 and not sub_code


def discover(paths: list[Path]) -> list[Submission]:
    """A class folder gives one submission per entry; a student folder or file gives one."""
    found: list[Submission] = []
    for path in paths:
        path = path.resolve() if path.is_symlink() else path  # the instructor's own link: followed
        if path.is_file():
            found.append(from_file(path) if path.suffix in CODE_SUFFIXES else
                         Submission(path.stem, path, "invalid", problem=f"{path.name} is not a .ipynb or .py file",
                                    files=(path,)))
        elif path.is_dir() and looks_like_one_submission(path):
            found.append(from_folder(path))
        elif path.is_dir():
            for entry in sorted(path.iterdir()):
                if entry.name in IGNORED_NAMES or entry.name.startswith("."):
                    continue
                if entry.is_symlink():  # a class folder's entries are the students': never followed
                    found.append(Submission(entry.stem if entry.suffix in CODE_SUFFIXES else entry.name, entry,
                                            "invalid", problem=_link_problem(entry)))
                elif entry.is_dir():
                    found.append(from_folder(entry))
                elif entry.suffix in CODE_SUFFIXES:
                    found.append(from_file(entry))
        else:
            found.append(Submission(path.name or str(path), path, "invalid", problem=f"{path} does not exist"))
    seen: dict[str, int] = {}
    unique = []
    for submission in found:  # two entries with one id (alice.ipynb and alice/) must not overwrite each other
        count = seen.get(submission.student, 0)
        seen[submission.student] = count + 1
        if count:
            submission = Submission(**{**submission.__dict__, "student": f"{submission.student}-{count + 1}"})
        unique.append(submission)
    return unique
