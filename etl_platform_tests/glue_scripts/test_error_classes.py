"""Storage trouble is never blamed on the input: a missing path, a file gone mid-read, throttling, a
store that cannot be reached fail *retryably* (the step retries and the landing file is never
quarantined), while bad input (LakeJobError, missing columns, a query Spark refuses on the input's
schema) still fails for good. Real errors where there can be: Spark reading what is not there,
boto3 asking an S3 without the key or without a server."""

import os
import shutil
import socket
from contextlib import contextmanager, nullcontext
from functools import partial
from unittest.mock import MagicMock

import boto3
import dagster as dg
import lake_builds
import lake_job
import pytest
from botocore.exceptions import ClientError
from join_marketing_and_sales_data import column_lineage, join_daily
from moto import mock_aws
from process_sales_data import daily_sales

from etl_platform.assets.processed import process_job
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract.jobs import JoinJob
from etl_platform.contract.report import FailureKind, ScriptFailure, ScriptResult
from etl_platform.datasets import REGISTRY, SALES, Capacity
from etl_platform.definitions import build_definitions
from etl_platform.environment import local_resources
from etl_platform.quarantine import ZONE, quarantined_keys
from etl_platform.resources import LocalLake, LocalSparkRunner
from etl_platform_tests.helpers import SALES_HEADER, lake_catalog, sales_row, table_resources, write_csv

ROWS = [sales_row("1/2/2016", "Lead", "100", "10"), sales_row("1/3/2016", "Prospect", "40", "4")]


@pytest.fixture
def pipes(monkeypatch):
    """What run_job reports through Pipes (here a mock), and the script not on Glue."""
    reported = MagicMock()

    @contextmanager
    def opened():
        yield reported

    monkeypatch.setattr(lake_job, "_pipes", opened)
    monkeypatch.setattr(lake_job, "on_glue", lambda: False)
    return reported


def _error(pipes) -> ScriptFailure:
    """The failure the script reported: its words, and whether a retry may help."""
    result = ScriptResult.from_messages(call.args[0] for call in pipes.report_custom_message.call_args_list)
    assert result.failure is not None
    return result.failure


def _argv(source, out) -> list[str]:
    job = process_job(SALES, str(source), str(out), QualitySettings())
    return [part for name, value in job.arguments().items() for part in (f"--{name}", value)]


def _process(argv, transform=daily_sales) -> None:
    lake_job.run_job(partial(lake_builds.process_landing_file, transform=transform), argv)


# -- storage trouble: retryable ---------------------------------------------------------------
def test_reading_a_path_that_does_not_exist_is_retryable(spark, tmp_path, pipes) -> None:
    def body(reporter, argv):
        spark.read.parquet(str(tmp_path / "gone")).count()

    with pytest.raises(lake_job.AnalysisException):  # raised, with its stack: not a one-line data error
        lake_job.run_job(body, [])
    error = _error(pipes)
    assert error.kind is FailureKind.RETRYABLE
    assert error.message.startswith("AnalysisException: [PATH_NOT_FOUND] Path does not exist")


def test_a_landing_file_removed_after_its_head_was_read_is_retryable(spark, tmp_path, pipes, monkeypatch) -> None:
    source = write_csv(tmp_path / "sales.csv", SALES_HEADER, ROWS)
    read_head = lake_builds.read_head

    def read_then_vanish(path, *args):
        head = read_head(path, *args)
        os.remove(path)  # deleted by its producer while the job starts
        return head

    monkeypatch.setattr(lake_builds, "read_head", read_then_vanish)
    with pytest.raises(lake_job.AnalysisException):
        _process(_argv(source, tmp_path / "out"))
    assert _error(pipes).kind is FailureKind.RETRYABLE and "[PATH_NOT_FOUND]" in _error(pipes).message


