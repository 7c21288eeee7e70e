"""The table printed at the end of a run, made to fit the terminal it is printed on.

CI logs and pipes are 80 columns, where most people read it: there the parts are narrow columns without
borders and the notes go below the table, one line per student, instead of a column folded to a letter."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from grader.results import SubmissionResult, flag_text

WIDE = 120  # from this width on, the notes fit as a column


def summary_table(results: list[SubmissionResult], part_ids: list[str], width: int = WIDE) -> Group:
    wide = width >= WIDE
    table = Table(title="rnn-grader", show_lines=False, box=box.SQUARE if wide else box.SIMPLE_HEAD,
                  padding=(0, 1) if wide else (0, 0), pad_edge=wide, collapse_padding=not wide)
    table.add_column("student", no_wrap=True, min_width=7, overflow="ellipsis", max_width=None if wide else 16)
    table.add_column("total", justify="right", no_wrap=True)
    for part_id in part_ids:
        table.add_column(part_id, justify="right", no_wrap=True, min_width=len(part_id) + (0 if wide else 1))
    if wide:
        table.add_column("notes", overflow="fold", max_width=40)
    notes_below = []
    for result in results:
        scores = {p.id: p for p in result.parts}
        cells = []
        for part_id in part_ids:
            part = scores.get(part_id)
            if part is None:
                cells.append("")
                continue
            mark = "*" if part.needs_review else ""
            style = "dim" if not part.max_score else "green" if part.score >= part.max_score else \
                "yellow" if part.score > 0 else "red"
            cells.append(f"[{style}]{part.score:g}{mark}[/]")
        notes = "; ".join(([result.error] if result.error else []) + [flag_text(flag) for flag in result.flags])
        total = f"{result.score:g}/{result.max_score:g}"
        if wide:
            table.add_row(result.student, total, *cells, notes[:60])
        else:
            table.add_row(result.student, total, *cells)
            if notes:
                notes_below.append(Text(f"{result.student}: {notes}"[:width - 1], overflow="ellipsis", no_wrap=True))
    caption = "* needs review: written answers, and parts graded without the contract, get a suggested score " \
              "until an instructor confirms it"
    return Group(table, *notes_below, Text(caption, style="dim"))
