"""Typing the raw rows in SQL, as ``lake_types`` types them in Spark: the registry's columns
parsed into their types, each row that does not parse rejected with the same reason, and the
``typed_input`` relation (accepted rows, columns named as the registry declares them) the
dataset's SQL text reads."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from etl_platform.contract.checks import RowCheck
from etl_platform.contract.columns import ExpectedColumn, quote_sql_identifier, quote_sql_literal
from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.landing import match_columns
from etl_platform.sql_jobs.dialect import BROKEN, EXTRA, ROW, Dialect, raw_column

# The relations of the prelude, and the helper columns of ``flagged``.
FLAGGED = "flagged"
TYPED_INPUT = "typed_input"
REJECTED = "__rejected"
REASON = "__reason"
MALFORMED = "__malformed"
# What Spark's try_cast accepts as an integer, and as a double (no hexadecimal, no suffixes).
INTEGER = r"^[+-]?[0-9]+$"
DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# A text that begins with WITH (after comments): the prelude joins its list of named queries.
_LEADING_WITH = re.compile(r"^(\s|--[^\n]*\n|/\*.*?\*/)*WITH(\s+RECURSIVE)?\s", re.IGNORECASE | re.DOTALL)


def failing(check: RowCheck) -> str:
    """SQL: true where the row breaks the rule; NULL (unknown) counts as satisfied."""
    return f"coalesce(NOT ({check.condition}), FALSE)"


@dataclass(frozen=True)
class TypedQuery:
    """The typing of one landing file: its header, the registry's columns, how dates read."""

    dialect: Dialect
    header: tuple[str, ...]
    expected: tuple[ExpectedColumn, ...]
    date_format: str
    required: tuple[str, ...]
    rules: tuple[RowCheck, ...]
    # Each registry column's name in the header.
    matched: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, dialect: Dialect, job: ProcessJob, header: Sequence[str]) -> TypedQuery:
        """Raises ``MissingColumnsError`` when the header lacks a registry column."""
        matched = match_columns(header, job.columns, job.input_path)
        return cls(
            dialect,
            tuple(header),
            job.columns,
            job.date_format,
            (job.date_column,),
            job.checks.rows_on("input"),
            tuple(matched.items()),
        )

    def _raw(self, name: str) -> str:
        """The raw column holding the registry column ``name``."""
        position = self.header.index(dict(self.matched)[name]) + 1
        return quote_sql_identifier(raw_column(position))

    @property
    def unexpected(self) -> list[tuple[int, str]]:
        """(position, name trimmed) of the header's columns the registry does not declare."""
        matched = set(dict(self.matched).values())
        return [(i, name.strip()) for i, name in enumerate(self.header, start=1) if name not in matched]

    @property
    def typed_columns(self) -> list[ExpectedColumn]:
        """The columns a value of which may not parse (every type but string)."""
        return [c for c in self.expected if c.type != "string"]

    def _parse(self, column: ExpectedColumn) -> str:
        raw = self._raw(column.name)
        text = f"trim({raw})"
        if column.type == "string":
            return f"CASE WHEN {text} <> '' THEN {raw} END"
        if column.type == "date":
            return self.dialect.parse_date(text, self.date_format)
        if column.type == "boolean":
            return f"CASE upper({text}) WHEN 'TRUE' THEN TRUE WHEN 'FALSE' THEN FALSE END"
        shape, type_ = (INTEGER, "BIGINT") if column.type == "bigint" else (DECIMAL, "DOUBLE")
        return f"CASE WHEN {self.dialect.matches(text, shape)} THEN try_cast({text} AS {type_}) END"

    def nonempty(self, column: ExpectedColumn) -> str:
        return f"coalesce(trim({self._raw(column.name)}), '') <> ''"

    def unparsed(self, column: ExpectedColumn) -> str:
        return f"({self.nonempty(column)} AND {quote_sql_identifier(column.name)} IS NULL)"

    def _problems(self) -> list[tuple[str, str]]:
        """(condition, reason) pairs in Spark's order: a value that does not parse, a required value
        missing, bytes that are not UTF-8, a field count unlike the header's."""
        names = {name: header_name.strip() for name, header_name in self.matched}
        problems = [
            (
                self.unparsed(c),
                " || ".join(
                    [
                        quote_sql_literal(f"{names[c.name]}: '"),
                        self._raw(c.name),
                        quote_sql_literal(f"' is not a {c.type}"),
                    ]
                ),
            )
            for c in self.typed_columns
        ]
        problems += [
            (f"NOT {self.nonempty(c)}", quote_sql_literal(f"{names[c.name]} is empty"))
            for c in self.expected
            if c.name in self.required
        ]
        fields = ", ".join(quote_sql_identifier(raw_column(i)) for i in range(1, len(self.header) + 1))
        problems.append(
            (f"strpos(concat_ws('', {fields}), '\ufffd') > 0", quote_sql_literal("bytes that are not UTF-8"))
        )
        problems.append((MALFORMED, quote_sql_literal(f"not {len(self.header)} fields like the header")))
        return problems

    def prelude(self, raw_relation: str) -> str:
        """The named queries ``flagged`` (every row, typed, with why it is rejected) and
        ``typed_input`` (the accepted rows), without the leading WITH."""
        width = len(self.header)
        last = quote_sql_identifier(raw_column(width))
        first = quote_sql_identifier(raw_column(1))
        blank = f"coalesce(trim({first}), '') = '' AND {EXTRA} IS NULL" + (
            f" AND {quote_sql_identifier(raw_column(2))} IS NULL" if width > 1 else ""
        )
        typed = ", ".join(f"{self._parse(c)} AS {quote_sql_identifier(c.name)}" for c in self.expected)
        kept = ", ".join(
            [quote_sql_identifier(c.name) for c in self.expected]
            + [f"{quote_sql_identifier(raw_column(i))} AS {quote_sql_identifier(name)}" for i, name in self.unexpected]
        )
        problems = self._problems()
        rejected = " OR ".join(f"coalesce({condition}, FALSE)" for condition, _ in problems)
        reason = ", ".join(f"CASE WHEN coalesce({condition}, FALSE) THEN {text} END" for condition, text in problems)
        return (
            f"__raw AS ({self.dialect.raw_rows(raw_relation, width)}),\n"
            f"__parsed AS (SELECT __raw.*, {typed}, ({EXTRA} IS NOT NULL OR {last} IS NULL) AS {MALFORMED} "
            f"FROM __raw WHERE NOT ({blank})),\n"
            f"{FLAGGED} AS (SELECT __parsed.*, ({rejected}) AS {REJECTED}, concat_ws('; ', {reason}) AS {REASON} "
            "FROM __parsed),\n"
            f"{TYPED_INPUT} AS (SELECT {kept} FROM {FLAGGED} WHERE NOT {REJECTED})"
        )

    def over(self, raw_relation: str, query: str) -> str:
        """``query`` (the dataset's text, or a query of this module) with the prelude's relations."""
        found = _LEADING_WITH.match(query)
        if found:
            return f"{query[: found.end()]}{self.prelude(raw_relation)},\n{query[found.end() :]}"
        return f"WITH {self.prelude(raw_relation)}\n{query}"

    def rejected_examples(self, limit: int) -> str:
        """The first rejected rows in file order: the reason, each raw field, malformed or not."""
        fields = ", ".join(quote_sql_identifier(raw_column(i)) for i in range(1, len(self.header) + 1))
        return f"SELECT {REASON}, {MALFORMED}, {fields} FROM {FLAGGED} WHERE {REJECTED} ORDER BY {ROW} LIMIT {limit}"

    def counts(self) -> str:
        """One pass's counts: rows, rejects, broken records, per typed column the values that do
        not parse and those not empty, per input rule the accepted rows breaking it."""
        counted = [
            "count(*) AS input_rows",
            f"count_if({REJECTED}) AS rejected_rows",
            f"count_if({BROKEN}) AS broken_records",
            *[f"count_if({self.unparsed(c)}) AS unparsed_{i}" for i, c in enumerate(self.typed_columns)],
            *[f"count_if({self.nonempty(c)}) AS nonempty_{i}" for i, c in enumerate(self.typed_columns)],
            *[f"count_if(NOT {REJECTED} AND {failing(rule)}) AS rule_{i}" for i, rule in enumerate(self.rules)],
        ]
        return f"SELECT {', '.join(counted)} FROM {FLAGGED}"
