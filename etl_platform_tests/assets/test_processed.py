"""Processed assets with the Spark runner mocked: which file, which arguments, what metadata."""

import datetime as dt
import json
import os
import re

import dagster as dg
import pyarrow as pa
import pytest

from etl_platform.assets.processed import processed_asset
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import REGISTRY, SALES
from etl_platform.definitions import build_definitions
from etl_platform.resources.catalog import BuildSource
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import current_files, lake_catalog, publish_parquet, table_resources
from etl_platform_tests.ui import RECORDING_DEFS, check_statuses, ui_context


def _land(root, name: str, mtime: int, body: str = "Date\n1/1/2016\n"):
    path = root / "landing" / "sales" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    os.utime(path, (mtime, mtime))
    return path


def _materialize(root, table: str, run_config=None, runner=None, instance=None):
    """The one processed asset, alone, on the test's resources."""
    (dataset,) = [d for d in REGISTRY.inputs if d.output_table == table]
    return dg.materialize(
        [processed_asset(dataset, Cycle.from_env())],
        resources=table_resources(root, runner or RecordingRunner()),
        run_config=run_config or {},
        instance=instance,
        raise_on_error=False,
    )


def test_without_config_the_newest_data_file_is_processed(tmp_path, script_calls) -> None:
    _land(tmp_path, "week1.csv", 100)
    newest = _land(tmp_path, "week2.csv", 200)
    _land(tmp_path, "_SUCCESS", 300, body="")
    result = _materialize(tmp_path, "sales_daily", runner=RecordingRunner(record=script_calls))
    assert result.success
    ((script, args),) = script_calls.calls
    assert script == "process_sales_data.py"
    assert args["input_path"] == str(newest)
    # Written to a new build folder, which the run then committed as the table's snapshot.
    current = lake_catalog(tmp_path).current("sales_daily")
    assert args["output_path"] == str(tmp_path / current.build_key)
    assert current.build_key.startswith("processed/sales_daily/data/") and current.run_id == result.run_id
    assert all(f.startswith(args["output_path"] + "/") for f in current_files(tmp_path, "sales_daily"))
    assert (current.source.key, current.source.uploaded_at) == ("landing/sales/week2.csv", 200)
    (materialization,) = result.asset_materializations_for_node("sales_daily")
    assert materialization.metadata["table_version"].value == current.version
    assert json.loads(args["columns"]) == [list(c) for c in SALES.columns]
    assert (args["date_format"], args["date_column"]) == ("M/d/yyyy", "Date")


def test_metadata_names_the_source_object_and_keeps_reported_figures(tmp_path) -> None:
    landed = _land(tmp_path, "week1.csv", 1_700_000_000)
    result = _materialize(tmp_path, "sales_daily")
    (materialization,) = result.asset_materializations_for_node("sales_daily")
    metadata = materialization.metadata
    assert metadata["source_object"].value == "landing/sales/week1.csv"
    assert metadata["source_size_bytes"].value == landed.stat().st_size
    assert metadata["source_modified"].value == 1_700_000_000
    assert metadata["dagster/row_count"].value == 42


def test_run_config_picks_the_object(tmp_path, script_calls) -> None:
    chosen = _land(tmp_path, "week1.csv", 100)
    _land(tmp_path, "week2.csv", 200)
    config = {"ops": {"sales_daily": {"config": {"object_key": "landing/sales/week1.csv"}}}}
    assert _materialize(tmp_path, "sales_daily", config, RecordingRunner(record=script_calls)).success
    assert script_calls.calls[0][1]["input_path"] == str(chosen)


@pytest.mark.parametrize(
    ("object_key", "message"),
    [
        ("landing/marketing/m.csv", "is not under sales's landing prefix landing/sales/"),
        ("landing/sales/gone.csv", "gone.csv does not exist"),
        ("landing/sales/../../../etc/passwd", "not a plain relative path"),
        ("/etc/passwd", "is not under sales's landing prefix"),
        ("landing/sales/week[1].csv", "Spark reads these as patterns"),
        (None, "no data file under .*landing/sales: land one first"),
    ],
)
def test_clear_failures_when_there_is_nothing_to_process(tmp_path, script_calls, object_key, message) -> None:
    config = {"ops": {"sales_daily": {"config": {"object_key": object_key}}}} if object_key else None
    result = _materialize(tmp_path, "sales_daily", config, RecordingRunner(record=script_calls))
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.event_specific_data.error.message.strip() != ""
    assert re.search(message, failure.event_specific_data.error.message)
    assert script_calls.calls == []


