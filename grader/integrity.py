"""Integrity notes: code that reaches outside its sandbox, found by reading it and by watching it run.

A hostile submission mostly earns a low score, which on its own looks like a weak student. These notes
tell the instructor *what it tried*: files outside its folder, the network, other processes, patching
numpy/torch/builtins, poking at the interpreter or the grader. They are evidence for a human, never a
penalty: the score comes from the checks alone.

Two sources, merged per submission:
* ``code``: a static read of every code cell and module, in this trusted process (IPython syntax such as
  ``!cmd`` is first turned into the Python it runs);
* ``sandbox``: what the kernel's audit hook saw the student's own frames do (see
  ``grader.sandbox.runtime.watch``), plus patched functions found (and put back) before the checks.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from grader import pysource

CATEGORIES = ("files", "network", "processes", "monkeypatch", "interpreter", "checks")
MAX_FINDINGS = 40

NETWORK_MODULES = {"socket", "requests", "urllib", "urllib3", "http", "httpx", "aiohttp", "ftplib", "smtplib",
                   "telnetlib", "paramiko", "websocket", "websockets", "ssl"}
PROCESS_MODULES = {"subprocess", "pty", "pexpect", "sh"}
INTERPRETER_MODULES = {"ctypes", "cffi", "gc", "grader", "rnn_grader", "ipykernel", "jupyter_client", "zmq", "inspect"}
# the grader's own modules named in a string (importlib.import_module("grader.parts..."), sys.modules[...])
GRADER_NAME = re.compile(r"^(grader|rnn_grader)(\.[A-Za-z_][\w.]*)?$")
# modules whose attributes a submission has no business replacing (the grader's checks rely on them)
WATCHED_MODULES = {"numpy", "torch", "builtins", "json", "math", "random", "os", "sys", "io", "grader",
                   "nbformat", "ipykernel", "IPython"}
PROCESS_CALLS = re.compile(r"^(os\.(system|popen|fork|forkpty|exec\w*|spawn\w*|posix_spawn\w*|kill|killpg|_exit)"
                           r"|subprocess\.\w+|signal\.(signal|pthread_kill|alarm)|pty\.\w+)$")
SHELL_CALLS = {"system": "shell command", "getoutput": "shell command"}
FRAME_CALLS = {"sys._getframe", "inspect.currentframe", "inspect.stack", "gc.get_objects", "gc.get_referrers",
               "sys.settrace", "sys.setprofile", "sys.addaudithook"}
# A string that names a place outside the working copy. Relative paths inside it are fine.
OUTSIDE_PATH = re.compile(r"^(/(proc|etc|root|home|sys|tmp|work|usr|var|opt|srv|mnt|run|autograder|content|"
                          r"Users|Volumes|bin|boot|lib|dev/(?!null))\b|~/|\.\./|[A-Za-z]:\\)")


@dataclass(frozen=True)
class Finding:
    category: str  # one of CATEGORIES
    detail: str  # what was seen, as the student wrote or did it
    where: str  # "cell 3, line 2", "part1.py:12", or "while running"
    source: str  # "code" (read statically) or "sandbox" (observed at run time)

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _to_python(source: str) -> str:
    """IPython syntax (`!ls`, `%%bash`) as the Python it runs; plain Python unchanged."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - an odd cell is read as it is
        return source


