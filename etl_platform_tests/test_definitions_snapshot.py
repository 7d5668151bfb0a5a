"""The graph the code location defines, kept in a reviewed file: a change to an asset, a
dependency, a check, an automation condition, a sensor, a schedule or a job fails this test until
the file is updated on purpose (``python -m etl_platform_tests.test_definitions_snapshot``), so the graph never changes by accident."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from etl_platform.definitions import defs
from etl_platform.project import PROJECT_ROOT

SNAPSHOT = PROJECT_ROOT / "etl_platform_tests" / "definitions.snapshot.json"


def condition_tree(condition: dg.AutomationCondition | None) -> Any:
    """An automation condition as its operators and operands, e.g. ``["AndAutomationCondition", [...]]``."""
    if condition is None:
        return None
    name = condition.get_label() or condition.name
    children = [condition_tree(child) for child in condition.children]
    return [name, children] if children else name


def graph_snapshot(definitions: dg.Definitions) -> dict[str, Any]:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for spec in sorted(definitions.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        key = spec.key.to_user_string()
        node = graph.get(spec.key)
        checks = graph.get_check_keys_for_assets({spec.key})
        assets[key] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "materializable": node.is_materializable,
            "kinds": sorted(spec.kinds),
            "owners": list(spec.owners),
            "group": spec.group_name,
            "pool": node.pools and sorted(node.pools) or None,
            "checks": {
                check.name: graph.get_check_spec(check).blocking for check in sorted(checks, key=lambda c: c.name)
            },
            "automation": condition_tree(spec.automation_condition),
            "freshness": spec.freshness_policy is not None,
            "code_version": spec.code_version is not None,
        }
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in definitions.resolve_all_job_defs() if not job.name.startswith("__")),
        "sensors": sorted(sensor.name for sensor in definitions.sensors or ()),
        "schedules": {schedule.name: schedule.cron_schedule for schedule in definitions.schedules or ()},
    }


def test_the_graph_is_the_reviewed_one() -> None:
    assert graph_snapshot(defs) == json.loads(SNAPSHOT.read_text())


if __name__ == "__main__":  # rewrite the reviewed file
    SNAPSHOT.write_text(json.dumps(graph_snapshot(defs), indent=2, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(PROJECT_ROOT)}")
