"""The Glue runner against a moto Glue and S3 (moto server), with stand-in scripts (no JVM but in
one test) and the real processed asset."""

import textwrap

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from etl_platform.datasets import Capacity
from etl_platform.resources.glue_runner import GlueSparkRunner, is_data_error
from etl_platform_tests.aws.conftest import ARTIFACT_BUCKET, DATA_BUCKET, JOB_PREFIX, REGION, SHARED
from etl_platform_tests.aws.fake_glue import FakeGlueRunner

ECHO = """
import lake_job

def main(reporter, argv):
    args = lake_job.parse_job_args(argv, required=["input_path"])
    reporter.info("hello from Glue")
    reporter._pipes.report_asset_materialization(metadata={"seen_input": {"raw_value": args["input_path"], "type": "text"}})

lake_job.run_job(main)
"""
BAD_DATA = """
import lake_job

def main(reporter, argv):
    raise lake_job.LakeJobError("s3://etl-data/landing/sales/x.csv: the header lacks expected columns ['Date']")

lake_job.run_job(main)
"""


def _job(aws, name: str, source: str) -> None:
    aws["s3"].put_object(Bucket="etl-data", Key="landing/sales/a.csv", Body=b"Date\n1/1/2016\n")
    aws["s3"].put_object(Bucket=ARTIFACT_BUCKET, Key=f"glue-scripts/{name}.py", Body=textwrap.dedent(source).encode())
    extra = ",".join(f"s3://{ARTIFACT_BUCKET}/glue-scripts/{module}" for module in SHARED)
    aws["glue"].create_job(
        Name=JOB_PREFIX + name,
        Role="arn:aws:iam::123456789012:role/etl-platform-glue",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{ARTIFACT_BUCKET}/glue-scripts/{name}.py"},
        DefaultArguments={"--extra-py-files": extra},
    )


def _asset(script: str):
    @dg.asset(name="t")
    def _t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        invocation = spark.run_script(
            context, script, {"input_path": "s3://etl-data/landing/sales/a.csv"}, Capacity("G.2X", 5, 30)
        )
        return invocation.get_materialize_result()

    return _t


def _runner(aws) -> FakeGlueRunner:
    return FakeGlueRunner(
        region_name=REGION,
        job_prefix=JOB_PREFIX,
        pipes_bucket=ARTIFACT_BUCKET,
        message_interval_seconds=0.2,
        workdir=str(aws["workdir"]),
    )


def test_starts_the_job_with_glue_arguments_and_reads_pipes_messages_from_s3(aws) -> None:
    _job(aws, "echo", ECHO)
    runner = _runner(aws)
    with dg.instance_for_test() as instance:
        result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, instance=instance)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
        recorded = instance.get_run_by_id(result.run_id).tags["etl_platform/glue_run.etl-platform-echo"]
    (params,) = FakeGlueRunner.last_client.started
    assert params["JobName"] == "etl-platform-echo"
    assert params["Arguments"]["--input_path"] == "s3://etl-data/landing/sales/a.csv"
    assert {"--dagster-pipes-context", "--dagster-pipes-messages"} <= set(params["Arguments"])
    # Context and messages stay under dagster-pipes/, the only artifact prefix the Glue role may write.
    pipes_keys = [
        o["Key"]
        for o in aws["s3"].list_objects_v2(Bucket=ARTIFACT_BUCKET)["Contents"]
        if not o["Key"].startswith("glue-scripts/")
    ]
    assert pipes_keys and all(key.startswith("dagster-pipes/") for key in pipes_keys)
    assert (params["WorkerType"], params["NumberOfWorkers"], params["Timeout"]) == ("G.2X", 5, 30)
    (materialization,) = result.asset_materializations_for_node("t")
    assert materialization.metadata["seen_input"].value == "s3://etl-data/landing/sales/a.csv"  # as Glue passes it
    assert materialization.metadata["AWS Glue Job Name"].value == "etl-platform-echo"
    assert recorded == materialization.metadata["AWS Glue Job Run ID"].value  # for reattaching after a crash
    assert "hello from Glue" in logs


def test_failed_run_fails_the_step_with_glues_message_and_no_retry_for_bad_data(aws) -> None:
    _job(aws, "bad_data", BAD_DATA)
    result = dg.materialize([_asset("bad_data.py")], resources={"spark": _runner(aws)}, raise_on_error=False)
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "etl-platform-bad_data" in message and "FAILED" in message
    assert "the header lacks expected columns ['Date']" in message
    assert failure.event_specific_data.user_failure_data is not None


class _Refusing(GlueSparkRunner):
    code: str

    def glue_client(self):
        code = self.code

        class Client:
            meta = type("Meta", (), {"region_name": REGION})()

            def start_job_run(self, **_):
                raise ClientError({"Error": {"Code": code, "Message": "slow down"}}, "StartJobRun")

        return Client()