class _Reader(ast.NodeVisitor):
    def __init__(self, where: str) -> None:
        self.where = where
        self.aliases: dict[str, str] = {}
        self.found: list[Finding] = []

    def add(self, category: str, detail: str, node: ast.AST) -> None:
        line = getattr(node, "lineno", None)
        self.found.append(Finding(category, detail[:160], f"{self.where}, line {line}" if line else self.where,
                                  "code"))

    def dotted(self, node: ast.AST) -> str | None:
        """`np.linalg.norm` -> "numpy.linalg.norm", through the imports seen so far."""
        names = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
            names.append("get_ipython()")
        elif isinstance(node, ast.Name):
            names.append(self.aliases.get(node.id, node.id))
        else:
            return None
        return ".".join(reversed(names))

    def _module_imported(self, module: str, node: ast.AST) -> None:
        top = module.split(".")[0]
        if top in NETWORK_MODULES:
            self.add("network", f"import {module}", node)
        elif top in PROCESS_MODULES:
            self.add("processes", f"import {module}", node)
        elif top in INTERPRETER_MODULES:
            self.add("interpreter", f"import {module}", node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                alias.name.split(".")[0]
            self._module_imported(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}" if module else alias.name
        if node.level == 0:
            self._module_imported(module, node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func) or ""
        if name.startswith("get_ipython()."):
            method = name.split(".", 1)[1]
            if method in SHELL_CALLS:
                self.add("processes", f"{SHELL_CALLS[method]}: !{_literal(node.args[0]) if node.args else ''}", node)
            elif method == "run_cell_magic" and node.args and _literal(node.args[0]) in ("bash", "sh", "script"):
                self.add("processes", f"%%{_literal(node.args[0])} cell", node)
        elif PROCESS_CALLS.match(name):
            self.add("processes", f"{name}(...)", node)
        elif name.split(".")[0] == "socket":
            self.add("network", f"{name}(...)", node)
        elif name in FRAME_CALLS:
            self.add("interpreter", f"{name}(...)", node)
        elif name in ("setattr", "builtins.setattr", "delattr") and node.args:
            target = self.dotted(node.args[0])
            if target and target.split(".")[0] in WATCHED_MODULES:
                self.add("monkeypatch", f"{name}({target}, {_literal(node.args[1]) if len(node.args) > 1 else ''})",
                         node)
        self.generic_visit(node)

    def _assigned(self, target: ast.AST, value: ast.AST | None, node: ast.AST) -> None:
        if isinstance(target, ast.Attribute):
            name = self.dotted(target)
            constant = isinstance(value, ast.Constant)  # torch.backends.cudnn.deterministic = True is a setting
            if name and name.split(".")[0] in WATCHED_MODULES | {"__builtins__", "get_ipython()"} and not constant:
                self.add("monkeypatch", f"{name} = ...", node)
        elif isinstance(target, ast.Subscript):
            name = self.dotted(target.value)
            if name in ("sys.modules", "__builtins__", "builtins.__dict__"):
                self.add("monkeypatch", f"{name}[{_literal(target.slice)}] = ...", node)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assigned(element, None, node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node.target, node.value, node)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.dotted(node) == "sys.modules":  # reading it too: how code reaches the grader's loaded modules
            self.add("interpreter", "sys.modules", node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and GRADER_NAME.match(node.value) and "." in node.value:
            self.add("interpreter", f"names the grader's module {node.value!r}", node)
        if isinstance(node.value, str) and len(node.value) > 1 and OUTSIDE_PATH.match(node.value) \
                and "\n" not in node.value and " " not in node.value.strip():
            self.add("files", f"path {node.value!r}", node)


def _literal(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)[:60]
    try:
        return ast.unparse(node)[:60]
    except Exception:  # noqa: BLE001
        return "..."


def read_code(sources: Iterable[tuple[str, str]]) -> list[Finding]:
    """Static findings for (where, source) pairs: notebook cells or module files."""
    found: list[Finding] = []
    for where, source in sources:
        tree = pysource.parse(_to_python(source))
        if tree is None:
            continue  # it fails when it runs, and the report says so there
        reader = _Reader(where)
        reader.visit(tree)
        found += reader.found
    return found


def merge(*groups: Iterable[Finding]) -> list[dict[str, Any]]:
    """One list for the results: first occurrence of each (category, detail), capped."""
    seen: set[tuple[str, str]] = set()
    merged = []
    for group in groups:
        for finding in group:
            key = (finding.category, finding.detail)
            if key in seen or finding.category not in CATEGORIES:
                continue
            seen.add(key)
            merged.append(finding.to_json())
    return merged[:MAX_FINDINGS]


def from_sandbox(events: list[Any]) -> list[Finding]:
    """What the kernel's watcher reported; malformed entries are dropped (the kernel is untrusted)."""
    found = []
    for event in events[:200]:
        if isinstance(event, dict) and event.get("category") in CATEGORIES:
            found.append(Finding(str(event["category"]), str(event.get("detail", ""))[:160], "while running",
                                 "sandbox"))
    return found


def from_grader(problems: list[str]) -> list[Finding]:
    """What the parent itself found wrong with what came back: refused lines, observations that do not
    answer the request, claims that disagree with the parent's own evaluation."""
    return [Finding("checks", str(problem)[:160], "the grader's checks", "grader") for problem in problems[:40]]
