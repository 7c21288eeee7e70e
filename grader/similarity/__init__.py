"""Who resembles whom across a class: winnowed fingerprints of normalised code (copydetect), for a person.

Each submission's code (a notebook's code cells, or its .py files) is tokenised with identifiers, function
and class names and strings abstracted, comments dropped, and reduced to k-gram fingerprints by winnowing
(the MOSS approach, done by copydetect). Fingerprints that are not the students' own are removed first:
the handout's code, every file under the instructor's known sources (``--known``: the tutorials this
homework builds on), and any fingerprint that more than ``common`` submissions share (code everybody
got from the same place). What two students still share is their overlap; a pair's score is the larger of
the two shares (a short submission copied into a long one still ranks high). Nothing here changes a grade.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from grader.results import safe_file_name
from grader.submissions import Submission

NOISE_TOKENS = 25  # k: shortest run of (normalised) characters that counts as shared
GUARANTEE_TOKENS = 30  # any shared run this long is always found (winnowing window = guarantee - noise + 1)
MAX_SOURCE_BYTES = 2 << 20
_MAGIC = re.compile(r"^\s*[%!]")


@dataclass(frozen=True)
class StudentCode:
    student: str
    files: tuple[str, ...]  # what the code came from, for the report
    code: str


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float  # the larger share
    a_share: float  # share of a's code found in b's
    b_share: float
    shared_tokens: int
    page: str  # side-by-side page, relative to the output folder


def code_of(submission: Submission) -> Optional[StudentCode]:
    """The student's code as one Python text, cells and files in order; None when there is none."""
    chunks, files = [], []
    for path in _sources(submission):
        try:
            if path.stat().st_size > MAX_SOURCE_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        files.append(path.name)
        chunks.append(_notebook_code(text) if path.suffix == ".ipynb" else text)
    code = "\n\n".join(chunk for chunk in chunks if chunk.strip())
    return StudentCode(submission.student, tuple(files), code) if code.strip() else None


def _sources(submission: Submission) -> list[Path]:
    if submission.kind == "notebook" and submission.notebook is not None:
        return [submission.notebook]
    return list(submission.modules)


def _notebook_code(text: str) -> str:
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    code = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            code.append("\n".join(line for line in source.splitlines() if not _MAGIC.match(line)))
    return "\n\n".join(code)


def known_code(paths: Iterable[Path]) -> list[str]:
    """The code of the handout and the instructor's known sources (files or folders of .py / .ipynb)."""
    texts = []
    for root in paths:
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in (".py", ".ipynb"))
        for path in candidates:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")[:MAX_SOURCE_BYTES]
            except OSError:
                continue
            texts.append(_notebook_code(text) if path.suffix == ".ipynb" else text)
    return texts


@dataclass
class Fingerprint:
    """What copydetect's compare_files reads of a document (its CodeFingerprint, with a stable hash)."""

    k: int
    hashes: set[int]
    hash_idx: dict[int, list[int]]
    filtered_code: str
    offsets: np.ndarray
    token_coverage: int


def _kgram_hashes(text: str, k: int) -> np.ndarray:
    # copydetect hashes k-grams with Python's hash(), which changes with every process (PYTHONHASHSEED):
    # the same class would rank differently run to run. A keyed digest is the same everywhere.
    return np.array([int.from_bytes(hashlib.blake2b(text[i:i + k].encode(), digest_size=8).digest(), "little",
                                    signed=True) for i in range(len(text) - k + 1)], dtype=np.int64)


@dataclass(frozen=True)
class Winnowed:
    """A document tokenised and normalised (copydetect's filter_code), its k-grams hashed and winnowed."""

    filtered: str
    offsets: np.ndarray
    hashes: np.ndarray
    idx: np.ndarray


def _winnow(code: str) -> Winnowed:
    from copydetect.utils import filter_code, winnow  # imported here: copydetect imports matplotlib (~0.8 s)

    filtered, offsets = filter_code(code, "code.py")
    hashes, idx = winnow(_kgram_hashes(filtered, NOISE_TOKENS), window_size=GUARANTEE_TOKENS - NOISE_TOKENS + 1,
                         remove_duplicates=False)
    return Winnowed(filtered, offsets, hashes, idx)


@functools.lru_cache(maxsize=1)
def _winnow_version() -> str:
    """What else decides a document's fingerprints: this module's code and copydetect's version."""
    from importlib.metadata import version

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16] + "/" + version("copydetect")


def _winnow_cached(code: str, folder: Optional[Path]) -> Winnowed:
    """`_winnow`, kept on disk by content under `folder` (None: computed every time). Tokenising is most of
    what comparing a class costs, and a re-run sees mostly the same code; a file that cannot be read or
    written costs the computation, never the comparison. Read without pickle (plain arrays only)."""
    if folder is None:
        return _winnow(code)
    digest = hashlib.sha256(json.dumps([_winnow_version(), NOISE_TOKENS, GUARANTEE_TOKENS, code]).encode()).hexdigest()
    path = folder / digest[:2] / f"{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return Winnowed(str(stored["filtered"]), stored["offsets"], stored["hashes"], stored["idx"])
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: computed again
        pass
    document = _winnow(code)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")  # whole or not at all
        with os.fdopen(handle, "wb") as file:
            np.savez(file, filtered=np.array(document.filtered), offsets=document.offsets, hashes=document.hashes,
                     idx=document.idx)
        os.replace(temporary, path)
    except OSError:
        pass
    return document


