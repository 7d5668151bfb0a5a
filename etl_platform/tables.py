"""Write, audit, publish on Apache Iceberg: a build's Parquet files become the table's next snapshot
in one catalog commit, only after its blocking checks pass.

A build (Spark, Glue or the SQL engine) writes its files into a folder of its own under the table's
``data/`` folder. Publishing commits them with PyIceberg as one *overwrite* snapshot: the new
snapshot holds exactly this build's files. The catalog's compare-and-swap is the only commit point:
two builds committing at once cannot both win (Iceberg's optimistic concurrency; the loser re-reads
the table and decides again), readers resolve the current snapshot's file list, and there is no
second place (pointer file, catalog view) to update or reconcile after a crash.

Each snapshot's summary records its build: run, rows, rejected rows, checks passed, and the landing
object it was built from (key, fingerprint, upload time). A build from an object uploaded earlier
than the current snapshot's does not replace it: the newest upload wins whatever order runs finish in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.exceptions import CommitFailedException, ValidationError
from pyiceberg.io import load_file_io
from pyiceberg.table import Table, TableProperties

from etl_platform.resources.catalog import PREFIX, BuildSource, TableCatalog, TableError, TableSnapshot
from etl_platform.resources.lake import Lake, LakeObject
from etl_platform.settings import get_settings

DATA = "data"
# Commit attempts before a publish gives up; each re-reads the table and re-decides (newest wins).
COMMIT_ATTEMPTS = 8
TABLE_PROPERTIES = {
    # Old metadata.json files go as new ones are written (Iceberg's own switch); snapshots are
    # expired separately, by ``expire``.
    TableProperties.METADATA_DELETE_AFTER_COMMIT_ENABLED: "true",
    TableProperties.METADATA_PREVIOUS_VERSIONS_MAX: "20",
    # The platform retries commits itself, re-deciding on the new base (see ``publish``).
    TableProperties.COMMIT_NUM_RETRIES: "0",
    "format-version": "2",
}


def newer_than(current: TableSnapshot | None, source: BuildSource | None) -> TableSnapshot | None:
    """``current`` if it was built from an upload newer than ``source`` (the newest upload wins)."""
    if source and current and current.source and source.is_older_than(current.source):
        return current
    return None


@dataclass(frozen=True)
class Build:
    """What one audited build publishes, recorded in its snapshot's summary."""

    run_id: str
    rows: int
    rejected_rows: int = 0
    checks_passed: tuple[str, ...] = ()
    source: BuildSource | None = None
    inputs: Mapping[str, int] = field(default_factory=dict)  # joined tables: input table -> snapshot id read

    def summary(self, build_key: str) -> dict[str, str]:
        summary = {
            "run-id": self.run_id,
            "rows": str(self.rows),
            "rejected-rows": str(self.rejected_rows),
            "checks-passed": ",".join(self.checks_passed),
            "build": build_key,
        }
        if self.source:
            summary |= {
                "source-key": self.source.key,
                "source-fingerprint": self.source.fingerprint,
                "source-uploaded-at": f"{self.source.uploaded_at:.6f}",
            }
        if self.inputs:
            summary["inputs"] = json.dumps(dict(self.inputs), sort_keys=True)
        return {PREFIX + key: value for key, value in summary.items()}


@dataclass(frozen=True)
class Published:
    """The outcome of ``publish``: the new current snapshot, or the newer one that made this build stale."""

    snapshot: TableSnapshot | None
    attempts: int
    stale_against: TableSnapshot | None = None


def is_data_file(name: str) -> bool:
    """A file a build wrote directly into its folder that is data, not a marker, a checksum or a
    file in a sub-folder (the report's ``_charts/``)."""
    return "/" not in name and not name.startswith(("_", ".")) and not name.endswith(".crc")


