"""The etl-platform command: landing, querying, and one-line errors with a non-zero exit."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform import cli
from etl_platform.resources import DuckDBEngine


def _table(lake_root, location: str, table: pa.Table) -> None:
    """A built table, registered in the catalog as a build would."""
    (lake_root / location).mkdir(parents=True)
    pq.write_table(table, lake_root / location / "part-0.snappy.parquet")
    engine = DuckDBEngine(catalog_path=str(lake_root / "catalog.duckdb"))
    columns = [(field.name, str(field.type)) for field in table.schema]
    engine.register_table(location.split("/")[-1], str(lake_root / location), columns, table.num_rows, "run-1")


def test_land_puts_the_file_under_the_datasets_prefix(lake_root, tmp_path, capsys) -> None:
    source = tmp_path / "export.csv"
    source.write_text("Date\n1/1/2016\n")
    assert cli.main(["land", "sales", str(source)]) == 0
    assert (lake_root / "landing" / "sales" / "export.csv").read_text() == "Date\n1/1/2016\n"
    assert "landed" in capsys.readouterr().out
    assert cli.main(["land", "marketing", str(source), "--name", "2016-w01.csv"]) == 0
    assert (lake_root / "landing" / "marketing" / "2016-w01.csv").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["land", "crm", "x.csv"], "unknown dataset 'crm'; registered datasets: sales, marketing"),
        (["land", "sales", "does-not-exist.csv"], "no such file: does-not-exist.csv"),
        (["land", "sales", "x.csv", "--name", "../escape.csv"], "not a plain relative path"),
        (["query", "select * from sales_daily"], "SQL error: Catalog Error: Table with name sales_daily does not exist"),
        (["query", "selec 1"], "SQL error: Parser Error"),
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


def test_generate_samples_writes_both_files(tmp_path, capsys) -> None:
    assert cli.main(["generate-samples", "--out", str(tmp_path), "--scale", "0.05"]) == 0
    assert (tmp_path / "sales" / "sales_pipeline_sample.csv").is_file()
    assert (tmp_path / "marketing" / "marketing_data_sample.csv").is_file()
    assert capsys.readouterr().out.count("wrote") == 2
