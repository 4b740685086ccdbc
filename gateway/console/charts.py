"""Charts of daily usage, drawn on the server as SVG by pygal (no JavaScript: ``js=[]``).

Each chart is also a table of the same numbers (``ChartTable``), shown beside it as its text
alternative. The SVG is served by its own endpoint and shown with ``<img>``: pygal's SVG
carries an inline ``<style>``, which the console's Content-Security-Policy (no inline style)
would block inside the page; as an image it runs no script and loads nothing."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from config.admin_format import usd_text

MAX_GROUPS = 8  # stacked series shown; the rest are summed into "other"
OTHER = "other"

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#d9dde3",
    font_family="system-ui, sans-serif",
    colors=(
        "#1d4ed8",
        "#d97706",
        "#059669",
        "#be185d",
        "#7c3aed",
        "#0891b2",
        "#65a30d",
        "#dc2626",
        "#6b7280",
    ),
    title_font_size=16,
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    no_data_font_size=18,
)


@dataclass(frozen=True)
class ChartTable:
    """A chart's numbers: one row per UTC day, one column per group, and each row's total."""

    title: str
    days: list[dt.date]
    groups: list[str]
    values: list[list[int]]  # values[day][group]

    def rows(self) -> list[tuple[dt.date, list[tuple[str, int]], int]]:
        """(day, [(group, value), ...], the day's total) for each day."""
        return [
            (day, list(zip(self.groups, vals, strict=True)), sum(vals))
            for day, vals in zip(self.days, self.values, strict=True)
        ]

    def group_totals(self) -> list[tuple[str, int]]:
        """(group, its total over the period) for each group."""
        sums = [sum(col) for col in zip(*self.values, strict=True)] if self.values else []
        return list(zip(self.groups, sums, strict=True)) if sums else []

    def total(self) -> int:
        return sum(sum(vals) for vals in self.values)


def chart_table(
    *,
    title: str,
    days: Sequence[dt.date],
    points: Iterable[tuple[dt.date, str, int]],
) -> ChartTable:
    """Daily values per group from ``(day, group, value)`` points; groups ordered by their
    total, largest first; past MAX_GROUPS the smaller ones are added up as "other"."""
    index = {day: n for n, day in enumerate(days)}
    by_group: dict[str, list[int]] = {}
    for day, group, value in points:
        if day in index and value:
            by_group.setdefault(group, [0] * len(days))[index[day]] += value
    ranked = sorted(by_group, key=lambda g: (-sum(by_group[g]), g))
    if len(ranked) > MAX_GROUPS:
        rest = [
            sum(vals) for vals in zip(*(by_group[g] for g in ranked[MAX_GROUPS - 1 :]), strict=True)
        ]
        ranked = ranked[: MAX_GROUPS - 1]
        by_group = {g: by_group[g] for g in ranked} | {OTHER: rest}
        ranked.append(OTHER)
    values = [[by_group[g][n] for g in ranked] for n in range(len(days))]
    return ChartTable(title=title, days=list(days), groups=ranked, values=values)


def credits_label(value: float | None) -> str:
    """``1,500,000 credits ($1.50)``; the USD exact, so a few credits never read $0.00."""
    if value is None:
        return ""
    credits = int(value)
    return f"{credits:,} {'credit' if credits == 1 else 'credits'} ({usd_text(credits)})"


def tokens_label(value: float | None) -> str:
    if value is None:
        return ""
    return f"{int(value):,} {'token' if int(value) == 1 else 'tokens'}"


MIN_TOP = 4  # the y axis reaches at least 4 (counted units), so a tiny range has 5 labels
AXIS_STEPS = 5  # about this many steps up the y axis


def y_axis(top: int) -> list[int]:
    """The y axis labels for stacked bars reaching ``top``: 0 and equal integer steps of 1, 2
    or 5 times a power of ten, up to the first label at or above ``top`` (at least
    ``MIN_TOP``), so every label is a distinct whole number of credits or tokens."""
    top = max(int(top), MIN_TOP)
    raw = top / AXIS_STEPS
    step = 10 ** max(0, math.floor(math.log10(raw)))
    for factor in (1, 2, 5, 10):
        if step * factor >= raw:
            step *= factor
            break
    count = -(-top // step)
    return [step * n for n in range(count + 1)]


# width, height, day labels at most, legend characters
SIZES = {"wide": (960, 360, 10, 28), "small": (480, 400, 4, 14)}


def chart_svg(
    table: ChartTable, *, label: Callable[[float | None], str], size: str = "wide"
) -> str:
    """A stacked bar chart of ``table``, one bar per UTC day, as SVG text; "small" is drawn
    for phones (larger text once scaled down, fewer day labels)."""
    width, height, labels, legend = SIZES.get(size, SIZES["wide"])
    every = max(1, -(-len(table.days) // labels))
    ticks = y_axis(max((sum(row) for row in table.values), default=0))
    chart = pygal.StackedBar(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=width,
        height=height,
        title=table.title,
        value_formatter=label,
        legend_at_bottom=True,
        truncate_legend=legend,
        truncate_label=-1,
        x_label_rotation=0,
        show_minor_x_labels=False,
        x_labels_major_every=every,
        print_values=False,
        no_data_text="No usage in this period",
        margin=12,
        include_x_axis=True,
        y_labels=ticks,
        range=(0, ticks[-1]),
        show_legend=bool(table.groups),
    )
    chart.x_labels = [day.strftime("%b %d") for day in table.days]
    for n, group in enumerate(table.groups):
        chart.add(group, [row[n] or None for row in table.values])
    if not table.groups:
        # a period of free requests only: one empty series, so pygal draws its no-data
        # text (with no series at all it fails on the axis labels set above)
        chart.add("", [None] * len(table.days))
    return _without_scripts(chart.render_tree())


def _without_scripts(tree: ElementTree.Element) -> str:
    """The SVG text without pygal's configuration script (``js=[]`` drops the scripts it
    would load, not the inline one that configures them): an image runs none anyway."""
    for parent in tree.iter():
        for child in [c for c in parent if str(c.tag).endswith("script")]:
            parent.remove(child)
    return ElementTree.tostring(tree, encoding="unicode")
