"""Deterministic generator of sales and marketing CSVs shaped like the QuickSight sample files,
and of the advertising-spend example input.

Same headers (including the marketing file's ``'Mailing list adds '`` with its trailing space),
``M/D/YYYY`` dates, integer amounts and ``TRUE``/``FALSE`` flags; invented values. Used for the
committed ``samples/`` and, at larger scales, for benchmarks. Rows are streamed to disk, so memory
stays flat at any scale.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from etl_platform.datasets import AD_SPEND, MARKETING, SALES

SALES_HEADER = [name for name, _ in SALES.columns]
# As in the QuickSight export, one marketing header ends with a space: the reader must trim it.
MARKETING_HEADER = [f"{name} " if name == "Mailing list adds" else name for name, _ in MARKETING.columns]
AD_SPEND_HEADER = [name for name, _ in AD_SPEND.columns]

SALESPEOPLE = [
    "Avery Quinn",
    "Blake Moreno",
    "Casey Lindqvist",
    "Devon Okafor",
    "Emery Castillo",
    "Finley Novak",
    "Harper Iwata",
]
SEGMENTS = (["SMB", "Enterprise", "Startup"], [50, 34, 16])
REGIONS = (["US", "EMEA", "APAC"], [61, 26, 13])
# Stage -> (share of rows, probability used for the weighted revenue)
STAGES = {
    "Lead": (43.5, 0.1),
    "Closed Lost": (38.0, 0.0),
    "Prospect": (9.5, 0.2),
    "Qualified": (2.7, 0.5),
    "Contracting": (3.3, 0.8),
    "Closed Won": (3.0, 1.0),
}
CAMPAIGNS = [
    "Spring CPC campaign",
    "SEO refresh",
    "New mobile site promo",
    "Targeted outreach campaign",
    "Webinar series",
]

SAMPLE_SEED = 20261125
SAMPLE_START = date(2015, 1, 1)
SAMPLE_DAYS = 731
SAMPLE_SALES_ROWS = 4000
# Sales history starts a quarter before the marketing data, as in the QuickSight files, so the
# inner join visibly keeps only the days both datasets have.
SALES_LEAD_DAYS = 90
SALES_SAMPLE = "sales/sales_pipeline_sample.csv"
MARKETING_SAMPLE = "marketing/marketing_data_sample.csv"
AD_SPEND_SAMPLE = "ad_spend/ad_spend_sample.csv"
# Channel -> (daily budget in dollars, cost per thousand impressions, click-through rate, first day
# it runs): video starts a year in, so the per-day channel count changes over the sample.
CHANNELS = {
    "Search": (420.0, 9.0, 0.031, 0),
    "Social": (260.0, 6.5, 0.012, 0),
    "Display": (150.0, 2.8, 0.004, 0),
    "Video": (300.0, 14.0, 0.007, 365),
}


def us_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def flag(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def sales_rows(rng: random.Random, start: date, days: int, total_rows: int) -> Iterator[list[str]]:
    """Opportunities in date order, growing over time like a real pipeline; about ``total_rows``."""
    stage_names = list(STAGES)
    stage_weights = [share for share, _ in STAGES.values()]
    # Day weights rise linearly from 1 to 3 so later years carry more opportunities.
    mean_weight = 2.0
    carry = 0.0
    for offset in range(days):
        day = start + timedelta(days=offset)
        expected = total_rows / days * (1 + 2 * offset / max(days - 1, 1)) / mean_weight + carry
        count = int(expected + rng.random() - 0.5) if expected >= 0.5 else int(rng.random() < expected)
        carry = expected - count
        for _ in range(max(count, 0)):
            stage = rng.choices(stage_names, stage_weights)[0]
            segment = rng.choices(*SEGMENTS)[0]
            region = rng.choices(*REGIONS)[0]
            closed = stage.startswith("Closed")
            forecast = 0 if stage == "Closed Lost" else rng.randint(20_000, 999_999)
            target = day if closed else day + timedelta(days=rng.randint(14, 120))
            yield [
                us_date(day),
                rng.choice(SALESPEOPLE),
                f"{region}_{segment}_{rng.randint(1, 2500)}",
                segment,
                region,
                us_date(target),
                str(forecast),
                stage,
                str(round(forecast * STAGES[stage][1])),
                flag(closed),
                flag(not closed and rng.random() < 0.08),
                flag(closed or rng.random() < 0.4),
            ]


def marketing_rows(rng: random.Random, start: date, days: int) -> Iterator[list[str]]:
    """One row per day: traffic with growth, a weekly rhythm and noise; cumulative counters."""
    followers, mailing, pageviews = 180, 1800, 25_000
    campaign = ""
    for offset in range(days):
        day = start + timedelta(days=offset)
        growth = 1 + 0.8 * offset / 365
        weekly = 1.0 - 0.25 * (day.weekday() >= 5)
        seo = int(2000 * growth * weekly * rng.uniform(0.75, 1.25))
        unique = int(seo * rng.uniform(1.2, 1.5))
        visits = int(unique * rng.uniform(2.6, 3.2))
        follower_adds = rng.randint(-1, 4 + offset // 120)
        mailing_adds = int(rng.expovariate(1 / (2 + offset / 200)))
        followers += follower_adds
        mailing += mailing_adds
        pageviews += int(visits * rng.uniform(0.012, 0.016))
        if offset % 30 == 0:
            campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.55 else ""
        sign_ups = int(unique * rng.uniform(0.3, 0.6))
        yield [
            us_date(day),
            str(seo),
            str(int(seo * rng.uniform(0.12, 0.18))),
            str(int(seo * rng.uniform(0.02, 0.035))),
            str(int(seo * rng.uniform(0.08, 0.12))),
            str(min(int(rng.expovariate(0.4)), 10)),
            str(follower_adds),
            str(followers),
            str(mailing_adds),
            str(mailing),
            str(pageviews),
            str(visits),
            str(unique),
            str(int(unique * 0.1)),
            str(int(unique * 0.2)),
            str(unique - int(unique * 0.1) - int(unique * 0.2)),
            str(sign_ups),
            str(int(sign_ups * rng.uniform(0.04, 0.08))),
            campaign,
        ]


def ad_spend_rows(rng: random.Random, start: date, days: int) -> Iterator[list[str]]:
    """One row per day and running channel (a channel pauses on some days): spend with cents,
    impressions from the channel's CPM, clicks from its click-through rate, the campaign if any."""
    for offset in range(days):
        day = start + timedelta(days=offset)
        growth = 1 + 0.5 * offset / 365
        for channel, (budget, cpm, ctr, first_day) in CHANNELS.items():
            if offset < first_day or rng.random() < 0.08:
                continue
            spend = round(budget * growth * rng.uniform(0.7, 1.3), 2)
            impressions = int(spend / cpm * 1000 * rng.uniform(0.9, 1.1))
            clicks = int(impressions * ctr * rng.uniform(0.8, 1.2))
            campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.3 else ""
            yield [us_date(day), channel, campaign, f"{spend:.2f}", str(impressions), str(clicks)]


