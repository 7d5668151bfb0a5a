"""One arrival sensor per registered dataset: a new or changed landing file starts a run (the newest, if several).

Why not ``get_s3_keys(since_key=...)``: a "since key" cursor misses files whose keys sort before the
last one seen and never notices a re-upload (dagster issue #22892). Instead the sensor walks the
prefix in key order, a bounded page per tick, in passes; a file is new in a pass when it was
modified after the previous pass began, and a small map of recently requested files (pruned as
passes complete) keeps a file from being requested twice. Dagster's run keys (key + fingerprint)
are the second guard: a re-delivered listing never starts a second run, a re-upload does.

When one tick finds several new files of the dataset (files already waiting when the daemon
starts, a batch of uploads), it requests a run for the newest only (by upload time, then key) and
logs the others as superseded: each older file's build could only be replaced by the newer one's,
or be skipped as stale, so it would cost a Spark run and publish nothing. Newest-wins across ticks
and hand-started runs is guaranteed at publish time, by the stale-build rule (``tables.publish``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import dagster as dg

from etl_platform.datasets import InputDataset
from etl_platform.quarantine import is_quarantined, quarantine_reason, quarantined_keys
from etl_platform.resources import Lake, LakeObject
from etl_platform.resources.lake import skip_reason
from etl_platform.settings import get_settings

# Clock skew and mtime granularity allowance when comparing modification times to pass starts.
GRACE_SECONDS = 300.0
SUPERSEDED = "superseded by "  # the skip reason of an older new file when a tick finds several


@dataclass
class ArrivalCursor:
    start_after: str = ""  # key where the current listing pass resumes ("" = a new pass)
    since: float = 0.0  # files modified after this (less the grace) are new in this pass
    pass_started: float = 0.0  # when the current pass began: the next pass's ``since``
    recent: dict[str, list] = field(default_factory=dict)  # key -> [fingerprint, modified] requested

    @classmethod
    def parse(cls, text: str | None) -> ArrivalCursor:
        return cls(**json.loads(text)) if text else cls()

    def serialize(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def arrival_run_request(dataset: InputDataset, obj: LakeObject) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{obj.key}@{obj.fingerprint}",
        asset_selection=[dg.AssetKey(dataset.output_table)],
        run_config={"ops": {dataset.output_table: {"config": {"object_key": obj.key}}}},
        tags={"etl_platform/dataset": dataset.name, "etl_platform/object_key": obj.key},
    )


def evaluate_arrivals(
    dataset: InputDataset, lake: Lake, cursor: ArrivalCursor, now: float, page_size: int
) -> tuple[list[LakeObject], list[tuple[LakeObject, str]], int]:
    """One tick's work: (the newest new data file, if any; (skipped file, reason) pairs, the older new
    files among them as superseded; objects listed); updates ``cursor``, superseded files included."""
    if not cursor.start_after:
        cursor.pass_started = now
    page, more = lake.list_page(dataset.landing_key_prefix, cursor.start_after, page_size)
    arrived: list[LakeObject] = []
    skipped: list[tuple[LakeObject, str]] = []
    quarantined: frozenset[str] | None = None  # listed once, only when a candidate needs it
    for obj in page:
        if obj.modified < cursor.since - GRACE_SECONDS:
            continue
        reason = skip_reason(obj)
        if not reason and cursor.recent.get(obj.key, [None])[0] != obj.fingerprint:
            quarantined = quarantined if quarantined is not None else quarantined_keys(lake, dataset)
            if is_quarantined(quarantined, dataset, obj):
                reason = f"{quarantine_reason(lake, dataset, obj)}; re-upload a corrected file"
        if reason:
            skipped.append((obj, reason))
        elif cursor.recent.get(obj.key, [None])[0] != obj.fingerprint:
            arrived.append(obj)
            cursor.recent[obj.key] = [obj.fingerprint, obj.modified]
    if len(arrived) > 1:  # only the newest would stay published: the older ones are not built
        newest = max(arrived, key=lambda obj: (obj.modified, obj.key))
        skipped += [(obj, f"{SUPERSEDED}{newest.key}") for obj in arrived if obj is not newest]
        arrived = [newest]
    if more:
        cursor.start_after = page[-1].key
    else:
        cursor.start_after = ""
        cursor.since = cursor.pass_started
        horizon = cursor.since - GRACE_SECONDS
        cursor.recent = {key: seen for key, seen in cursor.recent.items() if seen[1] >= horizon}
    return arrived, skipped, len(page)


def arrival_sensor(dataset: InputDataset) -> dg.SensorDefinition:
    settings = get_settings()

    @dg.sensor(
        name=f"{dataset.name}_arrival_sensor",
        target=dg.AssetSelection.assets(dataset.output_table),
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts {dataset.output_table} for the newest new or changed file under {dataset.landing_key_prefix}.",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult | dg.SkipReason:
        cursor = ArrivalCursor.parse(context.cursor)
        arrived, skipped, listed = evaluate_arrivals(dataset, lake, cursor, time.time(), settings.sensor_page_size)
        for obj, reason in skipped:
            context.log.info(f"skipped {obj.key}: {reason}")
        superseded = sum(reason.startswith(SUPERSEDED) for _, reason in skipped)
        context.log.info(
            f"listed {listed} objects under {dataset.landing_key_prefix}; {len(arrived) + superseded} new or changed"
            + (f", {superseded} of them superseded by the newest" if superseded else "")
        )
        if not arrived:
            context.update_cursor(cursor.serialize())
            reasons = "; ".join(f"{obj.name}: {reason}" for obj, reason in skipped)
            return dg.SkipReason(
                f"no new data files under {dataset.landing_key_prefix}" + (f" (skipped {reasons})" if reasons else "")
            )
        return dg.SensorResult(
            run_requests=[arrival_run_request(dataset, obj) for obj in arrived],
            asset_events=[
                dg.AssetObservation(asset_key=dg.AssetKey(dataset.landing_asset_path), metadata=obj.metadata())
                for obj in arrived
            ],
            cursor=cursor.serialize(),
        )

    return _sensor
