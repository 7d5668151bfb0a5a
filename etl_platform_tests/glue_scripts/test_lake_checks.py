"""Each check fails on crafted bad data and passes on good data (small Spark frames)."""

import datetime as dt
import re
from unittest.mock import MagicMock

import lake_builds
import lake_checks
import lake_job
import lake_write
import pytest
from process_sales_data import daily_sales
from pyspark.sql import Observation
from pyspark.sql import functions as F

from etl_platform.assets.processed import process_job
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract import outcomes
from etl_platform.contract.checks import CheckPlan, RowCheck
from etl_platform.contract.errors import InputError
from etl_platform.contract.report import ScriptResult
from etl_platform.datasets import SALES
from etl_platform_tests.helpers import SALES_HEADER, sales_row, write_csv

D = dt.date
PLAN = CheckPlan(max_date_gap_days=7, earliest_date="1990-01-01", latest_date="2030-01-01")


def _daily(spark, dates, **columns):
    rows = [(d, *(values[i] for values in columns.values())) for i, d in enumerate(dates)]
    schema = "date date" + "".join(f", {name} bigint" for name in columns)
    return spark.createDataFrame(rows, schema)


def _outcomes(frame, plan=PLAN):
    return {o.name: o for o in lake_checks.daily_table_outcomes(frame, plan)}


def test_good_daily_table_passes(spark) -> None:
    outcomes = _outcomes(_daily(spark, [D(2016, 1, d) for d in (1, 2, 3)]))
    assert outcomes["date_valid"].passed and outcomes["date_gaps"].passed
    assert outcomes["date_valid"].metadata["first_date"] == "2016-01-01"


@pytest.mark.parametrize(
    ("dates", "problem"),
    [
        ([D(2016, 1, 1), None, D(2016, 1, 2)], "null_dates"),
        ([D(2016, 1, 1), D(2016, 1, 1), D(2016, 1, 2)], "duplicate_dates"),
        ([D(1989, 12, 31), D(2016, 1, 2)], "out_of_range_dates"),
        ([D(2016, 1, 1), D(2031, 1, 1)], "out_of_range_dates"),
    ],
)
def test_date_valid_fails_and_names_the_rows(spark, dates, problem) -> None:
    outcome = _outcomes(_daily(spark, dates))["date_valid"]
    assert not outcome.passed and outcome.blocking
    assert outcome.metadata[problem] >= 1
    assert 1 <= len(outcome.metadata["examples"]) <= lake_checks.EXAMPLE_ROWS


def test_date_gaps_warn_only_past_the_limit(spark) -> None:
    frame = _daily(spark, [D(2016, 1, 1), D(2016, 1, 8), D(2016, 1, 20)])
    outcome = _outcomes(frame)["date_gaps"]
    assert not outcome.passed and not outcome.blocking
    assert outcome.metadata["gaps_over_limit"] == 1
    assert outcome.metadata["longest_gaps"] == [{"after": "2016-01-08", "before": "2016-01-20", "days": 12}]


def test_date_gaps_count_every_gap_and_keep_the_five_longest(spark) -> None:
    """Unsorted rows across partitions, a repeated day and a NULL: gaps are between neighbouring
    distinct days, the longest first (ties by their start)."""
    days = [
        "2016-01-01",
        "2016-01-01",
        "2016-01-09",
        "2016-01-21",
        "2016-01-22",
        "2016-01-30",
        "2016-03-01",
        "2016-03-10",
        "2016-03-22",
        "2016-03-23",
    ]
    dates = [D.fromisoformat(day) for day in days] + [None]
    frame = _daily(spark, dates[::-1]).repartition(3)
    outcome = _outcomes(frame)["date_gaps"]
    assert not outcome.passed and outcome.metadata["max_gap_days"] == 7
    assert outcome.metadata["gaps_over_limit"] == 6
    assert outcome.metadata["longest_gaps"] == [
        {"after": "2016-01-30", "before": "2016-03-01", "days": 31},
        {"after": "2016-01-09", "before": "2016-01-21", "days": 12},
        {"after": "2016-03-10", "before": "2016-03-22", "days": 12},
        {"after": "2016-03-01", "before": "2016-03-10", "days": 9},
        {"after": "2016-01-01", "before": "2016-01-09", "days": 8},
    ]


@pytest.mark.parametrize("dates", [[], [None, D(2016, 1, 1)], [D(2016, 1, 1), D(2016, 1, 1)]])
def test_date_gaps_pass_with_fewer_than_two_days(spark, dates) -> None:
    outcome = _outcomes(_daily(spark, dates))["date_gaps"]
    assert outcome.passed and outcome.metadata == {"max_gap_days": 7, "gaps_over_limit": 0, "longest_gaps": []}


