"""What crosses from the student's process to the parent is validated there, and no submission and no
output writer can stop a class (fast: no kernels)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

import grader.grade as grade_module
from grader.grade import main as grade
from grader.messages import render
from grader.sandbox.launch import ExecutionRecord, _collect
from grader.sandbox.worker import MAX_RESULT_BYTES, _probe_result


def _collected(lines: list[bytes], parts: set[str] = frozenset({"1.1"})) -> ExecutionRecord:
    read_fd, write_fd = os.pipe()

    def write() -> None:  # from a thread: more than a pipe's buffer would block a lone writer
        with os.fdopen(write_fd, "wb") as pipe:
            try:
                pipe.write(b"".join(line + b"\n" for line in lines))
            except BrokenPipeError:  # the parent stopped reading, as it should on a refused line
                pass

    writer = threading.Thread(target=write)
    writer.start()
    record = ExecutionRecord("completed")
    try:
        _collect(read_fd, time.perf_counter() + 10, record, expected_parts=set(parts))
    finally:
        os.close(read_fd)
        writer.join(timeout=10)
    return record


def test_well_formed_messages_are_recorded():
    record = _collected([
        json.dumps({"type": "phase", "name": "kernel_start", "seconds": 0.5}).encode(),
        json.dumps({"type": "cell", "cell": {"index": 0, "status": "ok", "seconds": 0.1}}).encode(),
        json.dumps({"type": "probe", "part": "1.1", "seconds": 0.2, "ok": True, "observation": {"cases": []}}).encode(),
        json.dumps({"type": "done"}).encode()])
    assert record.finished and record.status == "completed" and not record.interference
    assert record.phases["kernel_start"] == 0.5 and record.cells[0]["index"] == 0
    assert record.probes["1.1"]["observation"] == {"cases": []}


@pytest.mark.parametrize("line", [
    b"not json at all",
    b"\xff\xfe garbage",
    b'{"type": "probe", "part": "9.9", "seconds": 0, "ok": true}',            # a part nobody asked for
    b'{"type": "probe", "part": "1.1", "seconds": 0, "ok": true, "score": 8}',  # a field the worker never sends
    b'{"type": "phase", "name": "kernel_start"}',                               # a field missing
    b'{"type": "phase", "name": "kernel_start", "seconds": -1}',
    b'{"type": "fatal", "reason": "made_up", "detail": "x"}',
    b'{"type": "score", "value": 100}',
    b'[1, 2, 3]',
    json.dumps({"type": "cell", "cell": {"index": 0, "status": "ok", "seconds": 0, "output": "x" * 100_000}}).encode(),
])
def test_a_line_the_worker_never_sends_ends_the_run_with_a_reason(line):
    record = _collected([line, json.dumps({"type": "done"}).encode()])
    assert record.status == "crashed" and not record.finished
    assert "stopped reading" in render(record.fatal_message) and record.interference


def test_a_second_result_for_the_same_part_is_refused():
    probe = json.dumps({"type": "probe", "part": "1.1", "seconds": 0, "ok": True, "observation": {}}).encode()
    record = _collected([probe, probe])
    assert record.status == "crashed" and "second result" in render(record.fatal_message)


def test_fatal_reasons_are_worded_by_the_parent():
    record = _collected([json.dumps({"type": "fatal", "reason": "channel_broken", "cell": 3,
                                     "detail": "KeyError: 'msg_id'"}).encode(), json.dumps({"type": "done"}).encode()])
    fatal = render(record.fatal_message)
    assert "after cell 3" in fatal and "msg_id" not in fatal


def test_the_workers_reading_of_the_result_file_is_bounded(tmp_path):
    huge = tmp_path / "result-huge.json"
    with huge.open("wb") as handle:
        handle.truncate(300 << 20)  # sparse: 300 MB without writing them
    assert _probe_result(huge)["reason"] == "too_large" and MAX_RESULT_BYTES < 300 << 20
    garbled = tmp_path / "result-garbled.json"
    garbled.write_text("{not json", encoding="utf-8")
    assert _probe_result(garbled)["reason"] == "unreadable"
    forged = tmp_path / "result-forged.json"
    forged.write_text(json.dumps({"ok": True, "observation": {"cases": []}, "part": "3", "type": "done",
                                  "seconds": -5}), encoding="utf-8")
    assert _probe_result(forged) == {"ok": True, "observation": {"cases": []}}


def _invalid_class(root: Path) -> Path:
    """Three submissions that need no kernel (each is an empty folder: 'no notebook or modules')."""
    for student in ("ann", "ben", "cid"):
        (root / "class" / student).mkdir(parents=True)
    return root / "class"


def test_a_submission_the_grader_fails_on_becomes_that_students_error(tmp_path, monkeypatch):
    original = grade_module.grade_submission

    def failing(submission, *args, **kwargs):
        if submission.student == "ben":
            raise KeyError("msg.no_such_key")
        return original(submission, *args, **kwargs)

    monkeypatch.setattr(grade_module, "grade_submission", failing)
    batch = grade(paths=[_invalid_class(tmp_path)], out=tmp_path / "out", jobs=2, quiet=True, use_cache=False)
    results = {r.student: r for r in batch.results}
    assert set(results) == {"ann", "ben", "cid"}
    assert results["ben"].status == "error" and "could not grade" in results["ben"].error
    assert "KeyError" in results["ben"].error and all(p.score == 0 for p in results["ben"].parts)
    assert results["ben"].parts and len(results["ben"].parts) == len(results["ann"].parts)
    assert (tmp_path / "out" / "grades.csv").read_text().count("\n") == 4


def test_a_failing_writer_loses_only_its_own_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(grade_module, "write_canvas_csv", broken)
    batch = grade(paths=[_invalid_class(tmp_path)], out=tmp_path / "out", jobs=1, quiet=True, use_cache=False)
    out = tmp_path / "out"
    assert not (out / "lms-canvas.csv").exists()
    assert (out / "grades.csv").exists() and (out / "index.html").exists() and (out / "gradebook.sqlite").exists()
    assert any("lms-canvas.csv not written" in problem for problem in batch.review_problems)


def test_a_review_file_that_cannot_be_read_is_left_untouched(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "review.csv").write_text("precious reviewer work\n", encoding="utf-8")

    def unreadable(path):
        raise UnicodeDecodeError("utf-8", b"", 0, 1, "bad")

    monkeypatch.setattr(grade_module, "read_reviews", unreadable)
    grade(paths=[_invalid_class(tmp_path)], out=out, jobs=1, quiet=True, use_cache=False)
    assert (out / "review.csv").read_text(encoding="utf-8") == "precious reviewer work\n"
