"""The project's Dagster instance settings: one build per table at a time, user settings kept."""

import os
import shutil
import stat

import boto3
import dagster as dg
import pytest
import yaml
from moto import mock_aws

from etl_platform.assets._shared import table_pool
from etl_platform.definitions import defs
from etl_platform.instance import (
    DEPLOY_DIR,
    DEPLOY_FILES,
    STORAGE_FOLDERS,
    InstanceConfigError,
    deploy_file_text,
    ensure_dagster_home,
    ensure_dotenv,
)
from etl_platform.postgres_service import local_postgres
from etl_platform.settings import project_environment
from etl_platform.spark_service import free_port


def test_dagster_home_gets_a_pool_limit_of_one_and_keeps_user_settings(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home()
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["concurrency"] == {"pools": {"default_limit": 1}}
    assert settings["run_monitoring"]["enabled"] and settings["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": True}}))
    ensure_dagster_home()
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": True} and settings["concurrency"]["pools"]["default_limit"] == 1
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the file is a valid instance config
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_an_instance_is_readable_by_its_owner_only_an_older_one_too(tmp_path, monkeypatch) -> None:
    """Its runs, event logs and compute logs are not other accounts' to read. An instance made before
    (world-readable) is closed on the next command; one inside it (the production one) keeps its mode."""
    home, inner = tmp_path / "home", tmp_path / "home" / "serve"
    (home / "history").mkdir(parents=True, mode=0o755)
    (home / "alerts.jsonl").write_text("{}\n")
    (home / "alerts.jsonl").chmod(0o644)
    inner.mkdir(mode=0o755)
    (inner / "dagster.yaml").write_text("{}\n")
    inner.chmod(0o755)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ensure_dagster_home()
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [home, *home.iterdir()]}
    assert modes == {
        "home": 0o711 if os.geteuid() == 0 else 0o700,  # as root others may pass through (PostgreSQL's account)
        **{name: 0o700 for name in STORAGE_FOLDERS},
        "alerts.jsonl": 0o600,
        "dagster.yaml": 0o600,
        "serve": 0o755,
    }


def test_every_table_asset_builds_in_its_own_pool() -> None:
    graph = defs.resolve_asset_graph()
    tables = [key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable]
    assert tables
    for key in tables:
        node = graph.get(key)
        assert node.pools == {table_pool(key.to_user_string())}, key


def test_the_project_env_file_names_the_instance_once_and_keeps_user_lines(tmp_path) -> None:
    (tmp_path / ".env").write_text("ETL_SENSOR_INTERVAL_SECONDS=5\n")
    ensure_dotenv(tmp_path / "home", folder=tmp_path)
    ensure_dotenv(tmp_path / "other", folder=tmp_path)  # a home already named is kept
    assert (tmp_path / ".env").read_text() == f"ETL_SENSOR_INTERVAL_SECONDS=5\nDAGSTER_HOME={tmp_path / 'home'}\n"


def test_commands_see_the_env_file_and_the_environment_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("ETL_SENSOR_PAGE_SIZE", "7")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ETL_SENSOR_PAGE_SIZE=9\nETL_KEEP_VERSIONS=3\n")
    ensure_dotenv(tmp_path / "home", folder=tmp_path)
    with project_environment():
        assert ensure_dagster_home() == tmp_path / "home"
        assert (os.environ["ETL_SENSOR_PAGE_SIZE"], os.environ["ETL_KEEP_VERSIONS"]) == ("7", "3")
    assert "DAGSTER_HOME" not in os.environ and "ETL_KEEP_VERSIONS" not in os.environ  # restored
    assert (tmp_path / "home" / "dagster.yaml").is_file()


def test_the_ui_first_visit_pop_up_and_telemetry_are_off(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:
        assert not instance.nux_enabled and not instance.telemetry_enabled


def test_a_user_concurrency_section_is_merged_with_the_table_pool_limit_not_replacing_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    user = {"concurrency": {"runs": {"max_concurrent_runs": 3}}, "run_monitoring": {"poll_interval_seconds": 9}}
    (tmp_path / "home" / "dagster.yaml").write_text(yaml.safe_dump(user))
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config.max_concurrent_runs == 3
        assert instance.run_monitoring_enabled and instance.run_monitoring_poll_interval_seconds == 9
        assert instance.run_retries_enabled


def test_a_user_table_pool_limit_that_contradicts_the_platform_is_reported_with_its_place(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    config = tmp_path / "home" / "dagster.yaml"
    config.write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 4\n")
    with pytest.raises(InstanceConfigError) as raised:
        ensure_dagster_home()
    assert str(raised.value) == (
        f"{config}:5:20: concurrency.pools.default_limit is 4, but the platform builds each table one run at a "
        "time (1); remove the key or set it to 1"
    )
    assert config.read_text().endswith("default_limit: 4\n")  # left as the user wrote it


def test_the_production_instance_files_are_what_the_instance_module_says() -> None:
    for name, settings in DEPLOY_FILES.items():
        assert (DEPLOY_DIR / name).read_text() == deploy_file_text(settings), (
            "run: python -m etl_platform.instance --write-deploy"
        )


def test_production_instances_keep_secrets_out_of_their_files_and_share_the_platform_rules() -> None:
    production, aws = (yaml.safe_load((DEPLOY_DIR / name).read_text()) for name in DEPLOY_FILES)
    for config in (production, aws):
        database = config["storage"]["postgres"]["postgres_db"]
        assert all(set(value) == {"env"} for key, value in database.items() if key != "scheme"), database
        assert config["concurrency"]["pools"]["default_limit"] == 1
        assert config["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
        assert config["telemetry"] == {"enabled": False}
    assert aws["run_launcher"]["class"] == "EcsRunLauncher" and "run_launcher" not in production
    assert aws["compute_logs"]["config"]["bucket"] == {"env": "DAGSTER_COMPUTE_LOG_BUCKET"}


def test_the_production_instances_run_on_a_real_postgresql_with_their_launchers(
    open_folder, monkeypatch, fake_aws_credentials
) -> None:
    with local_postgres(open_folder / "pg", free_port()) as server:
        for name, value in server.connection.environment().items():
            monkeypatch.setenv(name, value)
        for name in DEPLOY_FILES:
            home = open_folder / name.removesuffix(".yaml")
            home.mkdir()
            shutil.copy(DEPLOY_DIR / name, home / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(open_folder / "dagster")) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
            assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
            assert instance.run_monitoring_enabled and instance.run_retries_enabled
        with mock_aws():
            ecs = boto3.client("ecs", region_name="us-east-1")
            ecs.register_task_definition(
                family="etl-run", containerDefinitions=[{"name": "run", "image": "etl", "memory": 2048}]
            )
            monkeypatch.setenv("DAGSTER_RUN_TASK_DEFINITION", "etl-run")
            monkeypatch.setenv("DAGSTER_COMPUTE_LOG_BUCKET", "etl-scratch")
            with dg.DagsterInstance.from_config(str(open_folder / "dagster.aws")) as instance:
                assert type(instance.run_launcher).__name__ == "EcsRunLauncher"
                assert instance.run_launcher.task_definition.endswith(":task-definition/etl-run:1")
                assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"
