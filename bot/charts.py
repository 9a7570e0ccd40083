"""Charts as PNG bytes (matplotlib's object API with the Agg canvas: no pyplot, thread-safe)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_STACKS = 6  # the rest is drawn as "other"


def daily_stacked_png(
    series: Mapping[str, Mapping[date, float]], days: Sequence[date], *, title: str,
    currency: str = "USD",
) -> bytes:
    """A stacked bar chart of cost per day, one stack per key (largest first)."""
    ranked = sorted(series, key=lambda k: -sum(series[k].values()))
    keys, rest = ranked[:MAX_STACKS], ranked[MAX_STACKS:]
    stacks = {k: [series[k].get(d, 0.0) for d in days] for k in keys}
    if rest:
        stacks["other"] = [sum(series[k].get(d, 0.0) for k in rest) for d in days]
    fig = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bottom = [0.0] * len(days)
    x = list(range(len(days)))
    for name, values in stacks.items():
        ax.bar(x, values, bottom=bottom, label=name[:40], width=0.85)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(days) // 8)
    ax.set_xticks(x[::step], [d.strftime("%b %d") for d in days[::step]], fontsize=8)
    ax.set_ylabel(currency)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if stacks:
        ax.legend(fontsize=7, loc="upper left", frameon=False, ncol=2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