def new_build_id(run_id: str) -> str:
    """Sorts by build start time (microseconds, UTC) and names the run: ``20261125T093012123456Z-1a2b3c4d``."""
    stamp = datetime.fromtimestamp(time.time(), UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{run_id[:8]}"


class LakeTables:
    """The lake's published tables: ``location`` is a table's lake key (``processed/sales_daily``);
    its Iceberg metadata lives in ``<location>/metadata/``, its builds' files in ``<location>/data/``."""

    def __init__(self, lake: Lake, catalog: TableCatalog) -> None:
        self.catalog = catalog
        self.lake = lake

    # -- builds -------------------------------------------------------------------------------
    def stage(self, location: str, run_id: str) -> str:
        """A new, empty folder for one build to write into."""
        return f"{location.rstrip('/')}/{DATA}/{new_build_id(run_id)}"

    def staged_files(self, location: str, build_key: str) -> list[str]:
        """The build's data files as URIs, once the build is complete: every file directly in the
        folder but markers and checksums (``_SUCCESS``, ``.part-0.crc``). Spark and DuckDB name
        them ``*.parquet``; Athena's UNLOAD gives them no extension."""
        prefix = f"{location.rstrip('/')}/{DATA}/"
        folder = build_key[len(prefix) :].rstrip("/")
        if not build_key.startswith(prefix) or not folder or "/" in folder:  # one build's folder, not data/ itself
            raise TableError(f"{self.lake.uri(build_key)} is not a build folder of {self.lake.uri(location)}")
        objects = list(self.lake.list_objects(build_key.rstrip("/") + "/"))
        if any("/_temporary/" in obj.key for obj in objects):
            raise TableError(f"{self.lake.uri(build_key)} is still being written (a _temporary folder is there)")
        files = sorted(
            self.lake.uri(obj.key) for obj in objects if is_data_file(obj.key[len(build_key.rstrip("/")) + 1 :])
        )
        if not files:
            raise TableError(f"{self.lake.uri(build_key)} holds no data file; nothing to publish")
        return files

    # -- publishing ---------------------------------------------------------------------------
    def _schema(self, path: str) -> pa.Schema:
        """The Arrow schema of one data file of a build (all of a build's files share it)."""
        with load_file_io(self.catalog.load().properties, path).new_input(path).open() as stream:
            return pq.read_schema(stream)

    def _create(self, name: str, location: str, schema: pa.Schema) -> Table:
        """The table, created with the schema of its first build if it is new."""
        return self.catalog.load().create_table_if_not_exists(
            self.catalog.identifier(name), schema=schema, location=self.lake.uri(location), properties=TABLE_PROPERTIES
        )

    def newer_snapshot(self, name: str, source: BuildSource) -> TableSnapshot | None:
        """The table's current snapshot if it was built from an upload newer than ``source``: a
        build of ``source`` would be stale, so it need not run."""
        return newer_than(self.catalog.current(name), source)

    def publish(self, name: str, location: str, build_key: str, build: Build, allow_older: bool = False) -> Published:
        """Commit the build's files as the table's new current snapshot, unless a newer upload's
        snapshot is current (``allow_older`` publishes it anyway: an explicit rebuild of an old file).

        A commit that meets another (the table moved on since it was read) re-reads the table and
        decides again, so the later of two builds is judged against the earlier's snapshot.
        """
        files = self.staged_files(location, build_key)
        schema = self._schema(files[0])
        table = self.catalog.table(name) or self._create(name, location, schema)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            if attempt > 1:  # the table moved on: decide again on what it is now
                table = table.refresh()
            head = table.current_snapshot()
            current = TableSnapshot.of(head) if head else None
            newer = None if allow_older else newer_than(current, build.source)
            if newer is not None:
                return Published(snapshot=None, stale_against=newer, attempts=attempt)
            try:
                snapshot = self._overwrite(table, files, schema, build.summary(build_key))
            except CommitFailedException:
                time.sleep(min(0.05 * 2**attempt, 2.0))
                continue
            return Published(snapshot=snapshot, attempts=attempt)
        raise TableError(
            f"{name}: {COMMIT_ATTEMPTS} commits in a row met a concurrent change; {self.lake.uri(build_key)} is not published"
        )

    @staticmethod
    def _overwrite(table: Table, files: list[str], schema: pa.Schema, summary: dict[str, str]) -> TableSnapshot:
        # PyIceberg's Arrow I/O is imported when a build is committed, not with the definitions:
        # every process that loads them (code server, each run worker) would spend 0.3 s on it.
        from pyiceberg.io.pyarrow import parquet_file_to_data_file

        with table.transaction() as transaction:
            # The snapshot holds exactly this build, so the table's schema becomes the build's: new
            # columns added (a landing file with extra ones), missing ones dropped; older snapshots
            # keep their own schema for time travel.
            try:
                with transaction.update_schema() as update:
                    update.union_by_name(schema)
                    for column in set(table.schema().column_names) - set(schema.names):
                        update.delete_column(column)
            except (ValidationError, ValueError) as error:
                raise TableError(f"{table.name()[-1]}: the build's columns do not fit the table: {error}") from None
            # Spark's Parquet files carry no Iceberg field ids: readers map columns by name.
            mapping = transaction.table_metadata.schema().name_mapping.model_dump_json()
            if table.properties.get(TableProperties.DEFAULT_NAME_MAPPING) != mapping:
                transaction.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
            with transaction.update_snapshot(snapshot_properties=summary).overwrite() as overwrite:
                for task in table.scan().plan_files():
                    overwrite.delete_data_file(task.file)
                for path in files:
                    overwrite.append_data_file(parquet_file_to_data_file(table.io, transaction.table_metadata, path))
        # The metadata this commit wrote: a refresh could already show another publisher's later commit.
        committed = table.current_snapshot()
        assert committed is not None
        return TableSnapshot.of(committed)

    # -- rollback and maintenance -------------------------------------------------------------
    def rollback(self, name: str, to: int | None = None) -> tuple[TableSnapshot, TableSnapshot]:
        """Make an earlier snapshot current again: ``to``, or the current one's parent (the snapshot
        it was committed on, whatever the clocks say). Returns (restored, replaced)."""
        table = self.catalog.require(name)
        current = table.current_snapshot()
        if current is None:
            raise TableError(f"table {name} has no snapshot to roll back")
        kept = {s.snapshot_id for s in table.snapshots()}
        if to is None:
            to = current.parent_snapshot_id
            if to is None or to not in kept:
                raise TableError(
                    f"table {name} has no earlier snapshot to roll back to (kept: {', '.join(map(str, sorted(kept)))})"
                )
        if to not in kept:
            raise TableError(f"table {name} has no snapshot {to}; kept: {', '.join(map(str, sorted(kept)))}")
        if to == current.snapshot_id:
            raise TableError(f"snapshot {to} is already the current snapshot of {name}")
        table.manage_snapshots().set_current_snapshot(snapshot_id=to).commit()
        restored = table.refresh().snapshot_by_id(to)
        assert restored is not None
        return TableSnapshot.of(restored), TableSnapshot.of(current)

    def expire(self, name: str, keep: int) -> list[int]:
        """Expire snapshots beyond the ``keep`` newest (the current one always stays), with
        PyIceberg's snapshot expiry; returns the expired ids."""
        table = self.catalog.require(name)
        current = table.current_snapshot()
        ordered = sorted(table.snapshots(), key=lambda s: s.sequence_number or 0)
        kept = {s.snapshot_id for s in ordered[-keep:]} | ({current.snapshot_id} if current else set())
        expired = [s.snapshot_id for s in ordered if s.snapshot_id not in kept]
        if expired:
            table.maintenance.expire_snapshots().by_ids(expired).commit()
        return expired

    def remove_orphans(self, name: str, location: str, min_age_seconds: float) -> list[str]:
        """Delete build folders no kept snapshot references, once all their files are older than
        ``min_age_seconds``: the files of refused and failed builds, and of expired snapshots.

        PyIceberg (0.12) expires snapshots but has no orphan-file clean-up; this is Iceberg's
        ``remove_orphan_files`` at build-folder granularity, with the same safety age.
        """
        table = self.catalog.require(name)
        referenced: set[str] = set()
        for snapshot in table.snapshots():
            referenced.update(task.file.file_path for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
        data = f"{location.rstrip('/')}/{DATA}/"
        folders: dict[str, list[LakeObject]] = {}
        for obj in self.lake.list_objects(data):
            folders.setdefault(obj.key[len(data) :].split("/", 1)[0], []).append(obj)
        horizon = time.time() - min_age_seconds
        removed = []
        for folder, objects in sorted(folders.items()):
            if any(self.lake.uri(obj.key) in referenced for obj in objects):
                continue
            if max(obj.modified for obj in objects) > horizon:
                continue
            self.lake.delete_prefix(f"{data}{folder}/")
            removed.append(folder)
        return removed

    def maintain(self, name: str, location: str) -> tuple[list[int], list[str]]:
        """Retention after a good publish: expire old snapshots, then remove orphaned build folders."""
        settings = get_settings()
        return self.expire(name, settings.keep_versions), self.remove_orphans(
            name, location, settings.orphan_min_age_hours * 3600
        )


def describe_snapshots(snapshots: Iterable[TableSnapshot], current: int | None) -> list[str]:
    """One line per snapshot, oldest first, the current one marked: what ``etl-platform versions`` prints."""
    lines = []
    for snapshot in snapshots:
        when = datetime.fromtimestamp(snapshot.committed_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        source = f"  from {snapshot.source.key}" if snapshot.source else ""
        rejected = f" ({snapshot.rejected_rows:,} rejected)" if snapshot.rejected_rows else ""
        mark = "*" if snapshot.snapshot_id == current else " "
        lines.append(
            f"{mark} {snapshot.snapshot_id}  {when}  run {snapshot.run_id[:8]}  {snapshot.rows:,} rows{rejected}{source}"
        )
    return lines