@pytest.mark.parametrize(
    "dates",
    [
        [D(2016, 1, 1), D(2016, 1, 2), D(2016, 1, 3)],
        [D(2016, 1, 1), D(2016, 1, 1), None, D(2016, 3, 1), D(1980, 1, 1)],
    ],
    ids=["good", "bad"],
)
def test_checks_measured_while_writing_match_the_stored_table_and_read_it_only_for_examples(
    spark, tmp_path, dates
) -> None:
    rule = RowCheck("leads_within_opportunities", "leads_generated <= opportunities", "Leads within opportunities.")
    plan = CheckPlan(row_checks=(rule,), max_date_gap_days=7, earliest_date="1990-01-01", latest_date="2030-01-01")
    frame = _daily(spark, dates, opportunities=[3] * len(dates), leads_generated=[3] * (len(dates) - 1) + [4])
    out = str(tmp_path / "out")
    audit = lake_checks.DailyAudit(plan)
    lake_write.write_parquet(audit.observe(frame), out)
    reads = []

    def stored():
        reads.append(out)
        return spark.read.parquet(out)

    rows, measured = audit.outcomes(stored)
    assert rows == len(dates)
    by_name = {o.name: o for o in measured}
    assert by_name == _outcomes(spark.read.parquet(out), plan)  # the same figures as a pass of their own
    assert not by_name["leads_within_opportunities"].passed  # its examples came from the stored table
    assert reads and all(path == out for path in reads)
    if by_name["date_valid"].passed:
        assert by_name["date_valid"].metadata["rows"] == 3 and by_name["date_gaps"].passed
    else:
        assert by_name["date_valid"].metadata["duplicate_dates"] == 1
        assert by_name["date_gaps"].metadata["gaps_over_limit"] == 2


def test_an_observation_comes_back_as_python_values(spark, tmp_path) -> None:
    """Classic Spark 3.5 (Glue 5, EMR Serverless 7) hands back an observed array as the JVM's object."""
    observation = Observation("values")
    metrics = [F.sort_array(F.collect_list("date")).alias("dates"), F.count(F.lit(1)).alias("rows")]
    frame = _daily(spark, [D(2016, 1, 2), D(2016, 1, 1)]).observe(observation, *metrics)
    lake_write.write_parquet(frame, str(tmp_path / "out"))
    assert lake_checks.observed(observation) == {"dates": [D(2016, 1, 1), D(2016, 1, 2)], "rows": 2}


def test_a_passing_table_is_not_read_back_for_its_checks(spark, tmp_path) -> None:
    audit = lake_checks.DailyAudit(PLAN)
    lake_write.write_parquet(audit.observe(_daily(spark, [D(2016, 1, 1), D(2016, 1, 2)])), str(tmp_path / "out"))
    rows, measured = audit.outcomes(lambda: pytest.fail("the stored table was read"))
    assert rows == 2 and all(o.passed for o in measured)


def test_output_row_rules_count_failures_with_examples(spark) -> None:
    rule = RowCheck("leads_within_opportunities", "leads_generated <= opportunities", "Leads within opportunities.")
    plan = CheckPlan(row_checks=(rule,))
    good = _daily(spark, [D(2016, 1, 1)], opportunities=[3], leads_generated=[3])
    bad = _daily(spark, [D(2016, 1, 1), D(2016, 1, 2)], opportunities=[3, 1], leads_generated=[1, 2])
    assert _outcomes(good, plan)["leads_within_opportunities"].passed
    outcome = _outcomes(bad, plan)["leads_within_opportunities"]
    assert not outcome.passed and outcome.metadata["failing_rows"] == 1
    assert outcome.metadata["examples"] == [{"date": "2016-01-02", "opportunities": 1, "leads_generated": 2}]


def test_schema_outcome_lists_missing_unexpected_and_unparsable_columns() -> None:
    assert outcomes.schema_outcome([], [], {"N": 0}, {"N": 5}).passed
    missing = outcomes.schema_outcome(["Weighted Revenue"], ["Revenue"], {}, {})
    assert not missing.passed and missing.metadata["missing_columns"] == ["Weighted Revenue"]
    assert missing.metadata["unexpected_columns"] == ["Revenue"]
    wrong_type = outcomes.schema_outcome([], [], {"N": 5, "M": 1}, {"N": 5, "M": 9})
    assert not wrong_type.passed and wrong_type.metadata["columns_not_parsing"] == ["N"]


@pytest.mark.parametrize(
    ("input_rows", "rejected_rows", "max_share", "result"),
    [
        (1000, 0, 0.0, (True, True)),  # nothing rejected: a pass
        (1000, 1, 0.0, (False, True)),  # by default one rejected row refuses the file
        (1000, 1, 0.01, (False, False)),  # within the dataset's tolerance: a warning, not a pass
        (100, 1, 0.01, (False, False)),  # exactly at it
        (10, 1, 0.01, (False, True)),  # beyond it: blocks
    ],
)
def test_parse_rejects_fails_on_any_reject_and_warns_only_within_the_tolerance(
    input_rows, rejected_rows, max_share, result
) -> None:
    """(passed, blocking): a blocking failure is an error, an advisory one a warning."""
    example = {"_line": 7, "_reason": "Amount: 'abc' is not a bigint", "Amount": "abc"}
    outcome = outcomes.parse_outcomes(input_rows, rejected_rows, [example] * rejected_rows, max_share)
    assert (outcome.passed, outcome.blocking) == result
    assert (outcome.metadata["rejected_rows"], outcome.metadata["max_share"]) == (rejected_rows, max_share)
    assert outcome.metadata.get("examples", []) == [example] * rejected_rows


