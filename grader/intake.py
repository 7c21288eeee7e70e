"""A class straight from the LMS: the archives instructors download, unpacked safely, one folder per student.

Layouts recognised (by their names, never by trusting sizes or paths inside the archive):

* Canvas "Download Submissions": ``lastfirst[_LATE]_<user id>_<attempt id>_<file name>`` (several files per
  student; only the newest attempt is kept). The student is the Canvas user id, so ``lms-canvas.csv`` fills
  Canvas's ``ID`` column and round-trips.
* Moodle "Download all submissions": ``Full Name_<participant id>_assignsubmission_file_/<files>`` (folders,
  or the same prefix on flat file names).
* Gradescope "Export Submissions": ``submission_metadata.yml`` beside ``submission_<id>/`` folders; the
  student is the submitter's SID (or email, or the submission id).

Unpacking refuses absolute names, ``..``, drive letters and links, stops past ``MAX_MEMBERS`` entries, a file
past ``MAX_FILE_BYTES`` or ``MAX_RATIO`` times its compressed size, or ``MAX_TOTAL_BYTES`` in all, counting the
bytes actually read rather than the sizes the archive claims.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

import yaml

MAX_MEMBERS = 20_000
MAX_FILE_BYTES = 200 << 20
MAX_TOTAL_BYTES = 2 << 30
MAX_RATIO = 200  # uncompressed / compressed, per file: beyond it, a zip bomb
INTAKE_FILE = "intake.json"

_CANVAS = re.compile(r"^(?P<name>[^_/]+?)(?P<late>_LATE)?_(?P<id>\d+)_(?P<attempt>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>[^/]+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_(?:/(?P<rest>.+)|(?P<flat>[^/]+))?$")
_GRADESCOPE = re.compile(r"^(?:[^/]+/)?submission_(?P<id>\d+)/(?P<rest>.+)$")


class IntakeError(ValueError):
    """The archive cannot be taken in; the message says why in one line."""


@dataclass
class LmsStudent:
    id: str  # the LMS's: Canvas user id, Moodle participant id, Gradescope SID
    name: str
    lms: str  # "canvas", "moodle" or "gradescope"
    late: bool = False
    files: list[str] = field(default_factory=list)  # as named in the student's folder


@dataclass
class Intake:
    folder: Path  # one sub-folder per student
    lms: str
    students: dict[str, LmsStudent]  # by the student's folder name (the grader's student id)
    skipped: list[str] = field(default_factory=list)  # entries not taken, with the reason


def is_archive(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".zip"


def _safe_name(name: str) -> Optional[PurePosixPath]:
    """The entry's path, or None where it would leave the folder it is unpacked into."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        return None
    return path


def _student_part(text: str) -> str:
    """A folder name from a student id: letters, digits, '-', '_', '.' only."""
    cleaned = re.sub(r"[^\w.-]", "_", text).strip("._") or "student"
    return cleaned[:100]


