"""`etl-platform rollback` and `versions`: Iceberg's current snapshot moves, readers and Dagster follow."""

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.resources import DuckDBEngine, SqlTableCatalog
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import lake_catalog, table_resources
from etl_platform_tests.ui import RECORDING_DEFS, check_statuses, ui_context


def _build(lake_root, home, runners) -> SqlTableCatalog:
    """sales_daily built once per runner, on the instance at ``home``, which the CLI will open."""
    home.mkdir()
    landed = lake_root / "landing" / "sales" / "week47.csv"
    landed.parent.mkdir(parents=True)
    landed.write_text("Date\n1/1/2016\n")
    with dg.DagsterInstance.get() as instance:
        for runner in runners:
            defs = build_definitions(REGISTRY, table_resources(lake_root, runner))
            job = defs.resolve_implicit_global_asset_job_def()
            assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("sales_daily")]).success
    return lake_catalog(lake_root)


@pytest.fixture
def two_builds(lake_root, tmp_path, monkeypatch):
    """sales_daily built twice (100 rows, then 10)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return _build(lake_root, tmp_path / "home", [RecordingRunner(row_count=100), RecordingRunner(row_count=10)])


def _count(lake_root) -> int:
    return DuckDBEngine(catalog=lake_catalog(lake_root)).query("select count(*) from sales_daily").rows[0][0]


def test_rollback_restores_the_previous_snapshot_and_readers_follow(two_builds, lake_root, tmp_path, capsys) -> None:
    first, second = [s.version for s in two_builds.snapshots("sales_daily")]
    assert _count(lake_root) == 10
    assert cli.main(["versions", "sales_daily"]) == 0
    listing = capsys.readouterr().out
    assert f"* {second}" in listing and f"  {first}" in listing

    assert cli.main(["rollback", "sales_daily"]) == 0
    out = capsys.readouterr().out
    assert f"snapshot {first} (100 rows, run " in out and f"is current again, was {second}" in out
    assert two_builds.current("sales_daily").version == first
    assert _count(lake_root) == 100

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("sales_daily"))
        assert event.run_id == ""  # recorded by the CLI, outside any run
        metadata = event.asset_materialization.metadata
        assert (metadata["table_version"].value, metadata["rolled_back_from"].value) == (first, second)
        assert metadata["dagster/row_count"].value == 100
        key = dg.AssetCheckKey(dg.AssetKey("sales_daily"), "date_valid")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert record.event.dagster_event.event_specific_data.passed is True
        # The UI shows the restored version's checks on it, however close in time they were recorded.
        with ui_context(instance, RECORDING_DEFS, tmp_path) as context:
            assert set(check_statuses(context, "sales_daily").values()) == {"SUCCEEDED"}

    assert cli.main(["rollback", "sales_daily", "--to", second]) == 0
    assert _count(lake_root) == 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollback", "sales_daily", "--to", "12345"], "table sales_daily has no snapshot 12345; kept: "),
        (["rollback", "crm_daily"], "unknown table 'crm_daily'; tables: "),
        (["rollback", "marketing_daily"], "table marketing_daily has not been published yet"),
    ],
)
def test_rollback_errors_are_one_line(two_builds, capsys, argv, message) -> None:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    if "unknown table" in message:
        assert all(table in err for table in [d.output_table for d in REGISTRY.inputs] + [REGISTRY.joined.name])


def test_rolling_back_to_a_version_with_rejected_rows_keeps_them_visible(
    lake_root, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    noisy = RecordingRunner(row_count=100, rejected_rows=3, warning_checks=["parse_rejects"])
    _build(lake_root, tmp_path / "home", [noisy, RecordingRunner(row_count=10)])
    assert cli.main(["tables"]) == 0
    assert "sales_daily  10 rows  built" in capsys.readouterr().out

    assert cli.main(["rollback", "sales_daily"]) == 0
    (info,) = lake_catalog(lake_root).infos()
    assert (info.row_count, info.rejected_rows) == (100, 3)
    with dg.DagsterInstance.get() as instance:
        metadata = instance.get_latest_materialization_event(dg.AssetKey("sales_daily")).asset_materialization.metadata
        assert metadata["rejected_rows"].value == 3
        key = dg.AssetCheckKey(dg.AssetKey("sales_daily"), "parse_rejects")
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[
            key
        ].event.dagster_event.event_specific_data
    assert (check.passed, check.severity, check.metadata["rejected_rows"].value) == (
        False,
        dg.AssetCheckSeverity.WARN,
        3,
    )


def test_a_snapshot_id_that_is_not_a_number_is_a_usage_error(two_builds, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["rollback", "sales_daily", "--to", "nope"])
    assert exit_info.value.code == 2
    assert "'nope' is not a snapshot id" in capsys.readouterr().err


def test_the_default_rollback_target_follows_commit_order_not_the_clock(two_builds, lake_root, capsys) -> None:
    """Rolled back, then built again: the new snapshot was committed on the restored one, so the
    next default rollback returns there, not to the newer-stamped snapshot rolled away from."""
    first, second = [s.snapshot_id for s in two_builds.snapshots("sales_daily")]
    assert cli.main(["rollback", "sales_daily"]) == 0
    with dg.DagsterInstance.get() as instance:
        defs = build_definitions(REGISTRY, table_resources(lake_root, RecordingRunner(row_count=7)))
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("sales_daily")]).success
    third = two_builds.current("sales_daily")
    assert third.parent_id == first and _count(lake_root) == 7
    assert cli.main(["rollback", "sales_daily"]) == 0
    assert two_builds.current("sales_daily").snapshot_id == first != second
