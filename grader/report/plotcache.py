"""Drawn plots kept on disk by what they show.

Matplotlib is most of what a student's page costs (~0.05-0.1 s a plot, three plots a page). A plot is a pure
function of its data, its labels and the drawing code, so its SVG is stored under a hash of exactly those:
a page written again (a re-run, `grade feedback`, the pages after a review) draws nothing, and `grade` draws
the plots of students graded early while later students run (grader.grade.ahead), off the path that writes
the pages at the end.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


@functools.lru_cache(maxsize=1)
def _style() -> str:
    """What else decides how a plot looks: the drawing code itself and matplotlib's version."""
    import matplotlib

    from grader.report import plots

    code = Path(plots.__file__).read_bytes()
    return hashlib.sha256(code).hexdigest()[:16] + "/" + matplotlib.__version__


class PlotCache:
    """SVGs by content under `folder` (None: draw every time). A file that cannot be read or written costs
    a drawing, never a page."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def svg(self, what: dict[str, Any], draw: Callable[[], str]) -> str:
        if self.folder is None:
            return draw()
        digest = hashlib.sha256(json.dumps([_style(), what], sort_keys=True).encode()).hexdigest()
        path = self.folder / digest[:2] / f"{digest}.svg"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        text = draw()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # written whole or not at all: pages may be drawn by several processes at once
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except OSError:
            pass
        return text