def test_the_output_folder_deleted_under_a_running_join_is_retryable(spark, tmp_path, pipes, monkeypatch) -> None:
    """The join reads its output back to check the files' order: a clean-up removing the build
    folder meanwhile is storage trouble, not bad input."""
    inputs = {}
    for table in ("sales_daily", "marketing_daily"):
        path = str(tmp_path / table)
        spark.sql(f"SELECT DATE'2016-01-01' AS date, 1 AS {table}_rows").write.parquet(path)
        inputs[table] = (path,)
    write_parquet = lake_builds.write_parquet

    def write_then_lose(frame, path):
        rows = write_parquet(frame, path)
        shutil.rmtree(path)
        return rows

    monkeypatch.setattr(lake_builds, "write_parquet", write_then_lose)
    job = JoinJob(inputs, str(tmp_path / "out"))
    argv = [part for name, value in job.arguments().items() for part in (f"--{name}", value)]
    with pytest.raises(lake_job.AnalysisException):
        lake_job.run_job(partial(lake_builds.join_tables, join=join_daily, lineage=column_lineage), argv)
    assert _error(pipes).kind is FailureKind.RETRYABLE and "Path does not exist" in _error(pipes).message


def test_a_file_gone_while_spark_reads_it_is_retryable(spark, tmp_path, pipes) -> None:
    """Spark's FileNotFoundException from a task, as Spark Connect (or Py4J) hands it back."""

    def body(reporter, argv):
        spark.range(5).repartition(1).write.parquet(str(tmp_path / "t"))
        spark.read.parquet(str(tmp_path / "t")).createOrReplaceTempView("error_classes_t")  # files listed now
        for name in os.listdir(tmp_path / "t"):
            if name.endswith(".parquet"):
                os.remove(tmp_path / "t" / name)
        spark.table("error_classes_t").count()

    with pytest.raises(Exception, match="FILE_NOT_EXIST|FileNotFoundException"):  # Spark 4 | 3.5
        lake_job.run_job(body, [])
    assert _error(pipes).kind is FailureKind.RETRYABLE


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["local", "s3_without_the_key", "s3_unreachable"])
def test_a_landing_file_that_cannot_be_read_is_retryable(
    fake_aws_credentials, spark, tmp_path, pipes, monkeypatch, where
) -> None:
    """Real errors of the head read (before Spark starts): no such file, S3's NoSuchKey, no S3 server."""
    expected = {
        "local": "FileNotFoundError",
        "s3_without_the_key": "NoSuchKey",
        "s3_unreachable": "EndpointConnectionError",
    }[where]
    with mock_aws() if where == "s3_without_the_key" else nullcontext():
        if where == "local":
            source = str(tmp_path / "gone.csv")
        elif where == "s3_without_the_key":
            boto3.client("s3").create_bucket(Bucket="lake")
            source = "s3://lake/landing/sales/gone.csv"
        else:
            monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
            monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
            source = "s3://lake/landing/sales/any.csv"
        with pytest.raises(Exception):  # noqa: B017 - the store's own exception, whatever it is
            _process(_argv(source, tmp_path / "out"))
    error = _error(pipes)
    assert error.kind is FailureKind.RETRYABLE and expected in error.message, error


@pytest.mark.parametrize(
    "error",
    [
        ClientError(
            {
                "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                "ResponseMetadata": {"HTTPStatusCode": 503},
            },
            "GetObject",
        ),
        ConnectionResetError(104, "Connection reset by peer"),
        RuntimeError(
            "An error occurred while calling o81.parquet.\n: java.io.IOException: com.amazonaws.services.s3.model."
            "AmazonS3Exception: Slow Down (Service: Amazon S3; Status Code: 503; Error Code: SlowDown)"
        ),
    ],
    ids=["s3_slow_down", "connection_reset", "jvm_io_exception_text"],
)
def test_throttling_and_lost_connections_are_retryable(pipes, error) -> None:
    def body(reporter, argv):
        raise error

    with pytest.raises(type(error)):
        lake_job.run_job(body, [])
    assert _error(pipes).kind is FailureKind.RETRYABLE


# -- bad input: not retryable -----------------------------------------------------------------
def test_missing_columns_stay_bad_input(spark, tmp_path, pipes) -> None:
    source = write_csv(tmp_path / "sales.csv", ["Date", "Revenue"], [["1/2/2016", "5"]])
    with pytest.raises(SystemExit):
        _process(_argv(source, tmp_path / "out"))
    error = _error(pipes)
    assert error.kind is FailureKind.DATA and "the header lacks expected columns" in error.message


