"""What a user might pick instead of Spark: the same three tables with DuckDB SQL in one process.

``read_csv`` with the registry's types as explicit columns, the same aggregation, renames and
inner join, ``COPY ... TO`` snappy Parquet (one file per table). Run as ``python -m benchmarks.duckdb_job``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from benchmarks.job_cli import job_main
from benchmarks.schema import header, typed_header
from etl_platform.contract.columns import normalize_column_name, quote_sql_identifier, quote_sql_literal
from etl_platform.datasets import REGISTRY, InputDataset

DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE"}
# Spark's ``M/d/yyyy``; DuckDB's %m and %d accept one or two digits.
DATE_FORMAT = "%m/%d/%Y"


def read_csv_sql(path: Path, dataset: InputDataset) -> str:
    """``read_csv`` with every column typed as the registry says (no sniffing of types)."""
    columns = ", ".join(
        f"{quote_sql_literal(name)}: {quote_sql_literal(DUCKDB_TYPES[type_])}"
        for name, type_ in typed_header(path, dataset)
    )
    return f"read_csv({quote_sql_literal(str(path))}, header = true, dateformat = {quote_sql_literal(DATE_FORMAT)}, columns = {{{columns}}})"


def sales_sql(source: str) -> str:
    """``daily_sales``: per date, opportunities, revenue sums, leads and the leads' forecast (0 when none)."""
    lead = "trim(\"Opportunity Stage\") = 'Lead'"
    return f"""
        SELECT "Date" AS date,
               count(*) AS opportunities,
               sum("Forecasted Monthly Revenue")::BIGINT AS forecasted_monthly_revenue,
               sum("Weighted Revenue")::BIGINT AS weighted_revenue,
               count(*) FILTER (WHERE {lead}) AS leads_generated,
               coalesce(sum("Forecasted Monthly Revenue") FILTER (WHERE {lead}), 0)::BIGINT AS forecasted_lead_revenue
        FROM {source} GROUP BY "Date" ORDER BY date"""


def marketing_sql(source: str, columns: list[str]) -> str:
    """``daily_marketing``: every column, snake_case names, by date."""
    renamed = ", ".join(
        f"{quote_sql_identifier(name)} AS {quote_sql_identifier(normalize_column_name(name))}" for name in columns
    )
    return f"SELECT {renamed} FROM {source} ORDER BY date"


def copy_sql(table: str, path: Path) -> str:
    return f"COPY {quote_sql_identifier(table)} TO {quote_sql_literal(str(path))} (FORMAT parquet, COMPRESSION snappy)"


def run(sales: Path, marketing: Path, out: Path) -> None:
    by_name = {d.name: d for d in REGISTRY.inputs}
    sales_table, marketing_table = by_name["sales"].output_table, by_name["marketing"].output_table
    out.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as db:
        db.execute(f"CREATE TEMP TABLE {sales_table} AS {sales_sql(read_csv_sql(sales, by_name['sales']))}")
        db.execute(
            f"CREATE TEMP TABLE {marketing_table} AS "
            f"{marketing_sql(read_csv_sql(marketing, by_name['marketing']), header(marketing))}"
        )
        db.execute(
            f"CREATE TEMP TABLE {REGISTRY.joined.name} AS "
            f"SELECT * FROM {sales_table} JOIN {marketing_table} USING (date) ORDER BY date"
        )
        for table in (sales_table, marketing_table, REGISTRY.joined.name):
            db.execute(copy_sql(table, out / f"{table}.parquet"))


def main(argv: list[str] | None = None) -> None:
    job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
