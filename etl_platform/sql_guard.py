"""Keep ``etl-platform query`` read-only: SQL is classified before any engine sees it.

The classification is DuckDB's own parser (``duckdb.extract_statements``), for DuckDB locally and
for Athena on AWS alike, so one rule decides what the command runs wherever it runs. A statement
DuckDB cannot parse is reported as DuckDB's parser error.
"""

from __future__ import annotations

import duckdb

from etl_platform.resources.sql import SqlError

# SELECT covers WITH, VALUES, FROM-first, DESCRIBE, SHOW, SUMMARIZE and PIVOT with an IN list.
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
ANALYZE_WORDS = frozenset({"analyze", "analyse"})


class EmptySqlError(Exception):
    """The SQL holds no statement (blank or only comments): there is nothing to run."""


class WriteRefusedError(Exception):
    """A statement would write files or change the catalog or the session, and writes are not allowed."""


def _words(sql: str) -> list[str]:
    """DuckDB's tokens of ``sql`` as lower-case text, comments left out."""
    tokens = duckdb.tokenize(sql)
    ends = [position for position, _ in tokens[1:]] + [len(sql)]
    return [
        sql[position:end].strip().lower()
        for (position, kind), end in zip(tokens, ends)
        if kind != duckdb.token_type.comment
    ]


def _is_explain_analyze(statement_sql: str) -> bool:
    """EXPLAIN ANALYZE runs the statement it explains. DuckDB types both EXPLAINs alike, so the
    option is read from DuckDB's tokens: ANALYZE right after EXPLAIN, or inside its ``( ... )``
    options (where even ``ANALYZE false`` analyzes)."""
    words = _words(statement_sql)[1:]
    if words[:1] and words[0].startswith("("):
        options = words[: next((i for i, word in enumerate(words) if word.startswith(")")), len(words))]
        return any(word in ANALYZE_WORDS for word in options)
    return bool(words) and words[0] in ANALYZE_WORDS


def _kind(statement: duckdb.Statement) -> duckdb.StatementType | None:
    """DuckDB's type of ``statement``; None for a type newer than the Python binding's enum."""
    try:
        return statement.type
    except ValueError:
        return None


def _describe(statement: duckdb.Statement, kind: duckdb.StatementType | None) -> str:
    """The refused statement as the user can find it: DuckDB's kind of it and its first words."""
    if kind == duckdb.StatementType.EXPLAIN:
        name = "EXPLAIN ANALYZE"
    else:
        name = kind.name.replace("_", " ") if kind else "unclassified"
    text = " ".join(statement.query.split()).rstrip(";")
    described = f'the {name} statement "{text[:60]}{"..." if len(text) > 60 else ""}"'
    if kind == duckdb.StatementType.MULTI:
        described += " (DuckDB runs it as several statements; a PIVOT with an IN list is a plain SELECT)"
    return described


def check_read_only(sql: str, allow_writes: bool = False) -> None:
    """Refuse ``sql`` unless every statement in it only reads; with ``allow_writes`` only refuse SQL
    holding no statement at all, and leave what DuckDB cannot parse to the engine (Athena's dialect
    is not DuckDB's).

    Raises EmptySqlError, WriteRefusedError, or SqlError with DuckDB's parser error.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        if allow_writes:
            return
        raise SqlError(str(error).strip().splitlines()[0]) from None
    if not statements:
        raise EmptySqlError("no SQL statement given")
    if allow_writes:
        return
    for statement in statements:
        kind = _kind(statement)
        if kind not in READ_STATEMENTS or (
            kind == duckdb.StatementType.EXPLAIN and _is_explain_analyze(statement.query)
        ):
            raise WriteRefusedError(_describe(statement, kind))
