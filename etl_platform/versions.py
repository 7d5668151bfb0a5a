"""Write, audit, publish: every build of a table goes to a new version; one pointer says which is current.

The original overwrote its outputs in place, so a failure mid-write left half a dataset. Here a
build writes ``<table>/_versions/<version>/``; only after its blocking checks pass does the table's
pointer (``<table>/_current.json``) move to it, in one atomic write (a fsync'd rename locally, one
PUT on S3, followed by the Glue catalog's table location). Readers resolve the current version
through the pointer, so they see the previous complete version or the new one, never a mix.

Versions live under ``_versions/`` rather than Hive-style ``version=`` folders: Spark, Athena and
crawlers ignore ``_``-prefixed paths, so a reader that opens the table's root by mistake gets an
error instead of every version at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone

from etl_platform.resources.lake import Lake, LakeError
from etl_platform.resources.sql import SqlEngine

POINTER = "_current.json"
LOCK = "_publish.lock"
VERSIONS = "_versions/"
HISTORY_LIMIT = 50


def retention() -> int:
    """How many published versions each table keeps for rollback (``ETL_KEEP_VERSIONS``, default 5)."""
    keep = int(os.environ.get("ETL_KEEP_VERSIONS", "5"))
    if keep < 1:
        raise ValueError(f"ETL_KEEP_VERSIONS must be at least 1, not {keep}")
    return keep


class VersionError(LakeError):
    """A version cannot be published or restored, in words the user can act on."""


@dataclass(frozen=True)
class TableVersion:
    """One published version: where it is, which run built it, and what it holds."""

    version: str
    key: str
    run_id: str
    rows: int
    published_at: float
    rejected_rows: int = 0  # landing rows left out (within the dataset's tolerance): `rows` is not the whole file
    checks_passed: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()  # (name, type): what a catalog needs to re-register it
    rolled_back_from: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> TableVersion:
        return cls(**{
            **data,
            "checks_passed": tuple(data.get("checks_passed", ())),
            "columns": tuple(tuple(c) for c in data.get("columns", ())),
        })  # fmt: skip


@dataclass
class Pointer:
    current: TableVersion
    history: list[TableVersion] = field(default_factory=list)  # oldest first, current last

    def to_bytes(self) -> bytes:
        return json.dumps({"current": asdict(self.current), "history": [asdict(v) for v in self.history]}, indent=2).encode()


def catalog_follows(sql: SqlEngine, lake: Lake, table: str) -> Callable[[TableVersion], None]:
    """What ``publish`` and ``rollback`` run under the lock: the catalog points ``table`` at the
    version just made current."""

    def register(version: TableVersion) -> None:
        sql.register_table(table, lake.uri(version.key), list(version.columns), version.rows, version.run_id, version.rejected_rows)

    return register


def new_version_id(run_id: str, now: float | None = None) -> str:
    """Sorts by build start time (microseconds, UTC) and names the run: ``20261125T093012123456Z-1a2b3c4d``."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{run_id[:8]}"


