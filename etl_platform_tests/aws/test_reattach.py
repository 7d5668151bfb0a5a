"""A step re-executed while the Glue run of its earlier attempt is still going reattaches to that
run and publishes what that run writes: the real sales_daily asset in the AWS profile (S3, the
Glue Data Catalog and Glue in a moto server, the script on local Spark)."""

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform_tests.aws.conftest import (
    DATA_BUCKET,
    DATABASE,
    JOB_PREFIX,
    glue_runner_settings,
    independent_catalog,
)
from etl_platform_tests.aws.fake_glue import FakeGlue, FakeGlueRunner
from etl_platform_tests.helpers import SALES_HEADER, sales_row, write_csv

JOB = JOB_PREFIX + "process_sales_data"
GLUE_RUN_TAG = f"etl_platform/glue_run.{JOB}"  # where the runner records the Glue run a step started


class OrchestratorCrash(BaseException):
    """The orchestrator's process dying: no Dagster handler runs, the Glue run goes on."""


class _CrashingGlue(FakeGlue):
    def get_job_run(self, JobName, RunId, **_):  # noqa: N803 - boto3's names
        raise OrchestratorCrash(f"the orchestrator died while {RunId} was starting")


class CrashingRunner(FakeGlueRunner):
    """Starts the Glue run (asynchronous, as on Glue), then dies before seeing it through."""

    def job_client(self) -> FakeGlue:
        return _CrashingGlue(self.runs, self.region_name, asynchronous=True)


def _materialize(resources, instance, tags=None):
    job = build_definitions(REGISTRY, resources).resolve_job_def("etl_pipeline_job")
    config = {
        "ops": {"sales_daily": {"config": {"object_key": "landing/sales/week.csv"}}}
    }  # as the arrival sensor names it
    return job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("sales_daily")], run_config=config, tags=tags or {}
    )


def test_re_executed_step_publishes_the_earlier_glue_runs_files(aws, glue_runs, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    rows = [sales_row(f"1/{day}/2016", stage, "100", "10") for day in (4, 5, 6) for stage in ("Lead", "Prospect")]
    assert cli.main(["land", "sales", str(write_csv(tmp_path / "week.csv", SALES_HEADER, rows))]) == 0
    settings = glue_runner_settings(glue_runs)

    with dg.instance_for_test() as instance:
        # Attempt 1 starts the Glue run, then the orchestrator dies: the run stays recorded on it.
        with pytest.raises(OrchestratorCrash):
            _materialize({**resources_for_environment(), "spark": CrashingRunner(**settings)}, instance)
        (crashed,) = instance.get_runs()
        glue_run_id = crashed.tags[GLUE_RUN_TAG]
        earlier = glue_runs.runs[glue_run_id]
        earlier_output = earlier.arguments["--output_path"]
        assert earlier.state == "RUNNING" and crashed.run_id[:8] in earlier_output  # the folder attempt 1 staged

        # Attempt 2: the step re-executed in a new run of the same lineage, while the Glue run goes on.
        lineage = {"dagster/root_run_id": crashed.run_id, "dagster/parent_run_id": crashed.run_id}
        result = _materialize(
            {**resources_for_environment(), "spark": FakeGlueRunner(**settings, asynchronous=True)}, instance, lineage
        )
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert any(f"reattaching to Glue run {glue_run_id}" in message for message in logs)
    # One Glue run in all: moto's record of the job's runs.
    assert [run["Id"] for run in aws["glue"].get_job_runs(JobName=JOB)["JobRuns"]] == [glue_run_id]
    assert earlier.state == "SUCCEEDED"

    (materialization,) = result.asset_materializations_for_node("sales_daily")
    assert materialization.metadata["output_path"].value == earlier_output
    assert materialization.metadata["engine_run"].value["AWS Glue Job Run ID"] == glue_run_id

    # The Iceberg table, read by a client of its own: one snapshot, of attempt 1's files, 3 days.
    table = independent_catalog().load_table((DATABASE, "sales_daily"))
    (snapshot,) = table.snapshots()
    files = [task.file for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()]
    assert files and all(f.file_path.startswith(earlier_output + "/") for f in files)
    assert sum(f.record_count for f in files) == 3
    assert table.scan().to_arrow().num_rows == 3
    assert snapshot.summary["etl.run-id"] == result.run_id
    assert snapshot.summary["etl.build"] == earlier_output.removeprefix(f"s3://{DATA_BUCKET}/")
    # Attempt 2's own build folder was staged but never written, nor is it in any snapshot.
    fresh = f"-{result.run_id[:8]}"
    assert not any(
        fresh in f.file_path
        for s in table.snapshots()
        for f in (t.file for t in table.scan(snapshot_id=s.snapshot_id).plan_files())
    )
    written = [
        o["Key"]
        for o in aws["s3"].list_objects_v2(Bucket=DATA_BUCKET, Prefix="processed/sales_daily/data/").get("Contents", [])
    ]
    assert written and not any(fresh in key for key in written)
