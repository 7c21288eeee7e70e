"""Best-effort grading of code written without the contract: what the part modules share.

Most published versions of this homework are top-level scripts that build tensors, train and print; none
defines `srn_numpy` or `HelloCell`. Such a submission runs as scripts (each file as `__main__` in its own
namespace, see ``grader.sandbox.worker``), and a part whose contract probe found nothing it could call is
judged from *evidence* instead: models and data found in those namespaces, retrained by the grader's own loop,
the student's own trained models evaluated in the parent, and, weakest, numbers the scripts printed. Every
such part is marked "graded without the contract — needs review": the score is a suggestion.

Kernel-side helpers first (they run beside student code and decide nothing), then the parent's.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from grader.messages import M, Msg

SCRIPTS_KEY = "__rnn_grader_scripts__"  # {file name: that script's namespace}, set by the worker's cells
MAX_SOURCES = 20
MAX_FOUND = 8  # candidates of one kind per source: a script with 500 models is not graded by trying all


# ---- in the kernel -----------------------------------------------------------------------------------

def sources(namespace: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Where to look: each script's own namespace, or the notebook's one."""
    registry = namespace.get(SCRIPTS_KEY)
    if isinstance(registry, dict) and registry:
        return [(str(name)[:100], scope) for name, scope in list(registry.items())[:MAX_SOURCES]
                if isinstance(scope, dict)]
    return [("notebook", namespace)]


def values(scope: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The student's own names in a namespace (not dunders, not the kernel's `In`/`Out`/`_1`)."""
    for name, value in list(scope.items()):
        if isinstance(name, str) and not name.startswith("_") and name not in ("In", "Out", "exit", "quit"):
            yield name, value


def instances(scope: dict[str, Any], kind: Any) -> list[tuple[str, Any]]:
    found = [(name, value) for name, value in values(scope) if isinstance(value, kind)]
    return found[:MAX_FOUND]


def student_module_classes(scope: dict[str, Any]) -> list[tuple[str, Any]]:
    """nn.Module subclasses the student defined (not torch's own, not imported from a library)."""
    import torch

    found = []
    for name, value in values(scope):
        if isinstance(value, type) and issubclass(value, torch.nn.Module) \
                and not str(getattr(value, "__module__", "")).startswith(("torch", "grader")):
            found.append((name, value))
    return found[:MAX_FOUND]


def layer_types(model: Any) -> list[str]:
    """The library layers inside a model, by class name, in order."""
    return [type(module).__name__ for module in model.modules()
            if type(module).__module__.startswith("torch.nn")][:64]


def fresh_copy(model: Any, seed: int) -> Any:
    """The same architecture with new initial weights: the student's trained instance, copied, and every
    library layer re-initialised under `seed` (constructors of script classes take unknown arguments)."""
    import copy

    from grader.sandbox.runtime import seed_everything

    fresh = copy.deepcopy(model)
    seed_everything(seed)
    for module in fresh.modules():
        if type(module).__module__.startswith("torch.nn") and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh


def run_script_again(path: str, seed: int) -> dict[str, Any]:
    """Run a script file of the submission once more, from the top, in a new namespace, after seeding
    everything with `seed`; its printing goes nowhere. The student's own training loop is top-level code:
    this is the only way to run it under the grader's calibrated seeds."""
    import builtins
    import contextlib
    import os

    from grader.sandbox.runtime import seed_everything

    path = os.path.abspath(path)  # the watcher knows the student's frames by their folder
    with open(path, encoding="utf-8", errors="replace") as handle:
        code = compile(handle.read(), path, "exec")
    scope: dict[str, Any] = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    seed_everything(seed)
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        exec(code, scope)  # noqa: S102 - the student's own script, inside the sandbox, as it ran before
    return scope


def short_list(value: Any, limit: int = 64) -> Optional[list[Any]]:
    """A short list (or tuple) of plain ints or one-character strings, as a list; else None."""
    if isinstance(value, (list, tuple)) and 0 < len(value) <= limit:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return [int(item) for item in value]
        if all(isinstance(item, str) and len(item) == 1 for item in value):
            return [str(item) for item in value]
    return None


# ---- in the parent -----------------------------------------------------------------------------------

def nothing_on_contract(observation: Any) -> bool:
    """The contract probe reported only contract problems (every name it needed missing or off-contract):
    the part was not written to the contract, so its evidence probe decides."""
    return isinstance(observation, dict) and bool(observation) and all(
        str(key).endswith("problems") and value for key, value in observation.items())


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def printed_numbers(text: str) -> list[float]:
    return [float(match) for match in NUMBER.findall(text)][:5000]


def printed_in_order(numbers: list[float], wanted: list[float], tolerance: float) -> bool:
    """Whether `wanted` appears in `numbers` in this order (other numbers may come between)."""
    position = 0
    for number in numbers:
        if position < len(wanted) and abs(number - wanted[position]) <= tolerance * max(1.0, abs(wanted[position])):
            position += 1
    return position == len(wanted)


def script_error(cells: list[dict[str, Any]], source: str) -> Optional[Msg]:
    """Where the script `source` stopped with an error, as the cell message the report uses; None if it ran."""
    return next((M("cell_raised", number=cell["index"] + 1, ename=cell.get("ename"),
                   evalue=str(cell.get("evalue"))[:200])
                 for cell in cells if cell.get("module") == source and cell.get("status") == "error"), None)
