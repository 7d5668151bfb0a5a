"""The Iceberg catalog every published table is registered in: the commit point of every build.

Locally a PyIceberg SQL catalog (a SQLite file at ``<lake root>/catalog.db`` by default, any
SQLAlchemy URI through ``ETL_ICEBERG_CATALOG_URI``); on AWS the Glue Data Catalog, so Athena reads
the same tables as Iceberg. Both are PyIceberg catalogs: the table code above never knows which.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot as IcebergSnapshot

from etl_platform.resources.lake import LakeError, LakeObject

NAMESPACE = "etl_platform"
PREFIX = "etl."  # snapshot summary properties the platform writes


class TableError(LakeError):
    """A table cannot be published, read or restored, in words the user can act on."""


@dataclass(frozen=True)
class BuildSource:
    """The landing object a build read: what decides whether its snapshot may replace another."""

    key: str
    fingerprint: str
    uploaded_at: float

    @classmethod
    def of(cls, obj: LakeObject) -> BuildSource:
        return cls(key=obj.key, fingerprint=obj.fingerprint, uploaded_at=obj.modified)

    def is_older_than(self, other: BuildSource) -> bool:
        return self.uploaded_at < other.uploaded_at and (self.key, self.fingerprint) != (other.key, other.fingerprint)

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.uploaded_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.key} (uploaded {when})"


@dataclass(frozen=True)
class TableSnapshot:
    """One Iceberg snapshot of a table as the platform reads it back."""

    snapshot_id: int
    parent_id: int | None
    sequence_number: int
    committed_at: float
    run_id: str
    rows: int
    rejected_rows: int
    checks_passed: tuple[str, ...]
    build_key: str
    source: BuildSource | None
    inputs: Mapping[str, int]

    @property
    def version(self) -> str:
        """The snapshot id as text: what Dagster metadata and the CLI call the table's version."""
        return str(self.snapshot_id)

    @classmethod
    def of(cls, snapshot: IcebergSnapshot) -> TableSnapshot:
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        etl = {key[len(PREFIX) :]: value for key, value in summary.items() if key.startswith(PREFIX)}
        source = None
        if "source-key" in etl:
            source = BuildSource(
                etl["source-key"], etl.get("source-fingerprint", ""), float(etl.get("source-uploaded-at", "0"))
            )
        return cls(
            snapshot_id=snapshot.snapshot_id,
            parent_id=snapshot.parent_snapshot_id,
            sequence_number=snapshot.sequence_number or 0,
            committed_at=snapshot.timestamp_ms / 1000,
            run_id=etl.get("run-id", ""),
            rows=int(etl.get("rows") or summary.get("total-records", "0")),
            rejected_rows=int(etl.get("rejected-rows", 0)),
            checks_passed=tuple(name for name in etl.get("checks-passed", "").split(",") if name),
            build_key=etl.get("build", ""),
            source=source,
            inputs={name: int(snapshot_id) for name, snapshot_id in json.loads(etl.get("inputs", "{}")).items()},
        )


@dataclass(frozen=True)
class TableInfo:
    name: str
    location: str
    row_count: int
    built_at: float
    run_id: str
    columns: list[tuple[str, str]]
    rejected_rows: int  # landing rows the current snapshot left out (InputDataset.max_reject_share)
    snapshot_id: int | None
    build_key: str  # the current snapshot's build folder


def parse_time(text: str) -> datetime:
    """An ISO time for time travel; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TableError(
            f"--as-of {text!r} is neither a snapshot id nor an ISO time such as 2026-11-30T09:00:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pinned_snapshot(table: Table, as_of: str | None) -> IcebergSnapshot | None:
    """The table's current snapshot, the one with id ``as_of``, or the one current at the ISO time ``as_of``."""
    if as_of is None:
        return table.current_snapshot()
    if as_of.isdigit():
        return table.snapshot_by_id(int(as_of))
    return table.snapshot_as_of_timestamp(int(parse_time(as_of).timestamp() * 1000))


def snapshot_files(table: Table, snapshot_id: int | None) -> list[str]:
    """The data files a snapshot (the current one for None) lists."""
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    return sorted(task.file.file_path for task in scan.plan_files())


