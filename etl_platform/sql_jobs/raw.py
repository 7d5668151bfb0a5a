"""The raw relation of a landing file for DuckDB, read by the contract's record splitter into an
Arrow table: DuckDB's own CSV reader drops a row with bytes that are not UTF-8 (Spark keeps it,
the bytes replaced) and cannot split a line with a dangling quote as Spark does."""

from __future__ import annotations

import pyarrow as pa

from etl_platform.contract.landing import file_records, landing_text
from etl_platform.sql_jobs.dialect import BROKEN, EXTRA, ROW, raw_column


def raw_table(path: str, width: int, multiline: bool) -> pa.Table:
    """Every data record of the file (blank lines skipped, as Spark does): its first ``width``
    fields ('' when empty, NULL when missing), the next field, and whether it is broken."""
    rows: list[int] = []
    columns: list[list[str | None]] = [[] for _ in range(width + 1)]
    broken: list[bool] = []
    with landing_text(path) as text:
        for record in file_records(text, multiline):
            if record.blank:
                continue
            rows.append(len(rows))
            for position, values in enumerate(columns):
                values.append(record.fields[position] if position < len(record.fields) else None)
            broken.append(record.broken(width))
    names = [raw_column(i) for i in range(1, width + 1)] + [EXTRA]
    return pa.table(
        {
            ROW: pa.array(rows, pa.int64()),
            **{name: pa.array(values, pa.string()) for name, values in zip(names, columns)},
            BROKEN: pa.array(broken, pa.bool_()),
        }
    )