def test_a_query_spark_refuses_on_the_inputs_schema_stays_bad_input(spark, tmp_path, pipes) -> None:
    def needs_a_column_the_file_lacks(frame):
        return frame.select("pipeline_owner")

    source = write_csv(tmp_path / "sales.csv", SALES_HEADER, ROWS)
    with pytest.raises(SystemExit):
        _process(_argv(source, tmp_path / "out"), needs_a_column_the_file_lacks)
    error = _error(pipes)
    assert error.kind is FailureKind.DATA and error.message.startswith("AnalysisException: [UNRESOLVED_COLUMN")


def test_a_data_error_naming_a_storage_word_stays_bad_input(tmp_path, pipes) -> None:
    source = tmp_path / "SlowDown_IOException.csv"  # the producer's file name, not the store's trouble
    source.write_bytes(b"")
    with pytest.raises(SystemExit):
        _process(_argv(source, tmp_path / "out"))
    assert _error(pipes) == ScriptFailure(f"{source}: the file is empty (0 bytes)", FailureKind.DATA)


# -- on Glue: the job run's ErrorMessage names the class ------------------------------------
def test_on_glue_storage_trouble_is_raised_as_lake_storage_error_and_bad_input_as_itself(
    spark, tmp_path, pipes, monkeypatch
) -> None:
    monkeypatch.setattr(lake_job, "on_glue", lambda: True)

    def missing(reporter, argv):
        spark.read.parquet(str(tmp_path / "gone")).count()

    with pytest.raises(lake_job.LakeStorageError, match=r"^AnalysisException: \[PATH_NOT_FOUND\]") as raised:
        lake_job.run_job(missing, [])
    assert isinstance(raised.value.__cause__, lake_job.AnalysisException)

    def bad_column(reporter, argv):
        spark.range(1).select("nope").collect()

    with pytest.raises(lake_job.AnalysisException, match="UNRESOLVED_COLUMN"):
        lake_job.run_job(bad_column, [])


# -- the processed asset: a landing file removed after the sensor saw it ---------------------
def test_processed_asset_whose_landing_file_vanishes_fails_retryably_and_quarantines_nothing(
    spark, lake_root, monkeypatch
) -> None:
    monkeypatch.setattr("etl_platform.assets.processed.SPARK_RETRY_POLICY", dg.RetryPolicy(max_retries=1, delay=0))
    lake = LocalLake(root=str(lake_root))
    landed = write_csv(lake_root / "landing" / "sales" / "week.csv", SALES_HEADER, ROWS)
    warm = local_resources()["spark"]

    class VanishingLanding(LocalSparkRunner):
        """The real runner and script; the file is deleted once the step has picked it."""

        def run_script(self, context, script, arguments, capacity=Capacity()):
            landed.unlink(missing_ok=True)
            return super().run_script(context, script, arguments, capacity)

    runner = VanishingLanding(remote=warm.remote, master=warm.master)
    job = build_definitions(REGISTRY, table_resources(lake_root, runner)).resolve_implicit_global_asset_job_def()
    config = {
        "ops": {"sales_daily": {"config": {"object_key": "landing/sales/week.csv"}}}
    }  # as the arrival sensor names it
    result = job.execute_in_process(
        run_config=config, asset_selection=[dg.AssetKey("sales_daily")], raise_on_error=False
    )
    assert not result.success
    # The script met the file gone: a retryable failure, so the step was retried.
    (retry,) = [
        e.event_specific_data.error for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert "process_sales_data.py failed: FileNotFoundError" in retry.cause.message
    # The retry finds the file gone and stops; nothing blames the file.
    (failure,) = result.get_step_failure_events()
    assert "does not exist" in failure.event_specific_data.error.message
    assert quarantined_keys(lake, SALES) == frozenset() and not list(lake.list_objects(ZONE))
    assert lake_catalog(lake_root).current("sales_daily") is None
