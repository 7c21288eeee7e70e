"""Installs are reproducible: the lock pins the whole dependency tree, and what CI and the README install
is the lock (issue: a fresh machine must be as green as the one where the suite last passed)."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata

from conftest import REPO

LOCK = REPO / "requirements" / "lock.txt"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _dependency_tree(root: str, extras: tuple[str, ...]) -> set[str]:
    """Every distribution the installed project reaches through its requirements (markers evaluated here)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            dependency = _canonical(requirement.name)
            if dependency not in seen:
                seen.add(dependency)
                todo.append((dependency, tuple(requirement.extras)))
    return seen


def test_every_installed_dependency_is_pinned_in_the_lock_at_its_installed_version():
    pins = _locked()
    tree = _dependency_tree("rnn-grader", ("test",))
    assert {"torch", "nbclient", "ipykernel", "jupyter-client", "numpy", "pydantic", "pytest"} <= tree
    missing = sorted(tree - set(pins))
    assert missing == [], f"not in requirements/lock.txt (run scripts/refresh-lock.sh): {missing}"
    if not _installed_from_lock():
        return  # a developer's own environment: completeness is all that can be asked here
    differing = {name: (metadata.version(name), pins[name]) for name in tree if metadata.version(name) != pins[name]}
    assert differing == {}, differing


def _installed_from_lock() -> bool:
    """True in the environment .ci/run made (its interpreter lives in the repository's .venv)."""
    return sys.prefix == str(REPO / ".venv")


def test_the_readme_commands_and_ci_install_from_the_lock():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(line for line in ci.splitlines() if "pytest" in line)
    assert test_command in readme  # .ci/run runs exactly the README's second command
    assert "python3 -m venv --clear .venv" in test_command and "-c requirements/lock.txt" in test_command
    first = next(line for line in readme.splitlines() if "grade examples/submissions" in line and "pip" in line)
    assert "-c requirements/lock.txt" in first


def test_every_project_dependency_is_in_the_lock():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=!~ \[;]", spec)[0] for spec in
             project["dependencies"] + project["optional-dependencies"]["test"]]
    assert {_canonical(name) for name in names} <= set(_locked())