@pytest.mark.parametrize(
    ("code", "retryable"), [("ConcurrentRunsExceededException", True), ("EntityNotFoundException", False)]
)
def test_refused_starts_are_retried_only_when_transient(aws, code, retryable) -> None:
    runner = _Refusing(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, code=code)

    @dg.asset(name="t", retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        return spark.run_script(context, "echo.py", {}).get_materialize_result()

    result = dg.materialize([t], resources={"spark": runner}, raise_on_error=False)
    retries = sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    assert not result.success and retries == (1 if retryable else 0)
    assert (
        f"could not start: {code}: slow down"
        in result.get_step_failure_events()[0].event_specific_data.error.to_string()
    )


class _StillRunning:
    """A Glue run started before the orchestrator crashed: running for two polls, then done."""

    meta = type("Meta", (), {"region_name": REGION})()

    def __init__(self, arguments):
        self.arguments, self.polls = arguments, 0

    def start_job_run(self, **_):
        raise AssertionError("a second Glue run was started for the same step")

    def get_job_run(self, JobName, RunId, **_):  # noqa: N803 - boto3's names
        self.polls += 1
        state = "RUNNING" if self.polls <= 2 else "SUCCEEDED"
        return {"JobRun": {"Id": RunId, "JobName": JobName, "JobRunState": state, "Arguments": self.arguments}}


def _after_a_crash(glue) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """A run that recorded Glue run ``jr_earlier`` of the echo job, then the step re-executed in a
    new run of its lineage, on a runner whose Glue client is ``glue``: (that result, its log lines)."""

    class Runner(GlueSparkRunner):
        def glue_client(self):
            return glue

    runner = Runner(
        region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, message_interval_seconds=0.2
    )

    @dg.asset(name="other")
    def other() -> None: ...

    with dg.instance_for_test() as instance:
        crashed = dg.materialize(
            [other], instance=instance, tags={"etl_platform/glue_run.etl-platform-echo": "jr_earlier"}
        )
        lineage = {"dagster/root_run_id": crashed.run_id, "dagster/parent_run_id": crashed.run_id}
        result = dg.materialize(
            [_asset("echo.py")], resources={"spark": runner}, instance=instance, tags=lineage, raise_on_error=False
        )
        return result, [entry.user_message for entry in instance.all_logs(result.run_id)]


def test_re_execution_after_a_crash_reattaches_to_the_running_glue_run(aws) -> None:
    import json

    from dagster_pipes import encode_param

    # The earlier attempt's Glue run writes its Pipes messages under its own key prefix.
    messages = [
        {"__dagster_pipes_version": "0.1", "method": "opened", "params": {}},
        {
            "__dagster_pipes_version": "0.1",
            "method": "report_asset_materialization",
            "params": {
                "asset_key": "t",
                "metadata": {"resumed": {"raw_value": True, "type": "bool"}},
                "data_version": None,
            },
        },
        {"__dagster_pipes_version": "0.1", "method": "closed", "params": {}},
    ]
    aws["s3"].put_object(
        Bucket=ARTIFACT_BUCKET, Key="crashed-run/1.json", Body="\n".join(map(json.dumps, messages)).encode()
    )
    # The same step's arguments, but for the build folder and the Pipes bootstrap of its own.
    glue = _StillRunning(
        {
            "--input_path": "s3://etl-data/landing/sales/a.csv",
            "--output_path": "s3://etl-data/t/data/earlier",
            "--dagster-pipes-messages": encode_param({"bucket": ARTIFACT_BUCKET, "key_prefix": "crashed-run"}),
        }
    )

    result, logs = _after_a_crash(glue)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("t")
    assert materialization.metadata["resumed"].value is True
    assert materialization.metadata["AWS Glue Job Run ID"].value == "jr_earlier"
    assert any("reattaching to Glue run jr_earlier" in message for message in logs)


def test_interrupting_the_dagster_run_stops_the_glue_run(aws) -> None:
    from dagster._core.errors import DagsterExecutionInterruptedError

    stopped: list[list[str]] = []

    class Interrupted:
        meta = type("Meta", (), {"region_name": REGION})()

        def start_job_run(self, **_):
            return {"JobRunId": "jr_long"}

        def get_job_run(self, JobName, RunId, **_):  # noqa: N803
            if stopped or getattr(self, "polled", False):
                raise DagsterExecutionInterruptedError()
            self.polled = True
            return {"JobRun": {"Id": RunId, "JobName": JobName, "JobRunState": "RUNNING"}}

        def batch_stop_job_run(self, JobName, JobRunIds):  # noqa: N803
            stopped.append(JobRunIds)
            return {"SuccessfulSubmissions": [{"JobName": JobName, "JobRunId": JobRunIds[0]}], "Errors": []}

    class Runner(GlueSparkRunner):
        def glue_client(self):
            return Interrupted()

    runner = Runner(
        region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, message_interval_seconds=0.2
    )
    result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, raise_on_error=False)
    assert not result.success
    assert stopped == [["jr_long"]]


