"""The student kit (`grade kit`): what it holds, that it judges like the full grader, and that the template
repository's workflow grades with it alone, installed as a wheel on a simulated GitHub Actions runner."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES, REPO
from grader.config import load_config
from grader.expected import ExpectationsMissing, Recorded, computed
from grader.kit import ENGINE_SHARES, KIT_FOLDER, leaks, main as build_kit
from grader.pipeline import GradeOptions, plan_probes

GRADE = Path(sys.executable).with_name("grade")
BUILD_SEED = "918273645"  # a term's secret, given the way instructors give it: in the environment


@pytest.fixture(scope="module")
def kit(tmp_path_factory, monkeypatch_module):
    """The kit built from the repository, its wheel's files, and the wheel unpacked as an install would."""
    monkeypatch_module.setenv("RNN_GRADER_HIDDEN_SEED", BUILD_SEED)
    out = tmp_path_factory.mktemp("kit")
    built = build_kit(out=out / "dist")
    with zipfile.ZipFile(built.wheel) as wheel:
        files = {name: wheel.read(name) for name in wheel.namelist()}
        wheel.extractall(out / "unpacked")
    return built, files, out / "unpacked"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_kit_holds_no_reference_code_no_hidden_seed_and_no_rubric(kit):
    built, files, _ = kit
    reference = (REPO / "reference" / "rnn_basics.py").read_text(encoding="utf-8")
    import tomllib

    grading = tomllib.loads((REPO / "assignments" / "rnn-basics" / "grading.toml").read_text(encoding="utf-8"))
    secrets = [BUILD_SEED, str(grading["seeds"]["hidden"])]  # the environment's and the file's
    assert leaks(files, reference, secrets) == []
    blob = b"\n".join(files.values())
    assert not any(secret.encode() in blob for secret in secrets)
    assert not any(name.startswith("reference/") or name.endswith(("rubric.toml", "solution.ipynb"))
                   for name in files)
    # every function of the reference, as written, is nowhere in the kit
    tree = ast.parse(reference)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            body = "\n".join(ast.get_source_segment(reference, node).splitlines()[1:])
            assert body.encode() not in blob, node.name
    rubric = (REPO / "assignments" / "rnn-basics" / "rubric.toml").read_text(encoding="utf-8")
    pattern = re.search(r'any = \[\s*"([^"]{40,})"', rubric)
    assert pattern and pattern.group(1).encode() not in blob  # key-point patterns stay with the instructor
    settings = files[f"{KIT_FOLDER}/grading.toml"].decode()
    assert "[seeds]" in settings and "hidden" not in settings.split("[seeds]")[1].split("[")[0]
    assert {"grader/cli.py", "grader/parts/part3_seq2seq.py", f"{KIT_FOLDER}/homework.ipynb",
            f"{KIT_FOLDER}/CONTRACT.md", f"{KIT_FOLDER}/expectations.json"} <= set(files)
    assert "grader/authoring.py" not in files  # reads the reference
    metadata = next(data for name, data in files.items() if name.endswith(".dist-info/METADATA")).decode()
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert re.findall(r"^Requires-Dist: (.+)$", metadata, flags=re.M) == declared  # installs what the engine needs
    assert built.template and (built.template / "kit" / built.wheel.name).is_file()


