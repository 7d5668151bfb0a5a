"""The project's Dagster instance settings: one build per table at a time, user settings kept."""

import dagster as dg
import yaml

from etl_platform.assets._shared import table_pool
from etl_platform.definitions import defs
from etl_platform.instance import ensure_dagster_home


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
