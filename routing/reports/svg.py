"""Inline SVG charts for the HTML cost report: plain strings, no JavaScript, no fonts.

Every drawn value carries data attributes (`data-chart`, `data-series`, `data-micros`) so
that a test reading the browser's DOM can find each series and check what it drew, and a
`<title>` child, which browsers show as the tooltip. Sizes are in CSS pixels: the page
shows each chart at its own width (no scaling), so a bar of height h covers h pixel rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from routing.money import usd

WIDTH = 1100  # fits the page's content box, so a chart is never scaled
# Tableau 10, then four more that stay apart from it.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#7f3c8d", "#bcbd22", "#393b79")
AXIS = "#667085"
GRID = "#e4e7ec"
TRACK = "#eef0f3"
SPENT, RESERVED, OVER = "#1565c0", "#90caf9", "#b71c1c"  # budgets: outside the palette


def colors_for(names: Sequence[str]) -> dict[str, str]:
    """A stable color per name (sorted order; the palette repeats past its length)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(names)))}


def money(micros: int) -> str:
    """USD for a label: cents from $1 up, more digits below."""
    value = usd(micros)
    if micros == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.0001 else f"${value:.6f}"


def nice_top(micros: int) -> int:
    """The smallest 1, 2, 2.5 or 5 x 10^n micro-dollars at or above `micros` (at least 1)."""
    if micros <= 0:
        return 1
    power: int = 10 ** max(0, math.floor(math.log10(micros)))
    for step in (1, 2, 2.5, 5, 10):
        top = math.ceil(step * power)
        if top >= micros:
            return top
    return 10 * power


def _attrs(**values: object) -> str:
    return " ".join(f'{k.replace("_", "-")}="{escape(str(v), quote=True)}"'
                    for k, v in values.items())


def _svg(height: int, body: list[str], label: str) -> str:
    return (f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
            f'role="img" aria-label="{escape(label, quote=True)}">' + "".join(body) + "</svg>")


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 12,
          fill: str = AXIS, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{escape(content)}</text>')


def stacked_days(days: Sequence[str], series: dict[str, list[int]],
                 colors: dict[str, str], *, height: int = 320) -> str:
    """Spend per day (x) stacked by series (model key), in micro-dollars."""
    left, right, top, bottom = 76, 16, 12, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    scale_top = nice_top(max(totals, default=0))
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, min(64.0, slot * 0.7))
    body: list[str] = []
    for n in range(5):  # grid lines and y labels
        value = scale_top * n // 4
        y = top + plot_h - plot_h * value / scale_top
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(left - 8, y + 4, money(value), anchor="end"))
    every = max(1, math.ceil(len(days) / 14))  # at most ~14 day labels
    for i, day in enumerate(days):
        if i % every == 0 or i == len(days) - 1:
            x = left + slot * (i + 0.5)
            body.append(_text(x, height - 12, day[5:] if len(days) > 1 else day,
                              anchor="middle"))
    base = [float(top + plot_h)] * len(days)
    for name in sorted(series):
        values = series[name]
        rects = []
        for i, micros in enumerate(values):
            h = plot_h * micros / scale_top
            base[i] -= h
            x = left + slot * (i + 0.5) - bar_w / 2
            rects.append(
                f'<rect {_attrs(data_day=days[i], data_micros=micros)} x="{x:.1f}" '
                f'y="{base[i]:.2f}" width="{bar_w:.1f}" height="{h:.2f}" '
                f'fill="{colors[name]}"><title>{escape(name)} {days[i]}: {money(micros)}'
                "</title></rect>"
            )
        group = _attrs(data_chart="daily", data_series=name, data_micros=sum(values))
        body.append(f"<g {group}>" + "".join(rects) + "</g>")
    body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" '
                f'y2="{top + plot_h}" stroke="{AXIS}"/>')
    return _svg(height, body, "daily spend stacked by model key")


@dataclass(frozen=True, slots=True)
class Bar:
    series: str
    label: str
    micros: int
    color: str
    note: str = ""


def hbars(chart: str, bars: Sequence[Bar], *, label_width: int = 330, row: int = 30) -> str:
    """One horizontal bar per item, scaled to the largest, its amount and note after it."""
    height = row * len(bars) + 8
    plot_w = WIDTH - label_width - 250
    largest = max((b.micros for b in bars), default=0) or 1
    body: list[str] = []
    for i, b in enumerate(bars):
        y = 4 + i * row
        w = plot_w * b.micros / largest
        body.append(_text(label_width - 10, y + row / 2 + 4, b.label, anchor="end",
                          fill="#1d2939"))
        body.append(
            f'<rect {_attrs(data_chart=chart, data_series=b.series, data_micros=b.micros)} '
            f'x="{label_width}" y="{y + 4}" width="{w:.2f}" height="{row - 8}" '
            f'fill="{b.color}"><title>{escape(b.label)}: {money(b.micros)}</title></rect>'
        )
        after = money(b.micros) + (f" {b.note}" if b.note else "")
        body.append(_text(label_width + w + 8, y + row / 2 + 4, after, fill="#1d2939"))
    return _svg(height, body, chart)


def budget_bars(budgets: Sequence[dict[str, object]], *, row: int = 34) -> str:
    """Per budget: the limit as a track, spent and reserved drawn on it; no-limit budgets
    as a line of text (there is nothing to scale them to)."""
    label_width, note_width = 230, 330
    plot_w = WIDTH - label_width - note_width
    height = row * len(budgets) + 8
    body: list[str] = []
    for i, b in enumerate(budgets):
        y = 4 + i * row
        name = str(b["budget"])
        limit, spent, reserved = b["limit_micros"], b["spent_micros"], b["reserved_micros"]
        assert isinstance(spent, int) and isinstance(reserved, int)
        body.append(_text(label_width - 10, y + row / 2 + 4, name, anchor="end",
                          fill="#1d2939"))
        parts: list[str] = []
        if isinstance(limit, int) and limit > 0:
            spent_w = plot_w * min(spent, limit) / limit
            reserved_w = plot_w * min(reserved, max(0, limit - spent)) / limit
            for part, x, w, micros, fill in (
                ("limit", label_width, plot_w, limit, TRACK),
                ("spent", label_width, spent_w, spent, OVER if spent >= limit else SPENT),
                ("reserved", label_width + spent_w, reserved_w, reserved, RESERVED),
            ):
                parts.append(
                    f'<rect {_attrs(data_part=part, data_micros=micros)} x="{x:.2f}" '
                    f'y="{y + 6}" width="{w:.2f}" height="{row - 12}" fill="{fill}">'
                    f"<title>{escape(name)} {part}: {money(micros)}</title></rect>"
                )
            note = (f"{money(spent)} + {money(reserved)} reserved of {money(limit)} "
                    f"({(spent + reserved) / limit:.1%})")
        else:
            note = f"{money(spent)} spent, {money(reserved)} reserved; no limit"
        body.append(f'<g {_attrs(data_chart="budgets", data_series=name)}>'
                    + "".join(parts) + "</g>")
        body.append(_text(WIDTH - note_width + 10, y + row / 2 + 4, note, fill="#1d2939"))
    return _svg(height, body, "budgets")
