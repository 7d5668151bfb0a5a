"""Keep ``etl-platform query`` read-only: the SQL is parsed, in the dialect of the engine that will
run it, before that engine sees it.

The parser is sqlglot's, with each engine's own lexical rules: DuckDB nests ``/* */`` comments and
Trino (Athena) does not, so ``/* /* */ DELETE FROM t -- */ SELECT 1`` is a SELECT to DuckDB and a
DELETE to Athena, and each is judged as its engine would read it. Exactly one statement may run,
and only one that reads: a query (SELECT, WITH, VALUES, set operations, DuckDB's FROM-first and
PIVOT), DESCRIBE, SHOW, DuckDB's SUMMARIZE, and EXPLAIN of such a statement without ANALYZE (which
runs it). SQL the parser cannot read is refused rather than guessed at.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from etl_platform.resources.sql import SqlError

# The engines' dialects, as sqlglot names them (and etl_platform.sql_jobs.dialect's ``name``).
ENGINE_NAMES = {"duckdb": "DuckDB", "athena": "Athena (Trino)"}
READ_STATEMENTS = (exp.Query, exp.Values, exp.Describe, exp.Show, exp.Summarize, exp.Pivot)
# Nodes that write wherever they sit in a read statement's tree (SELECT ... INTO creates a table).
WRITE_NODES = (exp.DML, exp.DDL, exp.Into, exp.Drop, exp.Alter, exp.Command)
# Statements sqlglot keeps as unparsed commands that only read, whatever follows.
READ_COMMANDS = frozenset({"SHOW", "DESCRIBE", "DESC"})
ANALYZE_WORDS = frozenset({"ANALYZE", "ANALYSE"})

# sqlglot logs a warning (on stderr, without a handler) for each statement it keeps as a command:
# the guard decides about those itself, and the CLI's errors are one line.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class EmptySqlError(Exception):
    """The SQL holds no statement (blank or only comments): there is nothing to run."""


class WriteRefusedError(Exception):
    """A statement would write files or change the catalog or the session, and writes are not
    allowed; the message names it, in one line."""


class SeveralStatementsError(WriteRefusedError):
    """The SQL holds more than one statement: a read-only query runs exactly one (what a later one
    is, the guard would have to trust the engine's reading of the first to know)."""


def _statements(sql: str, dialect: str) -> list[exp.Expr]:
    """The statements of ``sql`` as ``dialect`` reads them; SqlError naming the engine and the place
    when it cannot read them."""
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.ParseError as error:
        first = error.errors[0] if error.errors else {}
        near = " ".join(f"{first.get('start_context', '')}{first.get('highlight', '')}".split())
        where = f" at line {first['line']}, column {first['col']}" if "line" in first else ""
        reason = first.get("description") or str(error).splitlines()[0]
        raise SqlError(f"{ENGINE_NAMES[dialect]} SQL cannot be parsed: {reason}{where}, near {near!r}") from None
    except sqlglot.errors.TokenError as error:
        raise SqlError(f"{ENGINE_NAMES[dialect]} SQL cannot be parsed: {str(error).splitlines()[0]}") from None
    # A trailing ';' or comment parses as nothing (None) or as a bare Semicolon.
    return [statement for statement in parsed if statement is not None and not isinstance(statement, exp.Semicolon)]


def _text(statement: exp.Expr, dialect: str) -> str:
    """The statement as its engine reads it, comments left out, on one line and shortened."""
    text = " ".join(statement.sql(dialect=dialect, comments=False).split())
    return f"{text[:60]}..." if len(text) > 60 else text


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return "SELECT INTO" if isinstance(node, exp.Into) else node.key.upper().replace("TRUNCATETABLE", "TRUNCATE")


def _check_explain(rest: str, dialect: str) -> None:
    """EXPLAIN runs nothing unless it analyzes: ANALYZE right after it, or in its ``( ... )`` options
    (DuckDB analyzes even for ``ANALYZE false``). What it explains must itself be a read."""
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(rest)  # comments are not tokens
    shown = f'"EXPLAIN {" ".join(rest.split())[:60]}"'
    position = 0
    if tokens and tokens[0].token_type == TokenType.L_PAREN:
        depth = 0
        for position, token in enumerate(tokens):
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
            if token.text.upper() in ANALYZE_WORDS:
                raise WriteRefusedError(f"the EXPLAIN ANALYZE statement {shown}")
            if depth == 0:
                break
        position += 1
    if position < len(tokens) and tokens[position].text.upper() in ANALYZE_WORDS:
        raise WriteRefusedError(f"the EXPLAIN ANALYZE statement {shown}")
    if position >= len(tokens):
        raise WriteRefusedError(f"the EXPLAIN statement {shown} (nothing to explain)")
    try:
        _check_one(rest[tokens[position].start :], dialect)
    except WriteRefusedError as refused:
        raise WriteRefusedError(f"the EXPLAIN of {refused}") from None


def _check_one(sql: str, dialect: str) -> None:
    statements = _statements(sql, dialect)
    if not statements:
        raise EmptySqlError("no SQL statement given")
    if len(statements) > 1:
        kinds = ", ".join(_kind(statement) for statement in statements)
        raise SeveralStatementsError(
            f"{len(statements)} statements ({kinds}, as {ENGINE_NAMES[dialect]} reads them) where it runs one"
        )
    (statement,) = statements
    if isinstance(statement, exp.Alias | exp.Condition):  # e.g. Trino reading DuckDB's INSTALL x as "INSTALL AS x"
        raise SqlError(
            f'{ENGINE_NAMES[dialect]} SQL cannot be parsed: "{_text(statement, dialect)}" is not a statement'
        )
    if isinstance(statement, exp.Command):
        command = str(statement.this).upper()
        if command == "EXPLAIN":
            return _check_explain(str(statement.expression.this if statement.expression else ""), dialect)
        if command in READ_COMMANDS:
            return None
        raise WriteRefusedError(f'the {command} statement "{_text(statement, dialect)}"')
    if not isinstance(statement, READ_STATEMENTS):
        raise WriteRefusedError(f'the {_kind(statement)} statement "{_text(statement, dialect)}"')
    writer = next((node for node in statement.walk() if isinstance(node, WRITE_NODES)), None)
    if writer is not None:
        raise WriteRefusedError(f'the {_kind(writer)} in the statement "{_text(statement, dialect)}"')
    return None


def check_read_only(sql: str, dialect: str, allow_writes: bool = False) -> None:
    """Refuse ``sql`` unless it is exactly one statement that only reads, as ``dialect`` (``duckdb``
    or ``athena``, the engine's) parses it. With ``allow_writes`` only SQL holding no statement is
    refused, and what the parser cannot read is left to the engine.

    Raises EmptySqlError, WriteRefusedError (SeveralStatementsError for more than one statement),
    or SqlError when the SQL cannot be parsed.
    """
    if allow_writes:
        try:
            if not _statements(sql, dialect):
                raise EmptySqlError("no SQL statement given")
        except SqlError:
            pass
        return
    _check_one(sql, dialect)
