"""The project's Dagster instance settings: one build per table at a time, user settings kept."""

import os

import dagster as dg
import yaml

from etl_platform.assets._shared import table_pool
from etl_platform.definitions import defs
from etl_platform.instance import ensure_dagster_home, ensure_dotenv
from etl_platform.settings import project_environment


def test_dagster_home_gets_a_pool_limit_of_one_and_keeps_user_settings(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home()
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["concurrency"] == {"pools": {"default_limit": 1}}
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": True}}))
    ensure_dagster_home()
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": True} and settings["concurrency"]["pools"]["default_limit"] == 1
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the file is a valid instance config
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


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
