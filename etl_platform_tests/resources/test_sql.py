"""DuckDB catalog: a database file with a view per table, kept in step with each build."""

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.resources.sql import DuckDBEngine, SqlError


def _parquet(folder, name: str, table: pa.Table) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return str(folder)


def test_registered_tables_are_views_in_the_catalog_file(tmp_path) -> None:
    location = _parquet(tmp_path / "t", "part-0.parquet", pa.table({"n": [1, 2, 3]}))
    _parquet(tmp_path / "t", "part-1.parquet", pa.table({"n": [4]}))
    engine = DuckDBEngine(catalog_path=str(tmp_path / "catalog.duckdb"))
    engine.register_table("my_table", location, [("n", "bigint")], 4, "run-1")
    result = engine.query("select count(*) as rows, sum(n) as total from my_table")
    assert (result.columns, result.rows) == (["rows", "total"], [(4, 10)])
    # The same view, opened the way an analyst would: `duckdb <lake>/catalog.duckdb`.
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as connection:
        assert connection.execute("select sum(n) from my_table").fetchall() == [(10,)]


def test_re_registering_points_the_view_at_the_new_data(tmp_path) -> None:
    engine = DuckDBEngine(catalog_path=str(tmp_path / "catalog.duckdb"))
    engine.register_table("t", _parquet(tmp_path / "v1", "p.parquet", pa.table({"n": [1]})), [("n", "bigint")], 1, "run-1")
    engine.register_table("t", _parquet(tmp_path / "v2", "p.parquet", pa.table({"n": [7, 8]})), [("n", "bigint")], 2, "run-2")
    assert engine.query("select sum(n) from t").rows == [(15,)]
    (info,) = engine.tables()
    assert (info.name, info.row_count, info.run_id, info.columns) == ("t", 2, "run-2", [("n", "BIGINT")])
    assert info.location.endswith("v2") and info.built_at > 0


def test_the_catalog_carries_the_rejected_rows_of_each_table(tmp_path) -> None:
    engine = DuckDBEngine(catalog_path=str(tmp_path / "catalog.duckdb"))
    location = _parquet(tmp_path / "v1", "p.parquet", pa.table({"n": [1]}))
    engine.register_table("partial", location, [("n", "bigint")], 1, "run-1", rejected_rows=3)
    engine.register_table("whole", location, [("n", "bigint")], 1, "run-1")
    assert {info.name: info.rejected_rows for info in engine.tables()} == {"partial": 3, "whole": 0}


def test_a_catalog_without_the_rejected_rows_column_still_lists_and_takes_it(tmp_path) -> None:
    catalog = tmp_path / "catalog.duckdb"
    location = _parquet(tmp_path / "v1", "p.parquet", pa.table({"n": [1]}))
    with duckdb.connect(str(catalog)) as connection:  # a catalog file written without the column
        connection.execute("CREATE TABLE etl_tables (name VARCHAR PRIMARY KEY, location VARCHAR, row_count BIGINT, built_at DOUBLE, run_id VARCHAR)")
        connection.execute("INSERT INTO etl_tables VALUES ('old', ?, 1, 1.0, 'run-0')", [location])
    engine = DuckDBEngine(catalog_path=str(catalog))
    assert [(info.name, info.rejected_rows) for info in engine.tables()] == [("old", 0)]
    engine.register_table("new", location, [("n", "bigint")], 1, "run-1", rejected_rows=2)
    assert [(info.name, info.rejected_rows) for info in engine.tables()] == [("new", 2), ("old", 0)]


def test_sql_errors_carry_the_engines_message(tmp_path) -> None:
    engine = DuckDBEngine(catalog_path=str(tmp_path / "catalog.duckdb"))
    with pytest.raises(SqlError, match="nope"):
        engine.query("select * from nope")
    assert engine.tables() == []
    assert engine.query("select 41 + 1").rows == [(42,)]


def test_write_parquet_stores_a_query_result_as_snappy_parquet(tmp_path) -> None:
    engine = DuckDBEngine(catalog_path=str(tmp_path / "catalog.duckdb"))
    engine.register_table("t", _parquet(tmp_path / "t", "p.parquet", pa.table({"n": [1, 2, 3]})), [("n", "bigint")], 3, "run-1")
    target = tmp_path / "reports" / "doubled"
    engine.write_parquet("WITH d AS (SELECT n * 2 AS m FROM t) SELECT m FROM d ORDER BY m", str(target))
    (written,) = target.glob("*.parquet")
    assert pq.read_table(written).to_pydict() == {"m": [2, 4, 6]}
    assert pq.ParquetFile(written).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_write_parquet_reports_sql_errors(tmp_path) -> None:
    engine = DuckDBEngine(catalog_path=str(tmp_path / "catalog.duckdb"))
    with pytest.raises(SqlError, match="nope"):
        engine.write_parquet("select * from nope", str(tmp_path / "out"))
