"""The Glue runner against a moto Glue and S3 (moto server), with stand-in scripts (no JVM but in
one test) and the real processed asset."""

import json
import textwrap

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from etl_platform.contract.report import CheckOutcome
from etl_platform.datasets import Capacity
from etl_platform.project import CONTRACT_ZIP
from etl_platform.resources.aws_pipes import JobRun
from etl_platform.resources.glue_runner import GlueSparkRunner
from etl_platform.resources.script_run import ScriptFailed, ScriptRun
from etl_platform.resources.usage import GLUE_USD_PER_DPU_HOUR
from etl_platform_tests.aws.conftest import (
    ARTIFACT_BUCKET,
    DATA_BUCKET,
    EXTRA_PY_FILES,
    JOB_PREFIX,
    REGION,
    SCRATCH_BUCKET,
    glue_runner_settings,
)
from etl_platform_tests.aws.fake_glue import FakeGlueRunner

# Stand-in scripts: the real lake_job plumbing, no JVM. What they report (a check's metadata) and
# where they ran (the Glue run) become the materialisation's metadata.
ECHO = """
import lake_job
import etl_platform.contract
from etl_platform.contract.jobs import read_arguments
from etl_platform.contract.report import CheckOutcome

def main(reporter, argv):
    args = read_arguments(argv, required=["input_path"])
    reporter.info("hello from Glue")
    seen = {"seen_input": args["input_path"], "contract": etl_platform.contract.__file__}
    reporter.check(CheckOutcome("echo", True, metadata=seen))

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
    aws["glue"].create_job(
        Name=JOB_PREFIX + name,
        Role="arn:aws:iam::123456789012:role/etl-platform-glue",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{ARTIFACT_BUCKET}/glue-scripts/{name}.py"},
        DefaultArguments={"--extra-py-files": EXTRA_PY_FILES},
    )


def _reported(run: ScriptRun) -> dg.MaterializeResult:
    checks = {key: value for check in run.result.checks for key, value in check.metadata.items()}
    return dg.MaterializeResult(metadata={**checks, **run.metadata})


def _asset(script: str):
    @dg.asset(name="t")
    def _t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        run = spark.run_script(
            context, script, {"input_path": "s3://etl-data/landing/sales/a.csv"}, Capacity("G.2X", 5, 30)
        )
        return _reported(run)

    return _t


def _runner(glue_runs) -> FakeGlueRunner:
    return FakeGlueRunner(**glue_runner_settings(glue_runs))


def test_starts_the_job_with_glue_arguments_and_reads_pipes_messages_from_s3(aws, glue_runs) -> None:
    _job(aws, "echo", ECHO)
    runner = _runner(glue_runs)
    with dg.instance_for_test() as instance:
        result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, instance=instance)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
        recorded = instance.get_run_by_id(result.run_id).tags["etl_platform/glue_run.etl-platform-echo"]
    (params,) = glue_runs.started
    assert params["JobName"] == "etl-platform-echo"
    assert params["Arguments"]["--input_path"] == "s3://etl-data/landing/sales/a.csv"
    assert {"--dagster-pipes-context", "--dagster-pipes-messages"} <= set(params["Arguments"])
    # Context and messages stay under dagster-pipes/ of the scratch bucket, the prefix the Glue role may write.
    pipes_keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=SCRATCH_BUCKET)["Contents"]]
    assert pipes_keys and all(key.startswith("dagster-pipes/") for key in pipes_keys)
    assert (params["WorkerType"], params["NumberOfWorkers"], params["Timeout"]) == ("G.2X", 5, 30)
    (materialization,) = result.asset_materializations_for_node("t")
    assert materialization.metadata["seen_input"].value == "s3://etl-data/landing/sales/a.csv"  # as Glue passes it
    assert f"/{CONTRACT_ZIP}/etl_platform/contract/" in materialization.metadata["contract"].value  # as shipped
    assert materialization.metadata["engine_run"].value["AWS Glue Job Name"] == "etl-platform-echo"
    assert (
        recorded == materialization.metadata["engine_run"].value["AWS Glue Job Run ID"]
    )  # for reattaching after a crash
    assert "hello from Glue" in logs
    # What it cost: 5 G.2X workers, 10 DPUs, billed for at least a minute.
    assert materialization.metadata["engine"].value == "glue"
    assert materialization.metadata["engine_usage"].value["dpus"] == 10.0
    assert materialization.metadata["estimated_cost_usd"].value == round(600 / 3600 * GLUE_USD_PER_DPU_HOUR, 6)


@pytest.mark.parametrize(
    ("reported", "dpu_seconds"),
    [({}, 120 * 4.0), ({"DPUSeconds": 300.0}, 300.0)],
)
def test_glue_usage_is_its_dpu_seconds_when_reported_else_execution_time_times_dpus(reported, dpu_seconds) -> None:
    runner = GlueSparkRunner(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=SCRATCH_BUCKET)
    params = runner.job_run_params("echo.py", {}, Capacity("G.2X", 5, 30))
    record = {"ExecutionTime": 120, "WorkerType": "G.1X", "NumberOfWorkers": 4, **reported}  # as the run was
    usage = runner.usage(JobRun("jr", "SUCCEEDED", False, "", {}, None, record), params)
    assert usage.usage == {"execution_seconds": 120.0, "dpus": 4.0, "dpu_seconds": dpu_seconds}
    assert usage.estimated_cost_usd == pytest.approx(dpu_seconds / 3600 * GLUE_USD_PER_DPU_HOUR)


def test_failed_run_fails_the_step_with_glues_message_and_no_retry_for_bad_data(aws, glue_runs) -> None:
    _job(aws, "bad_data", BAD_DATA)
    result = dg.materialize([_asset("bad_data.py")], resources={"spark": _runner(glue_runs)}, raise_on_error=False)
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "etl-platform-bad_data" in message and "FAILED" in message
    assert "the header lacks expected columns ['Date']" in message
    assert failure.event_specific_data.user_failure_data is not None


NOISY = """
import sys
import lake_job

