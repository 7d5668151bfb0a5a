"""The EMR Serverless runner against moto's EMR Serverless and S3 (moto server) and the fake that
runs each job run's script here: one real script on local Spark, stand-in scripts (no JVM) where
the test is about orchestration."""

import textwrap

import dagster as dg
import pytest
from botocore.exceptions import ClientError
from dagster._core.errors import DagsterExecutionInterruptedError

from etl_platform.assets.processed import process_job
from etl_platform.checks.settings import QualitySettings
from etl_platform.datasets import MARKETING, Capacity
from etl_platform.resources.aws_pipes import JobRun
from etl_platform.resources.emr_serverless_runner import EmrServerlessSparkRunner, spark_sizing
from etl_platform.resources.script_run import ScriptFailed, ScriptRun
from etl_platform.resources.usage import emr_serverless_usage
from etl_platform_tests.aws.conftest import (
    ARTIFACT_BUCKET,
    CONTRACT_ZIP,
    DATA_BUCKET,
    EMR_ROLE_ARN,
    PIPES_ZIP,
    REGION,
    SCRATCH_BUCKET,
    emr_runner_settings,
)
from etl_platform_tests.aws.fake_emr_serverless import UTILIZATION, FakeEmrServerless, FakeEmrServerlessRunner
from etl_platform_tests.helpers import MARKETING_HEADER, marketing_row, write_csv

LANDED = f"s3://{DATA_BUCKET}/landing/marketing/week.csv"
# A stand-in script: the real lake_job plumbing, no JVM; it runs ``--sleep`` seconds, then reports
# the build folder it was given.
ECHO = """
import time
import lake_job
from etl_platform.contract.jobs import read_arguments
from etl_platform.contract.report import CheckOutcome

def main(reporter, argv):
    args = read_arguments(argv, required=["input_path"], optional={"output_path": "", "sleep": "0"})
    time.sleep(float(args["sleep"]))
    reporter.info("hello from EMR Serverless")
    reporter.check(CheckOutcome("echo", True, metadata={"seen_output": args["output_path"]}))

lake_job.run_job(main)
"""
BAD_LINE = """
import lake_job

def main(reporter, argv):
    raise lake_job.LakeJobError("s3://etl-data/landing/marketing/week.csv: line 7 has 3 fields, not 19", line=7)

lake_job.run_job(main)
"""


def _script(aws, name: str, source: str) -> str:
    aws["s3"].put_object(Bucket=ARTIFACT_BUCKET, Key=f"glue-scripts/{name}", Body=textwrap.dedent(source).encode())
    return name


def _asset(script: str, arguments: dict[str, str], runs: list[ScriptRun], capacity: Capacity = Capacity(), **kwargs):
    @dg.asset(name="t", **kwargs)
    def _t(context: dg.AssetExecutionContext, emr_serverless: EmrServerlessSparkRunner) -> dg.MaterializeResult:
        run = emr_serverless.run_script(context, script, arguments, capacity)
        runs.append(run)
        return dg.MaterializeResult(metadata=dict(run.metadata))

    return _t


def _runner(aws, emr_runs, client: type[FakeEmrServerless]) -> FakeEmrServerlessRunner:
    class Runner(FakeEmrServerlessRunner):
        def job_client(self):
            return client(self.runs, self.region_name, asynchronous=True)

    return Runner(**emr_runner_settings(aws, emr_runs))


def _standalone_runner() -> EmrServerlessSparkRunner:
    """A runner for what needs no service."""
    return EmrServerlessSparkRunner(
        region_name=REGION,
        pipes_bucket=SCRATCH_BUCKET,
        application_id="app",
        execution_role_arn=EMR_ROLE_ARN,
        artifact_bucket=ARTIFACT_BUCKET,
        scripts_prefix="glue-scripts/",
        py_files=[],
    )


