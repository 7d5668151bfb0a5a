"""The report as pictures: a heatmap of every metric pair and the headline weekly series.

Rendered headless (matplotlib's Agg canvas on a bare ``Figure``, no pyplot state), to PNG bytes
the asset stores in the lake and embeds in its materialisation and in its description, which the
asset's overview page shows as markdown: that is the one place Dagster's UI renders an image
inline. The overview shows images at their natural size in a column about 770 px wide on a
1440 px window, so the charts are sized to fit it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def _figure(width: float, height: float) -> Figure:
    """A bare figure on matplotlib's Agg canvas. matplotlib is imported here, when a chart is
    drawn, not with the module: every process that loads the definitions (code server, each run
    worker) would otherwise spend about 0.4 s importing it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _label(metric: str) -> str:
    return metric.replace("_", " ")


def _png(figure: Figure) -> bytes:
    """A 256-colour PNG: the description that carries the charts is sent with every asset-graph
    query the UI makes, and a palette is a third of the size of matplotlib's RGBA output with no
    visible loss on flat chart colours."""
    rendered = io.BytesIO()
    figure.savefig(rendered, format="png", dpi=DPI, bbox_inches="tight")
    image = Image.open(rendered).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def heatmap_png(rows: Sequence[Mapping[str, Any]], engagement: Sequence[str], sales: Sequence[str]) -> bytes:
    """Engagement metrics (strongest first) x sales metrics, coloured by r at the best lead."""
    cells = {(r["engagement_metric"], r["sales_metric"]): r for r in rows}

    def strength(metric: str) -> float:
        values = [abs(cells[(metric, s)]["best_correlation"] or 0) for s in sales if (metric, s) in cells]
        return max(values, default=0.0)

    order = sorted(engagement, key=strength, reverse=True)
    grid = [[(cells.get((e, s)) or {}).get("best_correlation") for s in sales] for e in order]
    figure = _figure(1.5 + 1.3 * len(sales), 1.2 + 0.42 * len(order))
    axes = figure.add_subplot()
    image = axes.imshow(
        [[float("nan") if v is None else v for v in row] for row in grid], cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto"
    )
    for i, metric in enumerate(order):
        for j, sale in enumerate(sales):
            cell = cells.get((metric, sale))
            if cell is None or cell["best_correlation"] is None:
                axes.text(j, i, "n/a", ha="center", va="center", fontsize=8, color="grey")
                continue
            r = cell["best_correlation"]
            axes.text(
                j,
                i,
                f"{r:+.2f}  ({cell['best_lag_days']}d)",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(r) > 0.6 else "black",
            )
    axes.set_xticks(range(len(sales)), [_label(s) for s in sales], rotation=20, ha="right")
    axes.set_yticks(range(len(order)), [_label(e) for e in order])
    axes.set_title(
        "Engagement vs. sales: Pearson r at the strongest lead\n(engagement leading sales by 0-14 days, in brackets)",
        fontsize=10,
    )
    figure.colorbar(image, ax=axes, label="Pearson r", shrink=0.8)
    return _png(figure)


def weekly_png(
    weeks: Sequence[date],
    engagement: Sequence[float],
    sales: Sequence[float],
    engagement_metric: str,
    sales_metric: str,
) -> bytes:
    """Two weekly series on their own y-axes, so their shapes can be compared whatever the units."""
    from matplotlib.ticker import EngFormatter

    figure = _figure(7.8, 4.2)
    left = figure.add_subplot()
    right = left.twinx()
    # matplotlib plots dates; its type hints list only numbers and arrays.
    left.plot(weeks, engagement, color="tab:blue", linewidth=1.3, label=f"{_label(engagement_metric)} (left)")  # type: ignore[arg-type]
    right.plot(weeks, sales, color="tab:orange", linewidth=1.3, label=f"{_label(sales_metric)} (right)")  # type: ignore[arg-type]
    left.set_ylabel(_label(engagement_metric), color="tab:blue")
    right.set_ylabel(_label(sales_metric), color="tab:orange")
    for axes in (left, right):
        axes.yaxis.set_major_formatter(EngFormatter())
    left.set_title(
        f"Weekly {_label(engagement_metric)} vs. weekly {_label(sales_metric)} (full weeks, Monday start)", fontsize=10
    )
    left.grid(alpha=0.3)
    handles = [*left.get_legend_handles_labels()[0], *right.get_legend_handles_labels()[0]]
    left.legend(handles=handles, loc="upper left", fontsize=8)
    return _png(figure)


def markdown_images(images: Mapping[str, bytes]) -> str:
    """Markdown showing each PNG inline (a data URI), as Dagster's UI renders it on the materialisation."""
    return "\n\n".join(
        f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
        for title, png in images.items()
    )
