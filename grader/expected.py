"""The reference's answers to each part's request, as data: what the judges compare with (``ctx.expected``).

The full grader computes them in the parent from the reference solution (each part's ``expect``). A student
kit (``grader.kit``) has no reference: it holds these answers recorded for exactly the public requests, which
are the same for every student (``pipeline.hidden_rng``), and finds them by the request's digest. Both go
through the same JSON encoding, so a kit and the full grader judge the same observation alike.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from grader.parts.base import Part

FORMAT = 1


class ExpectationsMissing(Exception):
    """The kit holds no recorded answer for a request the grader made: it was built for other settings."""


def to_data(value: Any) -> Any:
    """JSON-ready: numpy arrays keep their dtype and shape; tuples become lists."""
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, (list, tuple)):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_data(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"an expectation must be data (arrays, lists, numbers, strings), not {type(value).__name__}")


def from_data(data: Any) -> Any:
    if isinstance(data, dict) and "__array__" in data:
        return np.asarray(data["__array__"], dtype=data["dtype"]).reshape(data["shape"])
    if isinstance(data, list):
        return [from_data(item) for item in data]
    if isinstance(data, dict):
        return {key: from_data(item) for key, item in data.items()}
    return data


def request_digest(request: dict[str, Any]) -> str:
    # the device says where part 3 trains, not what the reference answers: a kit serves cpu and cuda alike
    relevant = {key: value for key, value in request.items() if key != "device"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def computed(part: Part, request: Optional[dict[str, Any]], reference: Any) -> Any:
    """The reference's answers to `request`, through the encoding a kit stores."""
    if part.expect is None or request is None:
        return None
    return from_data(json.loads(json.dumps(to_data(part.expect(request, reference)))))


def record(parts: list[Part], requests: dict[str, dict[str, Any]], reference: Any) -> dict[str, Any]:
    """What a kit stores: for each part with an `expect`, its public request's digest and the answers."""
    return {"format": FORMAT, "parts": {
        part.id: {"request": request_digest(requests[part.id]),
                  "expected": to_data(part.expect(requests[part.id], reference))}
        for part in parts if part.expect is not None and part.id in requests}}


class Recorded:
    """A kit's recorded answers (``expectations.json``), read once."""

    def __init__(self, path: Path) -> None:
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ExpectationsMissing(f"cannot read the kit's expected values {path}: {error}") from None
        if not isinstance(table, dict) or table.get("format") != FORMAT or not isinstance(table.get("parts"), dict):
            raise ExpectationsMissing(f"{path} is not a format-{FORMAT} table of expected values")
        self.path, self.parts = path, table["parts"]

    def answers(self, part: Part, request: Optional[dict[str, Any]]) -> Any:
        if part.expect is None or request is None:
            return None
        entry = self.parts.get(part.id)
        if not isinstance(entry, dict) or entry.get("request") != request_digest(request):
            raise ExpectationsMissing(f"the student kit holds no expected values for part {part.id} as planned "
                                      "here (it was built for other settings): ask for a kit built from the "
                                      "course's current grader (`grade kit`)")
        return from_data(entry["expected"])
