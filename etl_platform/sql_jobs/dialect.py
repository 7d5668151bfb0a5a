"""What differs between DuckDB and Athena (Trino engine 3), in one place: how the raw CSV rows
are exposed, a regular-expression test, date parsing, the Parquet write and temporary tables.
Every other SQL text of ``sql_jobs`` runs unchanged on both."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from etl_platform.contract.columns import quote_sql_identifier, quote_sql_literal
from etl_platform.sql_jobs.dates import strict_regex, strptime_format

# The raw relation every dialect exposes: the record's place in the file, its first ``width``
# fields as text ('' when present and empty, NULL when missing), the field after them (not NULL
# when the record has more fields than the header), and whether it is a quoted value cut by a
# line break.
ROW = "__row"
EXTRA = "__extra"
BROKEN = "__broken"


def raw_column(position: int) -> str:
    """The raw relation's name of the header's ``position``-th field (from 1)."""
    return f"__raw_{position}"


class Dialect(ABC):
    name: str

    @abstractmethod
    def matches(self, text: str, regex: str) -> str:
        """SQL: whether ``text`` matches ``regex`` (anchored by the regex itself)."""

    @abstractmethod
    def to_date(self, text: str, strptime: str) -> str:
        """SQL: ``text`` parsed by the strptime format as a DATE; NULL if it does not parse or
        names no real day (``2/30/2016``)."""

    @abstractmethod
    def raw_rows(self, relation: str, width: int) -> str:
        """SQL: a SELECT of the raw relation's columns over ``relation``, the landing file as read."""

    @abstractmethod
    def write_parquet(self, query: str, location: str) -> str:
        """SQL: the result of ``query`` as snappy Parquet in the empty folder ``location``."""

    @abstractmethod
    def parquet_relation(self, name: str, location: str, columns: Sequence[tuple[str, str]]) -> str:
        """SQL: a temporary relation ``name`` over the Parquet files in ``location``."""

    @abstractmethod
    def drop(self, name: str) -> str:
        """SQL: the temporary relation ``name`` gone."""

    def parse_date(self, text: str, pattern: str) -> str:
        """SQL: ``text`` as a DATE by the registry's Java-style ``pattern``, as strictly as Spark's
        CORRECTED parser: only the digits the pattern allows, and only real days."""
        return f"CASE WHEN {self.matches(text, strict_regex(pattern))} THEN {self.to_date(text, strptime_format(pattern))} END"


class DuckDBDialect(Dialect):
    """The raw relation is an Arrow table the engine registers (``sql_jobs.raw``): DuckDB's CSV
    reader drops rows with bytes that are not UTF-8 and numbers lines differently from Spark."""

    name = "duckdb"

    def matches(self, text: str, regex: str) -> str:
        return f"regexp_matches({text}, {quote_sql_literal(regex)})"

    def to_date(self, text: str, strptime: str) -> str:
        return f"CAST(try_strptime({text}, {quote_sql_literal(strptime)}) AS DATE)"

    def raw_rows(self, relation: str, width: int) -> str:
        return f"SELECT * FROM {quote_sql_identifier(relation)}"

    def write_parquet(self, query: str, location: str) -> str:
        target = quote_sql_literal(location.rstrip("/") + "/part-00000.snappy.parquet")
        return f"COPY ({query}) TO {target} (FORMAT parquet, COMPRESSION snappy)"

    def parquet_relation(self, name: str, location: str, columns: Sequence[tuple[str, str]]) -> str:
        files = quote_sql_literal(location.rstrip("/") + "/*.parquet")
        return f"CREATE TEMP VIEW {quote_sql_identifier(name)} AS SELECT * FROM read_parquet({files})"

    def drop(self, name: str) -> str:
        return f"DROP VIEW IF EXISTS {quote_sql_identifier(name)}"


# Athena DDL's name of each type a query result may have (Hive's, where it differs).
HIVE_TYPES = {"varchar": "string", "integer": "int"}


class TrinoDialect(Dialect):
    """Athena engine 3. The raw relation is an external table with OpenCSVSerde over a folder
    holding only the landing file: every column a string, ``width`` + 1 of them. Athena gives no
    position of a row in a file; ``row_number() OVER ()`` numbers a file read as one split (any
    landing file under Athena's split size) in file order."""

    name = "athena"

    def matches(self, text: str, regex: str) -> str:
        return f"regexp_like({text}, {quote_sql_literal(regex)})"

    def to_date(self, text: str, strptime: str) -> str:
        return f"CAST(try(date_parse({text}, {quote_sql_literal(strptime)})) AS DATE)"

    def raw_rows(self, relation: str, width: int) -> str:
        data = ", ".join(quote_sql_identifier(raw_column(i)) for i in range(1, width + 1))
        extra = quote_sql_identifier(raw_column(width + 1))
        return (
            f"SELECT row_number() OVER () AS {ROW}, {data}, {extra} AS {EXTRA}, FALSE AS {BROKEN} "
            f"FROM {quote_sql_identifier(relation)}"
        )

    def csv_table(self, name: str, width: int, location: str) -> str:
        """DDL: the raw relation's external table over the folder ``location``."""
        columns = ", ".join(f"`{raw_column(i)}` string" for i in range(1, width + 2))
        return (
            f"CREATE EXTERNAL TABLE `{name}` ({columns}) "
            "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' "
            "WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '\"') "
            f"STORED AS TEXTFILE LOCATION {quote_sql_literal(location.rstrip('/') + '/')} "
            "TBLPROPERTIES ('skip.header.line.count' = '1')"
        )

    def write_parquet(self, query: str, location: str) -> str:
        # UNLOAD takes a SELECT: wrapping the query lets it start with WITH. The target must be empty.
        return (
            f"UNLOAD (SELECT * FROM (\n{query}\n)) TO {quote_sql_literal(location.rstrip('/') + '/')} "
            "WITH (format = 'PARQUET', compression = 'SNAPPY')"
        )

    def parquet_relation(self, name: str, location: str, columns: Sequence[tuple[str, str]]) -> str:
        declared = ", ".join(f"`{column}` {HIVE_TYPES.get(type_, type_)}" for column, type_ in columns)
        return f"CREATE EXTERNAL TABLE `{name}` ({declared}) STORED AS PARQUET LOCATION {quote_sql_literal(location.rstrip('/') + '/')}"

    def drop(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS `{name}`"


DUCKDB = DuckDBDialect()
TRINO = TrinoDialect()
