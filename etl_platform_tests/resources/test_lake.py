"""The local lake: atomic landing, confinement to the root, listing and picking the newest file."""

import os
import stat

import pytest

from etl_platform.resources.lake import LakeError, LakeObject, LocalLake, check_key, skip_reason


def test_put_file_stores_whole_file_and_leaves_no_temporary(tmp_path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"a,b\n1,2\n")
    lake = LocalLake(root=str(tmp_path / "lake"))
    stored = lake.put_file(source, "landing/sales/in.csv")
    assert stored.key == "landing/sales/in.csv" and stored.size == 8
    assert os.listdir(tmp_path / "lake" / "landing" / "sales") == ["in.csv"]
    assert lake.stat("landing/sales/in.csv") == stored
    assert lake.stat("landing/sales/missing.csv") is None


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_stored_files_get_the_permissions_of_an_ordinary_copy(tmp_path, umask) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"a,b\n1,2\n")
    lake = LocalLake(root=str(tmp_path / "lake"))
    previous = os.umask(umask)
    try:
        lake.put_file(source, "landing/sales/in.csv")
        lake.write_bytes("processed/sales_daily/_pointer.json", b"{}")
    finally:
        os.umask(previous)
    for path in (
        tmp_path / "lake" / "landing" / "sales" / "in.csv",
        tmp_path / "lake" / "processed" / "sales_daily" / "_pointer.json",
    ):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("key", ["../outside.csv", "/etc/passwd", "landing/../../x.csv", "landing//x.csv", "a\\b.csv"])
def test_keys_cannot_leave_the_lake(tmp_path, key) -> None:
    lake = LocalLake(root=str(tmp_path))
    with pytest.raises(LakeError, match="not a plain relative path|outside the lake root|contains"):
        lake.uri(key)


def test_check_key_accepts_plain_relative_keys() -> None:
    assert check_key("landing/sales/2016 Q1 (final).csv") == "landing/sales/2016 Q1 (final).csv"


@pytest.mark.parametrize(
    ("name", "size", "reason"),
    [
        ("_SUCCESS", 0, "hidden or marker file"),
        (".hidden.csv", 5, "hidden or marker file"),
        ("upload.csv.tmp", 5, "temporary file"),
        ("report.xlsx", 5, "unsupported extension"),
        ("empty.csv", 0, None),
        ("sales[1].csv", 5, "Spark reads these as patterns"),
        ("DATA.CSV", 5, None),
    ],
)
def test_skip_reason(name, size, reason) -> None:
    found = skip_reason(LakeObject(key=f"landing/sales/{name}", size=size, modified=0))
    assert found == reason if reason is None else reason in found
