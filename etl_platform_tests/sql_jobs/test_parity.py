"""The SQL engine, on DuckDB and on Athena (the fake: DuckDB behind Athena's API), and the Spark
script agree on the same landing files: the output row for row, and every check (name, passed,
blocking, counts, reasons, lines), or the same failure. Spark runs once per case."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

import lake_job
import pytest

from etl_platform.contract import landing
from etl_platform.contract.errors import InputError
from etl_platform.datasets import AD_SPEND, MARKETING, SALES
from etl_platform.project import SAMPLES_DIR
from etl_platform.samples import AD_SPEND_SAMPLE
from etl_platform_tests.glue_scripts.test_bad_inputs import BINARY_13_BYTES, GOOD_ROWS, _checks, _csv, _run
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES, SALES_HEADER, sales_row
from etl_platform_tests.sql_jobs.conftest import Outcome, run_athena, run_duckdb


def _spark(tmp_path, content: bytes, max_reject_share: float = 0.0, multiline: bool = False) -> Outcome:
    folder = tmp_path / "spark"
    folder.mkdir()
    error, pipes, rows = _run(
        folder, content, *(["--multiline", "true"] if multiline else []), max_reject_share=max_reject_share
    )
    source = str(folder / "in.csv")
    return Outcome(
        None if error is None else (error.replace(source, "<in>"), "data", _failure_line(source, error)),
        rows,
        _checks(pipes),
    )


def _failure_line(source: str, error: str) -> int | None:
    """The line the Spark script's failure record names (``lake_job.failure_of``): the vetting's."""
    try:
        landing.read_header(landing.read_head(source), source)
    except InputError as raised:
        return raised.line if str(raised) == error else None
    return None


def _latin_beyond_head() -> bytes:
    latin = sales_row("1/6/2016", "Lead", "5")
    latin[1] = "Zoë"
    rows = [
        *GOOD_ROWS,
        sales_row("2/30/2016", "Lead", "5"),
        sales_row("1/4/2016", "Lead", "12abc"),
        [*sales_row("1/5/2016", "Lead", "5"), "stray"],
    ]
    return (
        _csv(rows=rows)
        + b"".join([_csv(header=[], rows=[GOOD_ROWS[1]])] * 2000)
        + ",".join(latin).encode("latin-1")
        + b"\n"
    )


def _spanning(rows_after: list[list[str]]) -> bytes:
    spanning = sales_row("1/2/2016", "Lead", "100")
    spanning[2] = '"Acme\nCorp"'
    return _csv(rows=[spanning, *rows_after])


def _few_bad() -> bytes:
    rows = [sales_row(f"1/{day}/2016", "Lead", "100", "10") for day in range(1, 30)]
    for line in (3, 5, 7):
        rows[line - 2] = sales_row(f"1/{line - 1}/2016", "Lead", "12k")
    return _csv(rows=rows)


# The cases of test_bad_inputs: (content, max_reject_share, multiline)
CASES = {
    "empty": (b"", 0.0, False),
    "header_only": (_csv(rows=[]), 0.0, False),
    "binary": (BINARY_13_BYTES, 0.0, False),
    "semicolons": (_csv().replace(b",", b";"), 0.0, False),
    "tabs": (_csv().replace(b",", b"\t"), 0.0, False),
    "utf16": (_csv().decode().encode("utf-16"), 0.0, False),
    "latin1_in_head": (_csv().replace(b"Avery Quinn", "Zoë Quinn".encode("latin-1"), 1), 0.0, False),
    "missing_column": (
        _csv(header=[h if h != "Weighted Revenue" else "Weighted Rev" for h in SALES_HEADER]),
        0.0,
        False,
    ),
    "duplicate_column": (_csv(header=[*SALES_HEADER[:-1], "date"]), 0.0, False),
    "bom_crlf": (b"\xef\xbb\xbf" + _csv(newline="\r\n"), 0.0, False),
    "extra_column": (_csv(header=[*SALES_HEADER, "Notes"], rows=[[*r, "n/a"] for r in GOOD_ROWS]), 0.0, False),
    "bad_values_tolerated": (_latin_beyond_head(), 0.01, False),
    "bad_values_blocking": (_latin_beyond_head(), 0.0, False),
    "few_bad_rows": (_few_bad(), 0.0, False),
}
# Quoted line breaks: Spark refuses them without multiline and reads them with it; Athena's
# OpenCSVSerde reads lines, so there the file fails either way (see the report).
MULTILINE_CASES = {
    "broken_record": (_spanning([GOOD_ROWS[1]]), 0.0, False),
    "multiline": (_spanning([sales_row("1/3/2016", "Lead", "12k"), GOOD_ROWS[1]]), 0.0, True),
}


def _comparable(checks: dict) -> dict:
    """Each check's verdict and metadata; a row rule's condition in standard SQL quoting, as the
    SQL engine's dataset writes it (Spark's is backquoted)."""
    return {
        name: (c.passed, c.blocking, {k: v.replace("`", '"') if k == "condition" else v for k, v in c.metadata.items()})
        for name, c in checks.items()
    }


def assert_same(expected: Outcome, actual: Outcome) -> None:
    assert actual.failure == expected.failure
    assert actual.rows == expected.rows
    assert _comparable(actual.checks) == _comparable(expected.checks)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inputs_agree_on_every_engine(spark, tmp_path, athena, case) -> None:
    content, share, multiline = CASES[case]
    expected = _spark(tmp_path, content, share, multiline)
    assert_same(expected, run_duckdb(tmp_path, SALES, content, max_reject_share=share, multiline=multiline))
    assert_same(expected, run_athena(athena, SALES, content, name=case, max_reject_share=share, multiline=multiline))


@pytest.mark.parametrize("case", sorted(MULTILINE_CASES))
def test_quoted_line_breaks_agree_on_duckdb_and_fail_as_data_on_athena(spark, tmp_path, athena, case) -> None:
    content, share, multiline = MULTILINE_CASES[case]
    expected = _spark(tmp_path, content, share, multiline)
    assert_same(expected, run_duckdb(tmp_path, SALES, content, max_reject_share=share, multiline=multiline))
    on_athena = run_athena(athena, SALES, content, name=case, max_reject_share=share, multiline=multiline)
    assert on_athena.failure is not None and on_athena.failure[1] == "data"


@pytest.mark.parametrize(("dataset", "name"), [(SALES, QUICKSIGHT_SALES), (MARKETING, QUICKSIGHT_MARKETING)])
def test_the_quicksight_files_agree_on_every_engine(spark, tmp_path, athena, quicksight_dir, dataset, name) -> None:
    content = (quicksight_dir / name).read_bytes()
    # Spark through the dataset's own script (the sales one for sales; the marketing transform otherwise)
    expected = _spark_dataset(tmp_path, dataset, content)
    assert_same(expected, run_duckdb(tmp_path, dataset, content))
    assert_same(expected, run_athena(athena, dataset, content, name=dataset.name))


def _spark_dataset(tmp_path, dataset, content: bytes) -> Outcome:
    """``_run`` for any dataset: the sales script's ``_run`` only knows sales."""
    from unittest.mock import MagicMock

    import lake_builds
    import pyarrow.parquet as pq
    from process_marketing_data import daily_marketing
    from process_sales_data import daily_sales

    from etl_platform.assets.processed import process_job
    from etl_platform.checks.settings import QualitySettings

    folder = tmp_path / "spark"
    folder.mkdir()
    source = folder / "in.csv"
    source.write_bytes(content)
    job = process_job(dataset, str(source), str(folder / "out"), QualitySettings())
    argv = [part for key, value in job.arguments().items() for part in (f"--{key}", value)]
    pipes = MagicMock()
    lake_builds.process_landing_file(
        lake_job.Reporter(pipes), argv, daily_sales if dataset is SALES else daily_marketing
    )
    rows = sorted(pq.read_table(folder / "out").to_pylist(), key=lambda r: r["date"])
    return Outcome(None, rows, _checks(pipes))


