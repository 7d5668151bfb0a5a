"""Which landed file a processed asset builds from: the one the run names, or the newest one that
has not been refused, so one bad upload does not block every build started without a file named."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from etl_platform.datasets import InputDataset
from etl_platform.quarantine import is_quarantined, quarantine_reason, quarantined_keys
from etl_platform.resources import Lake, LakeObject
from etl_platform.resources.lake import LakeError, skip_reason


@dataclass(frozen=True)
class SourceChoice:
    source: LakeObject
    skipped: list[tuple[LakeObject, str]] = field(default_factory=list)  # newer files passed over, and why

    def metadata(self) -> dict[str, dg.MetadataValue]:
        if not self.skipped:
            return {}
        return {
            "source_skipped": dg.MetadataValue.json(
                [{"object": obj.key, "reason": reason} for obj, reason in self.skipped]
            )
        }


def named_landing_object(lake: Lake, dataset: InputDataset, object_key: str) -> LakeObject:
    if not object_key.startswith(dataset.landing_key_prefix):
        raise LakeError(
            f"object {object_key!r} is not under {dataset.name}'s landing prefix {dataset.landing_key_prefix}"
        )
    found = lake.stat(object_key)
    if found is None:
        raise LakeError(f"landing object {lake.uri(object_key)} does not exist")
    return found


def newest_usable_object(lake: Lake, dataset: InputDataset) -> SourceChoice:
    """The newest data file that is not quarantined; the quarantined ones newer than it are named."""
    prefix = dataset.landing_key_prefix
    candidates = sorted(
        (obj for obj in lake.list_objects(prefix) if skip_reason(obj) is None),
        key=lambda obj: (obj.modified, obj.key),
        reverse=True,
    )
    if not candidates:
        raise LakeError(f"no data file under {lake.uri(prefix)}: land one first (etl-platform land ...)")
    index = quarantined_keys(lake, dataset)
    skipped: list[tuple[LakeObject, str]] = []
    for obj in candidates:
        if not is_quarantined(index, dataset, obj):
            return SourceChoice(obj, skipped)
        skipped.append((obj, quarantine_reason(lake, dataset, obj)))
    raise LakeError(
        f"every data file under {lake.uri(prefix)} is quarantined ({', '.join(obj.name for obj, _ in skipped)}): land a corrected file"
    )


def choose_landing_object(lake: Lake, dataset: InputDataset, object_key: str | None) -> SourceChoice:
    if object_key is None:
        return newest_usable_object(lake, dataset)
    return SourceChoice(named_landing_object(lake, dataset, object_key))
