"""What every table asset shares: ownership and turning a script's report into the asset's result."""

from collections.abc import Mapping

import dagster as dg

OWNERS = ["team:data-engineering"]
TABLE_KINDS = {"spark", "parquet"}
# Spark and Glue steps fail transiently (lost executors, throttling, capacity); bad data does not
# retry (the runner raises Failure(allow_retries=False) for it).
SPARK_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def table_result(
    invocation: dg.PipesClientCompletedInvocation, extra_metadata: Mapping[str, dg.MetadataValue]
) -> dg.MaterializeResult:
    """The script's reported row count and schema plus what only the orchestrator knows."""
    reported = invocation.get_materialize_result()
    return dg.MaterializeResult(metadata={**reported.metadata, **extra_metadata})