def _daily_spend(content: bytes) -> list[dict]:
    """The ad-spend sample summed per day with the csv module: what the example's SQL must compute."""
    days: dict[dt.date, dict] = {}
    for row in csv.DictReader(io.StringIO(content.decode())):
        day = dt.datetime.strptime(row["Date"], "%m/%d/%Y").date()
        total = days.setdefault(day, {"date": day, "spend": [], "ad_impressions": 0, "ad_clicks": 0, "channels": set()})
        total["spend"].append(float(row["Spend"]))
        total["ad_impressions"] += int(row["Impressions"])
        total["ad_clicks"] += int(row["Clicks"])
        total["channels"].add(row["Channel"])
    return [
        {
            "date": t["date"],
            "ad_spend": round(math.fsum(t["spend"]), 2),
            "ad_impressions": t["ad_impressions"],
            "ad_clicks": t["ad_clicks"],
            "ad_channels": len(t["channels"]),
        }
        for t in sorted(days.values(), key=lambda t: t["date"])
    ]


def test_the_ad_spend_example_computes_the_same_days_on_duckdb_and_athena(tmp_path, athena) -> None:
    content = (SAMPLES_DIR / AD_SPEND_SAMPLE).read_bytes()
    on_duckdb = run_duckdb(tmp_path, AD_SPEND, content)
    assert on_duckdb.failure is None and all(c.passed for c in on_duckdb.checks.values())
    assert on_duckdb.rows == _daily_spend(content)
    assert_same(on_duckdb, run_athena(athena, AD_SPEND, content, name="ad_spend"))


def test_the_ad_spend_examples_standard_sql_rules_fail_alike_on_duckdb_and_athena(tmp_path, athena) -> None:
    lines = (SAMPLES_DIR / AD_SPEND_SAMPLE).read_bytes().splitlines(keepends=True)[:40]
    lines[7] = b"1/4/2015,Search,,-12.50,1000,10\n"  # negative spend: the input rule fails
    lines[9] = b"1/4/2015,Video,,3.5x,1000,10\n"  # not a double: rejected, with its line
    content = b"".join(lines)
    on_duckdb = run_duckdb(tmp_path, AD_SPEND, content)
    rule = on_duckdb.checks["non_negative_delivery"]
    assert not rule.passed and rule.blocking and rule.metadata["failing_rows"] == 1
    rejects = on_duckdb.checks["parse_rejects"]
    assert [(e["_line"], e["_reason"]) for e in rejects.metadata["examples"]] == [(10, "Spend: '3.5x' is not a double")]
    assert_same(on_duckdb, run_athena(athena, AD_SPEND, content, name="ad_spend_bad"))
