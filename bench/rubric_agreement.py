"""How often the rubric's key points agree with a person's, on tests/data/written_answers.toml.

    python bench/rubric_agreement.py [--batch 2] [--show-disagreements]

Reports, per batch of answers (see the file's header for how each was used), the share of (answer, key point)
decisions where the rubric and the person agree, Cohen's kappa, and the mean difference between the
suggested score and the person's score (as a share of the part's points).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.config import load_config  # noqa: E402
from grader.parts.written import suggest  # noqa: E402

ANSWER_SET = REPO / "tests" / "data" / "written_answers.toml"


@dataclass(frozen=True)
class Agreement:
    decisions: int
    agreed: int
    kappa: float
    mean_score_gap: float
    disagreements: list[str]

    @property
    def share(self) -> float:
        return self.agreed / self.decisions if self.decisions else 1.0


def measure(which: str, answers: list[dict] | None = None) -> Agreement:
    rubric = load_config().rubric
    answers = answers or tomllib.loads(ANSWER_SET.read_text(encoding="utf-8"))["answer"]
    both = rubric_only = person_only = neither = 0
    gaps, disagreements = [], []
    for answer in answers:
        if which != "all" and str(answer["batch"]) != which:
            continue
        part = rubric[f"part{answer['part']}"]
        suggestion = suggest(part, answer["text"])
        found = {p.point.id for p in suggestion.found}
        person = set(answer["points"])
        for point in part.points:
            mine, theirs = point.id in found, point.id in person
            both += mine and theirs
            neither += not mine and not theirs
            rubric_only += mine and not theirs
            person_only += theirs and not mine
            if mine != theirs:
                disagreements.append(f"{answer['id']} {point.id}: rubric {'finds' if mine else 'misses'} it")
        gaps.append(abs(suggestion.fraction - len(person) / len(part.points)))
    total = both + neither + rubric_only + person_only
    observed = (both + neither) / total if total else 1.0
    expected = (((both + rubric_only) * (both + person_only) + (neither + rubric_only) * (neither + person_only))
                / total ** 2) if total else 0.0
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 1.0
    return Agreement(total, both + neither, kappa, sum(gaps) / len(gaps) if gaps else 0.0, disagreements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", choices=["1", "2", "all"], action="append")
    parser.add_argument("--show-disagreements", action="store_true")
    options = parser.parse_args()
    print(f"{'batch':<9} {'decisions':>9} {'agree':>7} {'kappa':>6} {'score gap':>9}")
    for which in options.batch or ["1", "2", "all"]:
        result = measure(which)
        print(f"{which:<9} {result.decisions:>9} {result.share:>7.1%} {result.kappa:>6.2f} {result.mean_score_gap:>9.1%}")
        if options.show_disagreements:
            for line in result.disagreements:
                print("   ", line)


if __name__ == "__main__":
    main()
