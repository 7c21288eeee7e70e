"""`grade feedback --out DIR`: pages to hand back to students, from a run's results (no re-run).

The instructor's pages show hidden cases (inputs and expected values), which are reused across terms, and
the integrity notes, which are for the instructor; neither may reach a student. A feedback page is the
student page with every hidden check reduced to its score and a fixed sentence, no expected/got, table or
plot from it; no integrity notes; written parts still pending review shown as pending (a suggestion is not
a grade) and reviewed ones with their confirmed score and the reviewer's comment. Students who came from an
LMS download also get the file named the way that LMS's feedback upload expects, zipped per LMS.
"""

from __future__ import annotations

import copy
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.i18n import Translator
from grader.report import _environment, _student_page
from grader.report.plotcache import PlotCache
from grader.results import current_schema, safe_file_name


@dataclass
class FeedbackRun:
    pages: dict[str, Path] = field(default_factory=dict)  # student -> page
    uploads: dict[str, Path] = field(default_factory=dict)  # LMS -> zip of files named for its upload
    skipped: list[str] = field(default_factory=list)  # results files that could not be read


def for_student(result: dict[str, Any], t: Translator) -> dict[str, Any]:
    """The result as a student may see it (a copy; the instructor's stays as it is)."""
    shown = copy.deepcopy(result)
    shown["integrity"] = []
    shown["flags"] = [f for f in shown.get("flags", []) if f.get("code") != "integrity_notes"]
    pending = []
    for part in shown["parts"]:
        for check in part["checks"]:
            if check.get("hidden"):
                check.update(message=t("feedback.hidden"), message_i18n=None, expected=None, got=None, plot=None,
                             shows=None)
        if part.get("needs_review"):
            pending.append(part["id"])
            part["score"] = 0.0
            for check in part["checks"]:  # the rubric's suggestion is not a grade: shown as pending, unscored
                check.update(score=0.0, passed=False, message=t("feedback.pending"), message_i18n=None)
                if check.get("shows") == "rubric" and isinstance(check.get("got"), dict):
                    check["got"] = {**check["got"], "found": [], "missed": []}
    shown["score"] = round(sum(part["score"] for part in shown["parts"]), 2)
    shown["feedback_pending"] = pending
    return shown


def upload_name(result: dict[str, Any]) -> tuple[str, str] | None:
    """(LMS, file name in its feedback upload) for a student taken in from an LMS download."""
    lms = result.get("lms") or {}
    name, sid = str(lms.get("name", "student")), str(lms.get("id", ""))
    if lms.get("lms") == "canvas" and sid:
        return "canvas", f"{safe_file_name(name)}_{sid}_0_feedback.html"  # Canvas matches the user id
    if lms.get("lms") == "moodle" and sid:
        return "moodle", f"{name}_{sid}_assignsubmission_file_/feedback.html"  # Moodle's participant folders
    return None


def main(*, results: Path, out: Path, lang: str = "en") -> FeedbackRun:
    """One page per student in `out/`, and `out/feedback-<lms>.zip` where students came from an LMS."""
    t, environment = Translator(lang), _environment()
    plots = PlotCache(results / "cache" / "plots")  # what `grade` drew for the same results: drawn once
    run = FeedbackRun()
    out.mkdir(parents=True, exist_ok=True)
    uploads: dict[str, list[tuple[str, str]]] = {}
    for path in sorted((results / "results").glob("*.json")) if (results / "results").is_dir() else []:
        try:
            result = current_schema(json.loads(path.read_text(encoding="utf-8")))
            html = _student_page(for_student(result, t), t, environment, feedback=True, cache=plots)
        except (OSError, ValueError, KeyError, TypeError) as error:
            run.skipped.append(f"{path.name}: {type(error).__name__}: {error}"[:300])
            continue
        page = out / f"{safe_file_name(result['student'])}.html"
        page.write_text(html, encoding="utf-8")
        run.pages[result["student"]] = page
        named = upload_name(result)
        if named:
            uploads.setdefault(named[0], []).append((named[1], html))
    for lms, files in uploads.items():
        target = out / f"feedback-{lms}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, html in files:
                archive.writestr(name, html)
        run.uploads[lms] = target
    if not run.pages and not run.skipped:
        raise ValueError(f"no results in {results / 'results'} (run `grade` first, with the same --out)")
    return run
