"""The join barrier through Dagster's own automation evaluation, with controlled clocks."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from etl_platform.datasets import MARKETING, REGISTRY, SALES, Registry
from etl_platform.definitions import build_definitions
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import table_resources, third_input

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # a cycle start for the default weekly cycle
JOIN = dg.AssetKey(REGISTRY.joined.name)


class Barrier:
    """Drives a real instance through time: inputs update, the automation daemon's logic evaluates."""

    def __init__(self, instance, registry: Registry = REGISTRY):
        self.defs = build_definitions(registry, table_resources("/nonexistent", RecordingRunner()))
        self.instance, self.cursor = instance, None

    def materialize(self, table: str, at: datetime) -> None:
        """A build as a step reports it: the materialisation, then its checks (all passing)."""
        with freeze_time(at):
            self.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=table))
            for spec in self.defs.resolve_assets_def(table).check_specs:
                self.check(table, spec.name, True, at)

    def check(self, table: str, check: str, passed: bool, at: datetime) -> None:
        with freeze_time(at):
            self.instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey(table), check_name=check, passed=passed, severity=dg.AssetCheckSeverity.ERROR
                )
            )

    def join_requests(self, at: datetime) -> int:
        with freeze_time(at):
            result = dg.evaluate_automation_conditions(
                defs=self.defs, instance=self.instance, evaluation_time=at, cursor=self.cursor
            )
        self.cursor = result.cursor
        return result.get_num_requested(JOIN)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_join_waits_for_every_input_and_reruns_on_reprocessing(instance) -> None:
    barrier = Barrier(instance)
    t = MONDAY + timedelta(hours=1)
    assert barrier.join_requests(t) == 0  # the daemon's first tick
    barrier.materialize("sales_daily", t + timedelta(hours=1))
    assert barrier.join_requests(t + timedelta(hours=2)) == 0  # sales only: no join
    barrier.materialize("marketing_daily", t + timedelta(days=1))
    assert barrier.join_requests(t + timedelta(days=1, minutes=1)) == 1  # both: exactly one join
    barrier.materialize(JOIN.path[0], t + timedelta(days=1, minutes=5))
    assert barrier.join_requests(t + timedelta(days=1, minutes=6)) == 0
    barrier.materialize("sales_daily", t + timedelta(days=2))  # sales reprocessed in the same cycle
    assert barrier.join_requests(t + timedelta(days=2, minutes=1)) == 1
    barrier.materialize(JOIN.path[0], t + timedelta(days=2, minutes=5))
    assert barrier.join_requests(t + timedelta(days=2, minutes=6)) == 0
    next_cycle = MONDAY + timedelta(days=7)
    barrier.materialize("sales_daily", next_cycle + timedelta(hours=3))  # next cycle, only sales new
    assert barrier.join_requests(next_cycle + timedelta(hours=4)) == 0
    assert barrier.join_requests(next_cycle + timedelta(days=1)) == 0


def test_failed_blocking_check_on_an_input_holds_the_join(instance) -> None:
    barrier = Barrier(instance)
    t = MONDAY + timedelta(hours=1)
    assert barrier.join_requests(t) == 0
    barrier.materialize("sales_daily", t + timedelta(hours=1))
    barrier.materialize("marketing_daily", t + timedelta(hours=2))
    barrier.check("marketing_daily", "date_valid", False, t + timedelta(hours=2, minutes=1))
    assert barrier.join_requests(t + timedelta(hours=3)) == 0
    assert barrier.join_requests(t + timedelta(hours=4)) == 0
    # Once the input's blocking check passes (e.g. a fixed file was reprocessed), the join goes ahead.
    barrier.check("marketing_daily", "date_valid", True, t + timedelta(hours=5))
    assert barrier.join_requests(t + timedelta(hours=6)) == 1


def test_three_dataset_registry_waits_for_all_three(instance) -> None:
    web = third_input("web")
    barrier = Barrier(instance, Registry(inputs=(SALES, MARKETING, web), joined=REGISTRY.joined))
    t = MONDAY + timedelta(hours=1)
    assert barrier.join_requests(t) == 0
    barrier.materialize("sales_daily", t + timedelta(hours=1))
    barrier.materialize("marketing_daily", t + timedelta(hours=2))
    assert barrier.join_requests(t + timedelta(hours=3)) == 0
    barrier.materialize("web_daily", t + timedelta(hours=4))
    assert barrier.join_requests(t + timedelta(hours=5)) == 1
