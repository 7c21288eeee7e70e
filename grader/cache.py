"""Results cache: a submission is re-executed only when its files, the grader or the config changed.

Key: sha256 of the student id, the submission's content hash, the grader's own code (its version and a hash
of its source and message catalogues, so an edited grader never serves stale verdicts), the config
fingerprint (points, limits, seeds, rubric) and the run options that change a grade (parts, device). Entries hold results before
reviews are applied, so editing review.csv never needs a re-run.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from grader import __version__
from grader.config import GradingConfig
from grader.pipeline import GradeOptions
from grader.results import SubmissionResult


@lru_cache(maxsize=1)
def grader_fingerprint() -> str:
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.toml")]):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(student: str, content_hash: str, config: GradingConfig, options: GradeOptions) -> str:
    # the student id is part of the key: hidden cases are drawn per student
    material = json.dumps([student, content_hash, grader_fingerprint(), config.fingerprint(), sorted(options.parts),
                           options.device, options.public_only, options.timeout_s], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


class ResultCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> SubmissionResult | None:
        path = self.folder / f"{key}.json"
        try:
            result = SubmissionResult.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            return None  # absent or unreadable: grade again
        result.from_cache = True
        return result

    def put(self, key: str, result: SubmissionResult) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{key}.json.tmp"
        temporary.write_text(json.dumps(result.to_json(), ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(temporary, self.folder / f"{key}.json")