def test_the_scan_finds_a_planted_solution_or_seed():
    reference = (REPO / "reference" / "rnn_basics.py").read_text(encoding="utf-8")
    srn_numpy = next(node for node in ast.parse(reference).body
                     if isinstance(node, ast.FunctionDef) and node.name == "srn_numpy")
    renamed = ast.get_source_segment(reference, srn_numpy).replace("def srn_numpy(", "def helper(", 1)
    assert leaks({"grader/helper.py": renamed.encode()}, reference, [])  # a whole body, under another name
    one_line = next(line for line in ast.get_source_segment(reference, srn_numpy).splitlines()[1:]
                    if len(" ".join(line.split())) >= 24 and not line.strip().startswith(("#", '"')))
    assert leaks({"x.py": ("x = 1\n" + one_line.strip() + "\n").encode()}, reference, [])
    assert leaks({"a.toml": b"hidden = 918273645\n"}, reference, ["918273645"])
    assert not leaks({"a.toml": b"hidden = 9182736450\n"}, reference, ["918273645"])
    # every allowance is still needed (a stale one would hide a later leak) and says why
    engine = {" ".join(line.split()) for path in (REPO / "grader").rglob("*.py")
              for line in path.read_text(encoding="utf-8").splitlines()}
    assert all(statement in engine and reason for statement, reason in ENGINE_SHARES.items())


def test_recorded_answers_are_the_reference_answers_to_every_students_public_requests(kit, reference):
    _, _, unpacked = kit
    config = load_config()
    recorded = Recorded(unpacked / KIT_FOLDER / "expectations.json")
    parts = list(config.all_parts)
    public = plan_probes("ann", parts, config, GradeOptions(public_only=True))
    assert public == plan_probes("bo", parts, config, GradeOptions(public_only=True))  # the same for everyone
    checked = 0
    for part in parts:
        if part.expect is None or part.id not in public:
            continue
        _assert_same(recorded.answers(part, public[part.id]), computed(part, public[part.id], reference))
        checked += 1
    assert checked == 7
    graded = plan_probes("ann", parts, config, GradeOptions())
    with pytest.raises(ExpectationsMissing):  # a hidden case was never recorded: the kit cannot judge it
        recorded.answers(parts[0], graded[parts[0].id])


def _assert_same(left, right) -> None:
    if isinstance(left, np.ndarray):
        assert isinstance(right, np.ndarray) and left.dtype == right.dtype and np.array_equal(left, right)
    elif isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            _assert_same(left[key], right[key])
    elif isinstance(left, list):
        assert len(left) == len(right)
        for a, b in zip(left, right):
            _assert_same(a, b)
    else:
        assert left == right


