"""The `grade` command: a thin click layer over the subcommands' keyword-only main() functions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import __version__
from grader.config import DEFAULT_ASSIGNMENT, ConfigError
from grader.parts import PART_IDS


class DefaultGroup(click.Group):
    """`grade PATH...` means `grade run PATH...`; other first words name subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _parts(value: str | None) -> list[str] | None:
    if not value:
        return None
    chosen = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PART_IDS]
    if unknown:
        raise click.BadParameter(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PART_IDS)}")
    return chosen


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
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def run_command(paths: tuple[Path, ...], out: Path, jobs: int | None, device: str, timeout: float | None,
                only: str | None, assignment: Path, quiet: bool) -> None:
    """Grade every submission in PATHS (class folders, student folders or single files)."""
    from grader.grade import main

    try:
        main(paths=list(paths), out=out, jobs=jobs, device=device, timeout=timeout, only=_parts(only),
             assignment=assignment, quiet=quiet)
    except ConfigError as error:
        click.echo(f"grade: configuration error: {error}", err=True)
        sys.exit(2)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