def main(reporter, argv):
    print("spark driver: stage 3 started")
    print("WARN TaskSetManager: lost task 0.0", file=sys.stderr)

lake_job.run_job(main)
"""


def _streamed(aws) -> dict[str, str]:
    """What the script's stdout and stderr sent as Pipes messages through S3, by stream."""
    streamed: dict[str, str] = {"stdout": "", "stderr": ""}
    for listed in aws["s3"].list_objects_v2(Bucket=SCRATCH_BUCKET)["Contents"]:
        body = aws["s3"].get_object(Bucket=SCRATCH_BUCKET, Key=listed["Key"])["Body"].read().decode()
        for line in body.splitlines():
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("method") == "log_external_stream":
                streamed[message["params"]["stream"]] += message["params"]["text"]
    return streamed


def test_the_scripts_own_stdout_and_stderr_travel_with_its_pipes_messages(aws, glue_runs) -> None:
    """On Glue a script's raw output would stay in CloudWatch; it reaches the step's log instead."""
    _job(aws, "noisy", NOISY)
    runner = FakeGlueRunner(**glue_runner_settings(glue_runs, script_output_in_log=True))  # as deployed
    assert dg.materialize([_asset("noisy.py")], resources={"spark": runner}).success
    streamed = _streamed(aws)
    assert "spark driver: stage 3 started" in streamed["stdout"]
    assert "WARN TaskSetManager: lost task 0.0" in streamed["stderr"]


