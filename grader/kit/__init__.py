"""`grade kit OUT`: the student kit, a wheel that self-checks and push-grades without the solution.

What students may run on their own machines (``grade check``, ``grade run --ci github`` in the template
repository's workflow) must not carry the reference solution or the hidden seed. The kit holds:

* the engine (``grader/``, less the instructor's authoring tools, which read the reference);
* the assignment's parts package, its handout and contract, and ``grading.toml`` without the hidden seed
  (and without the rubric: key points of the written answers are the instructor's);
* ``expectations.json``: the reference's answers recorded for exactly the public requests (fixed examples,
  public-seed cases, make_data tensors, shapes), which are the same for every student (grader.expected).

A kit grades public checks only: its scores are shares of the public checks. Before writing, the build
scans every file it would ship for the reference's code and the hidden seed (``leaks``) and refuses to write
a kit that holds either. ``OUT/template-repo/`` is the assignment's template repository with the wheel in
``kit/``, ready to push as the GitHub Classroom template.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib
import io
import json
import re
import shutil
import tomllib
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterable, Iterator

import tomli_w

from grader import __version__
from grader.config import DEFAULT_ASSIGNMENT, REPO_ROOT, GradingConfig, load_config
from grader.expected import record

DIST = "rnn_grader_kit"
KIT_FOLDER = "grader/kit_data/assignment"  # grader.config finds the kit's assignment here
ENGINE = Path(__file__).resolve().parents[1]  # the `grader` package
# the instructor's tools that read the reference solution: never in a kit
INSTRUCTOR_ONLY = ("authoring.py", "examples.py")
ENGINE_FILES = ("*.py", "catalog/*.toml", "report/templates/*.j2")
STUDENT_DOCS = ("CONTRACT.md",)  # besides the handout: what students implement
EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same wheel
MIN_LINE = 24  # reference lines shorter than this are too common to be evidence of a leak ("return h")
# Statements the engine shares with the reference because it evaluates the same contract itself; each is
# what the handout and its tutorials already show, never a whole solution. A new one fails the build.
ENGINE_SHARES = {
    "for name, parameter in module.named_parameters():":
        "1.3/1.4: the grader reads a student's parameters (a PyTorch idiom)",
    "hidden = cell(x_t, hidden)":
        "2.1: the grader steps an RNNCell over time to evaluate trained weights (the lecture's loop)",
    "hidden = model(x_t, hidden)": "2.1: the grader steps a student's HelloCell over time",
    "optimizer = torch.optim.Adam(model.parameters(), lr=lr)":
        "2.x: the grader's own training loop, run on a fresh copy of the student's model (model_trains)",
    "targets = labels.reshape(-1)": "2.x: the same loop (a PyTorch idiom)",
    "_, context = self.encoder(enc_input.transpose(0, 1), enc_hidden)":
        "3: the grader's forward of the contract's seq2seq, to evaluate trained weights in the parent; the "
        "seq2seq tutorial the homework builds on has the same lines",
    "decoded, _ = self.decoder(dec_input.transpose(0, 1), context)": "3: the same forward",
    "for _ in range(n_step + 1):": "3: the grader's greedy decoding of trained weights (translations)",
    "for word, target in pairs:": "3: the grader's loop over word pairs",
}


class KitRefused(ValueError):
    """The kit cannot be built, or would hold what students must not see; the message says what."""


@dataclass
class Kit:
    wheel: Path
    template: Path | None
    files: list[str] = field(default_factory=list)  # what the wheel holds
    public_parts: list[str] = field(default_factory=list)  # parts with recorded expectations


def main(*, out: Path, assignment: Path = DEFAULT_ASSIGNMENT) -> Kit:
    config = load_config(assignment)
    if config.is_kit or config.assignment is None:
        raise KitRefused(f"{assignment} is already a student kit's assignment: build kits from the full grader")
    manifest = tomllib.loads((config.assignment.folder / "assignment.toml").read_text(encoding="utf-8"))
    files = dict(_engine_files())
    files.update(_parts_package_files(manifest["parts"]))
    folder, public_parts = _assignment_files(config, manifest)
    files.update({f"{KIT_FOLDER}/{name}": data for name, data in folder.items()})
    problems = leaks(files, config.reference_path.read_text(encoding="utf-8"), [str(config.seeds.hidden)])
    if problems:
        raise KitRefused("the kit would hold what students must not see:\n  " + "\n  ".join(problems[:10]))
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{DIST}-{__version__}-py3-none-any.whl"
    _write_wheel(wheel, files)
    template = _template_repository(config, out, wheel)
    return Kit(wheel, template, sorted(files), public_parts)


# ---- what the kit holds ------------------------------------------------------------------------------

def _engine_files() -> Iterator[tuple[str, bytes]]:
    for pattern in ENGINE_FILES:
        for path in sorted(ENGINE.rglob(pattern)):
            relative = path.relative_to(ENGINE)
            if "__pycache__" in relative.parts or relative.parts[0] == "kit_data" or str(relative) in INSTRUCTOR_ONLY:
                continue
            yield f"grader/{relative.as_posix()}", path.read_bytes()


def _parts_package_files(parts: str) -> dict[str, bytes]:
    """A parts package outside the engine (another homework's) is shipped beside it, importable by name."""
    package = importlib.import_module(parts.split(".")[0])
    root = Path(package.__file__ or "").parent
    if root == ENGINE:
        return {}
    return {f"{package.__name__}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in sorted(root.rglob("*.py")) if "__pycache__" not in path.parts}


def _assignment_files(config: GradingConfig, manifest: dict) -> tuple[dict[str, bytes], list[str]]:
    """The kit's assignment folder: manifest, settings without secrets, handout, contract, expectations."""
    from grader.pipeline import GradeOptions, load_reference, plan_probes

    assignment = config.assignment
    assert assignment is not None and assignment.reference_path is not None
    parts = list(assignment.parts)
    # the public requests are the same for every student (pipeline.hidden_rng): recorded once
    requests = plan_probes("kit", parts, config, GradeOptions(device="cpu", public_only=True))
    expectations = record(parts, requests, load_reference(assignment.reference_path))
    manifest = {key: value for key, value in manifest.items() if key in ("title", "title_zh", "parts")}
    manifest["expectations"] = "expectations.json"
    folder: dict[str, bytes] = {}
    if assignment.handout_path and assignment.handout_path.is_file():
        manifest["handout"] = assignment.handout_path.name
        folder[assignment.handout_path.name] = assignment.handout_path.read_bytes()
    for name in STUDENT_DOCS:
        if (assignment.folder / name).is_file():
            folder[name] = (assignment.folder / name).read_bytes()
    settings = config.model_dump(mode="json", exclude={"rubric", "assignment"})
    settings["seeds"].pop("hidden")  # the secret stays with the instructor
    folder["assignment.toml"] = ("# A student kit's assignment (built by `grade kit`): public checks only.\n"
                                 + tomli_w.dumps(manifest)).encode()
    folder["grading.toml"] = ("# Built by `grade kit` from the course's grading.toml, without the hidden seed.\n"
                              + tomli_w.dumps(settings)).encode()
    folder["expectations.json"] = json.dumps(expectations, indent=0, sort_keys=True).encode()
    return folder, sorted(expectations["parts"])


# ---- the safety scan ---------------------------------------------------------------------------------

def _body_dumps(tree: ast.AST) -> dict[str, str]:
    """Each function's and class's body (docstring left out) as a normalised AST dump -> its first statement."""
    dumps = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) and \
                isinstance(getattr(node.body[0], "value", None), ast.Constant) else node.body
            if body and not (len(body) == 1 and isinstance(body[0], (ast.Pass, ast.Raise))):
                dumps[ast.dump(ast.Module(body=body, type_ignores=[]))] = " ".join(ast.unparse(body[0]).split())
    return dumps


def _code_lines(source: str) -> set[str]:
    """The reference's statements inside functions and classes, whitespace-normalised, long enough to tell."""
    tree = ast.parse(source)
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for statement in node.body:
                if isinstance(statement, (ast.FunctionDef, ast.ClassDef)) or (
                        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
                    continue
                for line in (ast.get_source_segment(source, statement) or "").splitlines():
                    text = " ".join(line.split())
                    if len(text) >= MIN_LINE and not text.startswith("#"):
                        lines.add(text)
    return lines


def leaks(files: dict[str, bytes], reference_source: str, secrets: list[str],
          allowed: Iterable[str] = ENGINE_SHARES) -> list[str]:
    """Where `files` hold the reference's code (a function or class body, or one of its statements) or a
    secret; empty when none. Notebooks are read as text too: a handout's cells are its JSON strings.
    `allowed`: statements known to be shared (ENGINE_SHARES), and bodies that start with one of them."""
    allowed = set(allowed)
    bodies = {dump: first for dump, first in _body_dumps(ast.parse(reference_source)).items()
              if first not in allowed and not any(first.startswith(a) for a in allowed)}
    lines = _code_lines(reference_source) - allowed
    found = []
    for name, data in sorted(files.items()):
        text = data.decode("utf-8", errors="replace")
        if name.endswith(".ipynb"):
            text = text.replace("\\n", "\n").replace('\\"', '"')
        for secret in secrets:
            if secret and re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text):
                found.append(f"{name}: holds the hidden seed")
        normalised = {" ".join(line.split()) for line in text.splitlines()}
        found += [f"{name}: holds the reference's line {line!r}" for line in sorted(lines & normalised)]
        if name.endswith(".py"):
            try:
                shared = sorted(bodies[dump] for dump in set(bodies) & set(_body_dumps(ast.parse(text))))
            except SyntaxError:
                shared = []
            if shared:
                found.append(f"{name}: holds a function or class body of the reference, starting {shared[0]!r}")
    return found


# ---- the wheel ---------------------------------------------------------------------------------------

def _requirements() -> list[str]:
    """The engine's dependencies: from pyproject.toml where the grader runs from its repository (the
    installed metadata of an editable install is only as new as its last `pip install`), else installed."""
    pyproject = REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"])
    try:
        return [r for r in metadata.requires("rnn-grader") or [] if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        return []


def _metadata() -> str:
    requires = _requirements()
    lines = ["Metadata-Version: 2.1", f"Name: {DIST.replace('_', '-')}", f"Version: {__version__}",
             "Summary: The RNN homework's student kit: public self-checks and push grading, no solution",
             "Requires-Python: >=3.11", *(f"Requires-Dist: {r}" for r in requires)]
    return "\n".join(lines) + "\n"


def _write_wheel(path: Path, files: dict[str, bytes]) -> None:
    """A pure-Python wheel (PEP 427) written directly: a zip with a dist-info folder and a RECORD of hashes."""
    info = f"{DIST}-{__version__}.dist-info"
    entries = dict(sorted(files.items()))
    entries[f"{info}/METADATA"] = _metadata().encode()
    entries[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: rnn-grader {__version__} (grade kit)\n"
                                "Root-Is-Purelib: true\nTag: py3-none-any\n").encode()
    entries[f"{info}/entry_points.txt"] = b"[console_scripts]\ngrade = grader.cli:main\n"
    record_lines = []
    for name, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{name},sha256={digest},{len(data)}")
    entries[f"{info}/RECORD"] = ("\n".join(record_lines) + f"\n{info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            item = zipfile.ZipInfo(name, EPOCH)
            item.external_attr = 0o644 << 16
            archive.writestr(item, data, zipfile.ZIP_DEFLATED)
    path.write_bytes(buffer.getvalue())


def _template_repository(config: GradingConfig, out: Path, wheel: Path) -> Path | None:
    """The assignment's template repository with the kit in `kit/`: what the instructor pushes as the
    Classroom template (its workflow installs `kit/*.whl`; nothing is cloned, no secret is needed)."""
    assert config.assignment is not None
    source = config.assignment.folder / "template-repo"
    if not source.is_dir():
        return None
    target = out / "template-repo"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    (target / "kit").mkdir()
    shutil.copy2(wheel, target / "kit" / wheel.name)
    lock = REPO_ROOT / "requirements" / "lock.txt"  # the versions the course tested, where it has them
    (target / "kit" / "constraints.txt").write_text(lock.read_text(encoding="utf-8") if lock.is_file() else "",
                                                    encoding="utf-8")
    return target
