"""A course's year as a picture, drawn by the bridge itself: inline SVG, no script, no font from elsewhere.

Bars are the month's results (passes below, fails stacked on them, the count
above), the line is the members holding the training at the month's end
(its own scale; its last value is written at its end). Colours and type come
from the console's stylesheet through classes (the console's Content
Security Policy allows no inline style), so the chart uses the page's own
system font. The numbers are all in the table beside it, too.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from bridge.domain.statistics import CourseMonth

WIDTH, HEIGHT = 320, 190
LEFT, RIGHT, TOP, BOTTOM = 26, 30, 16, 34
MONTHS = {
    "cs": ("led", "úno", "bře", "dub", "kvě", "čvn", "čvc", "srp", "zář", "říj", "lis", "pro"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
LEGEND = {"cs": ("úspěšné", "neúspěšné", "držitelé"), "en": ("passes", "fails", "holders")}


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def course_chart(rows: Sequence[CourseMonth], *, title: str, lang: str) -> Markup:
    """One course's months as an SVG element (`rows` oldest first), labelled for screen readers by `title`."""
    months = MONTHS.get(lang, MONTHS["en"])
    passes_word, fails_word, holders_word = LEGEND.get(lang, LEGEND["en"])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(rows))
    most = max([row.results for row in rows] + [1])
    most_held = max([row.holders for row in rows] + [1])
    base = TOP + plot_h
    label_id = f"chart-{rows[0].course_id}" if rows else "chart"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{label_id}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{label_id}">{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{base}" text-anchor="end">0</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{most}</text>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
    ]
    points = []
    for index, row in enumerate(rows):
        x = LEFT + index * slot
        bar_w = slot * 0.62
        left = x + (slot - bar_w) / 2
        pass_h = plot_h * row.passes / most
        fail_h = plot_h * row.fails / most
        month_name = months[int(row.month[5:7]) - 1]
        if row.passes:
            parts.append(_rect("pass", left, base - pass_h, bar_w, pass_h, f"{month_name}: {row.passes} {passes_word}"))
        if row.fails:
            parts.append(_rect("fail", left, base - pass_h - fail_h, bar_w, fail_h, f"{month_name}: {row.fails} {fails_word}"))
        if row.results:
            parts.append(
                f'<text class="value" x="{x + slot / 2:.1f}" y="{base - pass_h - fail_h - 3:.1f}" '
                f'text-anchor="middle">{row.results}</text>'
            )
        parts.append(f'<text class="tick month" x="{x + slot / 2:.1f}" y="{base + 13}" text-anchor="middle">{month_name}</text>')
        points.append((x + slot / 2, base - plot_h * row.holders / most_held))
    if rows and any(row.holders for row in rows):
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="holders" points="{path}"/>')
        last_x, last_y = points[-1]
        parts.append(f'<circle class="holders-dot" cx="{last_x:.1f}" cy="{last_y:.1f}" r="3"/>')
        parts.append(f'<text class="value held" x="{last_x + 6:.1f}" y="{last_y + 4:.1f}">{rows[-1].holders}</text>')
    legend_y = HEIGHT - 6
    parts += [
        f'<rect class="pass" x="{LEFT}" y="{legend_y - 8}" width="9" height="9"/>',
        f'<text class="tick" x="{LEFT + 13}" y="{legend_y}">{escape(passes_word)}</text>',
        f'<rect class="fail" x="{LEFT + 90}" y="{legend_y - 8}" width="9" height="9"/>',
        f'<text class="tick" x="{LEFT + 103}" y="{legend_y}">{escape(fails_word)}</text>',
        f'<line class="holders" x1="{LEFT + 185}" y1="{legend_y - 4}" x2="{LEFT + 199}" y2="{legend_y - 4}"/>',
        f'<text class="tick" x="{LEFT + 204}" y="{legend_y}">{escape(holders_word)}</text>',
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 - every text in it is a number or escaped above


def _rect(kind: str, x: float, y: float, width: float, height: float, label: str) -> str:
    return (
        f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}">'
        f"<title>{escape(label)}</title></rect>"
    )