def _logs(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


def test_a_real_script_runs_as_an_emr_serverless_job_run_with_its_build_checks_and_cost(
    aws, emr_runs, tmp_path
) -> None:
    rows = [marketing_row(f"1/{day}/2016", day) for day in (4, 5, 6)]
    aws["s3"].upload_file(
        str(write_csv(tmp_path / "week.csv", MARKETING_HEADER, rows)), DATA_BUCKET, "landing/marketing/week.csv"
    )
    output = f"s3://{DATA_BUCKET}/processed/marketing_daily/data/b1"
    arguments = process_job(MARKETING, LANDED, output, QualitySettings()).arguments()
    runs: list[ScriptRun] = []
    runner = FakeEmrServerlessRunner(**emr_runner_settings(aws, emr_runs))
    asset = _asset("process_marketing_data.py", arguments, runs, Capacity("G.2X", 5, 30))
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources={"emr_serverless": runner}, instance=instance)
        logs = _logs(instance, result.run_id)
        recorded = instance.get_run_by_id(result.run_id).tags["etl_platform/emr_serverless_run.process_marketing_data"]

    (run,) = runs
    assert (run.build.output_path, run.build.rows) == (output, 3)
    assert {"raw_schema", "date_valid"} <= {check.name for check in run.result.checks}
    written = aws["s3"].list_objects_v2(Bucket=DATA_BUCKET, Prefix="processed/marketing_daily/data/b1/")["Contents"]
    assert any(item["Key"].endswith(".parquet") for item in written)
    assert any("wrote 3 rows to " + output in message for message in logs)  # the script's log, through Pipes
    assert "wrote 3 rows" in (emr_runs.workdir / recorded / "output.log").read_text()  # and echoed to its job log

    # The job run: the deployed script and what it loads, the arguments as on Glue, sized by the capacity.
    (params,) = emr_runs.started
    submit = params["jobDriver"]["sparkSubmit"]
    assert (params["applicationId"], params["executionRoleArn"]) == (aws["emr_application"], EMR_ROLE_ARN)
    assert params["name"] == f"process_marketing_data-{result.run_id}"
    assert params["executionTimeoutMinutes"] == 30
    assert submit["entryPoint"] == f"s3://{ARTIFACT_BUCKET}/glue-scripts/process_marketing_data.py"
    assert submit["entryPointArguments"][:4] == ["--input_path", LANDED, "--output_path", output]
    py_files = submit["sparkSubmitParameters"].split("--py-files ")[1].split()[0].split(",")
    assert f"s3://{ARTIFACT_BUCKET}/glue-scripts/lake_job.py" in py_files
    assert {f"s3://{ARTIFACT_BUCKET}/glue-scripts/{name}" for name in (CONTRACT_ZIP, PIPES_ZIP)} <= set(py_files)
    for conf in ("spark.executor.instances=5", "spark.executor.cores=8", "spark.executor.memory=29g"):
        assert f"--conf {conf}" in submit["sparkSubmitParameters"]
    assert "--conf spark.emr-serverless.driverEnv.DAGSTER_PIPES_CONTEXT=" in submit["sparkSubmitParameters"]
    assert params["tags"]["dagster/run-id"] == result.run_id
    pipes_keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=SCRATCH_BUCKET)["Contents"]]
    assert pipes_keys and all(key.startswith("dagster-pipes/") for key in pipes_keys)

    # Where it ran, and what it cost: the job run's billed utilisation at list prices.
    (materialization,) = result.asset_materializations_for_node("t")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["engine_run"]["AWS EMR Serverless Job Run ID"] == recorded
    assert metadata["engine"] == "emr_serverless"
    assert metadata["engine_usage"] == {"vcpu_hours": 0.5, "memory_gb_hours": 2.0, "storage_gb_hours": 0.25}
    expected = emr_serverless_usage(UTILIZATION["vCPUHour"], UTILIZATION["memoryGBHour"], UTILIZATION["storageGBHour"])
    assert metadata["estimated_cost_usd"] == round(expected.estimated_cost_usd, 6) > 0


