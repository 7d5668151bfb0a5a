"""The plumbing every Spark script in this folder shares: its Spark session, its Pipes session and
reporter, and how its errors end (a data error, or storage trouble worth a retry).

The scripts run unchanged on AWS Glue (these modules ship with them through ``--extra-py-files``,
with the ``etl_platform.contract`` package) and on local Spark (the local runner puts this folder on
``PYTHONPATH``). They depend only on PySpark, ``dagster-pipes`` and the contract, present in both
places, and use only APIs that exist in Spark 3.5 (the Glue 5 runtime) as well as in Spark 4.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster_pipes import (
    PipesCliArgsParamsLoader,
    PipesEnvVarParamsLoader,
    PipesS3ContextLoader,
    PipesS3MessageWriter,
    open_dagster_pipes,
)
from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import SparkSession

from etl_platform.contract.errors import (
    STORAGE_CONDITIONS,
    STORAGE_TEXT,
    UNPARSABLE_PATH_TEXT,
    ContractError,
    InputError,
)
from etl_platform.contract.report import BuildReport, CheckOutcome, FailureKind, ScriptFailure

log = logging.getLogger("lake_job")


class LakeJobError(InputError):
    """A problem with the input found by a script: reported as one clear line, no JVM stack, with
    the line of the file at fault when known."""


class LakeStorageError(Exception):
    """Storage or metadata trouble, not the input's fault: a path missing (a landing file removed
    after it was picked, an output folder deleted under the build), throttling, a lost connection.
    Worth a retry, never a quarantine. Raised on Glue in place of the original error, so the job
    run's ErrorMessage in the Glue console names it."""


def spark_session(app_name: str) -> SparkSession:
    """The session Glue, or the local runner (PYSPARK_SUBMIT_ARGS / SPARK_REMOTE), provides.

    Parsing settings are pinned so results match on Spark 3.5 and 4: strict date patterns
    (``2/30/2016`` is invalid, not March 1st) and UTC.
    """
    spark = SparkSession.builder.appName(app_name).getOrCreate()
    # Typing a wide file builds many aliased parse expressions; Spark's constraint propagation
    # then grows exponentially with them (SPARK-19846: minutes and a heap OOM for 19 columns).
    spark.conf.set("spark.sql.constraintPropagation.enabled", "false")
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # Shuffle partitions sized to the data, not a fixed count: adaptive execution coalesces them
    # into ~128 MB ones, so a daily table (a few thousand rows, even from 10M input rows) is one
    # task and one Parquet file, while a large output still gets split.
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "true")
    spark.conf.set("spark.sql.adaptive.coalescePartitions.parallelismFirst", "false")
    spark.conf.set("spark.sql.adaptive.advisoryPartitionSizeInBytes", "128m")
    return spark


class Reporter:
    """Sends the contract's records to the orchestrator as Pipes custom messages, and logs to the
    Dagster run through Pipes and to stderr where that is the log someone reads (``echo``): on
    Glue and EMR Serverless (their job logs) and when run by hand. A local Dagster run keeps the script's raw output too,
    so echoing there would log every line twice."""

    def __init__(self, pipes: Any, echo: bool = True):
        self._pipes = pipes
        self._echo = echo

    def info(self, message: str) -> None:
        if self._echo:
            log.info(message)
        self._pipes.log.info(message)

    def warning(self, message: str) -> None:
        if self._echo:
            log.warning(message)
        self._pipes.log.warning(message)

    def built(self, build: BuildReport) -> None:
        self.info(f"wrote {build.rows} rows to {build.output_path}")
        self._pipes.report_custom_message(build.to_json())

    def check(self, outcome: CheckOutcome) -> None:
        details = json.dumps(dict(outcome.metadata), default=str)[:500]
        text = f"check {outcome.name}: {'passed' if outcome.passed else 'FAILED'} {details}"
        (self.info if outcome.passed else self.warning)(text)
        self._pipes.report_custom_message(outcome.to_json())

    def failed(self, failure: ScriptFailure) -> None:
        if self._echo:
            log.error(failure.message)
        self._pipes.report_custom_message(failure.to_json())


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _condition(error: PySparkException) -> str | None:
    """The Spark error condition (``PATH_NOT_FOUND``...): ``getCondition`` on Spark 4,
    ``getErrorClass`` on Spark 3.5 (the Glue 5 runtime)."""
    read = getattr(error, "getCondition", None) or getattr(error, "getErrorClass", None)
    try:
        return read() if read else None
    except Exception:
        return None


def _text_trouble(error: BaseException) -> str | None:
    """Storage trouble named in the text of an error Spark does not classify, in one line."""
    text = str(error)
    found = STORAGE_TEXT.search(text)
    if not found:
        return None
    start = text.rfind("\n", 0, found.start()) + 1
    end = text.find("\n", found.end())
    line = text[start : end if end >= 0 else len(text)].strip()
    first = _first_line(error)
    return f"{type(error).__name__}: {first}" + (f" ({line[:300]})" if line != first else "")


