"""Make moto's Glue ``UpdateTable`` honour ``VersionId``, as AWS Glue does.

Iceberg tables in the Glue Data Catalog commit by optimistic locking: PyIceberg's ``GlueCatalog``
reads the Glue table (and its ``VersionId``), writes the new metadata file, then calls
``UpdateTable(..., VersionId=<the version it read>)``. Real Glue applies the update only if that is
still the table's current version and otherwise answers ``ConcurrentModificationException``, which
PyIceberg turns into ``CommitFailedException`` (the publisher then re-reads the table and decides
again). moto (5.x) ignores ``VersionId``: every ``UpdateTable`` wins, so two concurrent commits
would both "succeed" and one snapshot would silently be lost. That is a gap in the emulator, not
behaviour to test the platform against.

``glue_update_table_honours_version_id()`` patches moto's Glue responder, in the process where the
moto server runs (a ``ThreadedMotoServer`` serves every client, subprocesses included, from its
threads), so that the version check and the update happen atomically under one lock, and a stale
``VersionId`` is refused with the error real Glue returns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.core.exceptions import JsonRESTError
from moto.glue.responses import GlueResponse


class ConcurrentModificationException(JsonRESTError):
    """Glue's answer to an ``UpdateTable`` whose ``VersionId`` is no longer the table's version."""

    code = 400

    def __init__(self, message: str):
        super().__init__("ConcurrentModificationException", message)


_UPDATE_LOCK = threading.Lock()  # the server handles requests on several threads


@contextmanager
def glue_update_table_honours_version_id() -> Iterator[None]:
    """While open, moto's ``UpdateTable`` compares ``VersionId`` with the table's current version
    and applies the update only if they match, atomically (as a compare-and-swap)."""
    original = GlueResponse.update_table

    def update_table(self: GlueResponse) -> Any:
        parameters = self.parameters
        version_id = parameters.get("VersionId")
        with _UPDATE_LOCK:
            if version_id is not None:
                database, name = parameters.get("DatabaseName"), parameters["TableInput"]["Name"]
                current = self.glue_backend.get_table(database, name).as_dict()["VersionId"]
                if str(version_id) != str(current):
                    raise ConcurrentModificationException(
                        f"Update table failed due to concurrent modifications: table {database}.{name} is at "
                        f"version {current}, not {version_id}"
                    )
            return original(self)

    with mock.patch.object(GlueResponse, "update_table", update_table):
        yield
