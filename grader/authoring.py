"""Build the notebooks from the reference source, so solution, handout and examples never drift.

The reference lives in one importable, percent-format Python file (``reference/rnn_basics.py``):
``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell, ``answer=N`` after it marks the answer
cell of written part N. From it we build

* ``reference/solution.ipynb``: every cell as written;
* ``assignments/rnn-basics/homework.ipynb``: the handout, with solution regions stripped:
  ``### BEGIN SOLUTION`` .. ``### END SOLUTION`` becomes ``raise NotImplementedError`` inside a body and
  disappears at top level; ``### BEGIN DEMO`` .. ``### END DEMO`` becomes ``pass``; in markdown
  ``<!-- BEGIN SOLUTION -->`` .. ``<!-- END SOLUTION -->`` becomes an answer placeholder.

Run ``python -m grader.authoring`` after editing the reference; a test fails when the committed files
differ from what this produces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.assignment import load_assignment

REPO_ROOT = Path(__file__).resolve().parents[1]
# The bundled assignment, as its manifest names its files (assignments/rnn-basics/assignment.toml).
_ASSIGNMENT = load_assignment(REPO_ROOT / "assignments" / "rnn-basics")
REFERENCE_SOURCE = _ASSIGNMENT.reference_path
SOLUTION_NOTEBOOK = REFERENCE_SOURCE.with_name("solution.ipynb")
HANDOUT_NOTEBOOK = _ASSIGNMENT.handout_path or _ASSIGNMENT.folder / "homework.ipynb"
TEMPLATE_REPO = _ASSIGNMENT.folder / "template-repo"

ANSWER_PLACEHOLDER = "*Write your answer here. / 在此作答。*"
_CELL_MARK = re.compile(r"^# %%(?P<rest>.*)$")
_REGION = re.compile(r"^(?P<indent>\s*)### (?P<edge>BEGIN|END) (?P<kind>SOLUTION|DEMO)\s*$")
_MD_REGION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)


@dataclass(frozen=True)
class SourceCell:
    kind: str  # "code" or "markdown"
    source: str
    answer_part: str | None = None


def parse_percent(text: str) -> list[SourceCell]:
    """Split a percent-format file into cells."""
    cells: list[SourceCell] = []
    kind, answer, lines = None, None, []

    def flush() -> None:
        if kind is None:
            return
        if kind == "markdown":
            body = [re.sub(r"^# ?", "", line) if line.startswith("#") else line for line in lines]
        else:
            body = lines
        source = "\n".join(body).strip("\n")
        if source:
            cells.append(SourceCell(kind, source, answer))

    for line in text.splitlines():
        mark = _CELL_MARK.match(line)
        if mark:
            flush()
            rest = mark.group("rest")
            kind = "markdown" if "[markdown]" in rest else "code"
            found = re.search(r"answer=(\d)", rest)
            answer, lines = (found.group(1) if found else None), []
        else:
            lines.append(line)
    flush()
    return cells


def strip_code(source: str) -> str:
    """Replace solution and demo regions of one code cell by what a student starts from."""
    out: list[str] = []
    inside: str | None = None
    for line in source.splitlines():
        region = _REGION.match(line)
        if region and region.group("edge") == "BEGIN":
            inside = region.group("kind")
            indent = region.group("indent")
            if inside == "SOLUTION" and indent:
                out.append(f"{indent}raise NotImplementedError  # your code here / 在此编写代码")
            elif inside == "DEMO":
                out.append(f"{indent}pass  # try your functions here / 在此自行测试")
            continue
        if region and region.group("edge") == "END":
            inside = None
            continue
        if inside is None:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n\n", "\n".join(out)).strip("\n")


def _cell_metadata(cell: SourceCell) -> dict:
    if cell.answer_part is None:
        return {}
    return {"tags": [f"answer-part{cell.answer_part}"], "rnn_grader": {"answer": cell.answer_part}}


def build_notebook(cells: list[SourceCell], *, handout: bool) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(cells):
        if cell.kind == "markdown":
            source = _MD_REGION.sub(ANSWER_PLACEHOLDER, cell.source) if handout else cell.source
            node = nbformat.v4.new_markdown_cell(source, metadata=_cell_metadata(cell))
        else:
            source = strip_code(cell.source) if handout else cell.source
            node = nbformat.v4.new_code_cell(source, metadata=_cell_metadata(cell))
        node["id"] = f"cell-{index:02d}"  # stable ids keep regenerated files byte-identical
        notebook.cells.append(node)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def expected_files() -> dict[Path, str]:
    """Every generated file and the text it must have."""
    cells = parse_percent(REFERENCE_SOURCE.read_text(encoding="utf-8"))
    handout = render(build_notebook(cells, handout=True))
    files = {
        SOLUTION_NOTEBOOK: render(build_notebook(cells, handout=False)),
        HANDOUT_NOTEBOOK: handout,
        TEMPLATE_REPO / "homework.ipynb": handout,  # the student repo starts from the same handout
    }
    from grader import examples  # local: examples build on the notebooks above

    files.update(examples.expected_files(files[SOLUTION_NOTEBOOK]))
    return files


def main() -> None:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
