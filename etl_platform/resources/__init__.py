"""Small interfaces with interchangeable implementations: the lake, the Spark runner, the SQL engine."""

from etl_platform.resources.catalog import GlueTableCatalog, SqlTableCatalog, TableCatalog
from etl_platform.resources.lake import Lake, LakeObject, LocalLake
from etl_platform.resources.notifier import LocalNotifier, Notifier
from etl_platform.resources.spark_runner import LocalSparkRunner, SparkJobRunner
from etl_platform.resources.sql import DuckDBEngine, QueryResult, SqlEngine

__all__ = [
    "DuckDBEngine",
    "GlueTableCatalog",
    "Lake",
    "LakeObject",
    "LocalLake",
    "LocalNotifier",
    "Notifier",
    "LocalSparkRunner",
    "QueryResult",
    "SparkJobRunner",
    "SqlTableCatalog",
    "SqlEngine",
    "TableCatalog",
]
