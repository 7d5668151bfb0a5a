"""The registry's Java-style date patterns (``M/d/yyyy``) as a strptime format, which DuckDB's
``strptime`` and Trino's ``date_parse`` both read, and as a regular expression of the digits
Spark's strict parser accepts (``yyyy`` is four digits, ``M`` one or two)."""

from __future__ import annotations

import re

from etl_platform.contract.errors import ContractError

# Pattern letter run -> (strptime directive, digits Spark accepts)
_FIELDS = {
    "yyyy": ("%Y", "[0-9]{4}"),
    "yy": ("%y", "[0-9]{2}"),
    "MM": ("%m", "[0-9]{2}"),
    "M": ("%m", "[0-9]{1,2}"),
    "dd": ("%d", "[0-9]{2}"),
    "d": ("%d", "[0-9]{1,2}"),
}


def _runs(pattern: str) -> list[str]:
    return [match.group(0) for match in re.finditer(r"([A-Za-z])\1*|[^A-Za-z]", pattern)]


def strptime_format(pattern: str) -> str:
    """``M/d/yyyy`` -> ``%m/%d/%Y``."""
    return "".join(
        _FIELDS[run][0] if run in _FIELDS else _literal(run, pattern).replace("%", "%%") for run in _runs(pattern)
    )


def strict_regex(pattern: str) -> str:
    """``M/d/yyyy`` -> ``^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$``: the shapes Spark's parser accepts."""
    return (
        "^"
        + "".join(_FIELDS[run][1] if run in _FIELDS else re.escape(_literal(run, pattern)) for run in _runs(pattern))
        + "$"
    )


def _literal(run: str, pattern: str) -> str:
    if run[0].isalpha():
        raise ContractError(
            f"date format {pattern!r}: {run!r} is not supported by the SQL engine (known: {sorted(_FIELDS)})"
        )
    return run
