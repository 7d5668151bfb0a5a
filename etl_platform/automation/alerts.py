"""A failed run raises one alert naming the run, asset, step and the error's first line."""

from __future__ import annotations

import dagster as dg

from etl_platform.resources.notifier import Notifier

_FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "
_ERROR_LIMIT = 500  # characters of an error an alert carries


def first_line(message: str) -> str:
    """The error's first line; when it only introduces a list (ends with ':'), the list too."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()] or [""]
    text = " ".join(lines) if lines[0].endswith(":") else lines[0]
    return text.removeprefix(_FAILURE_PREFIX)[:_ERROR_LIMIT]


def failure_alerts(context: dg.RunFailureSensorContext) -> list[dict[str, str]]:
    """One alert per failed step (step keys are the asset names here), or one for the run itself."""
    run = context.dagster_run
    base = {"run_id": run.run_id, "job": run.job_name}
    alerts = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        step = event.step_key or ""
        alerts.append(
            {**base, "asset": step, "step": step, "error": first_line(error.message if error else "step failed")}
        )
    if alerts:
        return alerts
    assets = ",".join(key.to_user_string() for key in sorted(run.asset_selection or []))
    return [{**base, "asset": assets, "step": "", "error": first_line(context.failure_event.message or "run failed")}]


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends an alert through the notifier for every failed run.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
    for alert in failure_alerts(context):
        context.log.info(f"alerting: {alert}")
        notifier.send(alert)
