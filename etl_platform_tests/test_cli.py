"""The etl-platform command: landing, querying, and one-line errors with a non-zero exit."""

import os
import stat

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform import cli
from etl_platform.resources import DuckDBEngine, LakeObject
from etl_platform.resources.lake import skip_reason


def _table(lake_root, location: str, table: pa.Table, rejected_rows: int = 0) -> None:
    """A built table, registered in the catalog as a build would."""
    (lake_root / location).mkdir(parents=True)
    pq.write_table(table, lake_root / location / "part-0.snappy.parquet")
    engine = DuckDBEngine(catalog_path=str(lake_root / "catalog.duckdb"))
    columns = [(field.name, str(field.type)) for field in table.schema]
    engine.register_table(location.split("/")[-1], str(lake_root / location), columns, table.num_rows, "run-1", rejected_rows)


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
    assert reason and err == f"etl-platform: error: not landing {source} as {key}: {reason} (the arrival sensor would skip it)\n"
    assert not (lake_root / "landing").exists()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("", None, "the file is empty (0 bytes), its run would fail and quarantine it"),
        ("Date\n1/1/2016\n", "2016/w01.csv", "--name '2016/w01.csv' is a path: give a file name, it lands directly under landing/sales/"),
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
    assert err.startswith('etl-platform: error: query is read-only: refusing the COPY statement "copy (select 42')
    assert err.rstrip().endswith("; pass --allow-writes to run it") and len(err.splitlines()) == 1
    assert not out.exists()
    assert cli.main(["query", copy, "--allow-writes"]) == 0
    assert out.read_text() == "answer\n42\n"


def test_help_is_plain_text_and_names_every_positional(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "etl-platform: land files, run the whole pipeline, query the tables." in out and "``" not in out
    for command, positional in [("land", "dataset"), ("land", "file"), ("query", "sql"), ("rollback", "table"), ("versions", "table")]:
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        lines = capsys.readouterr().out.splitlines()
        assert any(line.split()[:1] == [positional] and len(line.split()) > 1 for line in lines), (command, positional)


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
        (["query", "select * from sales_daily"], "SQL error: Catalog Error: Table with name sales_daily does not exist"),
        (["query", "selec 1"], "SQL error: Parser Error"),
        (["query", ""], "no SQL statement given"),
        (["query", " \n "], "no SQL statement given"),
        (["query", "-- hi"], "no SQL statement given"),
        (["query", "/* x */"], "no SQL statement given"),
        (["query", "install httpfs"], 'query is read-only: refusing the LOAD statement "install httpfs"'),
        (["query", "attach 'other.duckdb'"], "refusing the ATTACH statement"),
        (["query", "select 1; set threads = 1"], "refusing the SET statement"),
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
    for name in ("ETL_AWS_REGION", "ETL_DATA_BUCKET", "ETL_ARTIFACT_BUCKET", "ETL_GLUE_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["tables"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("etl-platform: error: configuration: environment variables not set: ")
    assert "ETL_AWS_REGION" in err or "ETL_DATA_BUCKET" in err
    assert len(err.strip().splitlines()) == 1


def test_query_sees_built_tables_by_name(lake_root, capsys) -> None:
    _table(lake_root, "processed/sales_daily", pa.table({"n": [1, 2]}))
    _table(lake_root, "joined/sales_marketing_daily", pa.table({"n": [5]}))
    assert cli.main(["query", "select (select sum(n) from sales_daily) as s, (select count(*) from sales_marketing_daily) as j"]) == 0
    assert capsys.readouterr().out.splitlines() == ["s | j", "--+--", "3 | 1", "(1 row)"]


def test_query_as_csv(lake_root, capsys) -> None:
    _table(lake_root, "processed/marketing_daily", pa.table({"a": [1, None], "b": ["x,y", "z"]}))
    assert cli.main(["query", "select * from marketing_daily order by a nulls last", "--format", "csv"]) == 0
    assert capsys.readouterr().out == 'a,b\n1,"x,y"\n,z\n'


def test_tables_lists_columns_row_counts_and_builds(lake_root, capsys) -> None:
    assert cli.main(["tables"]) == 0
    assert "no tables yet" in capsys.readouterr().out
    _table(lake_root, "processed/sales_daily", pa.table({"date": ["2016-01-01"], "opportunities": [3]}))
    assert cli.main(["tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sales_daily  1 rows  built ") and lines[0].endswith("run run-1")
    assert lines[1].strip() == str(lake_root / "processed" / "sales_daily")
    assert lines[2].split() == ["date", "VARCHAR"] and lines[3].split() == ["opportunities", "BIGINT"]


def test_tables_shows_the_rejected_rows_beside_the_row_count(lake_root, capsys) -> None:
    _table(lake_root, "processed/sales_daily", pa.table({"n": list(range(2033))}), rejected_rows=1234)
    _table(lake_root, "processed/marketing_daily", pa.table({"n": [1, 2]}))
    assert cli.main(["tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("marketing_daily  2 rows  built ")  # nothing rejected: nothing said
    assert next(line for line in lines if line.startswith("sales_daily")).startswith("sales_daily  2,033 rows (1,234 rejected)  built ")


def test_generate_samples_writes_both_files(tmp_path, capsys) -> None:
    assert cli.main(["generate-samples", "--out", str(tmp_path), "--scale", "0.05"]) == 0
    assert (tmp_path / "sales" / "sales_pipeline_sample.csv").is_file()
    assert (tmp_path / "marketing" / "marketing_data_sample.csv").is_file()
    assert capsys.readouterr().out.count("wrote") == 2


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
    assert texts == ["RuntimeError: executor lost", "landing/sales/x.csv: the file is empty (0 bytes) (quarantined: q.json)"]
