"""Arrival sensors on a real landing folder and a real Dagster instance."""

import os
import time

import dagster as dg
import pytest

from etl_platform.automation.arrival import ArrivalCursor, arrival_sensor
from etl_platform.datasets import MARKETING, SALES
from etl_platform.quarantine import quarantine
from etl_platform.resources import LocalLake


class CountingLake(LocalLake):
    """A LocalLake that remembers how many objects each page returned."""

    def list_page(self, prefix, start_after, limit):
        page, more = super().list_page(prefix, start_after, limit)
        PAGES.append((limit, len(page)))
        return page, more


PAGES: list[tuple[int, int]] = []


def _keys(requests) -> list[str]:
    return [r.run_config["ops"]["sales_daily"]["config"]["object_key"] for r in requests]


def _land(root, dataset, name: str, body: str = "Date\n1/1/2016\n", mtime: float | None = None):
    path = root / "landing" / dataset.landing_prefix / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class Ticker:
    """Runs one sensor tick after another, carrying the cursor like the daemon does."""

    def __init__(self, instance, lake, dataset=SALES):
        self.sensor = arrival_sensor(dataset)
        self.instance, self.lake, self.cursor = instance, lake, None

    def tick(self):
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources={"lake": self.lake})
        result = self.sensor(context)
        self.cursor = result.cursor if isinstance(result, dg.SensorResult) else context.cursor
        return result

    def requests(self):
        result = self.tick()
        return result.run_requests if isinstance(result, dg.SensorResult) else []


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_new_file_requests_one_run_for_that_dataset_and_object(tmp_path, instance) -> None:
    landed = _land(tmp_path, SALES, "week47.csv")
    _land(tmp_path, MARKETING, "other.csv")
    result = Ticker(instance, LocalLake(root=str(tmp_path))).tick()
    (request,) = result.run_requests
    assert request.asset_selection == [dg.AssetKey("sales_daily")]
    assert request.run_config == {"ops": {"sales_daily": {"config": {"object_key": "landing/sales/week47.csv"}}}}
    stat = landed.stat()
    assert request.run_key == f"landing/sales/week47.csv@{stat.st_size}-{stat.st_mtime:.6f}"
    assert request.tags["etl_platform/dataset"] == "sales"
    (observation,) = result.asset_events
    assert observation.asset_key == dg.AssetKey(["landing", "sales"])
    assert observation.metadata["source_object"].value == "landing/sales/week47.csv"


def test_same_listing_again_requests_nothing(tmp_path, instance) -> None:
    _land(tmp_path, SALES, "week47.csv")
    ticker = Ticker(instance, LocalLake(root=str(tmp_path)))
    assert len(ticker.requests()) == 1
    again = ticker.tick()
    assert isinstance(again, dg.SkipReason) and "no new data files under landing/sales/" in again.skip_message
    assert ticker.requests() == []


def test_reupload_with_new_content_requests_again_with_a_new_run_key(tmp_path, instance) -> None:
    path = _land(tmp_path, SALES, "week47.csv", mtime=time.time() - 60)
    ticker = Ticker(instance, LocalLake(root=str(tmp_path)))
    (first,) = ticker.requests()
    path.write_text("Date\n1/1/2016\n1/2/2016\n")
    (second,) = ticker.requests()
    assert second.run_config == first.run_config and second.run_key != first.run_key
    assert ticker.requests() == []


def test_junk_files_are_skipped_with_reasons(tmp_path, instance) -> None:
    for name, body in [("_SUCCESS", ""), (".week47.csv.tmp", "x"), ("notes.txt", "x"), ("week[47].csv", "x")]:
        _land(tmp_path, SALES, name, body)
    result = Ticker(instance, LocalLake(root=str(tmp_path))).tick()
    assert isinstance(result, dg.SkipReason)
    for expected in (
        "_SUCCESS: hidden or marker file",
        ".week47.csv.tmp: hidden or marker file",
        "notes.txt: unsupported extension",
        "week[47].csv: object key",
        "Spark reads these as patterns",
    ):
        assert expected in result.skip_message