def test_column_lineage_points_at_the_raw_landing_columns(tmp_path) -> None:
    _land(tmp_path, "week1.csv", 100)
    (materialization,) = _materialize(tmp_path, "sales_daily").asset_materializations_for_node("sales_daily")
    lineage = materialization.metadata["dagster/column_lineage"].value.deps_by_column
    assert {(d.asset_key, d.column_name) for d in lineage["forecasted_lead_revenue"]} == {
        (dg.AssetKey(["landing", "sales"]), "Date"),
        (dg.AssetKey(["landing", "sales"]), "Forecasted Monthly Revenue"),
        (dg.AssetKey(["landing", "sales"]), "Opportunity Stage"),
    }
    assert set(lineage) == {
        "date",
        "opportunities",
        "forecasted_monthly_revenue",
        "weighted_revenue",
        "leads_generated",
        "forecasted_lead_revenue",
    }


def _quarantine_files(root) -> list[str]:
    folder = root / "quarantine" / "sales"
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def test_bad_data_quarantines_the_file_and_is_not_retried(tmp_path, script_calls) -> None:
    landed = _land(tmp_path, "week1.csv", 100)
    before = landed.read_bytes()
    runner = RecordingRunner(
        record=script_calls, error="landing/sales/week1.csv: the header lacks expected columns ['Date']"
    )
    result = _materialize(tmp_path, "sales_daily", runner=runner)
    assert not result.success and len(script_calls.calls) == 1  # not retried
    (failure,) = result.get_step_failure_events()
    assert "lacks expected columns ['Date']" in failure.event_specific_data.error.message
    assert "quarantined: " in failure.event_specific_data.error.message
    copy, report_name = _quarantine_files(tmp_path)
    assert copy.endswith("_week1.csv") and report_name == copy + ".error.json"
    assert (tmp_path / "quarantine" / "sales" / copy).read_bytes() == before
    report = json.loads((tmp_path / "quarantine" / "sales" / report_name).read_text())
    assert report["run_id"] == result.run_id and "lacks expected columns" in report["error"]
    assert report["source_key"] == "landing/sales/week1.csv"
    assert landed.read_bytes() == before  # the landing file is never touched
    assert lake_catalog(tmp_path).current("sales_daily") is None

    # The same upload named again: refused at once, naming the quarantine report; Spark is not started.
    again = _materialize(
        tmp_path,
        "sales_daily",
        {"ops": {"sales_daily": {"config": {"object_key": "landing/sales/week1.csv"}}}},
        RecordingRunner(record=script_calls),
    )
    (failure,) = again.get_step_failure_events()
    assert (
        "is quarantined" in failure.event_specific_data.error.message
        and report_name in failure.event_specific_data.error.message
    )
    # Started without a file named, it says every file is quarantined rather than retrying one.
    unnamed = _materialize(tmp_path, "sales_daily", runner=RecordingRunner(record=script_calls))
    (failure,) = unnamed.get_step_failure_events()
    assert (
        "every data file under" in failure.event_specific_data.error.message
        and "week1.csv" in failure.event_specific_data.error.message
    )
    assert len(script_calls.calls) == 1
    # A corrected re-upload has new content, so it is processed.
    _land(tmp_path, "week1.csv", 200, body="Date\n1/1/2016\n1/2/2016\n")
    assert _materialize(tmp_path, "sales_daily").success


