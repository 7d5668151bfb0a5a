"""The code location loads, directly and the way `dagster dev` loads it (workspace.yaml, gRPC)."""

import os

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from etl_platform.definitions import build_definitions, defs
from etl_platform.environment import resources_for_environment
from etl_platform.project import PROJECT_ROOT
from etl_platform.resources import DuckDBEngine, LocalLake, LocalNotifier, LocalSparkRunner
from etl_platform.settings import UnknownEnvironmentError

EXPECTED_ASSETS = {
    dg.AssetKey(["landing", "sales"]),
    dg.AssetKey(["landing", "marketing"]),
    dg.AssetKey("sales_daily"),
    dg.AssetKey("marketing_daily"),
    dg.AssetKey("sales_marketing_daily"),
    dg.AssetKey("engagement_revenue_correlation"),
}


def test_definitions_hold_the_asset_graph() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == EXPECTED_ASSETS
    assert graph.get(dg.AssetKey("sales_daily")).parent_keys == {dg.AssetKey(["landing", "sales"])}
    assert not graph.get(dg.AssetKey(["landing", "sales"])).is_materializable
    assert defs.resolve_job_def("etl_pipeline_job") is not None


def test_every_asset_has_kinds_owners_group_and_description() -> None:
    for spec in defs.resolve_all_asset_specs():
        assert spec.kinds, spec.key
        assert spec.owners == ["team:data-engineering"], spec.key
        assert spec.group_name == "etl_pipeline", spec.key
        assert spec.description, spec.key


def test_table_assets_have_a_code_version_from_their_script() -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    versions = {specs[dg.AssetKey(t)].code_version for t in ("sales_daily", "marketing_daily", "sales_marketing_daily")}
    assert len(versions) == 3 and None not in versions


def test_spark_steps_retry_with_exponential_backoff_and_inputs_have_freshness() -> None:
    for table in ("sales_daily", "marketing_daily", "sales_marketing_daily"):
        policy = defs.resolve_assets_def(table).op.retry_policy
        assert policy.max_retries >= 2 and policy.backoff == dg.Backoff.EXPONENTIAL, table
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for key in EXPECTED_ASSETS:  # the UI shows freshness for every asset
        assert specs[key].freshness_policy.deadline_cron == "0 0 * * 1", key
    landing_schema = specs[dg.AssetKey(["landing", "marketing"])].metadata["dagster/column_schema"]
    assert ("Mailing list adds", "bigint") in [(c.name, c.type) for c in landing_schema.schema.columns]
    assert specs[dg.AssetKey("sales_marketing_daily")].automation_condition is not None
    assert specs[dg.AssetKey("engagement_revenue_correlation")].automation_condition is not None


def test_local_is_the_default_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("ETL_PLATFORM_ENV", raising=False)
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path))
    resources = resources_for_environment()
    assert isinstance(resources["lake"], LocalLake) and resources["lake"].root == str(tmp_path)
    assert isinstance(resources["spark"], LocalSparkRunner)
    assert resources["emr_serverless"] is resources["spark"]  # the same PySpark scripts, on local Spark
    assert isinstance(resources["sql"], DuckDBEngine)
    assert isinstance(resources["notifier"], LocalNotifier)


def test_lake_root_defaults_to_the_project(monkeypatch) -> None:
    monkeypatch.delenv("ETL_LAKE_ROOT", raising=False)
    assert resources_for_environment()["lake"].root == str(PROJECT_ROOT / ".lake")


def test_aws_environment_picks_the_aws_resource_set(monkeypatch) -> None:
    from etl_platform.resources import GlueTableCatalog
    from etl_platform.resources.athena import AthenaEngine
    from etl_platform.resources.emr_serverless_runner import EmrServerlessSparkRunner
    from etl_platform.resources.glue_runner import GlueSparkRunner
    from etl_platform.resources.s3_lake import S3Lake
    from etl_platform.resources.sns import SnsNotifier

    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    aws_defs = build_definitions()
    kinds = {key: type(resource) for key, resource in aws_defs.resources.items()}
    assert kinds == {
        "lake": S3Lake,
        "catalog": GlueTableCatalog,
        "spark": GlueSparkRunner,
        "emr_serverless": EmrServerlessSparkRunner,
        "sql": AthenaEngine,
        "notifier": SnsNotifier,
    }
    # Same asset graph, checks and automation: only the resources differ.
    assert aws_defs.resolve_asset_graph().get_all_asset_keys() == EXPECTED_ASSETS
    assert {s.name for s in aws_defs.sensors} == {s.name for s in defs.sensors}


def test_unknown_environment_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "moon")
    with pytest.raises(UnknownEnvironmentError, match="ETL_PLATFORM_ENV='moon' is not a known environment"):
        build_definitions()


def test_workspace_loads_like_dagster_dev(monkeypatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    with dg.instance_for_test() as instance:
        target = WorkspaceFileTarget(paths=[os.path.join(PROJECT_ROOT, "workspace.yaml")])
        with WorkspaceProcessContext(instance, target) as workspace:
            request = workspace.create_request_context()
            assert request.get_code_location_error("etl_platform") is None
            (repository,) = request.get_code_location("etl_platform").get_repositories().values()
            assert {node.asset_key for node in repository.get_asset_node_snaps()} == EXPECTED_ASSETS
            assert "etl_pipeline_job" in {job.name for job in repository.get_all_jobs()}
            assert {sensor.name for sensor in repository.get_sensors()} == {
                "sales_arrival_sensor",
                "marketing_arrival_sensor",
                "join_barrier_automation_sensor",
                "run_failure_alert_sensor",
                "orphaned_runs_sensor",
            }
            assert [schedule.name for schedule in repository.get_schedules()] == ["weekly_pipeline_schedule"]
