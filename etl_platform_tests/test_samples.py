"""The sample generator: deterministic, QuickSight-shaped, and what is committed under samples/."""

import csv
import re

from etl_platform.project import SAMPLES_DIR
from etl_platform.samples import (
    AD_SPEND_SAMPLE,
    CHANNELS,
    MARKETING_HEADER,
    MARKETING_SAMPLE,
    SALES_HEADER,
    SALES_SAMPLE,
    generate,
)
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

US_DATE = re.compile(r"^(1[0-2]|[1-9])/(3[01]|[12][0-9]|[1-9])/20\d\d$")


def test_generation_is_deterministic(tmp_path) -> None:
    generate(tmp_path / "a")
    generate(tmp_path / "b")
    for name in (SALES_SAMPLE, MARKETING_SAMPLE, AD_SPEND_SAMPLE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_committed_samples_are_the_generators_output(tmp_path) -> None:
    generate(tmp_path)
    for name in (SALES_SAMPLE, MARKETING_SAMPLE, AD_SPEND_SAMPLE):
        assert (SAMPLES_DIR / name).read_bytes() == (tmp_path / name).read_bytes(), f"regenerate {name}"


def test_headers_match_the_quicksight_files(quicksight_dir) -> None:
    for header, name in ((SALES_HEADER, QUICKSIGHT_SALES), (MARKETING_HEADER, QUICKSIGHT_MARKETING)):
        with open(quicksight_dir / name, newline="") as f:
            assert next(csv.reader(f)) == header


def test_value_formats(tmp_path) -> None:
    counts = generate(tmp_path, scale=0.2)
    with open(tmp_path / SALES_SAMPLE, newline="") as f:
        sales = list(csv.DictReader(f))
    assert len(sales) == counts[SALES_SAMPLE] > 500
    for row in sales:
        assert US_DATE.match(row["Date"]) and US_DATE.match(row["Target Close"])
        assert row["Forecasted Monthly Revenue"].isdigit() and row["Weighted Revenue"].isdigit()
        assert {row["Closed Opportunity"], row["Active Opportunity"], row["Latest Status Entry"]} <= {"TRUE", "FALSE"}
        if row["Opportunity Stage"] == "Closed Lost":
            assert row["Forecasted Monthly Revenue"] == "0"
    assert {"Lead", "Closed Lost", "Prospect"} <= {row["Opportunity Stage"] for row in sales}
    with open(tmp_path / MARKETING_SAMPLE, newline="") as f:
        marketing = list(csv.DictReader(f))
    assert len({row["Date"] for row in marketing}) == len(marketing) == counts[MARKETING_SAMPLE]
    assert all(row["Website Visits"].isdigit() for row in marketing)
    assert any(row["Events"] == "" for row in marketing) and any(row["Events"] for row in marketing)


def test_ad_spend_has_a_row_per_running_channel_and_day_with_consistent_delivery(tmp_path) -> None:
    counts = generate(tmp_path, scale=1)
    with open(tmp_path / AD_SPEND_SAMPLE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == counts[AD_SPEND_SAMPLE]
    assert len({(row["Date"], row["Channel"]) for row in rows}) == len(rows)  # one row per channel and day
    assert {row["Channel"] for row in rows} == set(CHANNELS)
    for row in rows:
        assert US_DATE.match(row["Date"])
        assert re.fullmatch(r"\d+\.\d\d", row["Spend"]) and float(row["Spend"]) > 0
        assert 0 <= int(row["Clicks"]) <= int(row["Impressions"])
    channels_per_day: dict[str, int] = {}
    for row in rows:
        channels_per_day[row["Date"]] = channels_per_day.get(row["Date"], 0) + 1
    assert set(channels_per_day.values()) >= {2, 3, 4}  # channels pause, and video starts a year in


def test_scale_multiplies_rows(tmp_path) -> None:
    small, large = generate(tmp_path / "s", scale=0.5), generate(tmp_path / "l", scale=2)
    assert 3.6 < large[SALES_SAMPLE] / small[SALES_SAMPLE] < 4.4
