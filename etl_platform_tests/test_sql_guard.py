"""The read-only guard of etl-platform query: DuckDB's parser decides what may run."""

import pytest

from etl_platform.resources.sql import SqlError
from etl_platform.sql_guard import EmptySqlError, WriteRefusedError, check_read_only

READS = [
    "select 1",
    "with t as (select 1 as a) select a from t",
    "values (1), (2)",
    "from (select 42 as x)",
    "describe select 1 as a",
    "show tables",
    "summarize select 1 as a",
    "explain select 1",
    "explain (format json) select 1",
    "explain create table t as select 1",
    "pivot (select 'x' as k, 1 as v) on k in ('x') using sum(v)",
    "select 1; select 2",
    "-- the total\nselect 1 /* one */",
]


@pytest.mark.parametrize("sql", READS)
def test_reads_pass(sql) -> None:
    check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("copy (select 1) to 'out.csv'", "COPY"),
        ("copy t from 'in.csv'", "COPY"),
        ("create table t (a int)", "CREATE"),
        ("create or replace view sales_daily as select 1", "CREATE"),
        ("attach 'other.duckdb'", "ATTACH"),
        ("install httpfs", "LOAD"),
        ("load httpfs", "LOAD"),
        ("insert into t values (1)", "INSERT"),
        ("update t set a = 1", "UPDATE"),
        ("delete from t", "DELETE"),
        ("drop view sales_daily", "DROP"),
        ("alter table t add column b int", "ALTER"),
        ("set threads = 1", "SET"),
        ("pragma enable_profiling", "PRAGMA"),
        ("export database 'dump'", "EXPORT"),
        ("call checkpoint()", "CALL"),
        ("explain analyze copy (select 1) to 'out.csv'", "EXPLAIN ANALYZE"),
        ("explain analyse select 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN /* plan */ ANALYZE select 1", "EXPLAIN ANALYZE"),
        ("explain (analyze false, format json) insert into t values (1)", "EXPLAIN ANALYZE"),
        ("select 1; copy (select 1) to 'out.csv'; select 2", "COPY"),
        ("pivot (select 'x' as k, 1 as v) on k using sum(v)", "MULTI"),
        ("update extensions", "unclassified"),
    ],
)
def test_statements_that_write_are_refused_by_kind(sql, kind) -> None:
    with pytest.raises(WriteRefusedError, match=f'^the {kind} statement "') as refused:
        check_read_only(sql)
    assert "\n" not in str(refused.value)


def test_the_refused_statement_is_quoted_shortened_on_one_line() -> None:
    with pytest.raises(WriteRefusedError) as refused:
        check_read_only("select 1;\ncopy (select 'a rather long literal to shorten' as text)\n  to 'out.csv'")
    message = str(refused.value)
    assert message.startswith("""the COPY statement "copy (select 'a rather long literal""") and message.endswith(
        '..."'
    )
    assert "\n" not in message and len(message) < 100


@pytest.mark.parametrize("sql", ["", "  \n\t", "-- hi", "/* x */", ";"])
@pytest.mark.parametrize("allow_writes", [False, True])
def test_sql_without_a_statement_is_refused(sql, allow_writes) -> None:
    with pytest.raises(EmptySqlError, match="^no SQL statement given$"):
        check_read_only(sql, allow_writes)


def test_parser_errors_are_duckdbs_on_one_line() -> None:
    with pytest.raises(SqlError, match=r'^Parser Error: syntax error at or near "selec"$'):
        check_read_only("selec 1")


@pytest.mark.parametrize(
    "sql", ["copy (select 1) to 'out.csv'", "explain analyze select 1", "update extensions", "selec 1"]
)
def test_allow_writes_leaves_statements_to_the_engine(sql) -> None:
    check_read_only(sql, allow_writes=True)