def test_an_empty_csv_is_requested_so_that_it_fails_and_is_quarantined(tmp_path, instance) -> None:
    _land(tmp_path, SALES, "empty.csv", "")
    (request,) = Ticker(instance, LocalLake(root=str(tmp_path))).requests()
    assert request.run_config["ops"]["sales_daily"]["config"]["object_key"] == "landing/sales/empty.csv"


def test_file_landing_behind_the_listing_position_is_caught_next_pass(tmp_path, instance, monkeypatch) -> None:
    """Out-of-order keys: a "since key" cursor would miss a.csv landing after z*.csv were listed."""
    monkeypatch.setenv("ETL_SENSOR_PAGE_SIZE", "2")
    now = time.time()
    for age, name in ((30, "m1.csv"), (20, "m2.csv"), (10, "z1.csv")):
        _land(tmp_path, SALES, name, mtime=now - age)
    ticker = Ticker(instance, LocalLake(root=str(tmp_path)))
    assert _keys(ticker.requests()) == ["landing/sales/m2.csv"]  # the page m1, m2: the newer; the pass goes on at z1
    _land(tmp_path, SALES, "a.csv")
    assert _keys(ticker.requests()) == ["landing/sales/z1.csv"]
    assert _keys(ticker.requests()) == ["landing/sales/a.csv"]
    assert ticker.requests() == [] and ticker.requests() == []


def test_deleted_files_do_not_disturb_the_cursor(tmp_path, instance) -> None:
    gone = _land(tmp_path, SALES, "gone.csv")
    ticker = Ticker(instance, LocalLake(root=str(tmp_path)))
    assert len(ticker.requests()) == 1
    gone.unlink()
    assert ticker.requests() == []
    _land(tmp_path, SALES, "next.csv")
    assert len(ticker.requests()) == 1


def test_one_tick_is_bounded_with_thousands_of_objects(tmp_path, instance, monkeypatch) -> None:
    monkeypatch.setenv("ETL_SENSOR_PAGE_SIZE", "1000")
    folder = tmp_path / "landing" / "sales"
    folder.mkdir(parents=True)
    for i in range(5000):
        (folder / f"part-{i:05d}.csv").write_text("Date\n1/1/2016\n")
    PAGES.clear()
    ticker = Ticker(instance, CountingLake(root=str(tmp_path)))
    requested: list[str] = []
    for _ in range(5):
        requested += _keys(ticker.requests())  # one page a tick: its newest file, the rest superseded
    assert PAGES == [(1000, 1000)] * 5
    # Written in key order, so each page's newest is its last key (or, within one mtime tick, the greatest).
    assert requested == [f"landing/sales/part-{i:05d}.csv" for i in range(999, 5000, 1000)]
    assert ticker.requests() == []  # the next pass finds nothing new: superseded files are remembered too
    assert len(ArrivalCursor.parse(ticker.cursor).recent) <= 5000


def test_a_quarantined_upload_is_not_requested_again_until_re_uploaded(tmp_path, instance) -> None:
    path = _land(tmp_path, SALES, "week47.csv", mtime=time.time() - 60)
    lake = LocalLake(root=str(tmp_path))
    report = quarantine(lake, SALES, lake.stat("landing/sales/week47.csv"), "run-1", "bad header")
    result = Ticker(instance, lake).tick()  # a fresh cursor, as after a sensor reset
    assert isinstance(result, dg.SkipReason)
    assert f"week47.csv: quarantined after a failed run (report {report})" in result.skip_message
    path.write_text("Date\n1/1/2016\n1/2/2016\n")  # corrected content: a new fingerprint
    (request,) = Ticker(instance, lake).requests()
    assert request.run_config["ops"]["sales_daily"]["config"]["object_key"] == "landing/sales/week47.csv"