class TableCatalog(dg.ConfigurableResource, ABC):
    """Where tables' current snapshots are recorded; ``namespace`` holds every table of the lake."""

    namespace: str = NAMESPACE
    _connected: Catalog | None = PrivateAttr(default=None)

    @abstractmethod
    def connect(self) -> Catalog:
        """A new connection to the PyIceberg catalog."""

    def load(self) -> Catalog:
        """The PyIceberg catalog, connected once per resource instance (a SQL engine and its
        connection pool, or a Glue client, are not rebuilt for every read)."""
        if self._connected is None:
            self._connected = self.connect()
        return self._connected

    def identifier(self, table: str) -> tuple[str, str]:
        return (self.namespace, table)

    def describe(self) -> str:
        """Where the catalog is, for messages and docs (an independent PyIceberg client opens it there)."""
        return type(self).__name__

    def table(self, name: str) -> Table | None:
        try:
            return self.load().load_table(self.identifier(name))
        except NoSuchTableError:
            return None

    def require(self, name: str) -> Table:
        table = self.table(name)
        if table is None:
            raise TableError(f"table {name} has not been published yet (not in the {self.describe()})")
        return table

    def current(self, name: str) -> TableSnapshot | None:
        table = self.table(name)
        snapshot = table.current_snapshot() if table is not None else None
        return TableSnapshot.of(snapshot) if snapshot else None

    def snapshots(self, name: str) -> list[TableSnapshot]:
        """Every kept snapshot, in commit order."""
        table = self.table(name)
        if table is None:
            return []
        return sorted((TableSnapshot.of(s) for s in table.snapshots()), key=lambda s: s.sequence_number)

    def tables(self) -> dict[str, Table]:
        """Every table of the namespace, loaded once (readers then resolve snapshots on these)."""
        return {name: self.require(name) for name in self.names()}

    @staticmethod
    def pinned(tables: Mapping[str, Table], as_of: str | None) -> dict[str, IcebergSnapshot | None]:
        """The snapshot each table is read at for ``as_of``: current without it; a snapshot id pins
        the table it belongs to (the others stay current); an ISO time pins every table to the
        snapshot current then (None where the table did not exist yet)."""
        if as_of is not None and as_of.isdigit():
            if not any(table.snapshot_by_id(int(as_of)) for table in tables.values()):
                raise TableError(
                    f"no table has a snapshot {as_of}; etl-platform versions TABLE lists a table's snapshots"
                )
            return {
                name: table.snapshot_by_id(int(as_of)) or table.current_snapshot() for name, table in tables.items()
            }
        return {name: pinned_snapshot(table, as_of) for name, table in tables.items()}

    def data_files(self, name: str, snapshot_id: int | None = None) -> list[str]:
        """The data files the snapshot lists: what a reader of that snapshot reads."""
        return snapshot_files(self.require(name), snapshot_id)

    def names(self) -> list[str]:
        catalog = self.load()
        return sorted(identifier[-1] for identifier in catalog.list_tables(self.namespace))

    def infos(self) -> list[TableInfo]:
        """Every published table with its columns and current snapshot: what ``etl-platform tables`` lists."""
        infos = []
        for name in self.names():
            table = self.require(name)
            snapshot = table.current_snapshot()
            current = TableSnapshot.of(snapshot) if snapshot else None
            infos.append(
                TableInfo(
                    name=name,
                    location=table.location(),
                    row_count=current.rows if current else 0,
                    built_at=current.committed_at if current else 0.0,
                    run_id=current.run_id if current else "",
                    columns=[(f.name, str(f.field_type)) for f in table.schema().fields],
                    rejected_rows=current.rejected_rows if current else 0,
                    snapshot_id=current.snapshot_id if current else None,
                    build_key=current.build_key if current else "",
                )
            )
        return infos


class SqlTableCatalog(TableCatalog):
    """PyIceberg's SQL catalog: commits are one conditional UPDATE of the table's metadata pointer."""

    uri: str
    warehouse: str

    def connect(self) -> Catalog:
        from pyiceberg.catalog.sql import SqlCatalog

        if self.uri.startswith("sqlite:///"):  # SQLite creates the file, not its folder
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        catalog = SqlCatalog("etl_platform", uri=self.uri, warehouse=self.warehouse)
        catalog.create_namespace_if_not_exists(self.namespace)
        return catalog

    def describe(self) -> str:
        return f"SQL catalog {self.uri}"


class GlueTableCatalog(TableCatalog):
    """The AWS Glue Data Catalog: commits are a Glue ``UpdateTable`` guarded by the table's
    ``VersionId`` (optimistic locking), and Athena queries the tables as Iceberg."""

    region_name: str
    endpoint_url: str | None = None  # a moto server or another S3/Glue endpoint; None: AWS's own

    def connect(self) -> Catalog:
        from pyiceberg.catalog.glue import GlueCatalog

        properties: dict[str, Any] = {"glue.region": self.region_name, "s3.region": self.region_name}
        if self.endpoint_url:
            properties.update({"glue.endpoint": self.endpoint_url, "s3.endpoint": self.endpoint_url})
        return GlueCatalog("etl_platform", **properties)

    def describe(self) -> str:
        return f"Glue Data Catalog database {self.namespace} ({self.region_name})"
