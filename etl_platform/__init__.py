"""etl_platform: landing CSVs -> Spark (local or AWS Glue) -> Parquet lake -> DuckDB / Athena, on Dagster."""
