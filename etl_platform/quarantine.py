"""Quarantine: a landing file that failed parsing or a blocking check, kept aside with its error report.

The landing file itself is never moved, deleted or modified. Its copy goes to
``quarantine/<dataset>/<timestamp>_<name>`` with ``<that>.error.json`` beside it, and a small
index entry keyed by the object's identity (key and fingerprint) lets the sensor and the asset
recognise the very same upload without listing the quarantine. A re-upload with new content has a
new fingerprint, so it is processed again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from etl_platform.datasets import InputDataset
from etl_platform.resources.lake import Lake, LakeObject

ZONE = "quarantine/"


def _index_prefix(dataset: InputDataset) -> str:
    return f"{ZONE}{dataset.name}/_index/"


def _index_key(dataset: InputDataset, obj: LakeObject) -> str:
    identity = hashlib.sha256(f"{obj.key}@{obj.fingerprint}".encode()).hexdigest()[:32]
    return f"{_index_prefix(dataset)}{identity}.json"


def quarantined_keys(lake: Lake, dataset: InputDataset) -> frozenset[str]:
    """The index of refused uploads, listed once: a sensor tick checks many files against it
    without one request per file."""
    return frozenset(obj.key for obj in lake.list_objects(_index_prefix(dataset)))


def is_quarantined(index: frozenset[str], dataset: InputDataset, obj: LakeObject) -> bool:
    return _index_key(dataset, obj) in index


def quarantined_report(lake: Lake, dataset: InputDataset, obj: LakeObject) -> str | None:
    """The report key if exactly this upload (same key and content) is in quarantine."""
    raw = lake.read_bytes(_index_key(dataset, obj))
    return json.loads(raw)["report"] if raw else None


def quarantine_reason(lake: Lake, dataset: InputDataset, obj: LakeObject) -> str:
    """Why a quarantined upload is passed over, as the sensor and a build without a file named say it."""
    return f"quarantined after a failed run (report {quarantined_report(lake, dataset, obj)})"


def _plain(value: Any) -> Any:
    """A check's metadata as plain JSON values (MetadataValue -> its value)."""
    return value.value if isinstance(value, dg.MetadataValue) else value


def check_report(check: dg.AssetCheckResult) -> dict[str, Any]:
    return {
        "check": check.check_name,
        "passed": check.passed,
        "severity": check.severity.value,
        **{key: _plain(value) for key, value in check.metadata.items()},
    }


def quarantine(
    lake: Lake,
    dataset: InputDataset,
    source: LakeObject,
    run_id: str,
    error: str,
    checks: Sequence[dg.AssetCheckResult] = (),
    failed: bool = True,
) -> str:
    """Copy ``source`` into the quarantine with its error report; returns the report's key.

    ``failed=False`` keeps a file whose build was published without some rejected rows: its copy
    and report hold what was left out, and the file is not marked as refused.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    copy_key = f"{ZONE}{dataset.name}/{stamp}_{source.name}"
    report_key = copy_key + ".error.json"
    lake.copy_object(source.key, copy_key)
    report = {
        "dataset": dataset.name,
        "source": lake.uri(source.key),
        "source_key": source.key,
        "source_fingerprint": source.fingerprint,
        "source_size_bytes": source.size,
        "quarantined_copy": lake.uri(copy_key),
        "run_id": run_id,
        "quarantined_at": time.time(),
        "error": error,
        "build_failed": failed,
        "checks": [check_report(c) for c in checks],
    }
    lake.write_bytes(report_key, json.dumps(report, indent=2, default=str).encode())
    if failed:
        lake.write_bytes(_index_key(dataset, source), json.dumps({"report": report_key}).encode())
    return report_key
