"""The join barrier, as Dagster declarative automation rather than a hand-written polling loop.

The joined table is requested when every input has been processed since the current cycle began,
and again when an input is reprocessed later in that cycle; never while an input is missing, from
an earlier cycle, in progress, or failing a blocking check.
"""

import dagster as dg

from etl_platform.automation.cadence import Cycle

AC = dg.AutomationCondition


def join_barrier(cycle: Cycle) -> dg.AutomationCondition:
    return (
        AC.all_deps_updated_since_cron(cycle.cron, cycle.timezone)
        & (AC.any_deps_updated() | AC.any_deps_updated().since_last_handled())
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("every input processed this cycle")


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    # Declared RUNNING: the default automation sensor starts stopped on a fresh instance.
    return dg.AutomationConditionSensorDefinition(
        "join_barrier_automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Evaluates the join barrier (and any other automation condition) every 30 s.",
    )