def take_in(archive: Path, into: Path) -> Intake:
    """Unpack an LMS download into `into/<student id>/`; IntakeError if it is none of the known layouts."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            entries = zipped.infolist()
            if len(entries) > MAX_MEMBERS:
                raise IntakeError(f"{archive.name} has {len(entries)} entries (at most {MAX_MEMBERS} are taken in)")
            names = [e.filename.replace("\\", "/") for e in entries]
            if any(PurePosixPath(n).name == "submission_metadata.yml" for n in names):
                return _gradescope(zipped, entries, archive, into)
            if any(_MOODLE.match(n) for n in names):
                return _unpack(zipped, entries, archive, into, "moodle", _moodle_entry)
            if any(_CANVAS.match(n) for n in names if "/" not in n):
                return _unpack(zipped, entries, archive, into, "canvas", _canvas_entry)
    except zipfile.BadZipFile as error:
        raise IntakeError(f"{archive.name} is not a submission: not a readable zip archive ({error})") from None
    raise IntakeError(f"{archive.name} is not a submission: not a Canvas, Moodle or Gradescope download "
                      "(see docs: grading a class from the LMS)")


def _canvas_entry(name: str) -> Optional[tuple[LmsStudent, str, int]]:
    match = _CANVAS.match(name) if "/" not in name else None
    if not match:
        return None
    student = LmsStudent(match["id"], match["name"], "canvas", late=bool(match["late"]))
    return student, match["file"], int(match["attempt"])


def _moodle_entry(name: str) -> Optional[tuple[LmsStudent, str, int]]:
    match = _MOODLE.match(name)
    if not match or not (match["rest"] or match["flat"]):
        return None
    return LmsStudent(match["id"], match["name"], "moodle"), match["rest"] or match["flat"], 0


def _unpack(zipped: zipfile.ZipFile, entries: list[zipfile.ZipInfo], archive: Path, into: Path, lms: str,
            classify: Callable[[str], Optional[tuple[LmsStudent, str, int]]]) -> Intake:
    intake = Intake(into, lms, {})
    chosen: dict[str, tuple[int, list[tuple[zipfile.ZipInfo, str]]]] = {}
    for entry in entries:
        if entry.is_dir():
            continue
        path = _safe_name(entry.filename)
        if path is None:
            intake.skipped.append(f"{entry.filename}: outside the archive's folder")
            continue
        found = classify(str(path))
        if found is None:
            intake.skipped.append(f"{entry.filename}: not a {lms} submission file")
            continue
        student, inner, attempt = found
        known = intake.students.setdefault(student.id, student)
        known.late = known.late or student.late
        newest, files = chosen.get(student.id, (attempt, []))
        if attempt > newest:  # a newer attempt replaces what the older ones handed in
            newest, files = attempt, []
        if attempt == newest:
            files.append((entry, inner))
        chosen[student.id] = (newest, files)
    return _extract(zipped, intake, {sid: files for sid, (_, files) in chosen.items()}, archive)


def _gradescope(zipped: zipfile.ZipFile, entries: list[zipfile.ZipInfo], archive: Path, into: Path) -> Intake:
    metadata_entry = next(e for e in entries if PurePosixPath(e.filename.replace("\\", "/")).name
                          == "submission_metadata.yml")
    if metadata_entry.file_size > 16 << 20:
        raise IntakeError(f"{archive.name}: submission_metadata.yml is too large")
    try:
        metadata = yaml.safe_load(zipped.read(metadata_entry)) or {}
    except yaml.YAMLError as error:
        raise IntakeError(f"{archive.name}: submission_metadata.yml is not valid YAML ({error})") from None
    if not isinstance(metadata, dict):
        raise IntakeError(f"{archive.name}: submission_metadata.yml is not a mapping")
    people: dict[str, LmsStudent] = {}
    for key, record in metadata.items():
        number = re.sub(r"\D", "", str(key))
        submitters = (record or {}).get(":submitters") or (record or {}).get("submitters") or [{}]
        first = submitters[0] if isinstance(submitters, list) and submitters and isinstance(submitters[0], dict) else {}
        sid = str(first.get(":sid") or first.get("sid") or first.get(":email") or first.get("email") or number)
        name = str(first.get(":name") or first.get("name") or sid)
        people[number] = LmsStudent(sid, name, "gradescope")
    intake = Intake(into, "gradescope", {})
    files: dict[str, list[tuple[zipfile.ZipInfo, str]]] = {}
    for entry in entries:
        if entry.is_dir() or entry is metadata_entry:
            continue
        path = _safe_name(entry.filename)
        match = _GRADESCOPE.match(str(path)) if path is not None else None
        if match is None or match["id"] not in people:
            intake.skipped.append(f"{entry.filename}: not in a listed submission folder")
            continue
        student = people[match["id"]]
        intake.students.setdefault(student.id, student)
        files.setdefault(student.id, []).append((entry, match["rest"]))
    return _extract(zipped, intake, files, archive)


def _extract(zipped: zipfile.ZipFile, intake: Intake, files: dict[str, list[tuple[zipfile.ZipInfo, str]]],
             archive: Path) -> Intake:
    if intake.folder.exists():
        shutil.rmtree(intake.folder)  # a previous intake of this output folder: replaced, never merged
    intake.folder.mkdir(parents=True)
    total = 0
    by_folder: dict[str, LmsStudent] = {}
    for sid, members in files.items():
        student = intake.students[sid]
        folder = intake.folder / _student_part(sid)
        by_folder[folder.name] = student
        for entry, inner in members:
            if stat.S_ISLNK(entry.external_attr >> 16):
                intake.skipped.append(f"{entry.filename}: a link, not followed")
                continue
            relative = _safe_name(inner)
            if relative is None:
                intake.skipped.append(f"{entry.filename}: outside the student's folder")
                continue
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            limit = min(MAX_FILE_BYTES, max(entry.compress_size, 1) * MAX_RATIO)
            written = 0
            with zipped.open(entry) as source, open(target, "wb") as sink:
                while block := source.read(1 << 16):
                    written += len(block)
                    total += len(block)
                    if written > limit:
                        raise IntakeError(f"{archive.name}: {entry.filename} unpacks past {limit} bytes "
                                          "(a zip bomb, or a file too large to be a submission)")
                    if total > MAX_TOTAL_BYTES:
                        raise IntakeError(f"{archive.name} unpacks past {MAX_TOTAL_BYTES} bytes in all")
                    sink.write(block)
            student.files.append(str(relative))
    intake.students = by_folder
    (intake.folder / INTAKE_FILE).write_text(json.dumps(
        {"lms": intake.lms, "archive": archive.name, "students": {s: asdict(v) for s, v in intake.students.items()},
         "skipped": intake.skipped}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return intake
