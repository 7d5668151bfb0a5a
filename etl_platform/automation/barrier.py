"""The join barrier, as Dagster declarative automation rather than a hand-written polling loop.

The joined table is requested when every input has been processed since the current cycle began,
and again when an input is reprocessed later in that cycle; never while an input is missing, from
an earlier cycle, in progress, or failing a blocking check.
"""

import dagster as dg

from etl_platform.automation.cadence import Cycle

AC = dg.AutomationCondition
# The instance's cursor that the UI's job page reads as "auto-materialize paused" (the switch of
# pre-sensor automation). No public API sets it; Dagster's own setter writes "true"/"false" here.
LEGACY_PAUSE_CURSOR = "ASSET_DAEMON_PAUSED"


def join_barrier(cycle: Cycle) -> dg.AutomationCondition:
    return (
        AC.all_deps_updated_since_cron(cycle.cron, cycle.timezone)
        & (AC.any_deps_updated() | AC.any_deps_updated().since_last_handled())
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("every input processed this cycle")


def automation_sensor(interval_seconds: int) -> dg.AutomationConditionSensorDefinition:
    # Declared RUNNING: the default automation sensor starts stopped on a fresh instance.
    return dg.AutomationConditionSensorDefinition(
        "join_barrier_automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        description=f"Evaluates the join barrier (and any other automation condition) every {interval_seconds} s.",
    )


def clear_legacy_automation_pause(instance: dg.DagsterInstance) -> None:
    """Mark the pre-sensor "auto-materialize paused" switch off on an instance where nobody set it.

    Automation here runs through ``join_barrier_automation_sensor`` (sensor-based automation, the
    instance default), which the switch does not govern. Yet the UI's job page tags a job with
    automated assets "Auto-materialize on/off" from that switch alone, a new instance reads it as
    paused, and with sensors the UI offers no control for it: left alone, the job page says
    automation is off while the sensor runs. The tag cannot follow the sensor itself: stopping the
    sensor (Automation page) stops automation and the tag still reads on. A value someone set
    (through the API) is kept.
    """
    cursors = instance.daemon_cursor_storage
    if LEGACY_PAUSE_CURSOR not in cursors.get_cursor_values({LEGACY_PAUSE_CURSOR}):
        cursors.set_cursor_values({LEGACY_PAUSE_CURSOR: "false"})