def _fingerprint(document: Winnowed, boilerplate: Optional[np.ndarray] = None) -> Fingerprint:
    """The document's fingerprints without the boilerplate ones."""
    hashes, idx, filtered, offsets = document.hashes, document.idx, document.filtered, document.offsets
    if boilerplate is not None and len(boilerplate):
        keep = ~np.isin(hashes, boilerplate)
        hashes, idx = hashes[keep], idx[keep]
    from copydetect.utils import get_token_coverage

    where: dict[int, list[int]] = {}
    for value, index in zip(hashes.tolist(), idx.tolist()):
        where.setdefault(value, []).append(index)
    return Fingerprint(NOISE_TOKENS, set(where), where, filtered, offsets,
                       get_token_coverage(where, NOISE_TOKENS, len(filtered)))


def default_common(students: int) -> int:
    """Shared by more submissions than this, a fingerprint is common property (MOSS's -m, scaled down for
    small classes): never fewer than 2, so that a pair is never its own crowd."""
    return max(2, min(10, students // 4))


@dataclass
class Comparison:
    codes: list[StudentCode]
    pairs: list[Pair]  # most similar first
    prints: dict[str, Fingerprint]
    common: int
    known_files: int

    def slices(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        """Where the two share code, in each one's own text."""
        from copydetect import compare_files

        _, _, (left, right) = compare_files(self.prints[pair.a], self.prints[pair.b])
        return left, right

    def to_json(self) -> dict:
        return {"students": len(self.codes), "common_threshold": self.common, "known_files": self.known_files,
                "noise_tokens": NOISE_TOKENS, "guarantee_tokens": GUARANTEE_TOKENS,
                "pairs": [asdict(pair) for pair in self.pairs]}


def compare_class(codes: list[StudentCode], known: list[str], common: Optional[int] = None,
                  cache: Optional[Path] = None) -> Comparison:
    """Every pair of students, most similar first; `cache`: a folder that keeps each document's fingerprints."""
    from copydetect import compare_files

    common = default_common(len(codes)) if common is None else common
    excluded: set[int] = set()
    for text in known:
        excluded |= set(_winnow_cached(text, cache).hashes.tolist())
    documents = {code.student: _winnow_cached(code.code, cache) for code in codes}  # the costly part
    counts: dict[int, int] = {}
    for document in documents.values():
        for value in set(document.hashes.tolist()):
            counts[value] = counts.get(value, 0) + 1
    excluded |= {value for value, count in counts.items() if count > common}
    boilerplate = np.array(sorted(excluded), dtype=np.int64) if excluded else None
    prints = {student: _fingerprint(document, boilerplate) for student, document in documents.items()}
    pairs = []
    for i, first in enumerate(codes):
        for second in codes[i + 1:]:
            overlap, (share_a, share_b), _ = compare_files(prints[first.student], prints[second.student])
            pairs.append(Pair(first.student, second.student, round(float(max(share_a, share_b)), 4),
                              round(float(share_a), 4), round(float(share_b), 4), int(overlap),
                              _page_name(first.student, second.student)))
    pairs.sort(key=lambda p: (-p.score, -p.shared_tokens, p.a, p.b))
    return Comparison(codes, pairs, prints, common, len(known))


def _page_name(a: str, b: str) -> str:
    return f"similarity/{safe_file_name(a)}--{safe_file_name(b)}.html"


def highlighted(code: str, slices: np.ndarray) -> str:
    """The code as HTML with the shared regions in <mark>, every piece escaped."""
    spans = sorted((int(s), int(e)) for s, e in zip(*slices)) if len(slices) and len(slices[0]) else []
    out, at = [], 0
    for start, end in spans:
        start = max(start, at)
        if end <= start:
            continue
        out.append(html.escape(code[at:start]))
        out.append(f"<mark>{html.escape(code[start:end])}</mark>")
        at = end
    out.append(html.escape(code[at:]))
    return "".join(out)


def write_similarity(out: Path, comparison: Comparison, lang: str = "en", pages: int = 20) -> Path:
    """`out/similarity.json` (every pair, most similar first), `out/similarity.html` and a side-by-side page
    for each of the top `pages` pairs that share anything. Returns the HTML page's path."""
    from grader.i18n import Translator
    from grader.report import _environment

    out.mkdir(parents=True, exist_ok=True)
    (out / "similarity.json").write_text(json.dumps(comparison.to_json(), indent=1, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    t, environment = Translator(lang), _environment()
    codes = {code.student: code for code in comparison.codes}
    shown = [pair for pair in comparison.pairs if pair.shared_tokens > 0][:pages]
    (out / "similarity").mkdir(exist_ok=True)
    for pair in shown:
        left, right = comparison.slices(pair)
        (out / pair.page).write_text(environment.get_template("pair.html.j2").render(
            t=t, pair=pair, left=codes[pair.a], right=codes[pair.b],
            left_html=highlighted(codes[pair.a].code, left), right_html=highlighted(codes[pair.b].code, right)),
            encoding="utf-8")
    page = out / "similarity.html"
    page.write_text(environment.get_template("similarity.html.j2").render(
        t=t, comparison=comparison, pairs=comparison.pairs[:200], linked={p.page for p in shown}),
        encoding="utf-8")
    return page


def main(*, paths: list[Path], out: Path, known: Iterable[Path] = (), common: Optional[int] = None,
         lang: str = "en", assignment: Optional[Path] = None) -> Comparison:
    """`grade similarity PATH... --out DIR`: compare a class's code pairwise; write JSON and HTML."""
    from grader.config import DEFAULT_ASSIGNMENT, load_config
    from grader.submissions import discover

    config = load_config(assignment or DEFAULT_ASSIGNMENT)
    handout = [config.assignment.handout_path] if config.assignment and config.assignment.handout_path else []
    codes = [code for code in map(code_of, discover(paths)) if code is not None]
    comparison = compare_class(codes, known_code([*handout, *known]), common)
    write_similarity(out, comparison, lang)
    return comparison
