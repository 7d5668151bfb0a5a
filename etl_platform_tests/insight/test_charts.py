"""The charts are real PNGs of a readable size, and the markdown carries them inline."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re

from PIL import Image

from etl_platform.datasets import REGISTRY
from etl_platform.insight.charts import heatmap_png, markdown_images, weekly_png
from etl_platform.insight.correlation_sql import engagement_metrics

SALES_METRICS = REGISTRY.report.sales_metrics
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.verify()  # a truncated or corrupt file raises here
    return Image.open(io.BytesIO(png))


def _rows() -> list[dict]:
    return [
        {
            "engagement_metric": e,
            "sales_metric": s,
            "best_correlation": (i * 4 + j) / 68 * 2 - 1 if e != "paid_conversion" else None,
            "best_lag_days": (i + j) % 15,
        }
        for i, e in enumerate(engagement_metrics())
        for j, s in enumerate(SALES_METRICS)
    ]


def test_heatmap_is_a_png_with_a_cell_per_metric_pair() -> None:
    image = _image(heatmap_png(_rows(), engagement_metrics(), SALES_METRICS))
    width, height = image.size
    assert image.format == "PNG" and 500 <= width <= 1600 and 500 <= height <= 1600 and height > width * 0.8
    # Coloured cells, not a blank canvas: strong reds and blues are both there.
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert any(r > 150 and b < 80 for _, (r, g, b) in colours) and any(b > 150 and r < 80 for _, (r, g, b) in colours)


def test_weekly_chart_is_a_wide_png() -> None:
    weeks = [dt.date(2016, 1, 4) + dt.timedelta(weeks=i) for i in range(52)]
    image = _image(
        weekly_png(
            weeks,
            [60_000 + 500 * i for i in range(52)],
            [2e6 - 1e4 * i for i in range(52)],
            "website_visits",
            "forecasted_lead_revenue",
        )
    )
    width, height = image.size
    assert 600 <= width <= 768 and 300 <= height <= 700  # fits the overview column of the UI


def test_markdown_embeds_each_png_as_a_data_uri() -> None:
    png = heatmap_png(_rows(), engagement_metrics(), SALES_METRICS)
    text = markdown_images({"Heatmap": png, "Other": PNG_SIGNATURE})
    uris = re.findall(r"!\[(\w+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    assert [title for title, _ in uris] == ["Heatmap", "Other"]
    assert base64.b64decode(uris[0][1]) == png


def test_empty_weekly_series_still_renders() -> None:
    assert _image(weekly_png([], [], [], "website_visits", "forecasted_lead_revenue")).size[0] > 0


def test_a_missing_pair_is_drawn_not_dropped() -> None:
    rows = [r for r in _rows() if (r["engagement_metric"], r["sales_metric"]) != ("website_visits", "opportunities")]
    assert _image(heatmap_png(rows, engagement_metrics(), SALES_METRICS)).size[1] > 500
