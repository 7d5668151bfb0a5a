"""Small interfaces with interchangeable implementations: the lake, the Spark runner, the SQL engine."""

from etl_platform.resources.lake import Lake, LakeObject, LocalLake
from etl_platform.resources.notifier import LocalNotifier, Notifier
from etl_platform.resources.spark_runner import LocalSparkRunner, SparkJobRunner
from etl_platform.resources.sql import DuckDBEngine, QueryResult, SqlEngine, TableInfo

__all__ = [
    "DuckDBEngine",
    "Lake",
    "LakeObject",
    "LocalLake",
    "LocalNotifier",
    "Notifier",
    "LocalSparkRunner",
    "QueryResult",
    "SparkJobRunner",
    "SqlEngine",
    "TableInfo",
]
