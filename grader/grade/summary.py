"""The one-screen table printed at the end of a run."""

from __future__ import annotations

from rich.table import Table

from grader.results import SubmissionResult


def summary_table(results: list[SubmissionResult], part_ids: list[str]) -> Table:
    table = Table(title="rnn-grader", show_lines=False)
    table.add_column("student", no_wrap=True, min_width=7)
    table.add_column("total", justify="right", no_wrap=True)
    for part_id in part_ids:
        table.add_column(part_id, justify="right")
    table.add_column("notes", overflow="fold", max_width=40)
    for result in results:
        scores = {p.id: p for p in result.parts}
        cells = []
        for part_id in part_ids:
            part = scores.get(part_id)
            if part is None:
                cells.append("")
                continue
            mark = "*" if part.needs_review else ""
            style = "green" if part.score >= part.max_score else "yellow" if part.score > 0 else "red"
            cells.append(f"[{style}]{part.score:g}{mark}[/]")
        notes = "; ".join(([result.error] if result.error else []) + result.flags)
        table.add_row(result.student, f"{result.score:g}/{result.max_score:g}", *cells, notes[:60])
    table.caption = "* needs review: written answers get a suggested score until an instructor confirms it"
    return table
