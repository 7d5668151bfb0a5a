"""The code location: assets, jobs, sensors and schedules from the registry; resources from the switch."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from etl_platform.assets import build_assets
from etl_platform.assets.insight import correlation_report_asset
from etl_platform.automation.alerts import run_failure_alert_sensor
from etl_platform.automation.arrival import arrival_sensor
from etl_platform.automation.barrier import automation_sensor
from etl_platform.automation.cadence import Cycle
from etl_platform.automation.orphans import orphaned_runs_sensor
from etl_platform.automation.schedule import weekly_schedule
from etl_platform.datasets import Registry, registry_named
from etl_platform.environment import resources_for_environment
from etl_platform.jobs import pipeline_job
from etl_platform.pool_wait import install as install_pool_wait
from etl_platform.settings import get_settings


def build_definitions(registry: Registry | None = None, resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    """The definitions of ``registry`` (by default the one ``ETL_REGISTRY`` names) on ``resources``
    (by default the environment's)."""
    registry = registry or registry_named(get_settings().registry)
    cycle = Cycle.from_env()
    job = pipeline_job(registry)
    resources = dict(resources) if resources is not None else resources_for_environment()
    return dg.Definitions(
        assets=[
            *build_assets(registry, cycle),
            correlation_report_asset(registry, cycle, resources.get("lake"), resources.get("catalog")),
        ],
        jobs=[job],
        sensors=[
            *(arrival_sensor(dataset) for dataset in registry.inputs),
            automation_sensor(get_settings().automation_interval_seconds),
            run_failure_alert_sensor,
            orphaned_runs_sensor,
        ],
        schedules=[weekly_schedule(cycle, job)],
        resources=resources,
        # A sensor's or the barrier's run builds one table (and its report): its steps run in the run
        # worker itself, not a process each, so a run starts sooner and a script never outlives the
        # worker (a dead worker takes its script along). The whole-graph job keeps its own executor.
        executor=dg.in_process_executor,
    )


install_pool_wait()  # in every process that loads the code location and executes its runs in process
defs = build_definitions()