class TableVersions:
    """The versions of the table at ``location`` (a lake key such as ``processed/sales_daily``)."""

    def __init__(self, lake: Lake, location: str):
        self.lake = lake
        self.location = location.rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.location}/{name}"

    def version_key(self, version: str) -> str:
        return self._key(VERSIONS + version)

    def stage(self, run_id: str) -> str:
        """A new, empty version location for one build to write into."""
        return self.version_key(new_version_id(run_id))

    def pointer(self) -> Pointer | None:
        raw = self.lake.read_bytes(self._key(POINTER))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return Pointer(
                current=TableVersion.from_json(data["current"]),
                history=[TableVersion.from_json(v) for v in data.get("history", [])],
            )
        except (ValueError, KeyError, TypeError) as error:
            raise VersionError(f"{self.lake.uri(self._key(POINTER))} is not a version pointer: {error}") from None

    def current(self) -> TableVersion | None:
        pointer = self.pointer()
        return pointer.current if pointer else None

    def require_current(self) -> TableVersion:
        current = self.current()
        if current is None:
            raise VersionError(f"{self.location} has no published version yet (nothing at {self.lake.uri(self._key(POINTER))})")
        return current

    def staged_versions(self) -> list[str]:
        """Every version folder present, published or not, oldest first."""
        prefix = self._key(VERSIONS)
        names = {obj.key[len(prefix) :].split("/", 1)[0] for obj in self.lake.list_objects(prefix)}
        return sorted(names)

    def kept(self, pointer: Pointer) -> dict[str, TableVersion]:
        """Published versions whose folders are still there (retention removes the others)."""
        present = set(self.staged_versions())
        return {v.version: v for v in pointer.history if v.version in present}

    def _check_complete(self, key: str, rows: int) -> None:
        objects = list(self.lake.list_objects(key + "/"))
        if any("/_temporary/" in obj.key for obj in objects):
            raise VersionError(f"{self.lake.uri(key)} is still being written (a _temporary folder is there)")
        if rows > 0 and not any(obj.key.endswith(".parquet") for obj in objects):
            raise VersionError(f"{self.lake.uri(key)} holds no Parquet file; nothing to publish")

    def publish(
        self,
        key: str,
        run_id: str,
        rows: int,
        checks_passed: tuple[str, ...] = (),
        columns: tuple[tuple[str, str], ...] = (),
        follow: Callable[[TableVersion], None] | None = None,
        rejected_rows: int = 0,
    ) -> TableVersion:
        """Make the complete version at ``key`` current; the previous current stays in the history.

        Publishes of one table are serialised (a file lock locally; a Dagster pool per table across
        runs); if two builds race anyway, the later publish wins and each pointer written is whole.
        ``follow`` (the catalog's update) runs under the same lock, so the catalog cannot end on
        an older version than the pointer when two publishes race.
        """
        if not key.startswith(self._key(VERSIONS)):
            raise VersionError(f"{key} is not a version of {self.location}")
        self._check_complete(key, rows)
        version = TableVersion(
            version=key.rsplit("/", 1)[1], key=key, run_id=run_id, rows=rows, rejected_rows=rejected_rows,
            published_at=time.time(), checks_passed=tuple(checks_passed), columns=tuple(map(tuple, columns)),
        )  # fmt: skip
        with self.lake.lock(self._key(LOCK)):
            self._write(version)
            if follow:
                follow(version)
        return version

    def _write(self, version: TableVersion) -> None:
        pointer = self.pointer()
        history = [*(pointer.history if pointer else []), version][-HISTORY_LIMIT:]
        self.lake.write_bytes(self._key(POINTER), Pointer(current=version, history=history).to_bytes())

    def rollback(self, to: str | None = None, follow: Callable[[TableVersion], None] | None = None) -> TableVersion:
        """Make an earlier published version current again: ``to``, or the one before the current;
        ``follow`` runs under the publish lock, as for ``publish``."""
        with self.lake.lock(self._key(LOCK)):
            pointer = self.pointer()
            if pointer is None:
                raise VersionError(f"{self.location} has no published version to roll back")
            published = self.kept(pointer)
            if to is None:
                earlier = [v for v in published if v < pointer.current.version]
                if not earlier:
                    raise VersionError(f"{self.location} has no earlier version to roll back to (kept: {', '.join(sorted(published)) or 'none'})")
                to = max(earlier)
            if to not in published:
                raise VersionError(f"{self.location} has no published version {to!r}; kept: {', '.join(sorted(published))}")
            if to == pointer.current.version:
                raise VersionError(f"{to} is already the current version of {self.location}")
            target = published[to]
            restored = replace(target, published_at=time.time(), rolled_back_from=pointer.current.version)
            self._write(restored)
            if follow:
                follow(restored)
            return restored

    def prune(self, keep: int) -> list[str]:
        """Delete versions beyond the ``keep`` newest published ones; called after a good publish.

        Unpublished folders (failed audits, killed writes) go too, but only when older than the
        newest publish: a newer one may be a build still writing.
        """
        with self.lake.lock(self._key(LOCK)):
            pointer = self.pointer()
            if pointer is None:
                return []
            published = sorted({v.version for v in pointer.history})
            kept = {pointer.current.version, *published[-keep:]}
            newest = published[-1]
            removed = [v for v in self.staged_versions() if v not in kept and v < newest]
            for version in removed:
                self.lake.delete_prefix(self.version_key(version) + "/")
            return removed
