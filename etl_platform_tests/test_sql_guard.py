"""The read-only guard of etl-platform query: each engine's dialect, parsed by sqlglot, decides what may run."""

import pytest

from etl_platform.resources.sql import SqlError
from etl_platform.sql_guard import EmptySqlError, SeveralStatementsError, WriteRefusedError, check_read_only

DIALECTS = ["duckdb", "athena"]
# DuckDB nests block comments, Trino does not: to DuckDB this is SELECT 1, to Athena a DELETE.
NESTED_COMMENT_BYPASS = "/* /* */ DELETE FROM sales_daily -- */ SELECT 1"

READS = [
    "select 1",
    "select 1;",
    "with t as (select 1 as a) select a from t",
    "values (1), (2)",
    "select 1 union all select 2",
    "describe sales_daily",
    "show tables",
    "explain select 1",
    "explain (format json) select 1",
    "select * from sales_daily for version as of 4942452379865544723",
    "-- the total\nselect 1 /* one */",
]
DUCKDB_READS = [
    "from (select 42 as x)",
    "describe select 1 as a",
    "summarize select 1 as a",
    "pivot (select 'x' as k, 1 as v) on k in ('x') using sum(v)",
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", READS)
def test_reads_pass_in_both_dialects(sql, dialect) -> None:
    check_read_only(sql, dialect)


@pytest.mark.parametrize("sql", DUCKDB_READS)
def test_duckdbs_own_reads_pass(sql) -> None:
    check_read_only(sql, "duckdb")


def test_a_nested_comment_is_read_as_each_engine_reads_it() -> None:
    check_read_only(NESTED_COMMENT_BYPASS, "duckdb")  # DuckDB runs SELECT 1: the DELETE is inside its comment
    with pytest.raises(WriteRefusedError, match='^the DELETE statement "DELETE FROM sales_daily"$'):
        check_read_only(NESTED_COMMENT_BYPASS, "athena")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("copy (select 1) to 'out.csv'", "COPY"),
        ("create table t (a int)", "CREATE"),
        ("create or replace view sales_daily as select 1", "CREATE"),
        ("insert into t values (1)", "INSERT"),
        ("with x as (select 1) insert into t select * from x", "INSERT"),
        ("update t set a = 1", "UPDATE"),
        ("delete from t", "DELETE"),
        ("drop view sales_daily", "DROP"),
        ("alter table t add column b int", "ALTER"),
        ("truncate table t", "TRUNCATE"),
        ("set threads = 1", "SET"),
        ("call checkpoint()", "CALL"),
        ("load httpfs", "LOAD"),
        ("vacuum t", "VACUUM"),
        ("explain analyze select 1", "EXPLAIN ANALYZE"),
        ("explain analyse select 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN /* plan */ ANALYZE select 1", "EXPLAIN ANALYZE"),
        ("explain (analyze false, format json) insert into t values (1)", "EXPLAIN ANALYZE"),
        ("explain create table t as select 1", "EXPLAIN of the CREATE"),
    ],
)
def test_statements_that_write_are_refused_by_kind(sql, kind, dialect) -> None:
    with pytest.raises(WriteRefusedError, match=f'^the {kind} statement "') as refused:
        check_read_only(sql, dialect)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("attach 'other.duckdb'", "ATTACH"),
        ("install httpfs", "INSTALL"),
        ("pragma enable_profiling", "PRAGMA"),
        ("update extensions", "UPDATE"),
        ("use memory", "USE"),
    ],
)
def test_duckdbs_own_writes_are_refused(sql, kind) -> None:
    with pytest.raises(WriteRefusedError, match=f'^the {kind} statement "'):
        check_read_only(sql, "duckdb")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_write_inside_a_read_is_refused(dialect) -> None:
    with pytest.raises(WriteRefusedError, match='^the SELECT INTO in the statement "'):
        check_read_only("select 1 as a into t", dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ["select 1; select 2", "select 1; delete from t", "select 1 /* x */ ; -- y\n select 2"])
def test_exactly_one_statement_runs(sql, dialect) -> None:
    with pytest.raises(
        SeveralStatementsError, match=r"^2 statements \(SELECT, (SELECT|DELETE), as .* where it runs one$"
    ):
        check_read_only(sql, dialect)


def test_the_refused_statement_is_quoted_shortened_on_one_line() -> None:
    with pytest.raises(WriteRefusedError) as refused:
        check_read_only("copy (select 'a rather long literal to shorten' as text)\n  to 'out.csv'", "duckdb")
    message = str(refused.value)
    assert message.startswith("""the COPY statement "COPY (SELECT 'a rather long literal""") and message.endswith(
        '..."'
    )
    assert "\n" not in message and len(message) < 100


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ["", "  \n\t", "-- hi", "/* x */", ";"])
@pytest.mark.parametrize("allow_writes", [False, True])
def test_sql_without_a_statement_is_refused(sql, allow_writes, dialect) -> None:
    with pytest.raises(EmptySqlError, match="^no SQL statement given$"):
        check_read_only(sql, dialect, allow_writes)


@pytest.mark.parametrize(
    ("sql", "dialect", "message"),
    [
        ("selec 1", "duckdb", "DuckDB SQL cannot be parsed: Invalid expression / Unexpected token at line 1, column 7"),
        ("selec 1", "athena", "Athena (Trino) SQL cannot be parsed: Invalid expression / Unexpected token at line 1"),
        ("summarize select 1", "athena", "Athena (Trino) SQL cannot be parsed: "),
        ("install httpfs", "athena", 'Athena (Trino) SQL cannot be parsed: "install AS httpfs" is not a statement'),
        ("select $$a'; delete from t; --$$", "athena", "Athena (Trino) SQL cannot be parsed: Error tokenizing"),
    ],
)
def test_what_the_parser_cannot_read_is_refused_on_one_line(sql, dialect, message) -> None:
    with pytest.raises(SqlError) as refused:
        check_read_only(sql, dialect)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "sql", ["copy (select 1) to 'out.csv'", "explain analyze select 1", "select 1; select 2", "selec 1"]
)
def test_allow_writes_leaves_statements_to_the_engine(sql, dialect) -> None:
    check_read_only(sql, dialect, allow_writes=True)