def test_the_runs_failure_event_opens_with_the_refused_files_one_line_reason(tmp_path) -> None:
    _land(tmp_path, "week1.csv", 100)
    runner = RecordingRunner(error="landing/sales/week1.csv: the header lacks expected columns ['Date']")
    with dg.instance_for_test() as instance:
        result = _materialize(tmp_path, "sales_daily", runner=runner, instance=instance)
        (run_failure,) = [
            entry.dagster_event
            for entry in instance.all_logs(result.run_id)
            if entry.dagster_event and entry.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
    (step_failure,) = result.get_step_failure_events()
    first_line = run_failure.event_specific_data.error.message.splitlines()[0]
    assert first_line.endswith(step_failure.event_specific_data.user_failure_data.description)
    assert "week1.csv: the header lacks expected columns ['Date']" in first_line and "quarantined: " in first_line


def test_transient_failure_does_not_quarantine(tmp_path, monkeypatch) -> None:
    _land(tmp_path, "week1.csv", 100)
    result = _materialize(tmp_path, "sales_daily", runner=RecordingRunner(error="executor lost", retryable=True))
    assert not result.success
    assert _quarantine_files(tmp_path) == []


def test_failed_blocking_check_quarantines_with_the_check_report(tmp_path) -> None:
    _land(tmp_path, "week1.csv", 100)
    result = _materialize(tmp_path, "sales_daily", runner=RecordingRunner(failing_checks=["date_valid"]))
    assert not result.success
    (report_name,) = [n for n in _quarantine_files(tmp_path) if n.endswith(".error.json")]
    report = json.loads((tmp_path / "quarantine" / "sales" / report_name).read_text())
    assert [c["check"] for c in report["checks"]] == ["date_valid"] and report["build_failed"] is True
    assert report["checks"][0]["severity"] == "ERROR" and report["run_id"] == result.run_id
    assert lake_catalog(tmp_path).current("sales_daily") is None  # never published


def test_rejected_rows_of_a_published_build_are_kept_in_quarantine(tmp_path) -> None:
    """Rows rejected within a dataset's tolerance: parse_rejects warns, the build is published and
    says how many rows it left out (snapshot, catalog), and they are kept in the quarantine."""
    _land(tmp_path, "week1.csv", 100)
    result = _materialize(
        tmp_path, "sales_daily", runner=RecordingRunner(rejected_rows=3, warning_checks=["parse_rejects"])
    )
    assert result.success
    (report_name,) = [n for n in _quarantine_files(tmp_path) if n.endswith(".error.json")]
    report = json.loads((tmp_path / "quarantine" / "sales" / report_name).read_text())
    assert report["build_failed"] is False and report["error"] == "3 rejected row(s) left out of the published table"
    assert [(c["check"], c["passed"], c["severity"]) for c in report["checks"]] == [("parse_rejects", False, "WARN")]
    current = lake_catalog(tmp_path).current("sales_daily")
    assert (current.run_id, current.rows, current.rejected_rows) == (result.run_id, 42, 3)
    (info,) = lake_catalog(tmp_path).infos()
    assert (info.name, info.row_count, info.rejected_rows) == ("sales_daily", 42, 3)
    assert _materialize(tmp_path, "sales_daily").success  # not refused: the build itself was good


def _named(key: str) -> dict:
    return {"ops": {"sales_daily": {"config": {"object_key": key}}}}


def test_a_build_without_a_file_named_skips_a_quarantined_upload_and_says_so(tmp_path, script_calls) -> None:
    good = _land(tmp_path, "week1.csv", 100)
    _land(tmp_path, "week2.csv", 200)
    bad = RecordingRunner(error="landing/sales/week2.csv: the file is empty (0 bytes)")
    with dg.instance_for_test() as instance:
        assert not _materialize(tmp_path, "sales_daily", _named("landing/sales/week2.csv"), bad, instance).success
        # As the UI's Materialize or the schedule start it:
        result = _materialize(tmp_path, "sales_daily", runner=RecordingRunner(record=script_calls), instance=instance)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert script_calls.calls[-1][1]["input_path"] == str(good)
    (materialization,) = result.asset_materializations_for_node("sales_daily")
    assert materialization.metadata["source_object"].value == "landing/sales/week1.csv"
    (skipped,) = materialization.metadata["source_skipped"].value
    assert skipped["object"] == "landing/sales/week2.csv" and "quarantined after a failed run" in skipped["reason"]
    assert any(line.startswith("skipped landing/sales/week2.csv: quarantined after a failed run") for line in logs)


def test_a_refused_file_fails_with_its_cause_and_leaves_the_published_checks_standing(lake_root) -> None:
    _land(lake_root, "week1.csv", 100)
    _land(lake_root, "week2.csv", 200)
    reason = (
        "landing/sales/week2.csv: line 1 is one column containing ';': the file seems delimited by ';'; expected ','"
    )
    with dg.instance_for_test() as instance:
        assert _materialize(lake_root, "sales_daily", _named("landing/sales/week1.csv"), instance=instance).success
        refused = _materialize(
            lake_root,
            "sales_daily",
            _named("landing/sales/week2.csv"),
            RecordingRunner(error=reason, error_line=1),
            instance,
        )
        with ui_context(instance, RECORDING_DEFS, lake_root.parent) as context:
            statuses = check_statuses(context, "sales_daily")
    (failure,) = refused.get_step_failure_events()
    data = failure.event_specific_data.user_failure_data  # a dg.Failure: the UI shows its text and metadata
    assert data.description.startswith(f"process_sales_data.py failed: {reason} (quarantined: ")
    assert data.metadata["line"].value == 1 and data.metadata["file"].value.endswith("landing/sales/week2.csv")
    assert data.metadata["quarantine_report"].value.endswith("_week2.csv.error.json")
    assert (lake_root / "landing" / "sales" / "week2.csv").is_file()
    # The published table (week1's build) is intact, and its checks say so; none shows as failed.
    assert set(statuses) == {
        spec.name
        for spec in build_definitions(REGISTRY, table_resources(lake_root, RecordingRunner()))
        .resolve_assets_def("sales_daily")
        .check_specs
    }
    assert set(statuses.values()) == {"SUCCEEDED"}, statuses


def test_a_build_of_an_older_upload_is_skipped_as_stale_and_the_newer_data_stays(tmp_path) -> None:
    _land(tmp_path, "week1.csv", 100)
    _land(tmp_path, "week2.csv", 200)
    with dg.instance_for_test() as instance:
        assert _materialize(tmp_path, "sales_daily", _named("landing/sales/week2.csv"), instance=instance).success
        newer = lake_catalog(tmp_path).current("sales_daily")
        stale = _materialize(
            tmp_path, "sales_daily", _named("landing/sales/week1.csv"), RecordingRunner(row_count=7), instance
        )
        run = instance.get_run_by_id(stale.run_id)
        logs = [entry.user_message for entry in instance.all_logs(stale.run_id)]
    assert stale.success  # not a failure: nothing is wrong with the file, it is only older
    assert stale.asset_materializations_for_node("sales_daily") == []
    assert (
        lake_catalog(tmp_path).current("sales_daily") == newer
        and len(lake_catalog(tmp_path).snapshots("sales_daily")) == 1
    )
    assert run.tags["etl_platform/stale_build"] == "landing/sales/week1.csv"
    (message,) = [line for line in logs if "skipped as stale" in line]
    assert (
        "landing/sales/week1.csv (uploaded 1970-01-01 00:01:40 UTC)" in message and "landing/sales/week2.csv" in message
    )
    observations = [
        e.event_specific_data.asset_observation
        for e in stale.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]
    assert [o.metadata["skipped_object"].value for o in observations] == ["landing/sales/week1.csv"]
    assert (tmp_path / "landing" / "sales" / "week1.csv").is_file() and _quarantine_files(tmp_path) == []


class NewerBuildMeanwhile(RecordingRunner):
    """Builds as usual, while a build of a newer upload is published to the same table (two builds
    of one table at once, which the table's pool allows only if its limit is raised)."""

    lake_root: str

    def run_script(self, context, script, arguments, capacity=None):
        newer = BuildSource(key="landing/sales/week3.csv", fingerprint="newer", uploaded_at=300.0)
        dates = pa.table({"date": [dt.date(2016, 1, 1)]})
        publish_parquet(self.lake_root, "sales_daily", "processed/sales_daily", dates, "run-newer", source=newer)
        return super().run_script(context, script, arguments, capacity)


def test_a_build_overtaken_by_a_newer_upload_publishes_nothing_and_fails_for_good(tmp_path) -> None:
    _land(tmp_path, "week2.csv", 200)
    with dg.instance_for_test() as instance:
        result = _materialize(
            tmp_path,
            "sales_daily",
            _named("landing/sales/week2.csv"),
            NewerBuildMeanwhile(lake_root=str(tmp_path)),
            instance,
        )
        run = instance.get_run_by_id(result.run_id)
    (failure,) = result.get_step_failure_events()
    data = failure.event_specific_data.user_failure_data
    assert data.description.startswith("sales_daily: not published: landing/sales/week2.csv (")
    assert "the newer data stays published" in data.description
    assert failure.event_specific_data.error.cls_name == "Failure" and len(result.get_step_failure_events()) == 1
    assert lake_catalog(tmp_path).current("sales_daily").source.key == "landing/sales/week3.csv"
    assert run.tags["etl_platform/stale_build"] == "landing/sales/week2.csv"


def test_allow_older_rebuilds_an_older_upload_on_purpose(tmp_path) -> None:
    _land(tmp_path, "week1.csv", 100)
    _land(tmp_path, "week2.csv", 200)
    assert _materialize(tmp_path, "sales_daily", _named("landing/sales/week2.csv")).success
    config = {"ops": {"sales_daily": {"config": {"object_key": "landing/sales/week1.csv", "allow_older": True}}}}
    result = _materialize(tmp_path, "sales_daily", config, RecordingRunner(row_count=7))
    assert result.success and len(result.asset_materializations_for_node("sales_daily")) == 1
    current = lake_catalog(tmp_path).current("sales_daily")
    assert (current.source.key, current.rows) == ("landing/sales/week1.csv", 7)
