"""A run whose Spark script fails produces one alert line naming run, asset, step and error."""

import json

import dagster as dg

from etl_platform.automation.alerts import run_failure_alert_sensor
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.resources import LocalNotifier, LocalSparkRunner
from etl_platform.settings import get_settings
from etl_platform_tests.helpers import table_resources, write_csv


def test_failed_spark_script_raises_one_alert(tmp_path) -> None:
    write_csv(tmp_path / "lake" / "landing" / "sales" / "broken.csv", ["Date", "Revenue"], [["1/2/2016", "5"]])
    alerts_file = tmp_path / "alerts.jsonl"
    runner = LocalSparkRunner(remote=get_settings().spark_remote)  # the test process's server: no JVM of its own
    job = build_definitions(REGISTRY, table_resources(tmp_path / "lake", runner))
    job = job.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("sales_daily")], raise_on_error=False
        )
        assert not result.success
        # Bad data is not retried, even though the step has a retry policy.
        assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
        run = instance.get_run_by_id(result.run_id)
        (failure,) = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure.event_log_entry.dagster_event,
            resources={"notifier": LocalNotifier(alerts_file=str(alerts_file))},
        ).for_run_failure()
        run_failure_alert_sensor(context)

    (line,) = alerts_file.read_text().splitlines()
    alert = json.loads(line)
    assert alert["run_id"] == result.run_id
    assert alert["asset"] == "sales_daily" and alert["step"] == "sales_daily"
    assert alert["error"].startswith("process_sales_data.py failed: ")
    assert "broken.csv: the header lacks expected columns" in alert["error"] and "\n" not in alert["error"]


def test_webhook_failure_does_not_lose_the_alert_nor_log_the_secret_url(tmp_path, caplog) -> None:
    notifier = LocalNotifier(
        alerts_file=str(tmp_path / "a.jsonl"), webhook_url="http://127.0.0.1:9/hook/s3cret", webhook_timeout_seconds=1
    )
    notifier.send({"run_id": "r1", "error": "boom"})
    assert json.loads((tmp_path / "a.jsonl").read_text()) == {"run_id": "r1", "error": "boom"}
    assert "alert webhook failed: " in caplog.text and "s3cret" not in caplog.text
