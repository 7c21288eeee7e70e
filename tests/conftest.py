from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "submissions"
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def reference():
    from grader.config import DEFAULT_REFERENCE
    from grader.pipeline import load_reference

    return load_reference(DEFAULT_REFERENCE)


@pytest.fixture(scope="session")
def example_class(tmp_path_factory):
    """The bundled example class graded once per test session (results by student, and the output folder)."""
    from grader.grade import main as grade

    out = tmp_path_factory.mktemp("reports")
    batch = grade(paths=[EXAMPLES], out=out, jobs=2, device="cpu", quiet=True)
    return {r.student: r for r in batch.results}, out


@pytest.fixture(scope="session")
def config():
    from grader.config import load_config

    return load_config()


def notebook_with(tmp: Path, student: str, edits: list[tuple[str, str]] = (), extra_cells: list[str] = ()) -> Path:
    """A copy of the reference notebook with text edits and extra code cells, as one student's folder."""
    notebook = json.loads((REPO / "reference" / "solution.ipynb").read_text(encoding="utf-8"))
    for old, new in edits:
        hits = [c for c in notebook["cells"] if old in "".join(c["source"])]
        assert len(hits) == 1, old
        hits[0]["source"] = "".join(hits[0]["source"]).replace(old, new)
    for source in extra_cells:
        notebook["cells"].insert(2, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                     "source": source, "id": f"extra-{len(notebook['cells'])}"})
    folder = tmp / student
    folder.mkdir(parents=True)
    (folder / "homework.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return folder


def copy_assignment(tmp: Path, reference: Path | None = None) -> Path:
    """A copy of the assignment folder whose manifest points at the repository's reference (or `reference`)."""
    import re

    target = tmp / "assignment"
    shutil.copytree(REPO / "assignments" / "rnn-basics", target)
    manifest = target / "assignment.toml"
    text, count = re.subn(r'^reference = ".*"$', f'reference = "{reference or REPO / "reference" / "rnn_basics.py"}"',
                          manifest.read_text(encoding="utf-8"), flags=re.M)
    assert count == 1
    manifest.write_text(text, encoding="utf-8")
    return target


def assignment_with(tmp: Path, **limits: float) -> Path:
    """A copy of the assignment folder with some limits changed."""
    import re

    target = copy_assignment(tmp)
    text = (target / "grading.toml").read_text(encoding="utf-8")
    for key, value in limits.items():
        text, count = re.subn(rf"^{key} = [0-9.]+", f"{key} = {value}", text, flags=re.M)
        assert count == 1, key
    (target / "grading.toml").write_text(text, encoding="utf-8")
    return target
