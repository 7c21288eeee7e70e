"""Plots for the reports, drawn with matplotlib as inline SVG (no files, no network, prints sharply)."""

from __future__ import annotations

import io
import warnings
from functools import cache
from typing import Any, Sequence

LINESTYLES = ["-", "--", ":", "-."]  # line styles as well as colours: meaning never rests on colour alone


@cache
def _pyplot() -> Any:
    """matplotlib.pyplot, set up on first use: importing it takes ~0.4 s, which `grade` pays while the
    class runs (plots are drawn ahead, grader.grade.ahead), not before its first student starts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # axes.titley fixed: matplotlib otherwise measures every tick label to lift the title clear of a top
    # axis these plots do not have (~10% of each plot's drawing time; the SVG is the same)
    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "axes.spines.top": False,
                         "axes.spines.right": False, "svg.hashsalt": "rnn-grader", "axes.titley": 1.0})
    return plt


@cache
def _plain_log_formatter() -> type:
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        """Labels the log ticks matplotlib's own formatter labels, written with %g."""

        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    return PlainLogFormatter


def _svg(figure: Any, title: str) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Text stays text in the SVG (svg.fonttype none) and the browser draws CJK with its own fonts;
        # matplotlib only measures it with DejaVu and warns about glyphs it never has to draw.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        # fixed margins, not bbox_inches="tight": that draws every figure twice (measure, then draw), and the
        # labels here are short (a loss, an epoch, a count), so the margins fit them
        figure.subplots_adjust(left=0.13, right=0.98, top=0.9, bottom=0.17)
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inlined into HTML


def loss_curve(series: dict[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str,
               threshold: float | None = None, threshold_label: str = "threshold", log_y: bool = False) -> str:
    figure, axes = _pyplot().subplots(figsize=(5.2, 2.8))
    for index, (name, points) in enumerate(series.items()):
        if points:
            xs, ys = zip(*points)
            axes.plot(xs, ys, LINESTYLES[index % len(LINESTYLES)], marker="o" if len(xs) < 30 else None,
                      markersize=3, label=name)
    if threshold is not None:
        axes.axhline(threshold, color="black", linewidth=1, linestyle=(0, (4, 2)), label=threshold_label)
    if log_y:
        axes.set_yscale("log")
        # the ticks matplotlib labels on a log axis, as plain numbers (0.05, 0.1, 1), not 5×10⁻² in mathtext:
        # easier to read for a loss, and typesetting mathtext was a third of a log plot's drawing time
        axes.yaxis.set_major_formatter(_plain_log_formatter()(labelOnlyBase=False))
        axes.yaxis.set_minor_formatter(_plain_log_formatter()(labelOnlyBase=False))
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.legend(fontsize=7, frameon=False)
    return _svg(figure, title)


def histogram(values: Sequence[float], *, maximum: float, title: str, x_label: str, y_label: str) -> str:
    figure, axes = _pyplot().subplots(figsize=(5.2, 2.4))
    bins = [maximum * i / 10 for i in range(11)]
    axes.hist(list(values), bins=bins, color="#4a6fa5", edgecolor="black", hatch="//")
    axes.set_xlim(0, maximum)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.yaxis.get_major_locator().set_params(integer=True)
    return _svg(figure, title)
