"""The `grade` command: a thin click layer over the subcommands' keyword-only main() functions."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from grader import __version__
from grader.config import DEFAULT_ASSIGNMENT, ConfigError


class DefaultGroup(click.Group):
    """`grade PATH...` means `grade run PATH...`; other first words name subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@contextmanager
def _usage_errors(command: str, *also: type[Exception]) -> Iterator[None]:
    """What the user asked for cannot be done (configuration, unknown parts, a folder of several students
    for a one-student option, ...): one line and exit 2, never a traceback."""
    try:
        yield
    except ConfigError as error:
        click.echo(f"{command}: configuration error: {error}", err=True)
        sys.exit(2)
    except (ValueError, *also) as error:
        click.echo(f"{command}: {error}", err=True)
        sys.exit(2)


def _parts(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]  # checked against the assignment's parts by grade


SUBMISSION_KINDS = "a class folder, a student folder, a .ipynb / .py file, or an LMS download .zip"


def _path_problem(paths: tuple[Path, ...], commands: list[str]) -> str | None:
    """What is wrong with the paths given on the command line, in one line, or None."""
    import difflib

    for path in paths:
        if not path.exists() and not path.is_symlink():
            word = str(path)
            if path == paths[0] and "/" not in word and not path.suffix:
                near = difflib.get_close_matches(word, commands, n=1, cutoff=0.5)
                hint = f"; did you mean `grade {near[0]}`?" if near else f" (commands: {', '.join(commands)})"
                return f"'{word}' is neither a command nor an existing path{hint}"
            return f"{path} does not exist (expected {SUBMISSION_KINDS})"
        if path.is_file() and path.suffix not in (".ipynb", ".py", ".zip"):  # .zip: an LMS download
            return f"{path} is not a submission (expected {SUBMISSION_KINDS})"
    return None


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnn-grader")
def cli() -> None:
    """Grade the RNN homework. `grade submissions/` grades a class; see `grade run --help`."""


@cli.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for results/, grades.csv and the reports.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Submissions graded in parallel (default: the number of cores).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where part 3 trains; auto = cuda when available.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Wall-clock budget per submission in seconds (default: grading.toml).")
@click.option("--only", default=None, help="Grade only these parts, e.g. 1.1,3.")
@click.option("--assignment", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=DEFAULT_ASSIGNMENT, show_default=False, help="Assignment folder holding grading.toml.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of the HTML reports.")
@click.option("--rerun", is_flag=True, help="Execute every submission again instead of reusing cached results.")
@click.option("--ci", type=click.Choice(["github", "none"]), default=None,
              help="Write GitHub Actions/Classroom outputs (default: on when GITHUB_ACTIONS=true).")
@click.option("--gradescope", type=click.Path(path_type=Path), default=None,
              help="Also write Gradescope's results.json to this path (one submission).")
@click.option("--fail-under", type=click.FloatRange(0, 100), default=None,
              help="Exit with status 1 when a submission scores under this percentage.")
@click.option("--sandbox", type=click.Choice(["auto", "strict", "basic"]), default="auto", show_default=True,
              help="strict: refuse to grade where namespaces and capability dropping are not available; "
                   "basic: limits and timeouts only, no namespaces (for debugging and benchmarks).")
@click.option("--public-only", is_flag=True,
              help="Public checks only, scored as shares of them: what a student kit (`grade kit`) grades.")
@click.option("--cluster", default=None, metavar="ADDRESS|local:N",
              help="Grade on a dask.distributed cluster (a scheduler's address, or local:N process workers); "
                   "submissions and the assignment must be on a filesystem the workers share.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def run_command(paths: tuple[Path, ...], out: Path, jobs: int | None, device: str, timeout: float | None,
                only: str | None, assignment: Path, lang: str, rerun: bool, ci: str | None,
                gradescope: Path | None, fail_under: float | None, sandbox: str, public_only: bool,
                cluster: str | None, quiet: bool) -> None:
    """Grade every submission in PATHS (class folders, student folders or single files)."""
    from grader.ci.github import in_github_actions
    from grader.grade import SandboxUnavailable, main
    from grader.grade.cluster import ClusterUnavailable

    github = ci == "github" or (ci is None and in_github_actions())
    problem = _path_problem(paths, sorted(cli.commands))
    if problem:  # a typo must not grade a phantom student called after it
        click.echo(f"grade: {problem}", err=True)
        sys.exit(2)
    with _usage_errors("grade", SandboxUnavailable, ClusterUnavailable):
        batch = main(paths=list(paths), out=out, jobs=jobs, device=device, timeout=timeout, only=_parts(only),
                     assignment=assignment, lang=lang, use_cache=not rerun, quiet=quiet, github=github,
                     gradescope=gradescope, sandbox=sandbox, public_only=public_only, cluster=cluster)
    if fail_under is not None:
        low = [r for r in batch.results if r.max_score and 100 * r.score / r.max_score < fail_under]
        if low:
            click.echo(f"grade: {len(low)} submission(s) under {fail_under:g}%", err=True)
            sys.exit(1)