def _quote(field: str) -> str:
    return f'"{field}"' if any(ch in field for ch in ',"\n') else field


def write_csv(path: Path, header: list[str], rows: Iterator[list[str]]) -> int:
    """Stream rows to ``path`` (LF line endings, like the QuickSight files); returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(",".join(_quote(h) for h in header) + "\n")
        for row in rows:
            out.write(",".join(_quote(f) for f in row) + "\n")
            count += 1
    return count


def generate(out_dir: Path, scale: float = 1.0) -> dict[str, int]:
    """Write the sample files under ``out_dir``; ``scale`` multiplies rows (and marketing and ad
    spend days)."""
    days = max(1, math.ceil(SAMPLE_DAYS * scale))
    return {
        SALES_SAMPLE: write_csv(
            out_dir / SALES_SAMPLE,
            SALES_HEADER,
            sales_rows(
                random.Random(SAMPLE_SEED),
                SAMPLE_START - timedelta(days=SALES_LEAD_DAYS),
                days + SALES_LEAD_DAYS,
                round(SAMPLE_SALES_ROWS * scale),
            ),
        ),
        MARKETING_SAMPLE: write_csv(
            out_dir / MARKETING_SAMPLE,
            MARKETING_HEADER,
            marketing_rows(random.Random(SAMPLE_SEED + 1), SAMPLE_START, days),
        ),
        AD_SPEND_SAMPLE: write_csv(
            out_dir / AD_SPEND_SAMPLE,
            AD_SPEND_HEADER,
            ad_spend_rows(random.Random(SAMPLE_SEED + 2), SAMPLE_START, days),
        ),
    }