def test_a_data_error_is_not_retried_and_carries_the_scripts_message_and_line(aws, emr_runs) -> None:
    failures: list[ScriptFailed] = []

    @dg.asset(name="t")
    def t(context: dg.AssetExecutionContext, emr_serverless: EmrServerlessSparkRunner) -> None:
        try:
            emr_serverless.run_script(context, _script(aws, "bad_line.py", BAD_LINE), {"input_path": LANDED})
        except ScriptFailed as failure:
            failures.append(failure)
            raise

    runner = FakeEmrServerlessRunner(**emr_runner_settings(aws, emr_runs))
    assert not dg.materialize([t], resources={"emr_serverless": runner}, raise_on_error=False).success
    (failure,) = failures
    assert (failure.allow_retries, failure.failure.line) == (False, 7)
    assert failure.failure.message == "s3://etl-data/landing/marketing/week.csv: line 7 has 3 fields, not 19"
    description = failure.description or ""
    assert "EMR Serverless job bad_line run" in description and "status FAILED" in description
    assert "LakeJobError: s3://etl-data/landing/marketing/week.csv: line 7 has 3 fields" in description


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("ThrottlingException", True), ("ServiceQuotaExceededException", True), ("ValidationException", False)],
)
def test_refused_starts_are_retried_only_when_transient(code, retryable) -> None:
    """How a refusal becomes the step's failure is the same for Glue (tested there through a run)."""
    refused = ClientError({"Error": {"Code": code, "Message": "slow down"}}, "StartJobRun")
    failure = _standalone_runner()._refused(refused, "echo", None)
    assert failure.allow_retries is retryable
    assert failure.description == f"EMR Serverless job echo could not start: {code}: slow down"


# -- reattaching --------------------------------------------------------------------------------
class OrchestratorCrash(BaseException):
    """The orchestrator's process dying: no Dagster handler runs, the job run goes on."""


class _Crashing(FakeEmrServerless):
    def get_job_run(self, applicationId, jobRunId):  # noqa: N803 - boto3's names
        raise OrchestratorCrash(f"the orchestrator died while {jobRunId} was starting")


class _PollRefused(FakeEmrServerless):
    """Refuses the first poll of each run (throttled); the run goes on."""

    refused: set[str] = set()

    def get_job_run(self, applicationId, jobRunId):  # noqa: N803 - boto3's names
        if jobRunId not in self.refused:
            self.refused.add(jobRunId)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetJobRun")
        return super().get_job_run(applicationId, jobRunId)


def _one_job_run(aws) -> str:
    (job_run,) = aws["emr"].list_job_runs(applicationId=aws["emr_application"])["jobRuns"]
    return job_run["id"]


ARGUMENTS = {"input_path": LANDED, "sleep": "2"}


def test_re_execution_after_a_crash_reattaches_to_the_running_job_run(aws, emr_runs) -> None:
    _script(aws, "echo.py", ECHO)
    runs: list[ScriptRun] = []
    with dg.instance_for_test() as instance:
        first = _asset("echo.py", {**ARGUMENTS, "output_path": "s3://etl-data/t/data/first"}, runs)
        with pytest.raises(OrchestratorCrash):
            dg.materialize([first], resources={"emr_serverless": _runner(aws, emr_runs, _Crashing)}, instance=instance)
        (crashed,) = instance.get_runs()
        lineage = {"dagster/root_run_id": crashed.run_id, "dagster/parent_run_id": crashed.run_id}
        # The re-executed step stages a build folder of its own; the same work otherwise.
        second = _asset("echo.py", {**ARGUMENTS, "output_path": "s3://etl-data/t/data/second"}, runs)
        result = dg.materialize(
            [second],
            resources={"emr_serverless": _runner(aws, emr_runs, FakeEmrServerless)},
            instance=instance,
            tags=lineage,
        )
        logs = _logs(instance, result.run_id)
    job_run_id = _one_job_run(aws)  # one job run in all: moto's record of the application's runs
    assert crashed.tags["etl_platform/emr_serverless_run.echo"] == job_run_id
    assert any(f"reattaching to EMR Serverless run {job_run_id} of echo" in message for message in logs)
    (run,) = runs
    assert run.result.checks[0].metadata["seen_output"] == "s3://etl-data/t/data/first"  # what the earlier run writes
    assert run.metadata["engine_run"].value["AWS EMR Serverless Job Run ID"] == job_run_id


