"""The handout, solution notebook and example class are exactly what the generator makes from the reference."""

from __future__ import annotations

import pytest

from grader import authoring


def test_committed_files_match_the_generator():
    stale = [str(path.relative_to(authoring.REPO_ROOT)) for path, text in authoring.expected_files().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"run `python -m grader.authoring`: {stale}"


def test_strip_code_replaces_solution_and_demo_regions():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n"
              "### BEGIN SOLUTION\nHELPER = 1\n### END SOLUTION\n"
              "if __name__ == '__main__':\n    ### BEGIN DEMO\n    print(f(1))\n    ### END DEMO\n")
    stripped = authoring.strip_code(source)
    assert "return x + 1" not in stripped and "HELPER" not in stripped and "print(f(1))" not in stripped
    assert "    raise NotImplementedError" in stripped
    assert "    pass" in stripped
    compile(stripped, "handout", "exec")


def test_handout_has_no_solution_left():
    text = authoring.HANDOUT_NOTEBOOK.read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "x_t @ W", "nn.RNNCell(input_size=input_size",
                   "(hidden_size, input_size)'", "Writing the SRN in numpy"):
        assert marker not in text


@pytest.mark.slow
def test_handout_runs_top_to_bottom_without_error():
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(authoring.HANDOUT_NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
