"""The lake: one root (a local folder, or an S3 bucket in the AWS profile) with the same layout."""

from __future__ import annotations

import bisect
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import dagster as dg

from etl_platform.errors import UserError

DATA_SUFFIXES = (".csv",)


class LakeError(UserError):
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
    """Why a landed object is not data to process (marker, temporary, hidden, other format, a
    name the lake refuses). An empty ``.csv`` is processed: it fails with a clear error and is
    quarantined, as a producer's mistake should be."""
    return key_skip_reason(obj.key)


def key_skip_reason(key: str) -> str | None:
    """The rule of ``skip_reason``, from the key alone: ``etl-platform land`` refuses a file before
    storing it by the very rule the arrival sensor skips it by."""
    name = PurePosixPath(key).name
    if name.startswith((".", "_")):
        return "hidden or marker file"
    if name.endswith((".tmp", ".temp", ".part", "~")):
        return "temporary file"
    if not name.lower().endswith(DATA_SUFFIXES):
        return f"unsupported extension (expected {', '.join(DATA_SUFFIXES)})"
    try:
        check_key(key)
    except LakeError as error:
        return str(error)
    return None


# Hadoop reads these in a path as a glob pattern (``sales[1].csv`` would match ``sales1.csv``).
SPARK_PATTERN_CHARACTERS = frozenset("*?[]{}\\")


def check_key(key: str) -> str:
    """Keys are relative POSIX paths inside the lake: no absolute paths, no ``..``, no empty parts,
    no control characters, nothing Spark would read as a pattern."""
    parts = key.split("/")
    if key.startswith("/") or any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        raise LakeError(f"object key {key!r} is not a plain relative path inside the lake")
    odd = sorted({c for c in key if c in SPARK_PATTERN_CHARACTERS or ord(c) < 32 or ord(c) == 127})
    if odd:
        raise LakeError(
            f"object key {key!r} contains {''.join(odd)!r}: rename the file (Spark reads these as patterns)"
        )
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

    @abstractmethod
    def read_bytes(self, key: str) -> bytes | None:
        """The content of a small object (a pointer, a report), or None when there is none."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace a small object in one atomic step: readers see the old or the new."""

    @abstractmethod
    def copy_object(self, source_key: str, target_key: str) -> LakeObject:
        """Copy an object within the lake; the source is left as it is."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (a folder-like key ending in ``/``); returns how many."""


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

    def _replace(self, key: str, write: Callable[[BinaryIO], object]) -> Path:
        """Write beside the target under a hidden temporary name, fsync, rename, fsync the folder:
        a reader meanwhile sees the old content or all of the new, never part of it, even after a
        power loss. Files get mode 0666 less the umask, like an ordinary copy, so other users of
        a shared lake can read them (``tempfile.mkstemp`` would make them 0600)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return target

    def put_file(self, source: Path, key: str) -> LakeObject:
        def copy_from_source(out: BinaryIO) -> None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, out, length=1 << 20)

        return self._object(self._replace(key, copy_from_source))

    def read_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def write_bytes(self, key: str, data: bytes) -> None:
        self._replace(key, lambda out: out.write(data))

    def copy_object(self, source_key: str, target_key: str) -> LakeObject:
        return self.put_file(self._path(source_key), target_key)

    def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(base))
        shutil.rmtree(base)
        return count
