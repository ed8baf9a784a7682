"""Server-side SVG charts people can read at a glance: a line chart (a value over batches) and a
horizontal bar chart (a value per table). Pure: numbers in, SVG text out; every label escaped."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

WIDTH, HEIGHT = 720, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 20, 20, 50
LINE = "#2563eb"
GRID = "#e5e7eb"
TEXT = "#374151"


def nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above ``value`` (axis top)."""
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    return next(step * base for step in (1, 2, 5, 10) if step * base >= value * (1 - 1e-12))


def line_chart(points: Sequence[tuple[str, float | None]], *, title: str, y_label: str,
               fmt: Callable[[float], str] = lambda v: f"{v:g}", width: int = WIDTH, height: int = HEIGHT) -> str:
    """``points`` are (x label, y); None values are gaps. Four horizontal grid lines with values."""
    values = [v for _, v in points if v is not None]
    if not values:
        return _empty(title, width)
    top = nice_max(max(values))
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    n = len(points)

    def x(i: int) -> float:
        return PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + plot_h * (1 - v / top)

    parts = [_open(width, height, title)]
    for k in range(5):
        v = top * k / 4
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y(v):.1f}" x2="{width - PAD_RIGHT}" y2="{y(v):.1f}" '
                     f'stroke="{GRID}"/><text x="{PAD_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="{TEXT}">{escape(fmt(v))}</text>')
    parts.append(f'<text x="14" y="{PAD_TOP + plot_h / 2:.0f}" font-size="11" fill="{TEXT}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {PAD_TOP + plot_h / 2:.0f})">{escape(y_label)}</text>')
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline fill="none" stroke="{LINE}" stroke-width="2" points="{" ".join(seg)}"/>')
    every = max(1, n // 8)
    for i, (label, v) in enumerate(points):
        if v is not None:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{LINE}">'
                         f'<title>{escape(label)}: {escape(fmt(v))}</title></circle>')
        if i % every == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - PAD_BOTTOM + 16}" font-size="10" fill="{TEXT}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, fmt: Callable[[float], str] = lambda v: f"{v:g}",
              color: str = LINE, width: int = WIDTH, top: float | None = None) -> str:
    """Horizontal bars, one per (label, value), the value written at the bar's end."""
    if not bars:
        return _empty(title, width)
    row, label_w = 24, 170
    height = PAD_TOP + row * len(bars) + 10
    top = top or nice_max(max(v for _, v in bars))
    span = width - label_w - 90
    parts = [_open(width, height, title)]
    for i, (label, v) in enumerate(bars):
        y = PAD_TOP + i * row
        w = max(span * (v / top), 1) if v else 0
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" fill="{TEXT}" text-anchor="end">'
                     f'{escape(label[:26])}</text><rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16" '
                     f'fill="{color}" rx="2"/><text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12" '
                     f'fill="{TEXT}">{escape(fmt(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (f'<div class="chart-title">{escape(title)}</div><svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>')


def _empty(title: str, width: int) -> str:
    return (_open(width, 40, title) + f'<text x="10" y="24" font-size="13" fill="{TEXT}">No data yet.</text></svg>')