@cli.command("similarity")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("reports"), show_default=True,
              help="Folder for similarity.json, similarity.html and the side-by-side pages.")
@click.option("--known", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="Code the students may legitimately share (tutorials, course code): left out. Repeatable.")
@click.option("--common", type=click.IntRange(min=1), default=None,
              help="Code shared by more than this many submissions is left out (default: a quarter of the "
                   "class, between 2 and 10).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--assignment", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=DEFAULT_ASSIGNMENT, show_default=False, help="Assignment folder (its handout is left out).")
def similarity_command(paths: tuple[Path, ...], out: Path, known: tuple[Path, ...], common: int | None, lang: str,
                       assignment: Path) -> None:
    """Which students' code resembles whose, beyond the handout and known sources: for a person to read."""
    from grader.similarity import main

    with _usage_errors("grade similarity"):
        comparison = main(paths=list(paths), out=out, known=known, common=common, lang=lang, assignment=assignment)
    for pair in comparison.pairs[:5]:
        click.echo(f"{pair.score:6.0%}  {pair.a} <-> {pair.b}")
    click.echo(f"{len(comparison.pairs)} pair(s) of {len(comparison.codes)} submission(s); "
               f"report: {out / 'similarity.html'}")


@cli.command("feedback")
@click.option("--results", "results_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("reports"), show_default=True, help="The --out folder of a `grade` run.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the feedback pages go (default: RESULTS/feedback).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
def feedback_command(results_dir: Path, out: Path | None, lang: str) -> None:
    """Pages to hand back to students: hidden cases and integrity notes left out, reviews included."""
    from grader.feedback import main

    with _usage_errors("grade feedback"):
        run = main(results=results_dir, out=out or results_dir / "feedback", lang=lang)
    for problem in run.skipped:
        click.echo(f"grade feedback: skipped {problem}", err=True)
    uploads = "".join(f"; {lms}: {path}" for lms, path in run.uploads.items())
    click.echo(f"{len(run.pages)} feedback page(s) in {out or results_dir / 'feedback'}{uploads}")


@cli.command("check")
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Budget in seconds (default 120).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--assignment", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=DEFAULT_ASSIGNMENT, show_default=False, help="Assignment folder holding grading.toml.")
def check_command(path: Path, timeout: float | None, lang: str, assignment: Path) -> None:
    """Self-check one submission (your notebook or folder) with the public checks only."""
    from grader.check import main

    with _usage_errors("grade check"):
        main(path=path, timeout=timeout, lang=lang, assignment=assignment)


@cli.command("gradescope-zip")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False), default=Path("autograder.zip"))
def gradescope_zip_command(target: Path) -> None:
    """Build the autograder zip to upload to Gradescope (setup.sh, run_autograder, the grader)."""
    from grader.ci.gradescope import build_autograder_zip

    with _usage_errors("grade gradescope-zip"):
        click.echo(f"wrote {build_autograder_zip(target)}")


@cli.command("kit")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False), default=Path("kit"))
@click.option("--assignment", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=DEFAULT_ASSIGNMENT, show_default=False, help="Assignment folder holding grading.toml.")
def kit_command(out: Path, assignment: Path) -> None:
    """Build the student kit in OUT: a wheel for self-checks and push grading, without the reference solution,
    the hidden seed or the rubric, and the template repository that installs it."""
    from grader.kit import KitRefused, main

    with _usage_errors("grade kit", KitRefused):
        kit = main(out=out, assignment=assignment)
    click.echo(f"wrote {kit.wheel} ({len(kit.files)} files; expected values recorded for the public checks of "
               f"part(s) {', '.join(kit.public_parts)}); scanned: no reference code, no hidden seed")
    if kit.template:
        click.echo(f"template repository with the kit: {kit.template} (push it as the Classroom template)")


@cli.command("history")
@click.argument("student")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="The output folder whose gradebook to read.")
def history_command(student: str, out: Path) -> None:
    """How STUDENT's grade changed across the runs recorded in OUT/gradebook.sqlite."""
    from rich.console import Console
    from rich.table import Table

    from grader.gradebook import history

    rows = history(out / "gradebook.sqlite", student)
    if not rows:
        click.echo(f"grade: no runs recorded for {student!r} in {out / 'gradebook.sqlite'}", err=True)
        sys.exit(1)
    part_ids = list(dict.fromkeys(p for row in rows for p in row.parts))  # in the order the runs recorded them
    table = Table(title=f"{student}: grade history")
    for column in ["run", "when", "version", "total", *part_ids, "to review"]:
        table.add_column(column, justify="right" if column not in ("when", "version") else "left")
    for row in rows:
        table.add_row(str(row.run_id), row.at, row.version, f"{row.total:g}/{row.max_score:g}",
                      *[f"{row.parts[p]:g}" if p in row.parts else "" for p in part_ids], str(row.to_review))
    Console().print(table)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