# -- which failed runs are retried ------------------------------------------------------------
FAILED = "Glue job etl-platform-process_sales_data run jr_1 completed with status FAILED : "


@pytest.mark.parametrize(
    ("error_message", "data_error"),
    [
        # lake_job's verdicts on the input, whatever paths they name
        ("lake_job.LakeJobError: s3://etl-data/landing/sales/a.csv: the file is empty (0 bytes)", True),
        (
            "lake_job.MissingColumnsError: s3://etl-data/landing/sales/a.csv: the header lacks expected columns ['Date']",
            True,
        ),
        (
            "lake_job.LakeJobError: s3://etl-data/landing/sales/SlowDown-IOException.csv: the file is empty (0 bytes)",
            True,
        ),
        (
            "AnalysisException: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name `x` "
            "cannot be resolved.",
            True,
        ),
        # storage trouble, as lake_job raises it on Glue
        (
            "lake_job.LakeStorageError: AnalysisException: [PATH_NOT_FOUND] Path does not exist: "
            "s3://etl-data/processed/sales_daily/data/x. SQLSTATE: 42K03",
            False,
        ),
        (
            "lake_job.LakeStorageError: ClientError: An error occurred (NoSuchKey) when calling the GetObject operation",
            False,
        ),
        # ... and as a script shows it that died before it could say so
        ("AnalysisException: [PATH_NOT_FOUND] Path does not exist: s3://etl-data/landing/sales/a.csv.", False),
        (
            "Py4JJavaError: An error occurred while calling o97.parquet. : org.apache.spark.SparkException: Job aborted. "
            "Caused by: java.io.FileNotFoundException: No such file or directory: s3://etl-data/x/part-0.parquet",
            False,
        ),
        (
            "AnalysisException: java.io.IOException: com.amazonaws.services.s3.model.AmazonS3Exception: Slow Down "
            "(Service: Amazon S3; Status Code: 503; Error Code: SlowDown)",
            False,
        ),
        ("botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL", False),
        # anything else may be transient
        ("exit code 137", False),
        (
            "Py4JJavaError: An error occurred while calling o81.save. : org.apache.spark.SparkException: Job aborted",
            False,
        ),
    ],
)
def test_failed_runs_are_data_errors_only_when_the_input_is_at_fault(error_message, data_error) -> None:
    assert is_data_error(FAILED + error_message) is data_error


def _processed_job(resources):
    from etl_platform.datasets import REGISTRY
    from etl_platform.definitions import build_definitions

    return build_definitions(REGISTRY, resources).resolve_job_def("etl_pipeline_job")


def test_processed_asset_whose_landing_object_vanishes_on_glue_is_retried_and_not_quarantined(
    aws, tmp_path, monkeypatch
) -> None:
    """The real sales_daily step, its script on the fake Glue: the object named by the arrival
    sensor is deleted before the Glue run reads it. S3's NoSuchKey is storage trouble: retried,
    and the file is not blamed."""
    from etl_platform import cli
    from etl_platform.environment import resources_for_environment
    from etl_platform_tests.helpers import SALES_HEADER, sales_row, write_csv

    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    monkeypatch.setattr("etl_platform.assets.processed.SPARK_RETRY_POLICY", dg.RetryPolicy(max_retries=1, delay=0))
    assert (
        cli.main(
            ["land", "sales", str(write_csv(tmp_path / "week.csv", SALES_HEADER, [sales_row("1/4/2016", "Lead", "1")]))]
        )
        == 0
    )

    class VanishingLanding(FakeGlueRunner):
        def run_script(self, context, script, arguments, capacity=Capacity()):
            aws["s3"].delete_object(Bucket=DATA_BUCKET, Key="landing/sales/week.csv")  # after the step picked it
            return super().run_script(context, script, arguments, capacity)

    resources = {
        **resources_for_environment(),
        "spark": VanishingLanding(
            region_name=REGION,
            job_prefix=JOB_PREFIX,
            pipes_bucket=ARTIFACT_BUCKET,
            message_interval_seconds=0.2,
            workdir=str(aws["workdir"]),
        ),
    }
    config = {"ops": {"sales_daily": {"config": {"object_key": "landing/sales/week.csv"}}}}
    result = _processed_job(resources).execute_in_process(
        run_config=config, asset_selection=[dg.AssetKey("sales_daily")], raise_on_error=False
    )
    assert not result.success
    (retry,) = [
        e.event_specific_data.error for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert (
        "status FAILED" in retry.cause.message
        and "LakeStorageError: NoSuchKey: An error occurred (NoSuchKey)" in retry.cause.message
    )
    (failure,) = result.get_step_failure_events()  # the retry finds the object gone, and stops there
    assert "does not exist" in failure.event_specific_data.error.message
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=DATA_BUCKET, Prefix="quarantine/")  # nothing quarantined


