"""DuckDB over the Iceberg catalog: each query reads every table at one committed snapshot, the
current one or the one ``as_of`` names, through views over that snapshot's data files."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.resources import LocalLake
from etl_platform.resources.catalog import TableError
from etl_platform.resources.sql import DuckDBEngine, SqlError
from etl_platform.tables import Build, LakeTables
from etl_platform_tests.helpers import lake_catalog, publish_parquet


def _engine(root) -> DuckDBEngine:
    return DuckDBEngine(catalog=lake_catalog(root))


@pytest.fixture
def commit_clock(monkeypatch) -> Callable[[float], None]:
    """Sets the time PyIceberg stamps the next snapshots with, which time travel reads."""
    moment = [time.time()]
    monkeypatch.setattr("pyiceberg.table.snapshots.time", SimpleNamespace(time=lambda: moment[0]))

    def set_to(seconds: float) -> None:
        moment[0] = seconds

    return set_to


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def test_a_query_reads_every_data_file_of_the_current_snapshot(tmp_path) -> None:
    lake = LocalLake(root=str(tmp_path))
    tables = LakeTables(lake, lake_catalog(tmp_path))
    staged = tables.stage("processed/t", "run-1")
    folder = tmp_path / staged
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"n": [1, 2, 3]}), folder / "part-0.parquet")
    pq.write_table(pa.table({"n": [4]}), folder / "part-1.parquet")
    tables.publish("my_table", "processed/t", staged, Build(run_id="run-1", rows=4))
    result = _engine(tmp_path).query("select count(*) as rows, sum(n) as total from my_table")
    assert (result.columns, result.rows) == (["rows", "total"], [(4, 10)])


def test_a_second_publish_is_seen_and_the_first_stays_readable_as_of_its_id_or_time(tmp_path, commit_clock) -> None:
    engine = _engine(tmp_path)
    start = time.time() - 3600
    commit_clock(start)
    first = publish_parquet(tmp_path, "t", "processed/t", pa.table({"n": [1]}))
    assert engine.query("select sum(n) from t").rows == [(1,)]
    commit_clock(start + 60)
    second = publish_parquet(tmp_path, "t", "processed/t", pa.table({"n": [7, 8]}), run_id="run-2")
    assert second.parent_id == first.snapshot_id
    assert engine.query("select sum(n) from t").rows == [(15,)]

    assert engine.query("select sum(n) from t", as_of=str(first.snapshot_id)).rows == [(1,)]
    assert engine.query("select sum(n) from t", as_of=str(second.snapshot_id)).rows == [(15,)]
    between = start + 30
    assert engine.query("select sum(n) from t", as_of=_iso(between)).rows == [(1,)]
    # Without a zone an ISO time is UTC.
    naive = datetime.fromtimestamp(between, UTC).replace(tzinfo=None).isoformat()
    assert engine.query("select sum(n) from t", as_of=naive).rows == [(1,)]
    assert engine.query("select sum(n) from t", as_of=_iso(start + 90)).rows == [(15,)]
    # Time travel is per query: the next one reads the current snapshot again.
    assert engine.query("select sum(n) from t").rows == [(15,)]


def test_a_snapshot_id_pins_its_own_table_and_a_time_pins_every_table(tmp_path, commit_clock) -> None:
    engine = _engine(tmp_path)
    start = time.time() - 3600
    commit_clock(start)
    first = publish_parquet(tmp_path, "a", "processed/a", pa.table({"n": [1]}))
    commit_clock(start + 60)
    publish_parquet(tmp_path, "a", "processed/a", pa.table({"n": [2]}), run_id="run-2")
    commit_clock(start + 120)
    publish_parquet(tmp_path, "b", "processed/b", pa.table({"m": [10]}))
    both = "select (select sum(n) from a) as a, (select sum(m) from b) as b"
    assert engine.query(both, as_of=str(first.snapshot_id)).rows == [(1, 10)]  # b stays current
    # At a time before b's first commit, a is as it was then and b does not exist yet.
    before_b = _iso(start + 90)
    assert engine.query("select sum(n) from a", as_of=before_b).rows == [(2,)]
    with pytest.raises(TableError, match=r"^table b has no snapshot as old as .*: the oldest kept is \d+, of "):
        engine.query("select * from b", as_of=before_b)


def test_an_unknown_snapshot_or_a_bad_time_is_a_clear_one_line_error(tmp_path) -> None:
    engine = _engine(tmp_path)
    publish_parquet(tmp_path, "t", "processed/t", pa.table({"n": [1]}))
    with pytest.raises(TableError, match=r"^no table has a snapshot 123; etl-platform versions TABLE lists") as unknown:
        engine.query("select * from t", as_of="123")
    with pytest.raises(TableError, match=r"^--as-of 'yesterday' is neither a snapshot id nor an ISO time") as bad:
        engine.query("select * from t", as_of="yesterday")
    assert all(len(str(e.value).splitlines()) == 1 for e in (unknown, bad))
    # Before the table's first commit: no snapshot is that old, and the oldest kept is named.
    with pytest.raises(
        TableError, match=r"^table t has no snapshot as old as 2000-01-01 00:00:00 UTC: the oldest kept is \d+, of "
    ):
        engine.query("select * from t", as_of="2000-01-01T00:00:00")
    with pytest.raises(SqlError, match=r"^Catalog Error: Table with name u does not exist"):  # no such table
        engine.query("select * from u", as_of="2000-01-01T00:00:00")


def test_an_empty_table_is_queryable_with_its_columns(tmp_path) -> None:
    empty = pa.table({"n": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    snapshot = publish_parquet(tmp_path, "e", "processed/e", empty)
    assert snapshot.rows == 0
    engine = _engine(tmp_path)
    assert engine.query("select count(*) from e").rows == [(0,)]
    described = engine.query("describe e")
    assert [row[:2] for row in described.rows] == [("n", "BIGINT"), ("s", "VARCHAR")]


def test_a_build_in_progress_is_never_read(tmp_path) -> None:
    publish_parquet(tmp_path, "t", "processed/t", pa.table({"n": [1]}))
    tables = LakeTables(LocalLake(root=str(tmp_path)), lake_catalog(tmp_path))
    staged = tmp_path / tables.stage("processed/t", "run-2")
    staged.mkdir(parents=True)
    pq.write_table(pa.table({"n": [100]}), staged / "part-0.parquet")  # written, not published
    assert _engine(tmp_path).query("select sum(n) from t").rows == [(1,)]


def test_the_catalog_lists_each_table_with_its_current_snapshot(tmp_path) -> None:
    catalog = lake_catalog(tmp_path)
    assert catalog.infos() == []
    publish_parquet(tmp_path, "partial", "processed/partial", pa.table({"n": [1]}), rejected_rows=3)
    whole = publish_parquet(tmp_path, "whole", "processed/whole", pa.table({"n": [1], "s": ["x"]}))
    newest = publish_parquet(
        tmp_path, "whole", "processed/whole", pa.table({"n": [1, 2], "s": ["x", "y"]}), run_id="run-2"
    )
    partial, listed = catalog.infos()
    assert (partial.name, partial.row_count, partial.rejected_rows) == ("partial", 1, 3)
    assert (listed.name, listed.row_count, listed.rejected_rows, listed.run_id) == ("whole", 2, 0, "run-2")
    assert listed.columns == [("n", "long"), ("s", "string")]
    assert listed.snapshot_id == newest.snapshot_id != whole.snapshot_id
    assert listed.location == str(tmp_path / "processed" / "whole") and listed.built_at == newest.committed_at


def test_sql_errors_carry_the_engines_message(tmp_path) -> None:
    engine = _engine(tmp_path)
    with pytest.raises(SqlError, match="nope"):
        engine.query("select * from nope")
    assert engine.query("select 41 + 1").rows == [(42,)]


def test_write_parquet_stores_a_query_result_as_snappy_parquet(tmp_path) -> None:
    engine = _engine(tmp_path)
    publish_parquet(tmp_path, "t", "processed/t", pa.table({"n": [1, 2, 3]}))
    target = tmp_path / "reports" / "doubled"
    engine.write_parquet("WITH d AS (SELECT n * 2 AS m FROM t) SELECT m FROM d ORDER BY m", str(target))
    (written,) = target.glob("*.parquet")
    assert pq.read_table(written).to_pydict() == {"m": [2, 4, 6]}
    assert pq.ParquetFile(written).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_write_parquet_reports_sql_errors(tmp_path) -> None:
    with pytest.raises(SqlError, match="nope"):
        _engine(tmp_path).write_parquet("select * from nope", str(tmp_path / "out"))


def _materialize_sales(tmp_path, content: bytes):
    """A sales landing file processed by the SQL engine on DuckDB inside an asset, as the
    processed assets call it (``FileProcessor.process_file``)."""
    import dagster as dg

    from etl_platform.datasets import SALES, Capacity
    from etl_platform_tests.sql_jobs.conftest import HERE, sql_job

    source = tmp_path / "in.csv"
    source.write_bytes(content)
    job = sql_job(SALES, str(source), str(tmp_path / "out"))

    @dg.asset
    def sales_daily(context: dg.AssetExecutionContext, sql: DuckDBEngine) -> dg.MaterializeResult:
        # An absolute script path stands in for a file of sql-scripts/.
        return sql.process_file(context, str(HERE / "daily_sales.sql"), job, Capacity()).materialization()

    return dg.materialize([sales_daily], resources={"sql": _engine(tmp_path)}, raise_on_error=False)


def test_process_file_builds_the_table_and_reports_duckdb_usage(tmp_path) -> None:
    from etl_platform_tests.glue_scripts.test_bad_inputs import _csv

    result = _materialize_sales(tmp_path, _csv())
    assert result.success
    (materialization,) = result.asset_materializations_for_node("sales_daily")
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == 2 and metadata["engine"].value == "duckdb"
    assert set(metadata["engine_usage"].value) == {"wall_seconds"}


def test_process_file_fails_bad_input_as_the_datas_fault(tmp_path) -> None:
    result = _materialize_sales(tmp_path, b"Date;Salesperson\n1/2/2016;x\n")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.user_failure_data
    assert error is not None and "seems delimited by ';'" in (error.description or "")


def test_a_sql_job_past_its_timeout_is_interrupted_and_fails_retryable(tmp_path) -> None:
    from etl_platform.datasets import SALES
    from etl_platform_tests.glue_scripts.test_bad_inputs import _csv
    from etl_platform_tests.sql_jobs.conftest import LOG, sql_job

    source = tmp_path / "in.csv"
    source.write_bytes(_csv())
    job = sql_job(SALES, str(source), str(tmp_path / "out"))
    # Billions of rows to count: minutes of work that the job's timeout (0.6 s) cuts short.
    endless = 'SELECT "Date" AS "date", count(*) AS n FROM typed_input, range(5000000000) GROUP BY "Date"'
    result, _ = _engine(tmp_path).run_sql_job(job, endless, LOG, timeout_minutes=0.01)
    assert result.build is None and result.failure is not None
    assert result.failure.message == "the SQL job timed out after 0.01 minutes" and result.failure.retryable
