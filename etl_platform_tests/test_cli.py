"""The etl-platform command: landing, querying, and one-line errors with a non-zero exit."""

import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pytest

from etl_platform import cli
from etl_platform.project import PROJECT_ROOT
from etl_platform.resources import LakeObject
from etl_platform.resources.catalog import BuildSource, TableSnapshot
from etl_platform.resources.lake import skip_reason
from etl_platform_tests.helpers import lake_catalog, publish_parquet


def _table(lake_root, location: str, table: pa.Table, rejected_rows: int = 0, **build) -> TableSnapshot:
    """A built table, committed to the catalog as a build commits it."""
    return publish_parquet(lake_root, location.split("/")[-1], location, table, rejected_rows=rejected_rows, **build)


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture
def three_builds(lake_root, tmp_path, monkeypatch) -> list[TableSnapshot]:
    """sales_daily published three times (1, 2 and 3 rows), each from a landing file of its own, on
    a Dagster instance of the test's own (rollback records a materialisation there)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    snapshots = []
    for week in (1, 2, 3):
        if snapshots:
            time.sleep(0.05)  # commits at distinct milliseconds, for --as-of times between them
        source = BuildSource(f"landing/sales/week{week}.csv", f"fp{week}", 1_700_000_000.0 + week)
        rows = pa.table({"n": list(range(week))})
        snapshots.append(_table(lake_root, "processed/sales_daily", rows, run_id=f"run-{week}-abcdefgh", source=source))
    return snapshots


def test_land_puts_the_file_under_the_datasets_prefix(lake_root, tmp_path, capsys) -> None:
    source = tmp_path / "export.csv"
    source.write_text("Date\n1/1/2016\n")
    assert cli.main(["land", "sales", str(source)]) == 0
    assert (lake_root / "landing" / "sales" / "export.csv").read_text() == "Date\n1/1/2016\n"
    assert "landed" in capsys.readouterr().out
    assert cli.main(["land", "marketing", str(source), "--name", "2016-w01.csv"]) == 0
    assert (lake_root / "landing" / "marketing" / "2016-w01.csv").is_file()


def test_landed_files_are_readable_like_an_ordinary_copy(lake_root, tmp_path) -> None:
    source = tmp_path / "export.csv"
    source.write_text("Date\n1/1/2016\n")
    previous = os.umask(0o022)
    try:
        assert cli.main(["land", "sales", str(source)]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(lake_root / "landing" / "sales" / "export.csv").st_mode) == 0o644


@pytest.mark.parametrize(
    ("file", "name"),
    [(".export.csv", None), ("export.txt", None), ("export.csv", "_SUCCESS"), ("export.csv", "export.csv.part")],
)
def test_land_refuses_what_the_arrival_sensor_would_skip(lake_root, tmp_path, capsys, file, name) -> None:
    source = tmp_path / file
    source.write_text("Date\n1/1/2016\n")
    key = f"landing/sales/{name or file}"
    assert cli.main(["land", "sales", str(source)] + (["--name", name] if name else [])) == 1
    err = capsys.readouterr().err
    reason = skip_reason(LakeObject(key=key, size=source.stat().st_size, modified=source.stat().st_mtime))
    assert (
        reason
        and err == f"etl-platform: error: not landing {source} as {key}: {reason} (the arrival sensor would skip it)\n"
    )
    assert not (lake_root / "landing").exists()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("", None, "the file is empty (0 bytes), its run would fail and quarantine it"),
        (
            "Date\n1/1/2016\n",
            "2016/w01.csv",
            "--name '2016/w01.csv' is a path: give a file name, it lands directly under landing/sales/",
        ),
    ],
)
def test_land_refuses_empty_files_and_folders_in_the_name(lake_root, tmp_path, capsys, content, name, message) -> None:
    source = tmp_path / "export.csv"
    source.write_text(content)
    assert cli.main(["land", "sales", str(source)] + (["--name", name] if name else [])) == 1
    err = capsys.readouterr().err
    assert err.startswith("etl-platform: error: ") and message in err and len(err.splitlines()) == 1
    assert not (lake_root / "landing").exists()


def test_query_is_read_only_unless_writes_are_allowed(lake_root, tmp_path, capsys) -> None:
    out = tmp_path / "out.csv"
    copy = f"copy (select 42 as answer) to '{out}'"
    assert cli.main(["query", copy]) == 1
    err = capsys.readouterr().err
    assert err.startswith('etl-platform: error: query is read-only: refusing the COPY statement "COPY (SELECT 42')
    assert err.rstrip().endswith("; pass --allow-writes to run it") and len(err.splitlines()) == 1
    assert not out.exists()
    assert cli.main(["query", copy, "--allow-writes"]) == 0
    assert out.read_text() == "answer\n42\n"


def test_query_reads_a_nested_comment_as_duckdb_does(lake_root, capsys) -> None:
    """DuckDB nests block comments: the DELETE is inside one, and what runs is SELECT 1."""
    assert cli.main(["query", "/* /* */ DELETE FROM sales_daily -- */ SELECT 1 AS one", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "one\n1\n"


def test_queries_install_and_load_no_extension_on_demand(lake_root, capsys) -> None:
    setting = "current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
    assert cli.main(["query", f"select {setting}", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "False,False"
    assert cli.main(["query", "select * from 'https://example.com/t.parquet'"]) == 1
    assert "requires the extension httpfs to be loaded" in capsys.readouterr().err


def test_help_is_plain_text_and_names_every_positional(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "etl-platform: land files, run the whole pipeline, query the tables." in out and "``" not in out
    for command, positional in [
        ("land", "dataset"),
        ("land", "file"),
        ("query", "sql"),
        ("rollback", "table"),
        ("versions", "table"),
    ]:
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        lines = capsys.readouterr().out.splitlines()
        assert any(line.split()[:1] == [positional] and len(line.split()) > 1 for line in lines), (command, positional)


# Seconds to import; a command that does not use them must not pay for them.
HEAVY_MODULES = {"dagster", "pyspark", "pyiceberg", "duckdb", "pyarrow", "matplotlib", "boto3"}


def _fresh_cli(*argv: str, **environment: str) -> subprocess.CompletedProcess:
    """``etl-platform ARGV`` in a new Python process, then the heavy modules it had imported, on
    stdout's last line."""
    code = (
        "import sys\nfrom etl_platform import cli\ntry:\n    status = cli.main(sys.argv[1:])\n"
        "except SystemExit as exit:\n    status = exit.code\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY_MODULES!r}))\nsys.exit(status)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("argv", [["--help"], ["query", "--help"], ["report", "--top", "0"]])
def test_help_and_usage_errors_import_none_of_the_heavy_libraries(argv) -> None:
    done = _fresh_cli(*argv)
    assert done.returncode in (0, 2) and done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr


def test_an_error_from_a_library_a_command_imported_itself_is_still_one_line(tmp_path) -> None:
    unset = {name: "" for name in ("ETL_AWS_REGION", "ETL_DATA_BUCKET", "ETL_SCRATCH_BUCKET", "ETL_GLUE_DATABASE")}
    done = _fresh_cli("tables", ETL_PLATFORM_ENV="aws", **unset)
    assert done.returncode == 1 and "dagster" in done.stdout  # imported by the command, not by the CLI
    assert done.stderr.startswith("etl-platform: error: configuration: environment variables not set: ")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("top", ["0", "-2", "three"])
def test_report_top_must_be_a_positive_whole_number(capsys, top) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["report", "--top", top])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"etl-platform: error: argument --top: '{top}' is not a ") and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["land", "crm", "x.csv"], "unknown dataset 'crm'; registered datasets: sales, marketing"),
        (["land", "sales", "does-not-exist.csv"], "no such file: does-not-exist.csv"),
        (["land", "sales", "x.csv", "--name", "../escape.csv"], "not a plain relative path"),
        (
            ["query", "select * from sales_daily"],
            "SQL error: Catalog Error: Table with name sales_daily does not exist",
        ),
        (
            ["query", "selec 1"],
            "SQL error: DuckDB SQL cannot be parsed: Invalid expression / Unexpected token at line 1",
        ),
        (["query", ""], "no SQL statement given"),
        (["query", " \n "], "no SQL statement given"),
        (["query", "-- hi"], "no SQL statement given"),
        (["query", "/* x */"], "no SQL statement given"),
        (["query", "install httpfs"], 'query is read-only: refusing the INSTALL statement "INSTALL httpfs"'),
        (["query", "attach 'other.duckdb'"], "refusing the ATTACH statement"),
        (["query", "select 1; set threads = 1"], "refusing 2 statements (SELECT, SET, as DuckDB reads them)"),
        (["query", "select 1 as a into t"], "refusing the SELECT INTO in the statement"),
        (["query", "explain analyze select 1"], "refusing the EXPLAIN ANALYZE statement"),
        (["land", "sales", "."], ". is a directory"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(lake_root, tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("Date\n")
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("etl-platform: error: ") and message in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err


def test_unknown_environment_is_reported_not_raised(lake_root, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "staging")
    assert cli.main(["query", "select 1"]) == 1
    assert "ETL_PLATFORM_ENV='staging' is not a known environment" in capsys.readouterr().err


def test_missing_aws_settings_are_named(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    for name in ("ETL_AWS_REGION", "ETL_DATA_BUCKET", "ETL_SCRATCH_BUCKET", "ETL_GLUE_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["tables"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("etl-platform: error: configuration: environment variables not set: ")
    assert "ETL_AWS_REGION" in err or "ETL_DATA_BUCKET" in err
    assert len(err.strip().splitlines()) == 1


def test_query_sees_built_tables_by_name(lake_root, capsys) -> None:
    _table(lake_root, "processed/sales_daily", pa.table({"n": [1, 2]}))
    _table(lake_root, "joined/sales_marketing_daily", pa.table({"n": [5]}))
    assert (
        cli.main(
            ["query", "select (select sum(n) from sales_daily) as s, (select count(*) from sales_marketing_daily) as j"]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == ["s | j", "--+--", "3 | 1", "(1 row)"]


def test_query_as_csv(lake_root, capsys) -> None:
    _table(lake_root, "processed/marketing_daily", pa.table({"a": [1, None], "b": ["x,y", "z"]}))
    assert cli.main(["query", "select * from marketing_daily order by a nulls last", "--format", "csv"]) == 0
    assert capsys.readouterr().out == 'a,b\n1,"x,y"\n,z\n'


def test_tables_lists_columns_row_counts_and_builds(lake_root, capsys) -> None:
    assert cli.main(["tables"]) == 0
    assert "no tables yet" in capsys.readouterr().out
    snapshot = _table(lake_root, "processed/sales_daily", pa.table({"date": ["2016-01-01"], "opportunities": [3]}))
    assert cli.main(["tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0]
        == f"sales_daily  1 rows  built {_utc(snapshot.committed_at)}  run run-1  snapshot {snapshot.snapshot_id}"
    )
    assert lines[1].strip() == str(lake_root / "processed" / "sales_daily")
    assert lines[2].split() == ["date", "string"] and lines[3].split() == ["opportunities", "long"]  # Iceberg's types


def test_tables_shows_the_rejected_rows_beside_the_row_count(lake_root, capsys) -> None:
    _table(lake_root, "processed/sales_daily", pa.table({"n": list(range(2033))}), rejected_rows=1234)
    _table(lake_root, "processed/marketing_daily", pa.table({"n": [1, 2]}))
    assert cli.main(["tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("marketing_daily  2 rows  built ")  # nothing rejected: nothing said
    assert next(line for line in lines if line.startswith("sales_daily")).startswith(
        "sales_daily  2,033 rows (1,234 rejected)  built "
    )


def test_versions_lists_every_kept_snapshot_oldest_first_with_the_current_one_marked(three_builds, capsys) -> None:
    assert cli.main(["versions", "sales_daily"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sales_daily: 3 kept snapshot(s), oldest first; * = current"
    assert lines[1:] == [
        f"{'*' if s is three_builds[-1] else ' '} {s.snapshot_id}  {_utc(s.committed_at)}  run {s.run_id[:8]}  "
        f"{s.rows:,} rows  from landing/sales/week{s.rows}.csv"
        for s in three_builds
    ]
    assert cli.main(["versions", "marketing_daily"]) == 0
    assert capsys.readouterr().out == "marketing_daily: no snapshot yet\n"
    assert cli.main(["versions", "nosuch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "etl-platform: error: unknown table 'nosuch'; tables: engagement_revenue_correlation, marketing_daily, "
        "sales_daily, sales_marketing_daily\n"
    )


def _sum(capsys, *options: str) -> str:
    capsys.readouterr()
    assert cli.main(["query", "select count(*) as n from sales_daily", "--format", "csv", *options]) == 0
    return capsys.readouterr().out.splitlines()[1]


def test_rollback_restores_the_parent_by_default_or_the_snapshot_named(three_builds, lake_root, capsys) -> None:
    first, second, third = three_builds
    assert cli.main(["rollback", "sales_daily"]) == 0
    out = capsys.readouterr().out
    assert (
        out
        == f"sales_daily: snapshot {second.snapshot_id} (2 rows, run {second.run_id}) is current again, was {third.snapshot_id}\n"
    )
    assert lake_catalog(lake_root).current("sales_daily").snapshot_id == second.snapshot_id
    assert _sum(capsys) == "2"
    assert cli.main(["versions", "sales_daily"]) == 0
    marked = [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:] if line.startswith("*")]
    assert marked == [str(second.snapshot_id)]

    assert cli.main(["rollback", "sales_daily", "--to", str(third.snapshot_id)]) == 0
    assert _sum(capsys) == "3"
    assert cli.main(["rollback", "sales_daily", "--to", str(first.snapshot_id)]) == 0
    assert _sum(capsys) == "1"
    with dg.DagsterInstance.get() as instance:  # the test's DAGSTER_HOME: Dagster saw the table change
        event = instance.get_latest_materialization_event(dg.AssetKey("sales_daily"))
        metadata = event.asset_materialization.metadata
        assert (metadata["table_version"].value, metadata["rolled_back_from"].value) == (
            str(first.snapshot_id),
            str(third.snapshot_id),
        )


def test_query_as_of_reads_a_snapshot_or_the_table_as_it_was_at_a_time(three_builds, capsys) -> None:
    first, second, third = three_builds
    assert _sum(capsys) == "3"
    assert _sum(capsys, "--as-of", str(first.snapshot_id)) == "1"
    between = datetime.fromtimestamp((second.committed_at + third.committed_at) / 2, UTC)
    assert _sum(capsys, "--as-of", between.isoformat()) == "2"
    assert _sum(capsys, "--as-of", between.replace(tzinfo=None).isoformat()) == "2"  # UTC unless given


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "select 1", "--as-of", "12345"], "no table has a snapshot 12345; etl-platform versions TABLE lists"),
        (
            ["query", "select 1", "--as-of", "last tuesday"],
            "--as-of 'last tuesday' is neither a snapshot id nor an ISO time",
        ),
    ],
)
def test_time_travel_errors_are_one_line(three_builds, capsys, argv, message) -> None:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("etl-platform: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_as_of_before_the_oldest_kept_snapshot_names_it(three_builds, capsys) -> None:
    first = three_builds[0]
    assert cli.main(["query", "select * from sales_daily", "--as-of", "2000-01-01T08:00:00+02:00"]) == 1
    assert capsys.readouterr().err == (
        "etl-platform: error: table sales_daily has no snapshot as old as 2000-01-01 06:00:00 UTC: "
        f"the oldest kept is {first.snapshot_id}, of {_utc(first.committed_at)}\n"
    )
    assert cli.main(["query", "select * from nosuch", "--as-of", "2000-01-01"]) == 1  # a name no table has
    assert "SQL error: Catalog Error: Table with name nosuch does not exist!" in capsys.readouterr().err


def test_rollback_of_the_current_snapshot_or_past_the_first_is_refused(three_builds, capsys) -> None:
    # (Unknown tables and snapshots, and --to values that are no snapshot id: test_rollback.py.)
    first, _, third = three_builds
    assert cli.main(["rollback", "sales_daily", "--to", str(third.snapshot_id)]) == 1
    assert (
        capsys.readouterr().err
        == f"etl-platform: error: snapshot {third.snapshot_id} is already the current snapshot of sales_daily\n"
    )
    assert cli.main(["rollback", "sales_daily", "--to", str(first.snapshot_id)]) == 0
    assert cli.main(["rollback", "sales_daily"]) == 1
    assert capsys.readouterr().err.startswith(
        "etl-platform: error: table sales_daily has no earlier snapshot to roll back to"
    )


def test_generate_samples_writes_every_sample_file(tmp_path, capsys) -> None:
    assert cli.main(["generate-samples", "--out", str(tmp_path), "--scale", "0.05"]) == 0
    assert (tmp_path / "sales" / "sales_pipeline_sample.csv").is_file()
    assert (tmp_path / "marketing" / "marketing_data_sample.csv").is_file()
    assert (tmp_path / "ad_spend" / "ad_spend_sample.csv").is_file()
    assert capsys.readouterr().out.count("wrote") == 3


def test_a_failed_step_is_said_in_its_own_words() -> None:
    @dg.op
    def refused() -> None:
        raise dg.Failure(description="landing/sales/x.csv: the file is empty (0 bytes) (quarantined: q.json)")

    @dg.op
    def crashed() -> None:
        raise RuntimeError("executor lost\nmore detail")

    @dg.job
    def steps() -> None:
        refused()
        crashed()

    result = steps.execute_in_process(raise_on_error=False)
    texts = sorted(cli.step_failure_text(e.event_specific_data) for e in result.get_step_failure_events())
    assert texts == [
        "RuntimeError: executor lost",
        "landing/sales/x.csv: the file is empty (0 bytes) (quarantined: q.json)",
    ]
