"""The pre-sensor "auto-materialize paused" switch, which the job page's automation tag reads."""

import dagster as dg
from dagster._daemon.asset_daemon import get_auto_materialize_paused, set_auto_materialize_paused

from etl_platform.automation.barrier import clear_legacy_automation_pause


def test_a_new_instance_is_cleared_and_a_value_someone_set_is_kept() -> None:
    with dg.instance_for_test() as instance:
        assert get_auto_materialize_paused(instance)  # how a new instance reads it
        clear_legacy_automation_pause(instance)
        assert not get_auto_materialize_paused(instance)
    with dg.instance_for_test() as instance:
        set_auto_materialize_paused(instance, True)
        clear_legacy_automation_pause(instance)
        assert get_auto_materialize_paused(instance)