def test_join_coverage(spark, tmp_path) -> None:
    a = _daily(spark, [D(2016, 1, d) for d in (1, 2, 3)], x=[1, 2, 3])
    b = _daily(spark, [D(2016, 1, d) for d in (2, 3, 4)], y=[2, 3, 4])
    good = a.join(b, "date").orderBy("date")
    good.write.parquet(str(tmp_path / "good"))
    written = spark.read.parquet(str(tmp_path / "good"))
    assert lake_checks.join_coverage_outcome(written, {"a": a, "b": b}, 2).passed
    short = lake_checks.join_coverage_outcome(written.limit(1), {"a": a, "b": b}, 1)
    assert not short.passed and short.metadata["dates_in_every_input"] == 2
    good.orderBy(lake_checks.F.desc("date")).coalesce(1).write.parquet(str(tmp_path / "unsorted"))
    unsorted = lake_checks.join_coverage_outcome(spark.read.parquet(str(tmp_path / "unsorted")), {"a": a, "b": b}, 2)
    assert not unsorted.passed and unsorted.metadata["rows_out_of_order"] == 1


def _process(tmp_path, rows, header=SALES_HEADER):
    """Run the sales job in-process: (its checks by name, everything it reported through Pipes)."""
    pipes = MagicMock()
    source = write_csv(tmp_path / "in.csv", header, rows)
    job = process_job(SALES, str(source), str(tmp_path / "out"), QualitySettings())
    argv = [part for name, value in job.arguments().items() for part in (f"--{name}", value)]
    try:
        lake_builds.process_landing_file(lake_job.Reporter(pipes), argv, daily_sales)
    except InputError:
        pass
    result = ScriptResult.from_messages(call.args[0] for call in pipes.report_custom_message.call_args_list)
    return {outcome.name: outcome for outcome in result.checks}, result


def test_sales_job_reports_every_check_and_catches_negative_revenue(spark, tmp_path) -> None:
    checks, result = _process(
        tmp_path, [sales_row("1/2/2016", "Lead", "100", "10"), sales_row("1/2/2016", "Lead", "-5", "0")]
    )
    expected = {"raw_schema", "parse_rejects", "date_valid", "date_gaps", *(c.name for c in SALES.row_checks)}
    assert set(checks) == expected
    assert result.build is not None and result.build.rows == 1 and result.build.input_rows == 2
    negative = checks["non_negative_amounts"]
    assert (negative.passed, negative.blocking) == (False, True)
    assert negative.metadata["failing_rows"] == 1
    assert negative.metadata["examples"][0]["Forecasted Monthly Revenue"] == -5
    assert all(checks[name].passed for name in expected - {"non_negative_amounts"})


def test_sales_job_with_a_missing_column_reports_raw_schema_and_stops(spark, tmp_path) -> None:
    header = [h for h in SALES_HEADER if h != "Weighted Revenue"]
    row = [v for h, v in zip(SALES_HEADER, sales_row("1/2/2016", "Lead", "100")) if h != "Weighted Revenue"]
    checks, result = _process(tmp_path, [row], header)
    assert list(checks) == ["raw_schema"]
    assert checks["raw_schema"].passed is False
    assert checks["raw_schema"].metadata["missing_columns"] == ["Weighted Revenue"]
    assert result.build is None


@pytest.mark.parametrize(
    ("dataset", "check", "good", "bad"),
    [
        (
            "sales",
            "non_negative_totals",
            {"opportunities": 2, "weighted_revenue": 5},
            {"opportunities": 2, "weighted_revenue": -5},
        ),
        (
            "sales",
            "leads_within_opportunities",
            {"opportunities": 2, "leads_generated": 2},
            {"opportunities": 1, "leads_generated": 2},
        ),
        (
            "marketing",
            "non_negative_metrics",
            {"website_visits": 0, "twitter_follower_adds": -3},
            {"website_visits": -1},
        ),
    ],
)
def test_registry_output_rules_fail_on_bad_rows_and_pass_on_good(spark, dataset, check, good, bad) -> None:
    """Each registered output rule, evaluated as the scripts do, on one good and one bad day."""
    from etl_platform.datasets import REGISTRY

    rule = next(c for c in REGISTRY.dataset(dataset).row_checks if c.name == check)
    plan = CheckPlan(row_checks=(rule,))
    columns = sorted(set(re.findall(r"[a-z][a-z_]+", rule.condition)))  # every column the rule reads
    for values, passes in ((good, True), (bad, False)):
        frame = _daily(spark, [D(2016, 1, 1)], **{c: [values.get(c, 0)] for c in columns})
        assert _outcomes(frame, plan)[check].passed is passes
