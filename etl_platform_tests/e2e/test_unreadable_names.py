"""A landing file whose name Spark cannot open (a ':' in it): `land` refuses it saying why, and one
that lands anyway (copied into the folder, uploaded straight to S3) is refused by the script on
real Spark as bad input: quarantined with that reason at the first attempt, never retried."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.contract.landing import unreadable_name
from etl_platform.environment import resources_for_environment
from etl_platform.project import SAMPLES_DIR
from etl_platform.samples import SALES_SAMPLE
from etl_platform_tests.e2e.test_no_data_loss import _materialize

pytestmark = pytest.mark.e2e

NAME = "week:1.csv"


def test_a_name_spark_cannot_open_is_refused_by_land_and_quarantined_when_it_lands_anyway(
    lake_root, tmp_path, capsys
) -> None:
    reason = unreadable_name(NAME)
    assert reason and "':'" in reason
    source = SAMPLES_DIR / SALES_SAMPLE
    assert cli.main(["land", "sales", str(source), "--name", NAME]) == 1
    assert capsys.readouterr().err == f"etl-platform: error: not landing {source} as landing/sales/{NAME}: {reason}\n"
    assert not (lake_root / "landing").exists()

    landed = lake_root / "landing" / "sales" / NAME
    landed.parent.mkdir(parents=True)
    shutil.copyfile(source, landed)
    with dg.instance_for_test() as instance:
        result = _materialize(resources_for_environment(), instance, f"landing/sales/{NAME}")
    assert not result.success
    (failure,) = result.get_step_failure_events()  # one attempt: the data's fault is not retried
    assert not [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    message = failure.event_specific_data.user_failure_data.description
    assert message.startswith(f"process_sales_data.py failed: {landed}: {reason} (quarantined: ")
    (report,) = (lake_root / "quarantine" / "sales").glob(f"*_{NAME}.error.json")
    assert json.loads(report.read_text())["error"] == f"process_sales_data.py failed: {landed}: {reason}"
    assert landed.is_file()  # the landing file itself is never touched
