"""Code the grader runs inside the student's kernel, after the student's own cells.

Untrusted side of the trust boundary: nothing here decides a score. It seeds the random generators,
calls the contract's functions through a part's ``probe`` with the inputs the parent sent, and writes
what it saw (values, shapes, errors) as JSON to a file the parent named. Student code runs before the
file name exists, so it cannot forge the answer by printing.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
import sys
import traceback
from typing import Any, Callable

MAX_ELEMENTS = 4096  # larger arrays are described by shape and dtype only
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../grader
_IMPORT_ROOT = os.path.dirname(_PACKAGE_DIR)
_LIBRARY_DIRS = tuple({os.path.dirname(os.__file__), _PACKAGE_DIR})


def prepare(seed: int, output_limit: int = 0) -> None:
    """Run before any student code: one thread, fixed seeds, bounded output."""
    seed_everything(seed)
    if output_limit > 0:
        cap_output(output_limit)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # a submission that never needs torch still gets graded
        pass


def cap_output(limit: int) -> None:
    """Drop a cell's printed text beyond `limit` characters here, in the kernel.

    The worker caps what it keeps, but a print loop can produce text faster than it is sent: ipykernel
    buffers it all and a 1 GB print kills the kernel (and the student's work) before the cap is reached.
    Dropping it at the source keeps such a submission alive; the worker still sees more than it keeps, so
    the report says the output was truncated. Student code can undo this, and only hurts itself if it does.
    """
    counters = {"used": 0}

    def capped(write: Callable[[str], int]) -> Callable[[str], int]:
        def write_capped(text: str) -> int:
            room = limit - counters["used"]
            counters["used"] += len(text)
            if room > 0:
                write(text[:room])
            return len(text)
        return write_capped

    for stream in (sys.stdout, sys.stderr):
        stream.write = capped(stream.write)  # type: ignore[method-assign]
    try:
        from IPython import get_ipython

        get_ipython().events.register("pre_run_cell", lambda *_: counters.update(used=0))
    except (ImportError, AttributeError):  # not in a kernel: one budget for the whole run
        pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


class ProbeFailure(Exception):
    """A student call failed; carries the description the parent will judge."""

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__(description.get("error", "error"))
        self.description = description


def _student_frames(tb: Any) -> list[str]:
    """Keep the frames of the student's code: the grader's own frames only confuse."""
    frames = traceback.extract_tb(tb)
    kept = [f for f in frames
            if not f.filename.startswith(_LIBRARY_DIRS) and "site-packages" not in f.filename]
    return [line.rstrip() for line in traceback.format_list(kept[-6:])]


def call(function: Callable[..., Any], *args: Any, label: str = "", **kwargs: Any) -> Any:
    """Call student code; on an exception raise ProbeFailure with a readable description."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any student error becomes an observation
        raise ProbeFailure({
            "error": f"{type(error).__name__}: {str(error)[:500]}",
            "call": label or getattr(function, "__name__", "call"),
            "traceback": _student_frames(error.__traceback__),
        }) from None


def observe(function: Callable[[], Any]) -> dict[str, Any]:
    """Run one observation; a failure becomes ``{"error": ...}`` instead of ending the probe."""
    try:
        return {"value": function()}
    except ProbeFailure as failure:
        return failure.description
    except Exception as error:  # noqa: BLE001 - e.g. a result of the wrong type while describing it
        return {"error": f"{type(error).__name__}: {str(error)[:500]}",
                "traceback": _student_frames(error.__traceback__)}


def describe(value: Any) -> Any:
    """A JSON-safe description of a value: arrays and tensors keep type, dtype, shape and data."""
    kind = type(value).__module__ + "." + type(value).__name__
    if kind.startswith("torch.") and hasattr(value, "detach"):
        tensor = value.detach().cpu()
        return _array("tensor", str(tensor.dtype).replace("torch.", ""), list(tensor.shape),
                      tensor.reshape(-1).tolist() if tensor.numel() <= MAX_ELEMENTS else None)
    if kind.startswith("numpy.") and hasattr(value, "shape"):
        return _array("ndarray", str(value.dtype), list(value.shape),
                      value.reshape(-1).tolist() if value.size <= MAX_ELEMENTS else None)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"type": "float", "repr": repr(value)}
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "items": [describe(item) for item in value[:256]],
                "length": len(value)}
    if isinstance(value, dict):
        return {"type": "dict", "items": {str(k)[:100]: describe(v) for k, v in list(value.items())[:64]}}
    return {"type": kind, "repr": repr(value)[:200]}


def _array(kind: str, dtype: str, shape: list[int], data: list[Any] | None) -> dict[str, Any]:
    if data is not None:
        data = [x if not isinstance(x, float) or math.isfinite(x) else repr(x) for x in data]
    return {"type": kind, "dtype": dtype, "shape": shape, "data": data}


def run_probe(namespace: dict[str, Any], part_id: str, request_path: str, result_path: str) -> None:
    """Entry point called from the probe cell."""
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    if _IMPORT_ROOT not in sys.path:
        sys.path.insert(0, _IMPORT_ROOT)
    try:
        module = importlib.import_module(request["module"])
        probe = getattr(module, request["probe"])
        seed_everything(int(request.get("seed", 0)))
        observation = {"ok": True, "observation": probe(namespace, request)}
    except Exception as error:  # noqa: BLE001 - reported to the parent, judged there
        observation = {"ok": False, "error": f"{type(error).__name__}: {error}",
                       "traceback": _student_frames(error.__traceback__)}
    temporary = result_path + ".part"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(observation, handle)
    os.replace(temporary, result_path)
