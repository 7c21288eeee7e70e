"""Parsing student code in the parent (read, never run), from several grading threads at once."""

from __future__ import annotations

import ast
import threading

# CPython 3.11 keeps the AST constructor's recursion counter in interpreter-wide state: two grading threads
# parsing at the same moment can corrupt it, and ast.parse then fails with "SystemError: AST constructor
# recursion depth mismatch" (python/cpython gh-106905). Parsing is cheap; one at a time.
_PARSING = threading.Lock()


def parse(source: str) -> ast.Module | None:
    """The module's syntax tree, or None for code that does not parse (it fails when it runs, and the report
    says so there; a hostile nesting depth costs the student nothing here either)."""
    with _PARSING:
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # the last two: nesting too deep
            return None
