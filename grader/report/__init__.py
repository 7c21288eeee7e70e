"""HTML reports: index.html (the class) and students/<student>.html, rendered from results JSON.

Rendering reads only the results (dicts as in docs/results-schema.md), so a re-render after a review never
needs the submissions. Templates are autoescaped: whatever a student printed appears as text.
"""

from __future__ import annotations

import functools
import multiprocessing
import re
import statistics
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from grader.report import plots
from grader.report.plotcache import PlotCache
from grader.i18n import Translator
from grader.messages import render
from grader.results import flag_text, safe_file_name, upgrade_from_1

_SITE_FRAMES = re.compile(r"site-packages|/lib/python3\.\d+/|/grader/sandbox/")
MAX_FAILURES = 12


def _environment() -> Environment:
    environment = Environment(loader=PackageLoader("grader.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters["num"] = lambda value: f"{value:g}" if isinstance(value, (int, float)) else value
    return environment


def _klass(score: float, maximum: float) -> str:
    if not maximum:  # nothing of it counted in this run (a public-only run's written parts): no colour
        return ""
    return "full" if score >= maximum else "partial" if score > 0 else "zero"


def _title(part: dict[str, Any], lang: str) -> str:
    titles = part.get("titles") or {}
    return titles.get(lang) or titles.get("en") or part["id"]


# How each flag looks as a badge: kind (colour) and a symbol, so colour is never the only signal.
_BADGE_LOOK = {"timeout": ("bad", "⏱ "), "crashed": ("bad", "✗ "), "memory_limit": ("bad", "✗ "),
               "process_limit": ("bad", "✗ "), "cells_failed": ("warn", "! "), "integrity_notes": ("warn", "⚑ ")}


def badges(result: dict[str, Any], t: Translator) -> list[dict[str, str]]:
    """Status badges: text and a symbol as well as a colour, never colour alone."""
    found = []
    if result["status"] == "error":
        found.append({"kind": "bad", "text": "✗ " + t("badge.error")})
    for flag in result.get("flags", []):
        kind, symbol = _BADGE_LOOK.get(flag.get("code"), ("info", ""))
        found.append({"kind": kind, "text": symbol + flag_text(flag, t.lang)})
    if any(p["needs_review"] for p in result["parts"]):
        found.append({"kind": "warn", "text": "✎ " + t("badge.needs_review")})
    lms = result.get("lms") or {}
    if lms.get("late"):  # the LMS download marked the submission late
        found.append({"kind": "warn", "text": "⏰ " + t("badge.late", lms=lms.get("lms", ""))})
    if lms.get("name"):
        found.append({"kind": "info", "text": t("badge.lms_name", name=lms["name"], lms=lms.get("lms", ""))})
    return found


def trim_traceback(lines: list[str]) -> str:
    """The student's own frames: library and grader frames only bury the line that matters."""
    kept = [line for line in lines if not _SITE_FRAMES.search(line.split("\n", 1)[0])]
    return "\n".join(kept or lines[-2:])


NO_CACHE = PlotCache(None)


def _plot(check: dict[str, Any], part_id: str, t: Translator, cache: PlotCache = NO_CACHE) -> str | None:
    plot = check.get("plot")
    if not plot or not any(plot.get("series", {}).values()):
        return None
    title = t(plot["title"]) if plot.get("title") in t.strings else ""  # the part names its plot
    drawn = {"series": plot["series"], "title": title, "x_label": t("plot.epoch"), "y_label": t("plot.loss"),
             "threshold": plot.get("threshold"), "threshold_label": t("plot.threshold"),
             "log_y": bool(plot.get("log_y"))}
    return cache.svg(drawn, lambda: plots.loss_curve(**drawn))


def draw_plots(result: dict[str, Any], lang: str, cache: PlotCache) -> None:
    """Draw a student's plots into `cache` now, so that writing the page later draws nothing."""
    t, _ = _renderer(lang)
    for part in result["parts"]:
        for check in part["checks"]:
            _plot(check, part["id"], t, cache)


def _message(check: dict[str, Any], lang: str) -> str:
    """The check's message in ``lang``; results from before messages had keys keep their English."""
    return render(check["message_i18n"], lang) if check.get("message_i18n") else check["message"]


def _check_view(check: dict[str, Any], part_id: str, t: Translator, cache: PlotCache) -> dict[str, Any]:
    fraction = check["score"] / check["max_score"] if check["max_score"] else 1.0
    state = "pass" if check["passed"] else "partial" if fraction > 0 else "fail"
    got = check.get("got")
    rubric = got if check.get("shows") == "rubric" and isinstance(got, dict) else None
    table = got if check.get("shows") == "table" and isinstance(got, list) and got and isinstance(got[0], dict) else None
    return {**check, "message": _message(check, t.lang),
            "klass": {"pass": "full", "partial": "partial", "fail": "zero"}[state],
            "mark": {"pass": "✓", "partial": "◐", "fail": "✗"}[state], "word": t(f"check.{state}"),
            "rubric": rubric, "table": table, "svg": _plot(check, part_id, t, cache)}


def _student_page(result: dict[str, Any], t: Translator, environment: Environment, feedback: bool = False,
                  cache: PlotCache = NO_CACHE) -> str:
    """The student's page; `feedback`: the version handed back (grader/feedback prepares the result)."""
    parts = [{**part, "title": _title(part, t.lang), "klass": _klass(part["score"], part["max_score"]),
              "checks": [_check_view(c, part["id"], t, cache) for c in part["checks"]]} for part in result["parts"]]
    cells = [{**cell, "status_text": t(f"cell.{cell.get('status', 'ok')}"),
              "traceback": trim_traceback(cell.get("traceback") or [])} for cell in result.get("cells", [])]
    findings = [{**finding, "category_text": t(f"integrity.{finding['category']}"),
                 "source_text": t(f"integrity.{finding['source']}"),
                 "where_text": t("integrity.running") if finding["source"] == "sandbox" else finding["where"]}
                for finding in result.get("integrity", [])]
    return environment.get_template("student.html.j2").render(
        t=t, result=result, parts=parts, cells=cells, badges=badges(result, t), findings=findings, feedback=feedback,
        error_text=render(result["error_i18n"], t.lang) if result.get("error_i18n") else result.get("error"))


def _common_failures(results: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Group failed checks by part and message (numbers masked), largest groups first.

    One cause often fails several checks of a part with the same message: those are one row."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        for part in result["parts"]:
            for check in part["checks"]:
                if check["passed"] or check.get("shows") == "rubric":
                    continue  # rubric suggestions are the reviewer's business, not failures
                shape = re.sub(r"-?\d+(\.\d+)?", "#", check["message"])
                group = groups.setdefault((part["id"], shape), {
                    "part": f"{part['id']} {_title(part, lang)}", "checks": [], "message": _message(check, lang),
                    "students": []})
                if check["id"] not in group["checks"]:
                    group["checks"].append(check["id"])
                if result["student"] not in group["students"]:
                    group["students"].append(result["student"])
    ranked = sorted(groups.values(), key=lambda g: (-len(g["students"]), g["part"]))
    return [{**g, "count": len(g["students"]), "check": ", ".join(g["checks"])} for g in ranked[:MAX_FAILURES]]


def _part_rates(results: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    by_part: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order: list[str] = []
    for result in results:
        for part in result["parts"]:
            if part["id"] not in by_part:
                order.append(part["id"])
            by_part[part["id"]].append(part)
    rates = []
    for part_id in order:
        entries = by_part[part_id]
        full = sum(1 for p in entries if p["score"] >= p["max_score"])
        rates.append({"id": part_id, "title": _title(entries[0], lang), "max": f"{entries[0]['max_score']:g}",
                      "mean": f"{statistics.fmean(p['score'] for p in entries):.1f}", "full": full,
                      "rate": round(100 * full / len(results)) if results else 0})
    return rates


def _integrity_rows(results: list[dict[str, Any]], t: Translator) -> list[dict[str, Any]]:
    """Students with integrity notes, most notes first, with the kinds of thing their code tried."""
    rows = []
    for result in results:
        notes = result.get("integrity") or []
        if notes:
            kinds = sorted({note["category"] for note in notes})
            rows.append({"student": result["student"], "file": safe_file_name(result["student"]), "count": len(notes),
                         "kinds": ", ".join(t(f"integrity.{kind}") for kind in kinds)})
    return sorted(rows, key=lambda row: (-row["count"], row["student"]))


PARALLEL_FROM = 16  # students; below this, starting worker processes costs more than it saves


@functools.lru_cache(maxsize=2)
def _renderer(lang: str) -> tuple[Translator, Environment]:
    return Translator(lang), _environment()


def _render_page(result: dict[str, Any], lang: str, cache: PlotCache = NO_CACHE) -> str:
    t, environment = _renderer(lang)
    return _student_page(result, t, environment, cache=cache)


def student_pages(results: list[dict[str, Any]], lang: str, jobs: int = 1, cache: PlotCache = NO_CACHE) -> list[str]:
    """Each student's page, in order. A page whose plots are not in `cache` yet costs ~0.2 s of matplotlib, so
    a large class's pages are rendered by `jobs` forked processes; the same HTML either way. Fork, not spawn or forkserver: those run the
    caller's main script again in every worker, and a script that calls `grade` without a main guard would
    grade the class again there. By now grading is over and this process runs no threads of its own."""
    if jobs > 1 and len(results) >= PARALLEL_FROM and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        try:
            with ProcessPoolExecutor(max_workers=min(jobs, len(results)), mp_context=context) as pool:
                return list(pool.map(_render_page, results, [lang] * len(results), [cache] * len(results),
                                     chunksize=2))
        except (OSError, BrokenProcessPool):  # no processes to be had: the same pages, one after the other
            pass
    return [_render_page(result, lang, cache) for result in results]


def render_reports(results: list[dict[str, Any]], out: Path, *, lang: str, meta: dict[str, Any],
                   jobs: int = 1, cache: PlotCache = NO_CACHE) -> Path:
    """Write index.html and students/*.html under ``out``; returns the index's path. Results of schema 1
    (flags and titles in English) are read too. `jobs`: processes for the student pages; `cache`: plots
    already drawn (grader.report.plotcache)."""
    results = [upgrade_from_1(r) if r.get("schema") == 1 else r for r in results]
    t, environment = _renderer(lang)
    students_dir = out / "students"
    students_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    part_ids = [p["id"] for p in results[0]["parts"]] if results else []
    for result, page in zip(results, student_pages(results, lang, jobs, cache)):
        file = safe_file_name(result["student"])
        (students_dir / f"{file}.html").write_text(page, encoding="utf-8")
        scores = {p["id"]: p for p in result["parts"]}
        rows.append({"student": result["student"], "file": file, "score": result["score"],
                     "max": result["max_score"], "badges": badges(result, t),
                     "parts": [{"score": scores[p]["score"] if p in scores else None,
                                "review": scores[p]["needs_review"] if p in scores else False,
                                "klass": _klass(scores[p]["score"], scores[p]["max_score"]) if p in scores else ""}
                               for p in part_ids]})
    totals = [r["score"] for r in results]
    stats = {"count": len(results), "mean": f"{statistics.fmean(totals):.1f}" if totals else "–",
             "median": f"{statistics.median(totals):g}" if totals else "–",
             "errors": sum(1 for r in results if r["status"] == "error"),
             "to_review": sum(1 for r in results for p in r["parts"] if p["needs_review"])}
    maximum = max((r["max_score"] for r in results), default=100) or 100
    histogram = plots.histogram(totals, maximum=maximum, title=t("plot.scores"), x_label=t("plot.score"),
                                y_label=t("plot.count"))
    index = out / "index.html"
    index.write_text(environment.get_template("index.html.j2").render(
        t=t, meta=meta, stats=stats, rows=rows, histogram=histogram, part_rates=_part_rates(results, lang),
        failures=_common_failures(results, lang), integrity=_integrity_rows(results, t)), encoding="utf-8")
    return index
