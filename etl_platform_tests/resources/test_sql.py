"""DuckDB over the lake's Parquet tables."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.resources.sql import DuckDBEngine, SqlError


def test_query_reads_each_table_by_name(tmp_path) -> None:
    (tmp_path / "t").mkdir()
    pq.write_table(pa.table({"n": [1, 2, 3]}), tmp_path / "t" / "part-0.parquet")
    pq.write_table(pa.table({"n": [4]}), tmp_path / "t" / "part-1.parquet")
    result = DuckDBEngine().query("select count(*) as rows, sum(n) as total from my_table", {"my_table": str(tmp_path / "t")})
    assert result.columns == ["rows", "total"]
    assert result.rows == [(4, 10)]


def test_sql_errors_carry_the_engines_message() -> None:
    with pytest.raises(SqlError, match="nope"):
        DuckDBEngine().query("select * from nope", {})
