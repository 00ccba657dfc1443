"""Inline SVG: progress bars, a goal's check-in chart, a KPI trend sparkline.

Built as strings from numbers the code formats itself; every piece of text that reaches the
markup (labels, tooltips) goes through markupsafe.escape.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from webapp.history import CheckInPoint


def bar(progress: float, status_key: str, width: int = 120) -> Markup:
    share = max(0.0, min(1.0, progress))
    filled = round(share * width)
    return Markup(
        f'<svg class="bar" width="{width}" height="10" viewBox="0 0 {width} 10" role="img" '
        f'aria-label="{round(share * 100)}%">'
        f'<rect class="track" width="{width}" height="10" rx="3"/>'
        f'<rect class="fill status-{escape(status_key)}" width="{filled}" height="10" rx="3"/>'
        "</svg>"
    )


def check_in_chart(points: Sequence[CheckInPoint], width: int = 640, height: int = 220) -> Markup:
    """Progress (0-100 %) after each check-in, in order, one step per check-in."""
    if not points:
        return Markup('<p class="muted">No check-ins yet.</p>')
    left, right, top, bottom = 44, 16, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(points) - 1)

    def x(index: int) -> float:
        return left + (index * step if len(points) > 1 else plot_w / 2)

    def y(progress: float) -> float:
        return top + plot_h * (1 - max(0.0, min(1.0, progress)))

    parts = [
        f'<svg class="chart" id="check-in-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="progress after each check-in">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="axis" x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{round(tick * 100)}%</text>'
        )
    line = " ".join(f"{x(i):.1f},{y(p.progress):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline class="line" points="{line}"/>')
    for index, point in enumerate(points):
        value = "" if point.value is None else f", value {point.value:g} {point.unit}".rstrip()
        trust = "" if point.confidence is None else f", confidence {point.confidence:.2f}"
        tooltip = (
            f"Check-in {index + 1} (version {point.version}) at {point.occurred_at[:19]} "
            f"by {point.actor_id}: progress {round(point.progress * 100)}%{value}{trust}"
        )
        parts.append(
            f'<circle class="dot" cx="{x(index):.1f}" cy="{y(point.progress):.1f}" r="4" '
            f'data-progress="{round(point.progress * 100)}"><title>{escape(tooltip)}</title>'
            "</circle>"
        )
        if len(points) <= 12 or index in (0, len(points) - 1):
            parts.append(
                f'<text class="axis" x="{x(index):.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">#{index + 1}</text>'
            )
    parts.append(
        f'<text class="axis" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
        'text-anchor="middle">check-ins, oldest first</text></svg>'
    )
    return Markup("".join(parts))


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 28) -> Markup:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return Markup("")
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = width / max(1, len(values) - 1)
    coords = [
        f"{i * step:.1f},{height - 3 - (v - low) / span * (height - 6):.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline class="line" points="{" ".join(coords)}"/></svg>'
    )
