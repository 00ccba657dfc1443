"""Server-side HTML with Jinja2, autoescaping every value a template prints."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from northstar_cli.tree import level_word, percent, status_key, status_word
from webapp import chart
from webapp.session import remember_csrf

# Autoescape on for every template: user text (titles, notes, reasons, names) never becomes
# markup. Only chart.py's SVG (built from escaped parts) is marked safe.
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("webapp", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def direction_word(direction: goals_pb2.MetricDirection.ValueType) -> str:
    name = goals_pb2.MetricDirection.Name(direction).removeprefix("METRIC_DIRECTION_")
    return name.lower().replace("_", " ")


def trend_values(score: projections_pb2.KpiScore) -> list[float | None]:
    return [point.value if point.HasField("value") else None for point in score.trend]


ENVIRONMENT.globals.update(
    direction_word=direction_word,
    trend_values=trend_values,
    bar=chart.bar,
    check_in_chart=chart.check_in_chart,
    sparkline=chart.sparkline,
    percent=percent,
    status_word=status_word,
    status_key=status_key,
    level_word=level_word,
)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    html = ENVIRONMENT.get_template(template).render(**context)
    response = web.Response(text=html, content_type="text/html", status=status)
    remember_csrf(request, response)
    return response
