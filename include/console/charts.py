"""Server-side SVG charts people can read at a glance: a line chart (a value over batches) and a
horizontal bar chart (a value per table). Pure: numbers in, the geometry out (positions, labels
already formatted); ``templates/charts.html`` draws it, escaping every label."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 20, 20, 50
BAR_ROW, BAR_LABEL_WIDTH, BAR_LABEL_CHARS = 24, 170, 26
LINE = "#2563eb"
GRID = "#e5e7eb"
TEXT = "#374151"


def nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above ``value`` (axis top)."""
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    return next(step * base for step in (1, 2, 5, 10) if step * base >= value * (1 - 1e-12))


@dataclass(frozen=True)
class LineChart:
    title: str
    y_label: str
    width: int
    height: int
    grid: list[tuple[float, str]] = field(default_factory=list)              # (y, value label)
    segments: list[list[tuple[float, float]]] = field(default_factory=list)  # unbroken runs of points
    dots: list[tuple[float, float, str]] = field(default_factory=list)       # (x, y, tooltip)
    x_labels: list[tuple[float, str]] = field(default_factory=list)          # (x, label)
    kind: str = "line"

    @property
    def empty(self) -> bool:
        return not self.dots

    @property
    def plot_middle(self) -> float:
        return PAD_TOP + (self.height - PAD_TOP - PAD_BOTTOM) / 2


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    width: float
    value: str


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    color: str
    bars: list[Bar] = field(default_factory=list)
    kind: str = "bar"

    @property
    def empty(self) -> bool:
        return not self.bars


def line_chart(points: Sequence[tuple[str, float | None]], *, title: str, y_label: str,
               fmt: Callable[[float], str] = lambda v: f"{v:g}", width: int = WIDTH,
               height: int = HEIGHT) -> LineChart:
    """``points`` are (x label, y); None values are gaps. Five horizontal grid lines with values."""
    values = [v for _, v in points if v is not None]
    if not values:
        return LineChart(title, y_label, width, 40)
    top = nice_max(max(values))
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    n = len(points)

    def x(i: int) -> float:
        return PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + plot_h * (1 - v / top)

    grid = [(y(top * k / 4), fmt(top * k / 4)) for k in range(5)]
    segments: list[list[tuple[float, float]]] = [[]]
    for i, (_, v) in enumerate(points):
        if v is None:
            segments.append([])
        else:
            segments[-1].append((x(i), y(v)))
    every = max(1, n // 8)
    return LineChart(title, y_label, width, height, grid, [s for s in segments if s],
                     [(x(i), y(v), f"{label}: {fmt(v)}") for i, (label, v) in enumerate(points) if v is not None],
                     [(x(i), label) for i, (label, _) in enumerate(points) if i % every == 0 or i == n - 1])


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, fmt: Callable[[float], str] = lambda v: f"{v:g}",
              color: str = LINE, width: int = WIDTH, top: float | None = None) -> BarChart:
    """Horizontal bars, one per (label, value), the value written at the bar's end."""
    if not bars:
        return BarChart(title, width, 40, color)
    top = top or nice_max(max(v for _, v in bars))
    span = width - BAR_LABEL_WIDTH - 90
    return BarChart(title, width, PAD_TOP + BAR_ROW * len(bars) + 10, color,
                    [Bar(label[:BAR_LABEL_CHARS], PAD_TOP + i * BAR_ROW, max(span * (v / top), 1) if v else 0, fmt(v))
                     for i, (label, v) in enumerate(bars)])