MISSING_PATH = """
import lake_job

def main(reporter, argv):
    spark = lake_job.spark_session("missing_path")
    spark.read.parquet("s3://etl-data/processed/t/data/deleted-build").count()

lake_job.run_job(main)
"""


def test_a_real_missing_path_on_glue_fails_retryably(aws) -> None:
    """Real Spark (through the fake's S3 mount) reading a build folder that is gone: the job run's
    ErrorMessage names LakeStorageError, and the step's failure allows a retry."""
    _job(aws, "missing_path", MISSING_PATH)
    failures: list[dg.Failure] = []

    @dg.asset(name="t")
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        try:
            return spark.run_script(
                context, "missing_path.py", {"input_path": "s3://etl-data/landing/sales/a.csv"}
            ).get_materialize_result()
        except dg.Failure as failure:
            failures.append(failure)
            raise

    assert not dg.materialize([t], resources={"spark": _runner(aws)}, raise_on_error=False).success
    (failure,) = failures
    assert failure.allow_retries is True
    assert (
        "LakeStorageError: AnalysisException: [PATH_NOT_FOUND] Path does not exist: s3://etl-data/processed/t/data/deleted-build"
        in (failure.description or "")
    )


# -- reattaching ------------------------------------------------------------------------------
class _PollRefused:
    """Glue starts the run, then refuses the first poll (throttled); the run goes on and succeeds."""

    meta = type("Meta", (), {"region_name": REGION})()

    def __init__(self):
        self.starts, self.polls = [], 0

    def start_job_run(self, **params):
        self.starts.append(params)
        return {"JobRunId": "jr_once"}

    def get_job_run(self, JobName, RunId, **_):  # noqa: N803 - boto3's names
        self.polls += 1
        if self.polls == 2:  # PipesGlueClient's first wait: throttled
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetJobRun")
        state = "RUNNING" if self.polls <= 3 else "SUCCEEDED"
        return {
            "JobRun": {"Id": RunId, "JobName": JobName, "JobRunState": state, "Arguments": self.starts[0]["Arguments"]}
        }


def test_a_step_retried_while_its_glue_run_goes_on_reattaches_to_it(aws) -> None:
    glue = _PollRefused()

    class Runner(GlueSparkRunner):
        def glue_client(self):
            return glue

    runner = Runner(
        region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, message_interval_seconds=0.2
    )

    @dg.asset(name="t", retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        return spark.run_script(
            context, "echo.py", {"input_path": "s3://etl-data/landing/sales/a.csv"}
        ).get_materialize_result()

    with dg.instance_for_test() as instance:
        result = dg.materialize([t], resources={"spark": runner}, instance=instance)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success and len(glue.starts) == 1  # the retry followed the same Glue run
    (retry,) = [
        e.event_specific_data.error for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert "Glue run jr_once of etl-platform-echo could not be followed: ThrottlingException" in retry.cause.message
    assert any("reattaching to Glue run jr_once" in message for message in logs)


def test_an_earlier_glue_run_over_other_arguments_is_not_reattached(aws) -> None:
    """Not the same work (another input, e.g. a join's input republished since): a run of its own."""
    from dagster_pipes import encode_param

    class Earlier(_StillRunning):
        started: list = []

        def start_job_run(self, **params):
            self.started.append(params)
            return {"JobRunId": "jr_new"}

        def get_job_run(self, JobName, RunId, **_):  # noqa: N803
            state = "RUNNING" if RunId == "jr_earlier" else "SUCCEEDED"
            return {"JobRun": {"Id": RunId, "JobName": JobName, "JobRunState": state, "Arguments": self.arguments}}

    glue = Earlier(
        {
            "--input_path": "s3://etl-data/landing/sales/older.csv",
            "--output_path": "s3://etl-data/t/data/earlier",
            "--dagster-pipes-messages": encode_param({"bucket": ARTIFACT_BUCKET, "key_prefix": "crashed-run"}),
        }
    )

    result, logs = _after_a_crash(glue)
    assert [params["Arguments"]["--input_path"] for params in glue.started] == ["s3://etl-data/landing/sales/a.csv"]
    assert any(
        "Glue run jr_earlier of etl-platform-echo, still running from an earlier attempt, has other arguments" in m
        for m in logs
    )
