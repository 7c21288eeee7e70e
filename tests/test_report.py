"""Reports, catalogues, the review round trip, the cache, the gradebook and the exports."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from conftest import EXAMPLES
from grader.grade import main as grade
from grader.gradebook import history
from grader.report import render_reports
from grader.results import safe_file_name
from grader.i18n import CATALOG_DIR, LANGUAGES, catalog

REPORT_DIR = Path(__file__).resolve().parents[1] / "grader" / "report"


def test_catalogues_have_the_same_keys_and_cover_every_key_used():
    keys = {lang: set(catalog(lang)) for lang in LANGUAGES}
    assert keys["en"] == keys["zh"], keys["en"] ^ keys["zh"]
    sources = [p.read_text(encoding="utf-8") for p in (REPORT_DIR / "templates").glob("*.j2")]
    sources += [p.read_text(encoding="utf-8") for p in REPORT_DIR.glob("*.py")]
    used = {m for text in sources for m in re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_0-9]+)["']""", text)}
    used |= {f"{prefix}.{name}" for prefix, names in
             {"check": ("pass", "partial", "fail"), "cell": ("ok", "error", "timeout", "dead")}.items()
             for name in names}  # built from a variable in the code
    assert used, "no keys found: the pattern is wrong"
    assert used <= keys["en"], used - keys["en"]
    assert all(catalog(lang)[key].strip() for lang in LANGUAGES for key in keys[lang] if key != "msg.empty")
    assert (CATALOG_DIR / "zh.toml").read_text(encoding="utf-8") != (CATALOG_DIR / "en.toml").read_text(encoding="utf-8")


def _hostile_result() -> dict:
    """A result as schema 1 wrote it (flags and titles in English): old results folders still render."""
    check = {"id": "fixed_example", "passed": False, "score": 0, "max_score": 3,
             "message": "y has shape (2,), expected (3, 2) <script>alert(1)</script>", "expected": [[1, 2]],
             "got": [[3, 4]], "hidden": False, "plot": None}
    written = {"id": "answer", "passed": False, "score": 1, "max_score": 5, "message": "suggested",
               "expected": None, "got": {"found": ["order"], "missed": ["attention"],
                                         "answer": "</textarea><script>alert(2)</script>"},
               "hidden": False, "plot": None}
    return {"schema": 1, "student": "<b>mallory</b>", "score": 1, "max_score": 8, "status": "graded",
            "flags": ["1 cell(s) failed", "2 integrity note(s)"], "error": None, "elapsed_s": 1, "device": "cpu", "grader_version": "x",
            "submission_hash": "", "timings": {}, "answers": {}, "from_cache": False,
            "integrity": [{"category": "files", "detail": "open('/proc/1/environ') <script>alert(4)</script>",
                           "where": "cell 1, line 2", "source": "code"},
                          {"category": "network", "detail": "socket.connect ('1.1.1.1', 80)", "where": "while running",
                           "source": "sandbox"}],
            "cells": [{"index": 0, "status": "error", "seconds": 0.1, "source": "print('<script>x</script>')",
                       "output": "<script>alert(3)</script>", "ename": "ValueError", "evalue": "bad",
                       "traceback": ["File /usr/lib/python3.11/site-packages/torch/x.py:1", "Cell In[1], line 1"],
                       "dropped_output_bytes": 0}],
            "parts": [{"id": "1.1", "title": "SRN", "title_zh": "SRN", "score": 0, "max_score": 3,
                       "needs_review": False, "checks": [check], "seconds": 0, "reviewed": False,
                       "suggested_score": None, "review_comment": ""},
                      {"id": "5", "title": "Seq", "title_zh": "序列", "score": 1, "max_score": 5,
                       "needs_review": True, "checks": [written], "seconds": 0, "reviewed": False,
                       "suggested_score": None, "review_comment": ""}]}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_student_output_is_escaped_and_pages_render_in_both_languages(tmp_path, lang):
    meta = {"date": "today", "version": "x", "device": "cpu", "seconds": "1", "jobs": 1, "sandbox": ["s"]}
    index = render_reports([_hostile_result()], tmp_path, lang=lang, meta=meta)
    page = (tmp_path / "students" / f"{safe_file_name('<b>mallory</b>')}.html").read_text(encoding="utf-8")
    html = index.read_text(encoding="utf-8") + page
    assert "<script>alert" not in html and "</textarea><script>" not in html
    assert "&lt;script&gt;alert(1)" in html and "&lt;/textarea&gt;" in html and "&lt;b&gt;mallory" in html
    assert catalog(lang)["index.title"] in html and catalog(lang)["student.points_missed"] in page
    assert "site-packages" not in page.split("Cell In[1]")[0].rsplit("<pre>", 1)[-1]  # library frames trimmed
    assert "<svg" in html  # the histogram
    assert catalog(lang)["integrity.title"] in page and catalog(lang)["integrity.network"] in page
    assert catalog(lang)["integrity.sandbox"] in page and "cell 1, line 2" in page
    assert "⚑ " + catalog(lang)["flag.integrity_notes"].format(count=2) in html  # schema 1's English flag, read
    overview = index.read_text(encoding="utf-8")  # the class overview lists who has notes, linked to them
    assert f'<h2 id="integrity">⚑ {catalog(lang)["index.integrity"]}</h2>' in overview
    assert f'href="students/{safe_file_name("<b>mallory</b>")}.html#integrity"' in overview