class _Refusing(GlueSparkRunner):
    code: str

    def job_client(self):
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
    runner = _Refusing(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=SCRATCH_BUCKET, code=code)

    @dg.asset(name="t", retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        return _reported(spark.run_script(context, "echo.py", {}))

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
        def job_client(self):
            return glue

    runner = Runner(
        region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=SCRATCH_BUCKET, message_interval_seconds=0.2
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
    reported = CheckOutcome("echo", True, metadata={"resumed": True})
    messages = [
        {"__dagster_pipes_version": "0.1", "method": "opened", "params": {}},
        {
            "__dagster_pipes_version": "0.1",
            "method": "report_custom_message",
            "params": {"payload": reported.to_json()},
        },
        {"__dagster_pipes_version": "0.1", "method": "closed", "params": {}},
    ]
    aws["s3"].put_object(
        Bucket=SCRATCH_BUCKET, Key="crashed-run/1.json", Body="\n".join(map(json.dumps, messages)).encode()
    )
    # The same step's arguments, but for the build folder and the Pipes bootstrap of its own.
    glue = _StillRunning(
        {
            "--input_path": "s3://etl-data/landing/sales/a.csv",
            "--output_path": "s3://etl-data/t/data/earlier",
            "--dagster-pipes-messages": encode_param({"bucket": SCRATCH_BUCKET, "key_prefix": "crashed-run"}),
        }
    )

    result, logs = _after_a_crash(glue)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("t")
    assert materialization.metadata["resumed"].value is True
    assert materialization.metadata["engine_run"].value["AWS Glue Job Run ID"] == "jr_earlier"
    assert any("reattaching to Glue run jr_earlier" in message for message in logs)
    # This Glue says nothing of the run's execution time: the build stands, its usage unknown.
    assert materialization.metadata["engine"].value == "glue"
    assert materialization.metadata["engine_usage"].value == {"unknown": "KeyError: 'ExecutionTime'"}
    assert materialization.metadata["estimated_cost_usd"].value is None
    assert any("the usage of Glue run jr_earlier could not be read" in message for message in logs)


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
        def job_client(self):
            return Interrupted()

    runner = Runner(
        region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=SCRATCH_BUCKET, message_interval_seconds=0.2
    )
    result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, raise_on_error=False)
    assert not result.success
    assert stopped == [["jr_long"]]


# -- which failed runs are retried ------------------------------------------------------------
DIES_EARLY = """
import sys
sys.exit(3)  # before it could report anything: out of memory, a lost driver...
"""
BAD_DATA_NAMING_STORAGE = """
import lake_job

def main(reporter, argv):
    # The producer's file name, not the store's trouble.
    raise lake_job.LakeJobError("s3://etl-data/landing/sales/SlowDown-IOException.csv: the file is empty (0 bytes)")

lake_job.run_job(main)
"""


@pytest.mark.parametrize(
    ("name", "source", "retryable"),
    [
        ("bad_data", BAD_DATA, False),
        ("bad_data_naming_storage", BAD_DATA_NAMING_STORAGE, False),
        ("dies_early", DIES_EARLY, True),
    ],
)
def test_a_failed_run_is_retried_as_its_script_reported_and_when_it_could_not_report(
    aws, glue_runs, name, source, retryable
) -> None:
    """The script's failure record decides, whatever words Glue's ErrorMessage holds; a script
    that died before it could report one may have met something transient."""
    _job(aws, name, source)
    failures: list[ScriptFailed] = []

    @dg.asset(name="t")
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        try:
            return _reported(
                spark.run_script(context, f"{name}.py", {"input_path": "s3://etl-data/landing/sales/a.csv"})
            )
        except ScriptFailed as failure:
            failures.append(failure)
            raise

    assert not dg.materialize([t], resources={"spark": _runner(glue_runs)}, raise_on_error=False).success
    (failure,) = failures
    assert (failure.allow_retries, failure.failure.retryable) == (retryable, retryable)
    assert f"etl-platform-{name} run" in (failure.description or "") and "status FAILED" in (failure.description or "")


REPORTS_THEN_FAILS = """
import lake_job
from etl_platform.contract.report import CheckOutcome

def main(reporter, argv):
    reporter.check(CheckOutcome("raw_schema", False, metadata={"missing_columns": ["Date"]}))
    raise lake_job.LakeJobError("s3://etl-data/landing/sales/a.csv: the header lacks expected columns ['Date']")

lake_job.run_job(main)
"""


def test_checks_a_failed_glue_run_reported_are_recorded_for_its_run(aws, glue_runs) -> None:
    _job(aws, "reports_then_fails", REPORTS_THEN_FAILS)

    @dg.asset(name="t", check_specs=[dg.AssetCheckSpec("raw_schema", asset="t")])
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        return _reported(spark.run_script(context, "reports_then_fails.py", {"input_path": "s3://etl-data/a.csv"}))

    key = dg.AssetCheckKey(dg.AssetKey("t"), "raw_schema")
    with dg.instance_for_test() as instance:
        result = dg.materialize([t], resources={"spark": _runner(glue_runs)}, instance=instance, raise_on_error=False)
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    evaluation = record.event.dagster_event.event_specific_data
    assert not result.success and evaluation.passed is False
    assert evaluation.metadata["missing_columns"].value == ["Date"]
    assert evaluation.metadata["run_id"].value == result.run_id


def _processed_job(resources):
    from etl_platform.datasets import REGISTRY
    from etl_platform.definitions import build_definitions

    return build_definitions(REGISTRY, resources).resolve_job_def("etl_pipeline_job")


def test_processed_asset_whose_landing_object_vanishes_on_glue_is_retried_and_not_quarantined(
    aws, glue_runs, tmp_path, monkeypatch
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
            pipes_bucket=SCRATCH_BUCKET,
            message_interval_seconds=0.2,
            runs=glue_runs,
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


def test_a_real_missing_path_on_glue_fails_retryably(aws, glue_runs) -> None:
    """Real Spark (through the fake's S3 mount) reading a build folder that is gone: the job run's
    ErrorMessage names LakeStorageError, and the step's failure allows a retry."""
    _job(aws, "missing_path", MISSING_PATH)
    failures: list[dg.Failure] = []

    @dg.asset(name="t")
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        try:
            return _reported(
                spark.run_script(context, "missing_path.py", {"input_path": "s3://etl-data/landing/sales/a.csv"})
            )
        except dg.Failure as failure:
            failures.append(failure)
            raise

    assert not dg.materialize([t], resources={"spark": _runner(glue_runs)}, raise_on_error=False).success
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
        def job_client(self):
            return glue

    runner = Runner(
        region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=SCRATCH_BUCKET, message_interval_seconds=0.2
    )

    @dg.asset(name="t", retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        return _reported(spark.run_script(context, "echo.py", {"input_path": "s3://etl-data/landing/sales/a.csv"}))

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
            "--dagster-pipes-messages": encode_param({"bucket": SCRATCH_BUCKET, "key_prefix": "crashed-run"}),
        }
    )

    result, logs = _after_a_crash(glue)
    assert [params["Arguments"]["--input_path"] for params in glue.started] == ["s3://etl-data/landing/sales/a.csv"]
    assert any(
        "Glue run jr_earlier of etl-platform-echo, still running from an earlier attempt, has other arguments" in m
        for m in logs
    )
