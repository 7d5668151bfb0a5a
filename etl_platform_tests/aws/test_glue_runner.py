"""The Glue runner against a moto Glue and S3 (moto server), with stand-in scripts (no JVM)."""


import textwrap

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from etl_platform.datasets import Capacity
from etl_platform.resources.glue_runner import GlueSparkRunner
from etl_platform_tests.aws.conftest import ARTIFACT_BUCKET, JOB_PREFIX, REGION, SHARED
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
        invocation = spark.run_script(context, script, {"input_path": "s3://etl-data/landing/sales/a.csv"}, Capacity("G.2X", 5, 30))
        return invocation.get_materialize_result()

    return _t


def _runner(aws) -> FakeGlueRunner:
    return FakeGlueRunner(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET,
                          message_interval_seconds=0.2, workdir=str(aws["workdir"]))  # fmt: skip


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
    pipes_keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=ARTIFACT_BUCKET)["Contents"] if not o["Key"].startswith("glue-scripts/")]
    assert pipes_keys and all(key.startswith("dagster-pipes/") for key in pipes_keys)
    assert (params["WorkerType"], params["NumberOfWorkers"], params["Timeout"]) == ("G.2X", 5, 30)
    (materialization,) = result.asset_materializations_for_node("t")
    assert materialization.metadata["seen_input"].value.endswith("/input/a.csv")  # the fake's staged copy
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


@pytest.mark.parametrize(("code", "retryable"), [("ConcurrentRunsExceededException", True), ("EntityNotFoundException", False)])
def test_refused_starts_are_retried_only_when_transient(aws, code, retryable) -> None:
    runner = _Refusing(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, code=code)

    @dg.asset(name="t", retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    def t(context: dg.AssetExecutionContext, spark: GlueSparkRunner) -> dg.MaterializeResult:
        return spark.run_script(context, "echo.py", {}).get_materialize_result()

    result = dg.materialize([t], resources={"spark": runner}, raise_on_error=False)
    retries = sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    assert not result.success and retries == (1 if retryable else 0)
    assert f"could not start: {code}: slow down" in result.get_step_failure_events()[0].event_specific_data.error.to_string()


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


def test_re_execution_after_a_crash_reattaches_to_the_running_glue_run(aws) -> None:
    import json

    from dagster_pipes import encode_param

    # The earlier attempt's Glue run writes its Pipes messages under its own key prefix.
    messages = [
        {"__dagster_pipes_version": "0.1", "method": "opened", "params": {}},
        {"__dagster_pipes_version": "0.1", "method": "report_asset_materialization",
         "params": {"asset_key": "t", "metadata": {"resumed": {"raw_value": True, "type": "bool"}}, "data_version": None}},
        {"__dagster_pipes_version": "0.1", "method": "closed", "params": {}},
    ]  # fmt: skip
    aws["s3"].put_object(Bucket=ARTIFACT_BUCKET, Key="crashed-run/1.json", Body="\n".join(map(json.dumps, messages)).encode())
    glue = _StillRunning({"--dagster-pipes-messages": encode_param({"bucket": ARTIFACT_BUCKET, "key_prefix": "crashed-run"})})

    class Runner(GlueSparkRunner):
        def glue_client(self):
            return glue

    runner = Runner(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, message_interval_seconds=0.2)

    @dg.asset(name="other")
    def other() -> None: ...

    with dg.instance_for_test() as instance:
        crashed = dg.materialize([other], instance=instance, tags={"etl_platform/glue_run.etl-platform-echo": "jr_earlier"})
        lineage = {"dagster/root_run_id": crashed.run_id, "dagster/parent_run_id": crashed.run_id}
        result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, instance=instance, tags=lineage)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
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

    runner = Runner(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET, message_interval_seconds=0.2)
    result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, raise_on_error=False)
    assert not result.success
    assert stopped == [["jr_long"]]
