"""The lake: one root (a local folder, or an S3 bucket in the AWS profile) with the same layout."""

from __future__ import annotations

import bisect
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import dagster as dg

DATA_SUFFIXES = (".csv",)


class LakeError(Exception):
    """A lake operation that cannot be done, in words the user can act on."""


@dataclass(frozen=True)
class LakeObject:
    """Identity of one stored object: enough to say exactly which file a table was built from."""

    key: str
    size: int
    modified: float
    etag: str | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def fingerprint(self) -> str:
        """What changes when the content is replaced: the ETag (S3) or size and mtime (local)."""
        return self.etag or f"{self.size}-{self.modified:.6f}"

    def metadata(self) -> dict[str, dg.MetadataValue]:
        metadata: dict[str, dg.MetadataValue] = {
            "source_object": dg.MetadataValue.text(self.key),
            "source_size_bytes": dg.MetadataValue.int(self.size),
            "source_modified": dg.MetadataValue.timestamp(self.modified),
        }
        if self.etag:
            metadata["source_etag"] = dg.MetadataValue.text(self.etag)
        return metadata


def skip_reason(obj: LakeObject) -> str | None:
    """Why a landed object is not data to process (marker, temporary, hidden, empty, other format)."""
    name = obj.name
    if name.startswith((".", "_")):
        return "hidden or marker file"
    if name.endswith((".tmp", ".temp", ".part", "~")):
        return "temporary file"
    if not name.lower().endswith(DATA_SUFFIXES):
        return f"unsupported extension (expected {', '.join(DATA_SUFFIXES)})"
    if obj.size == 0:
        return "empty file"
    return None


def check_key(key: str) -> str:
    """Keys are relative POSIX paths inside the lake: no absolute paths, no ``..``, no empty parts."""
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        raise LakeError(f"object key {key!r} is not a plain relative path inside the lake")
    return key


class Lake(dg.ConfigurableResource, ABC):
    """Storage for landing files and tables, addressed by keys relative to the lake root."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where Spark and the SQL engine find ``key`` (a path locally, ``s3://`` on AWS)."""

    @abstractmethod
    def list_objects(self, prefix: str) -> Iterator[LakeObject]:
        """Every object under ``prefix``, recursively."""

    @abstractmethod
    def list_page(self, prefix: str, start_after: str, limit: int) -> tuple[list[LakeObject], bool]:
        """Up to ``limit`` objects under ``prefix`` with keys after ``start_after``, in key order,
        and whether more follow: bounded work however many objects the prefix holds."""

    @abstractmethod
    def stat(self, key: str) -> LakeObject | None:
        """The object at ``key``, or None."""

    @abstractmethod
    def put_file(self, source: Path, key: str) -> LakeObject:
        """Store a local file at ``key``; readers see all of it or none of it."""

    def has_data(self, prefix: str) -> bool:
        """Whether a table location holds data files (Parquet), not just markers."""
        return any(obj.key.endswith(".parquet") for obj in self.list_objects(prefix))

    def newest_data_object(self, prefix: str) -> LakeObject:
        """The most recently modified data file under ``prefix``; ties go to the larger key."""
        candidates = [obj for obj in self.list_objects(prefix) if skip_reason(obj) is None]
        if not candidates:
            raise LakeError(f"no data file under {self.uri(prefix)}: land one first (etl-platform land ...)")
        return max(candidates, key=lambda obj: (obj.modified, obj.key))


class LocalLake(Lake):
    """The lake as a folder on disk (``.lake/`` in the project by default)."""

    root: str

    def _path(self, key: str) -> Path:
        root = Path(self.root).resolve()
        path = (root / check_key(key)).resolve()
        if path != root and root not in path.parents:
            raise LakeError(f"object key {key!r} points outside the lake root {root}")
        return path

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def _object(self, path: Path) -> LakeObject:
        info = path.stat()
        key = path.relative_to(Path(self.root).resolve()).as_posix()
        return LakeObject(key=key, size=info.st_size, modified=info.st_mtime)

    def list_objects(self, prefix: str) -> Iterator[LakeObject]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else Path(self.root).resolve()
        if not base.is_dir():
            return
        for directory, _, files in os.walk(base):
            for name in sorted(files):
                yield self._object(Path(directory) / name)

    def list_page(self, prefix: str, start_after: str, limit: int) -> tuple[list[LakeObject], bool]:
        # Names are cheap to list; only the page's objects are stat'ed, like one S3 ListObjectsV2 call.
        base = self._path(prefix.rstrip("/"))
        root = Path(self.root).resolve()
        if not base.is_dir():
            return [], False
        keys = sorted(
            (Path(directory) / name).relative_to(root).as_posix()
            for directory, _, files in os.walk(base)
            for name in files
        )
        start = bisect.bisect_right(keys, start_after)
        page = [self._object(root / key) for key in keys[start : start + limit] if (root / key).is_file()]
        return page, start + limit < len(keys)

    def stat(self, key: str) -> LakeObject | None:
        path = self._path(key)
        return self._object(path) if path.is_file() else None

    def put_file(self, source: Path, key: str) -> LakeObject:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy beside the target under a hidden temporary name, then rename: a sensor listing the
        # folder meanwhile sees nothing or the whole file, never a half-copied one.
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, length=1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return self._object(target)
