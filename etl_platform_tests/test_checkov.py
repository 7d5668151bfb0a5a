"""checkov, a policy scanner beside cfn-lint, on both rendered templates: at most three failed
checks, each an accepted exception with its reason here and beside its resource in the template.

checkov's pins conflict with the project's, so it lives in a virtual environment of its own
(``.venv-tools``, pinned by ``constraints-tools.txt``, made by ``make setup``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from etl_platform.infra_template import (
    build_orchestrator_template,
    build_template,
    render_orchestrator_template,
    render_template,
)
from etl_platform.project import PROJECT_ROOT

CHECKOV = PROJECT_ROOT / ".venv-tools" / "bin" / "checkov"
SETUP = "make setup"
MAX_FAILED = 3
# (check, resource) -> why it is accepted; infra/etl_platform.yaml says the same beside the resource.
ACCEPTED = {
    ("CKV_AWS_18", "AWS::S3::Bucket.LogBucket"): (
        "the log bucket's own access logs would go to itself (each delivery logging a delivery) or to "
        "yet another bucket with the same finding; CloudTrail data events audit reads of the logs"
    ),
}


def _checkov(paths: list[Path]) -> dict[str, Any]:
    """checkov's JSON report on ``paths``: the checks that passed, failed and were skipped."""
    if not CHECKOV.is_file():
        message = f"checkov is not installed in {CHECKOV.parents[1].name}: run `{SETUP}`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--quiet", "--skip-download"]
    for path in paths:
        command += ["--file", str(path)]
    # Exit 1 means "some check failed": the report says which.
    scan = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert scan.returncode in (0, 1), scan.stderr
    report = json.loads(scan.stdout)
    (report,) = report if isinstance(report, list) else [report]
    return report


def test_checkov_finds_at_most_three_failures_each_an_accepted_one(tmp_path: Path) -> None:
    data_plane, orchestrator = tmp_path / "etl_platform.yaml", tmp_path / "orchestrator.yaml"
    data_plane.write_text(render_template())
    orchestrator.write_text(render_orchestrator_template())
    report = _checkov([data_plane, orchestrator])
    summary = report["summary"]
    # Both templates were read whole: a parse error would leave checks unrun, not failed.
    assert summary["parsing_errors"] == 0
    resources = len(build_template()["Resources"]) + len(build_orchestrator_template()["Resources"])
    assert summary["resource_count"] == resources
    results = report["results"]
    # A skip (a `checkov:skip` comment) is no fix: it counts as a failure here.
    failed = sorted(
        (c["check_id"], c["resource"]) for c in [*results.get("failed_checks", []), *results.get("skipped_checks", [])]
    )
    assert len(failed) <= MAX_FAILED, failed
    assert [check for check in failed if check not in ACCEPTED] == []
    assert summary["passed"] >= 100