@pytest.mark.slow
def test_kit_and_full_grader_give_the_example_class_the_same_public_checks(kit, monkeypatch):
    """Each student runs once; the kit's assignment (no reference: recorded answers) and the full grader in
    public-only mode judge the same observations."""
    import grader.pipeline as pipeline
    from grader.submissions import discover

    _, _, unpacked = kit
    full, kit_config = load_config(), load_config(unpacked / KIT_FOLDER)
    assert kit_config.is_kit and kit_config.reference_path is None
    records, execute = {}, pipeline.execute_submission

    def execute_once(loaded, parts, requests, config, options):
        key = loaded.submission.student
        if key not in records:
            records[key] = (json.dumps(requests, sort_keys=True), execute(loaded, parts, requests, config, options))
        assert records[key][0] == json.dumps(requests, sort_keys=True)  # the kit asks exactly what the grader asked
        return records[key][1]

    monkeypatch.setattr(pipeline, "execute_submission", execute_once)
    options = GradeOptions(device="cpu", public_only=True)
    # both formats and every part's public failure; heidi (a written part), judy (hidden cases) and ivan (1.3 not
    # defined: judged without expected values) add nothing here that these do not, and the suite has a budget
    submissions = [s for s in discover([EXAMPLES]) if s.student in
                   ("alice", "bob", "carol", "dave", "erin", "frank", "grace")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        graded = list(pool.map(lambda s: pipeline.grade_submission(s, full, options), submissions))
    from_kit = [pipeline.grade_submission(s, kit_config, GradeOptions(device="cpu")) for s in submissions]
    for a, b in zip(graded, from_kit):
        assert a.status == b.status == "graded", (a.student, a.error, b.error)
        assert (a.score, a.max_score) == (b.score, b.max_score), a.student
        assert [(c.id, c.score, c.max_score, c.message) for p in a.parts for c in p.checks] == \
            [(c.id, c.score, c.max_score, c.message) for p in b.parts for c in p.checks], a.student
    by_student = {r.student: r for r in from_kit}
    assert by_student["alice"].score == by_student["alice"].max_score == 70  # every public check of the reference
    assert by_student["carol"].score < by_student["carol"].max_score  # carol's srn_numpy fails the example


def _workflow_commands(template: Path) -> tuple[str, str]:
    text = (template / ".github" / "workflows" / "classroom.yml").read_text(encoding="utf-8")
    install = re.search(r"name: Install the student kit\n\s+run: \|\n((?:\s{10}.+\n)+)", text)
    grade = re.findall(r"^\s+run: (grade .+)$", text, flags=re.M)
    assert install and len(grade) == 1 and "secrets." not in text and "git clone" not in text
    return install.group(1), grade[0]


@pytest.mark.slow
def test_template_workflow_grades_with_the_installed_kit_alone(kit, tmp_path):
    built, _, _ = kit
    install, grade_command = _workflow_commands(built.template)
    assert "kit/*.whl" in install and "-c kit/constraints.txt" in install
    repo = tmp_path / "student-repo"
    shutil.copytree(built.template, repo)
    notebook = json.loads((EXAMPLES / "carol" / "homework.ipynb").read_text(encoding="utf-8"))
    notebook["cells"].insert(2, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                 "source": "print('::notice title=Autograder::Points 100/100')", "id": "forged"})
    (repo / "homework.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    # the workflow's install, without the network: the kit's own wheel into its own site folder (its
    # dependencies are this environment's, the versions of the constraints file)
    site = tmp_path / "site"
    wheel = next((repo / "kit").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
           "PATH": f"{GRADE.parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(site)}
    env.pop("RNN_GRADER_HIDDEN_SEED", None)
    which = subprocess.run([sys.executable, "-c", "import grader.config as c; print(c.__file__, c.DEFAULT_ASSIGNMENT)"],
                           env=env, cwd=repo, capture_output=True, text=True, check=True)
    assert which.stdout.startswith(str(site)) and str(REPO) not in which.stdout  # the kit, not this repository
    completed = subprocess.run(["bash", "-c", grade_command], cwd=repo, env=env, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = completed.stdout.strip().splitlines()
    start = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", lines[0])
    assert start and lines[-1] == f"::{start.group(1)}::"
    assert not any(line.startswith("::") for line in lines[1:-1])  # the forged notice is not a command
    markdown = summary.read_text(encoding="utf-8")
    assert "## homework: 64 / 70" in markdown and "| ❌ 1.1 SRN in numpy, no activation | 0 / 3 |" in markdown
    assert "| ➖ 5 Sequence and sequence to sequence | 0 / 0 | checked when your instructor grades |" in markdown
    key, value = output.read_text(encoding="utf-8").strip().split("=", 1)
    result = json.loads(base64.b64decode(value))
    assert key == "result" and result["status"] == "fail" and result["max_score"] == 70
    assert sum(t["score"] for t in result["tests"]) == 64
    assert not any(t["name"].startswith(("5 ", "6 ")) for t in result["tests"])  # nothing of them checked here
    first = result["tests"][0]
    assert first["status"] == "fail" and "largest difference" in first["message"]
    assert "hidden" not in first["message"]  # hidden cases are not run on the student's runner at all


def test_a_kit_of_another_homework_ships_its_parts_package(tmp_path):
    built = build_kit(out=tmp_path, assignment=REPO / "tests" / "data" / "tiny" / "assignment")
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        expectations = json.loads(wheel.read(f"{KIT_FOLDER}/expectations.json"))
        manifest = wheel.read(f"{KIT_FOLDER}/assignment.toml").decode()
    assert "tiny_parts/__init__.py" in names and 'parts = "tiny_parts"' in manifest
    assert expectations["parts"]["1"]["expected"] == {"sums": [[4.0, 6.0]]}  # the public example only
    assert built.template is None  # the tiny homework has no template repository