def test_a_step_retried_while_its_job_run_goes_on_reattaches_to_it(aws, emr_runs) -> None:
    _script(aws, "echo.py", ECHO)
    runs: list[ScriptRun] = []
    asset = _asset("echo.py", ARGUMENTS, runs, retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset], resources={"emr_serverless": _runner(aws, emr_runs, _PollRefused)}, instance=instance
        )
        logs = _logs(instance, result.run_id)
    job_run_id = _one_job_run(aws)
    (retry,) = [
        e.event_specific_data.error for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert f"EMR Serverless run {job_run_id} of echo could not be followed: ThrottlingException" in retry.cause.message
    assert any(f"reattaching to EMR Serverless run {job_run_id} of echo" in message for message in logs)
    assert result.success and [check.name for check in runs[0].result.checks] == ["echo"]


def test_an_earlier_job_run_the_service_no_longer_knows_is_passed_over(aws, emr_runs) -> None:
    """Recorded by an earlier attempt, then gone (its application replaced since): a run of its own."""
    _script(aws, "echo.py", ECHO)

    @dg.asset(name="other")
    def other() -> None: ...

    with dg.instance_for_test() as instance:
        crashed = dg.materialize([other], instance=instance, tags={"etl_platform/emr_serverless_run.echo": "gone"})
        lineage = {"dagster/root_run_id": crashed.run_id, "dagster/parent_run_id": crashed.run_id}
        runner = FakeEmrServerlessRunner(**emr_runner_settings(aws, emr_runs))
        asset = _asset("echo.py", {"input_path": LANDED}, [])
        result = dg.materialize([asset], resources={"emr_serverless": runner}, instance=instance, tags=lineage)
        logs = _logs(instance, result.run_id)
    assert result.success and _one_job_run(aws)
    assert any("EMR Serverless run gone of an earlier attempt cannot be described: ResourceNotFound" in m for m in logs)


class _Interrupted(FakeEmrServerless):
    """Interrupts the step (a run terminated from the UI) at its second poll."""

    polls = 0

    def get_job_run(self, applicationId, jobRunId):  # noqa: N803 - boto3's names
        _Interrupted.polls += 1
        if _Interrupted.polls == 2:
            raise DagsterExecutionInterruptedError()
        return super().get_job_run(applicationId, jobRunId)


def test_interrupting_the_dagster_run_cancels_the_job_run(aws, emr_runs) -> None:
    _script(aws, "echo.py", ECHO)
    asset = _asset("echo.py", {"input_path": LANDED, "sleep": "60"}, [])
    result = dg.materialize(
        [asset], resources={"emr_serverless": _runner(aws, emr_runs, _Interrupted)}, raise_on_error=False
    )
    assert not result.success
    job_run_id = _one_job_run(aws)
    moto_state = aws["emr"].get_job_run(applicationId=aws["emr_application"], jobRunId=job_run_id)["jobRun"]["state"]
    assert moto_state == "CANCELLED"
    assert emr_runs.runs[job_run_id].state == "STOPPED"  # the script was stopped


# -- sizing and usage, without a run ----------------------------------------------------------------
def test_each_glue_worker_type_becomes_executors_of_its_size() -> None:
    assert spark_sizing(Capacity("G.1X", 3)) == {
        "spark.driver.cores": "4",
        "spark.driver.memory": "14g",
        "spark.executor.cores": "4",
        "spark.executor.memory": "14g",
        "spark.executor.instances": "3",
        "spark.dynamicAllocation.enabled": "false",
    }
    with pytest.raises(dg.Failure, match="worker type G.8X has no EMR Serverless worker of its size"):
        spark_sizing(Capacity("G.8X"))


def test_usage_is_the_billed_utilisation_or_else_the_total() -> None:
    runner = _standalone_runner()
    used = {"vCPUHour": 1.0, "memoryGBHour": 4.0, "storageGBHour": 0.0}
    for record in ({"billedResourceUtilization": used}, {"totalResourceUtilization": used}):
        usage = runner.usage(JobRun("jr", "SUCCESS", False, "", {}, None, record), {})
        assert usage.usage == {"vcpu_hours": 1.0, "memory_gb_hours": 4.0, "storage_gb_hours": 0.0}
        assert usage.estimated_cost_usd == pytest.approx(emr_serverless_usage(1.0, 4.0, 0.0).estimated_cost_usd)