def storage_trouble(error: BaseException) -> str | None:
    """What storage or metadata trouble ``error`` is, in one line; None when it is something else
    (bad input, a bug). Looks through the exceptions it was raised from, as Py4J and Spark Connect
    wrap the JVM's."""
    if isinstance(error, (LakeJobError, ContractError)):
        return None  # the script's own verdict on the input
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 10 and not any(current is s for s in seen):
        seen.append(current)
        # FileNotFoundError, ConnectionError, TimeoutError...; botocore's ClientError (NoSuchKey,
        # SlowDown), EndpointConnectionError...
        if isinstance(current, (LakeStorageError, OSError)) or type(current).__module__.startswith("botocore"):
            return f"{type(current).__name__}: {_first_line(current)}"
        if isinstance(current, PySparkException):
            condition = _condition(current)
            if condition in STORAGE_CONDITIONS:
                return f"{type(current).__name__}: {_first_line(current)}"
            if isinstance(current, AnalysisException) and condition and not condition.startswith("_LEGACY_ERROR"):
                return None  # classified by Spark as something else: a schema or a query the input breaks
        trouble = _text_trouble(current)
        if trouble:
            return trouble
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def failure_of(error: Exception, storage: str | None) -> ScriptFailure:
    """The failure record of ``error``: bad input, a read Spark refuses on the input's schema, or a
    path Hadoop cannot parse is the data's fault; storage trouble (``storage``) and anything else
    may be transient."""
    if storage is not None:
        return ScriptFailure(storage, FailureKind.RETRYABLE)
    if isinstance(error, InputError):
        return ScriptFailure(_first_line(error), FailureKind.DATA, error.line)
    if isinstance(error, ContractError):
        return ScriptFailure(_first_line(error), FailureKind.DATA)
    unparsable = UNPARSABLE_PATH_TEXT.search(str(error))
    if unparsable:
        return ScriptFailure(f"Spark cannot open the input by its name: {unparsable[1].strip()}", FailureKind.DATA)
    kind = FailureKind.DATA if isinstance(error, AnalysisException) else FailureKind.RETRYABLE
    return ScriptFailure(f"{type(error).__name__}: {_first_line(error)}", kind)


def on_glue() -> bool:
    """Dagster passes the Pipes bootstrap as job arguments to Glue, as environment variables elsewhere."""
    return PipesCliArgsParamsLoader().is_dagster_pipes_process()


def on_emr_serverless() -> bool:
    """EMR Serverless gets the bootstrap as the driver's environment variables, as a local run does,
    but its context is an S3 object (a local run's is a file)."""
    loader = PipesEnvVarParamsLoader()
    return loader.is_dagster_pipes_process() and "bucket" in loader.load_context_params()


def on_aws() -> bool:
    """On Glue or EMR Serverless: the run's error is the service's record of why it failed, and
    stderr is the log someone reads."""
    return on_glue() or on_emr_serverless()


@contextmanager
def _pipes() -> Iterator[Any]:
    if on_aws():
        # Context and messages travel through S3 (the orchestrator's PipesS3ContextInjector and
        # PipesS3MessageReader); boto3 is part of the Glue and EMR runtimes.
        import boto3

        s3 = boto3.client("s3")
        opened = open_dagster_pipes(
            params_loader=PipesCliArgsParamsLoader() if on_glue() else PipesEnvVarParamsLoader(),
            context_loader=PipesS3ContextLoader(client=s3),
            message_writer=PipesS3MessageWriter(client=s3),
        )
    else:
        # Locally; outside Dagster open_dagster_pipes returns a no-op stand-in.
        opened = open_dagster_pipes(params_loader=PipesEnvVarParamsLoader())
    with opened as pipes:
        yield pipes


def run_job(body: Callable[[Reporter, Sequence[str]], None], argv: Sequence[str] | None = None) -> None:
    """Entry point of every script: Pipes session, logging, and one failure record for any error.

    Locally a data error ends the process with status 1 and no stack (the runner shows the
    message); on Glue and EMR Serverless it is raised, so the job run's error (ErrorMessage,
    stateDetails) carries it. Storage trouble (``storage_trouble``: a missing path, throttling, a
    lost connection) is never called a data error: it is reported retryable and raised, there as
    ``LakeStorageError``; so is anything else.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = list(sys.argv[1:] if argv is None else argv)
    with _pipes() as pipes:
        reporter = Reporter(pipes, echo=on_aws() or not PipesEnvVarParamsLoader().is_dagster_pipes_process())
        try:
            body(reporter, args)
        except Exception as error:
            storage = storage_trouble(error)
            failure = failure_of(error, storage)
            reporter.failed(failure)
            if storage is not None and on_aws():
                raise LakeStorageError(storage) from error
            if failure.kind is FailureKind.DATA and not on_aws():
                raise SystemExit(1) from None
            raise
