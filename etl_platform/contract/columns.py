"""Column naming and types: how a header name becomes a table column, and what a declared type parses into."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from etl_platform.contract.errors import ContractError

# Types a registry may declare for a raw CSV column, and the Spark SQL type each parses into.
SPARK_TYPES = {"string": "STRING", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE"}


def normalize_column_name(name: str) -> str:
    """``' Mailing list adds '`` -> ``mailing_list_adds``: a byte order mark dropped, trimmed, lower
    case, white space runs to ``_``. Header names are matched, and tables' columns named, this way."""
    return re.sub(r"\s+", "_", name.replace("\ufeff", "").strip().lower())


def quote_identifier(name: str) -> str:
    """A column name as a Spark SQL identifier (backquoted), whatever characters it holds."""
    return "`" + name.replace("`", "``") + "`"


def quote_sql_identifier(name: str) -> str:
    """A name as a standard SQL identifier (double quotes), as DuckDB and Athena read it."""
    return '"' + name.replace('"', '""') + '"'


def quote_sql_literal(text: str) -> str:
    """A string as a standard SQL literal (single quotes), as DuckDB and Athena read it."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class ExpectedColumn:
    """A raw CSV column the registry declares: its header name and its type (a key of ``SPARK_TYPES``)."""

    name: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in SPARK_TYPES:
            raise ContractError(f"column {self.name!r} has unknown type {self.type!r}; known: {sorted(SPARK_TYPES)}")


def columns_to_json(columns: Iterable[tuple[str, str]]) -> str:
    """The ``--columns`` job argument: a JSON list of ``[name, type]`` pairs."""
    return json.dumps([[name, type_] for name, type_ in columns])


def columns_from_json(text: str) -> tuple[ExpectedColumn, ...]:
    try:
        pairs = [(str(name), str(type_)) for name, type_ in json.loads(text)]
    except (ValueError, TypeError) as error:
        raise ContractError(f"--columns must be a JSON list of [name, type] pairs: {error}") from None
    unknown = sorted({type_ for _, type_ in pairs} - SPARK_TYPES.keys())
    if unknown:
        raise ContractError(f"--columns uses unknown types {unknown}; known: {sorted(SPARK_TYPES)}")
    return tuple(ExpectedColumn(name, type_) for name, type_ in pairs)
