"""Which landed file a processed asset builds from when the run names none."""

import os

import pytest

from etl_platform.assets.sources import newest_usable_object
from etl_platform.datasets import SALES
from etl_platform.quarantine import quarantine
from etl_platform.resources import LocalLake
from etl_platform.resources.lake import LakeError


def _land(root, name: str, mtime: int, body: str = "Date\n1/1/2016\n") -> None:
    path = root / "landing" / "sales" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    os.utime(path, (mtime, mtime))


def _quarantine(lake: LocalLake, name: str) -> None:
    quarantine(lake, SALES, lake.stat(f"landing/sales/{name}"), "run-1", "bad")


def test_the_newest_data_file_is_chosen_and_junk_ignored(tmp_path) -> None:
    for name, mtime in [("old.csv", 100), ("new.csv", 200), ("_SUCCESS", 300), (".x.csv.tmp", 400)]:
        _land(tmp_path, name, mtime)
    choice = newest_usable_object(LocalLake(root=str(tmp_path)), SALES)
    assert choice.source.key == "landing/sales/new.csv" and choice.skipped == []


def test_a_quarantined_newer_upload_is_skipped_and_named(tmp_path) -> None:
    lake = LocalLake(root=str(tmp_path))
    _land(tmp_path, "week1.csv", 100)
    _land(tmp_path, "week2.csv", 200)
    _land(tmp_path, "week3.csv", 300)
    _quarantine(lake, "week3.csv")
    _quarantine(lake, "week2.csv")
    choice = newest_usable_object(lake, SALES)
    assert choice.source.key == "landing/sales/week1.csv"
    assert [obj.key for obj, _ in choice.skipped] == ["landing/sales/week3.csv", "landing/sales/week2.csv"]
    assert all("quarantined after a failed run" in reason for _, reason in choice.skipped)
    assert [entry["object"] for entry in choice.metadata()["source_skipped"].value] == [
        "landing/sales/week3.csv",
        "landing/sales/week2.csv",
    ]


def test_every_file_quarantined_is_said_as_such(tmp_path) -> None:
    lake = LocalLake(root=str(tmp_path))
    _land(tmp_path, "week1.csv", 100)
    _quarantine(lake, "week1.csv")
    with pytest.raises(LakeError, match=r"every data file under .*landing/sales.* is quarantined \(week1.csv\)"):
        newest_usable_object(lake, SALES)


def test_an_empty_prefix_is_named(tmp_path) -> None:
    with pytest.raises(LakeError, match=r"no data file under .*landing/sales: land one first"):
        newest_usable_object(LocalLake(root=str(tmp_path)), SALES)