def test_several_new_files_in_one_tick_request_only_the_newest_upload(tmp_path, instance, capfd) -> None:
    """Demo samples waiting in the landing zone, then the user's own file: the user's is built, not
    whichever of them happens to finish last. Upload time decides, not key order."""
    now = time.time()
    _land(tmp_path, SALES, "zz_demo.csv", mtime=now - 3600)
    _land(tmp_path, SALES, "mine.csv", mtime=now - 60)
    _land(tmp_path, SALES, "aa_demo.csv", mtime=now - 7200)
    result = Ticker(instance, LocalLake(root=str(tmp_path))).tick()
    log = capfd.readouterr().err
    (request,) = result.run_requests
    assert _keys([request]) == ["landing/sales/mine.csv"]
    mine = (tmp_path / "landing/sales/mine.csv").stat()
    assert request.run_key == f"landing/sales/mine.csv@{mine.st_size}-{mine.st_mtime:.6f}"
    (observation,) = result.asset_events  # the landing zone's latest state is the newest file
    assert observation.metadata["source_object"].value == "landing/sales/mine.csv"
    assert "skipped landing/sales/aa_demo.csv: superseded by landing/sales/mine.csv" in log
    assert "skipped landing/sales/zz_demo.csv: superseded by landing/sales/mine.csv" in log
    assert "3 new or changed, 2 of them superseded by the newest" in log


def test_equal_upload_times_fall_back_to_the_greatest_key(tmp_path, instance) -> None:
    same = time.time() - 60
    for name in ("b.csv", "c.csv", "a.csv"):
        _land(tmp_path, SALES, name, mtime=same)
    assert _keys(Ticker(instance, LocalLake(root=str(tmp_path))).requests()) == ["landing/sales/c.csv"]


def test_superseded_files_are_not_requested_later_but_a_reupload_of_one_is(tmp_path, instance) -> None:
    now = time.time()
    old = _land(tmp_path, SALES, "old.csv", mtime=now - 120)
    _land(tmp_path, SALES, "new.csv", mtime=now - 60)
    ticker = Ticker(instance, LocalLake(root=str(tmp_path)))
    assert _keys(ticker.requests()) == ["landing/sales/new.csv"]
    assert ticker.requests() == [] and ticker.requests() == []  # old.csv stays superseded, pass after pass
    old.write_text("Date\n1/1/2016\n1/2/2016\n")  # re-uploaded: now the newest upload
    assert _keys(ticker.requests()) == ["landing/sales/old.csv"]


def test_a_newer_file_in_a_later_tick_is_requested_after_the_older_one(tmp_path, instance) -> None:
    """Newest-only is per tick: across ticks each arrival is requested; publishing keeps the newest."""
    now = time.time()
    _land(tmp_path, SALES, "first.csv", mtime=now - 120)
    ticker = Ticker(instance, LocalLake(root=str(tmp_path)))
    assert _keys(ticker.requests()) == ["landing/sales/first.csv"]
    _land(tmp_path, SALES, "second.csv", mtime=now - 60)
    assert _keys(ticker.requests()) == ["landing/sales/second.csv"]


def test_a_quarantined_or_junk_newer_file_does_not_supersede_a_usable_one(tmp_path, instance, capfd) -> None:
    now = time.time()
    _land(tmp_path, SALES, "usable.csv", mtime=now - 300)
    _land(tmp_path, SALES, "broken.csv", mtime=now - 120)
    _land(tmp_path, SALES, "_SUCCESS", "", mtime=now - 60)
    lake = LocalLake(root=str(tmp_path))
    quarantine(lake, SALES, lake.stat("landing/sales/broken.csv"), "run-1", "bad header")
    assert _keys(Ticker(instance, lake).requests()) == ["landing/sales/usable.csv"]
    log = capfd.readouterr().err
    assert "skipped landing/sales/broken.csv: quarantined" in log and "superseded" not in log


def test_each_dataset_keeps_its_own_newest(tmp_path, instance) -> None:
    now = time.time()
    _land(tmp_path, SALES, "sales_old.csv", mtime=now - 120)
    _land(tmp_path, SALES, "sales_new.csv", mtime=now - 60)
    _land(tmp_path, MARKETING, "marketing_newest.csv", mtime=now - 10)  # newer, but another dataset
    lake = LocalLake(root=str(tmp_path))
    assert _keys(Ticker(instance, lake).requests()) == ["landing/sales/sales_new.csv"]
    (request,) = Ticker(instance, lake, dataset=MARKETING).requests()
    assert (
        request.run_config["ops"]["marketing_daily"]["config"]["object_key"] == "landing/marketing/marketing_newest.csv"
    )