@pytest.mark.slow
def test_review_round_trip_keeps_everything_the_instructor_wrote(tmp_path):
    out = tmp_path / "out"
    first = grade(paths=[EXAMPLES / "heidi", EXAMPLES / "bob"], out=out, jobs=2, only=["5", "6"], quiet=True)
    rows = list(csv.DictReader((out / "review.csv").open(encoding="utf-8")))
    assert [(r["student"], r["part"]) for r in rows] == [("bob", "5"), ("bob", "6"), ("heidi", "5"), ("heidi", "6")]
    assert all(r["score"] == "" for r in rows)
    heidi_before = next(r for r in first.results if r.student == "heidi").score
    for row in rows:
        if (row["student"], row["part"]) == ("heidi", "6"):
            row["score"], row["comment"] = "2", "Short, but honest: 2 points. <em>Write more</em>"
        if (row["student"], row["part"]) == ("bob", "5"):
            row["comment"] = "Good use of the attention example."
    rows.append({"student": "zoe", "part": "5", "suggested": "3", "max": "5", "score": "4", "comment": "late"})
    with (out / "review.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    second = grade(paths=[EXAMPLES / "heidi", EXAMPLES / "bob"], out=out, jobs=2, only=["5", "6"], quiet=True)
    assert all(r.from_cache for r in second.results)  # nothing was executed again to apply the reviews
    heidi = next(r for r in second.results if r.student == "heidi")
    part6 = next(p for p in heidi.parts if p.id == "6")
    assert part6.score == 2 and part6.reviewed and not part6.needs_review and part6.suggested_score == 0
    assert heidi.score == heidi_before + 2
    page = (out / "students" / "heidi.html").read_text(encoding="utf-8")
    assert "Short, but honest: 2 points. &lt;em&gt;Write more&lt;/em&gt;" in page
    saved = {(r["student"], r["part"]): r for r in csv.DictReader((out / "review.csv").open(encoding="utf-8"))}
    assert saved[("heidi", "6")]["score"] == "2" and saved[("heidi", "6")]["comment"].startswith("Short, but honest")
    assert saved[("bob", "5")]["comment"] == "Good use of the attention example." and saved[("bob", "5")]["score"] == ""
    assert saved[("zoe", "5")]["score"] == "4" and saved[("zoe", "5")]["comment"] == "late"  # absent student kept
    data = json.loads((out / "results" / "heidi.json").read_text(encoding="utf-8"))
    assert data["parts"][1]["reviewed"] is True and data["score"] == heidi.score
    runs = history(out / "gradebook.sqlite", "heidi")
    assert [row.total for row in runs] == [heidi_before, heidi_before + 2]
    canvas = list(csv.reader((out / "lms-canvas.csv").open(encoding="utf-8")))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "10"
    assert ["", "", "", "heidi", "", ""] in canvas  # part 5 is still a suggestion: nothing published yet


@pytest.mark.slow
def test_bad_review_scores_are_reported_and_change_nothing(tmp_path):
    out = tmp_path / "out"
    grade(paths=[EXAMPLES / "heidi"], out=out, jobs=1, only=["6"], quiet=True)
    (out / "review.csv").write_text("student,part,suggested,max,score,comment\nheidi,6,0,5,lots,\n", encoding="utf-8")
    batch = grade(paths=[EXAMPLES / "heidi"], out=out, jobs=1, only=["6"], quiet=True)
    assert batch.review_problems and "'lots' is not a number" in batch.review_problems[0]
    assert batch.results[0].parts[0].needs_review
    assert "heidi,6,0,5,lots," in (out / "review.csv").read_text(encoding="utf-8")


@pytest.mark.slow
def test_changed_submission_is_executed_again(tmp_path):
    student = tmp_path / "class" / "kim"
    student.mkdir(parents=True)
    source = "import numpy as np\ndef srn_numpy(inputs, W, U, V, h0=None, activation=None):\n    return np.zeros(1)\n"
    (student / "solution.py").write_text(source, encoding="utf-8")
    out = tmp_path / "out"
    assert not grade(paths=[student], out=out, jobs=1, only=["1.1"], quiet=True).results[0].from_cache
    assert grade(paths=[student], out=out, jobs=1, only=["1.1"], quiet=True).results[0].from_cache
    (student / "solution.py").write_text(source + "# edited\n", encoding="utf-8")
    assert not grade(paths=[student], out=out, jobs=1, only=["1.1"], quiet=True).results[0].from_cache
    assert not grade(paths=[student], out=out, jobs=1, only=["1.1"], use_cache=False, quiet=True).results[0].from_cache


def test_every_check_message_key_exists_and_renders_in_both_languages():
    import string

    from grader.messages import M, render
    from grader.parts.base import PROBLEM_PARAMS

    grader_dir = REPORT_DIR.parent
    used = set()
    for path in grader_dir.rglob("*.py"):
        used |= set(re.findall(r"""\bM\(\s*f?["']([a-z_.0-9]+)["']""", path.read_text(encoding="utf-8")))
    used.discard("noun.")  # M(f"noun.{noun}"): the nouns are checked below through their catalogue section
    used |= {f"cell_{status}" for status in ("timeout", "dead")}  # M(f"cell_{status}") in the pipeline
    used |= set(PROBLEM_PARAMS)  # M(fact["issue"], ...): contract problems the probes report as facts
    used |= {f"hello_model{kind}_{end}" for kind in ("", "_hidden") for end in ("ok", "short")}  # M(f"{prefix}_ok")
    used |= {"hello_loop_hint", "hello_loop_hint_rnn"}  # M(hint_key, ...) in part2_hello
    assert {"not_defined", "array_values", "hello_loop_hint", "submission_timeout"} <= used
    for lang in LANGUAGES:
        keys = {key[4:] for key in catalog(lang) if key.startswith("msg.")}
        assert used <= keys, (lang, used - keys)
        for key in keys:
            fields = [name for _, name, spec, _ in string.Formatter().parse(catalog(lang)[f"msg.{key}"]) if name]
            text = render(M(key, **{name: 1.5 for name in fields}), lang)  # numbers satisfy every format spec
            assert "{" not in text, (lang, key)
    assert render(M("not_defined", name="srn_rnn"), "zh") == "`srn_rnn` 未定义"


def test_student_pages_rendered_by_several_processes_are_the_same_pages(example_class, monkeypatch):
    import grader.report as report

    results = [example_class[0][name].to_json() for name in ("alice", "carol", "frank", "ivan")]
    pools = []

    class CountedPool(report.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(report, "ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(report, "PARALLEL_FROM", 2)
    in_parallel = report.student_pages(results, "zh", jobs=2)
    assert pools == [2]  # the pool was used
    assert in_parallel == report.student_pages(results, "zh", jobs=1)
    assert all("<svg" in page for page in in_parallel[:1])  # plots included


def test_plots_drawn_while_grading_are_what_the_pages_show_and_are_not_drawn_again(example_class, monkeypatch):
    import grader.report as report
    from grader.report.plotcache import PlotCache

    results_by_student, out = example_class
    results = [results_by_student[name].to_json() for name in ("alice", "frank")]
    drawn_by_grade = PlotCache(out / "cache" / "plots")
    assert len(list((out / "cache" / "plots").glob("*/*.svg"))) >= 3  # grading drew (ahead or with the pages)
    fresh = report.student_pages(results, "en")  # no cache: every plot drawn now
    calls = []
    real_curve = report.plots.loss_curve
    monkeypatch.setattr(report.plots, "loss_curve", lambda *a, **k: calls.append(1) or real_curve(*a, **k))
    assert report.student_pages(results, "en", cache=drawn_by_grade) == fresh  # the same SVGs ...
    assert calls == []  # ... and none drawn again
    report.student_pages(results, "zh", cache=drawn_by_grade)
    assert calls  # other labels are other plots


def test_log_scale_plots_label_their_ticks_with_plain_numbers():
    """Loss plots on a log axis say 0.1 and 1 (and 0.06, 0.2, 0.3 across less than a decade), where
    matplotlib would typeset 10^-1 in mathtext: easier to read, and much cheaper to draw."""
    import re

    from grader.report import plots

    def labels(points):
        svg = plots.loss_curve({"seed 0": points}, title="t", x_label="epoch", y_label="loss", threshold=0.05,
                               log_y=True)
        assert "mathdefault" not in svg and "\\times" not in svg
        return set(re.findall(r"<text[^>]*>([^<]*)</text>", svg))

    assert {"0.1", "1"} <= labels([(0, 2.0), (50, 0.3), (100, 0.03)])
    assert {"0.06", "0.1", "0.2", "0.3"} <= labels([(0, 0.3), (50, 0.2), (100, 0.07)])


def test_a_plot_cache_that_cannot_be_written_still_draws(tmp_path):
    from grader.report.plotcache import PlotCache

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    cache = PlotCache(blocked / "plots")
    assert cache.svg({"a": 1}, lambda: "<svg>1</svg>") == "<svg>1</svg>"
    assert cache.svg({"a": 1}, lambda: "<svg>again</svg>") == "<svg>again</svg>"  # nothing was stored
    working = PlotCache(tmp_path / "plots")
    assert working.svg({"a": 1}, lambda: "<svg>1</svg>") == "<svg>1</svg>"
    assert working.svg({"a": 1}, lambda: "<svg>never</svg>") == "<svg>1</svg>"
    assert working.svg({"a": 2}, lambda: "<svg>2</svg>") == "<svg>2</svg>"


def test_work_ahead_runs_in_order_keeps_a_bounded_queue_of_optional_work_and_stops_promptly():
    import threading
    import time

    from grader.grade.ahead import WorkAhead

    done, release = [], threading.Event()

    def work(n):
        release.wait(5)
        time.sleep(0.05)
        if n == 1:
            raise ValueError("a broken result")
        done.append(n)

    ahead = WorkAhead()
    wanted = ahead.submit(lambda: "wanted")
    for n in range(WorkAhead.MAX_QUEUED + 10):
        ahead.maybe(lambda n=n: work(n))  # beyond the bound: dropped (whoever needs it does it again)
    release.set()
    deadline = time.monotonic() + 10
    while len(done) < 4 and time.monotonic() < deadline:
        time.sleep(0.001)
    ahead.stop()  # what had not started is dropped; the one in hand finishes; nothing raises
    assert wanted.result() == "wanted"
    assert done == [n for n in range(len(done) + 1) if n != 1]  # in order, past the one that failed
    assert len(done) < WorkAhead.MAX_QUEUED // 2
    ahead.maybe(lambda: done.append(99))  # after stop: ignored, no error
    assert 99 not in done


def test_grade_draws_a_finished_students_plots_while_the_next_one_runs(tmp_path, monkeypatch):
    import threading

    import grader.report as report

    threads = []
    real_curve = report.plots.loss_curve
    monkeypatch.setattr(report.plots, "loss_curve",
                        lambda *a, **k: threads.append(threading.current_thread().name) or real_curve(*a, **k))
    batch = grade(paths=[EXAMPLES / "alice", EXAMPLES / "bob"], out=tmp_path, jobs=1, only=["2.2"], device="cpu",
                  quiet=True)
    assert [r.status for r in batch.results] == ["graded", "graded"]
    assert 1 <= len(threads) <= 2  # one plot each, none drawn twice (equal plots are drawn once)
    assert threads[0].startswith("grade-ahead")  # the first student's, while the second one ran
    assert all("<svg" in (tmp_path / "students" / f"{s}.html").read_text(encoding="utf-8") for s in ("alice", "bob"))


def test_a_run_answered_from_the_cache_starts_no_sandbox_and_imports_nothing_for_the_judges(tmp_path, monkeypatch):
    """The warm sandbox and torch for the judges start at the first submission the cache does not have, once
    per run however many miss; a re-run of an unchanged class starts neither, and changes no result."""
    import grader.grade as grade_module

    started = []
    real_prestart, real_import = grade_module.prestart_sandbox, grade_module.import_for_judges
    monkeypatch.setattr(grade_module, "prestart_sandbox",
                        lambda *a, **k: started.append("sandbox") or real_prestart(*a, **k))
    monkeypatch.setattr(grade_module, "import_for_judges", lambda: started.append("torch") or real_import())
    paths = [EXAMPLES / "alice", EXAMPLES / "bob"]
    first = grade(paths=paths, out=tmp_path, jobs=2, only=["2.2"], device="cpu", quiet=True)
    assert sorted(started) == ["sandbox", "torch"]
    started.clear()
    again = grade(paths=paths, out=tmp_path, jobs=2, only=["2.2"], device="cpu", quiet=True)
    assert all(r.from_cache for r in again.results) and started == []
    assert [(r.student, r.score) for r in again.results] == [(r.student, r.score) for r in first.results]


def test_a_head_start_that_fails_costs_no_student_anything(tmp_path, monkeypatch):
    import grader.grade as grade_module

    def broken(*args, **kwargs):
        raise RuntimeError("no head start today")

    monkeypatch.setattr(grade_module, "prestart_sandbox", broken)
    batch = grade(paths=[EXAMPLES / "alice", EXAMPLES / "bob"], out=tmp_path, jobs=2, only=["2.2"], device="cpu",
                  quiet=True)
    assert [(r.status, r.score) for r in batch.results] == [("graded", r.max_score) for r in batch.results]


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_next_student_is_read_while_the_sandboxes_run_and_never_more_than_jobs_at_once(tmp_path, monkeypatch,
                                                                                           jobs):
    import threading
    import time

    from grader import pipeline
    from grader.sandbox.launch import ExecutionRecord

    lock, running, most, events = threading.Lock(), [0], [0], []

    def execute(loaded, *args, **kwargs):  # a sandbox that takes its time and runs nothing
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        events.append(("start", loaded.submission.student))
        time.sleep(1.0)
        events.append(("end", loaded.submission.student))
        with lock:
            running[0] -= 1
        return ExecutionRecord("completed")

    real_read = pipeline.read_submission
    monkeypatch.setattr(pipeline, "execute_submission", execute)
    monkeypatch.setattr(pipeline, "read_submission",
                        lambda submission, *a, **k: events.append(("read", submission.student)) or real_read(
                            submission, *a, **k))
    monkeypatch.setenv("RNN_GRADER_WARM", "0")  # nothing is executed: no slot to start
    students = ["alice", "bob", "carol", "dave"]
    batch = grade(paths=[EXAMPLES / s for s in students], out=tmp_path, jobs=jobs, only=["1.1"], quiet=True,
                  use_cache=False)
    assert [r.student for r in batch.results] == students and most[0] == jobs
    # with one job: the second student was read before the first one's sandbox ended
    assert events.index(("read", "bob")) < events.index(("end", "alice")) or jobs > 1
    # a student's time is its own, not its wait for a sandbox (each later one waited about a second)
    assert all(r.elapsed_s < 1.7 for r in batch.results[1:]), [(r.student, r.elapsed_s) for r in batch.results]


def test_no_gpu_device_means_cpu_without_importing_torch():
    import subprocess
    import sys

    from grader.grade import _gpu_device_nodes

    if _gpu_device_nodes() or not sys.platform.startswith("linux"):
        pytest.skip("this machine has a GPU device (or is not Linux): torch is asked")
    code = "import sys; from grader.grade import resolve_device; print(resolve_device('auto'), 'torch' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["cpu", "False"]
