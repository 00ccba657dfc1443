"""Benchmark figures as ratios against a baseline measured in the same run, printed as a table
and written as JSON (bench/results/latest.json)."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LATEST_RESULTS = RESULTS_DIR / "latest.json"

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Measurement:
    """One figure of one benchmark: ours against its baseline, ratio = ours / baseline."""

    benchmark: str
    figure: str
    unit: str
    baseline: float
    ours: float
    better: Better
    meaning: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else math.inf

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": _finite_or_none(self.ratio)}


LOAD_AVERAGE_AT_START = os.getloadavg()
"""1, 5 and 15-minute load averages when the run started (this module is imported first)."""


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest value with `percent`% of the values at or below."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def render_table(measurements: Sequence[Measurement]) -> str:
    """A fixed-width table; each benchmark's one-line meaning follows its figures."""
    header = f"{'benchmark':<30} {'figure':<22} {'baseline':>14} {'ours':>14} {'ratio':>9}  better"
    lines = [header, "-" * len(header)]
    previous = ""
    for number, item in enumerate(measurements):
        lines.append(
            f"{item.benchmark if item.benchmark != previous else '':<30} "
            f"{item.figure + ' (' + item.unit + ')':<22} {_figure(item.baseline):>14} "
            f"{_figure(item.ours):>14} {_ratio(item.ratio):>9}  {item.better}"
        )
        previous = item.benchmark
        is_last_of_benchmark = (
            number + 1 == len(measurements) or measurements[number + 1].benchmark != previous
        )
        if is_last_of_benchmark:
            for meaning in dict.fromkeys(
                m.meaning for m in measurements if m.benchmark == previous
            ):
                lines.append(f"  -> {meaning}")
    return "\n".join(lines)


def write_results(
    measurements: Sequence[Measurement],
    *,
    command: str,
    quick: bool,
    sizes: dict[str, int],
    seconds_by_benchmark: dict[str, float],
    path: Path = LATEST_RESULTS,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "quick": quick,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_uncommitted_changes": bool(_git("status", "--porcelain")),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        # The machine is shared: how busy it was says how far to trust the raw figures.
        "load_average_at_start": LOAD_AVERAGE_AT_START,
        "load_average_at_end": os.getloadavg(),
        "sizes": sizes,
        "seconds_by_benchmark": {
            name: round(value, 2) for name, value in seconds_by_benchmark.items()
        },
        "ratio_definition": "ours / baseline (see `better` for the good direction)",
        "measurements": [item.as_json() for item in measurements],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _figure(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}"


def _ratio(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.3f}x" if value < 10 else f"{value:,.0f}x"


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _git(*arguments: str) -> str:
    """Output of a git command in this checkout ("" outside one, e.g. an exported tree)."""
    try:
        result = subprocess.run(
            ["git", *arguments],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
