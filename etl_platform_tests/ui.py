"""What the Dagster UI shows, read the way the browser reads it: through the webserver's GraphQL API
over a real instance and a code location loaded as the webserver loads one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.test.utils import execute_dagster_graphql

# The project's definitions with the Spark runner mocked, over the lake at ETL_LAKE_ROOT.
RECORDING_DEFS = """
import os
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import table_resources
defs = build_definitions(REGISTRY, table_resources(os.environ["ETL_LAKE_ROOT"], RecordingRunner()))
"""


@contextmanager
def ui_context(instance: dg.DagsterInstance, source: str, folder: Path) -> Iterator[WorkspaceRequestContext]:
    """A workspace over ``source``, Python code defining ``defs`` (written to a file of its own so
    each test loads its own definitions)."""
    path = folder / f"ui_defs_{uuid.uuid4().hex}.py"
    path.write_text(source)
    origin = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(python_file=str(path), attribute="defs"),
        location_name="etl_platform",
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as process:
        yield process.create_request_context()


def graphql(context: WorkspaceRequestContext, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    result = execute_dagster_graphql(context, query, variables)
    assert not result.errors, result.errors
    return result.data


ASSET_CHECKS = """
query AssetChecks($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization { status } } }
      }
    }
  }
}
"""


def check_statuses(context: WorkspaceRequestContext, asset: str) -> dict[str, str | None]:
    """Each check of ``asset`` with the status the asset's overview shows (None: not evaluated)."""
    node = graphql(context, ASSET_CHECKS, {"path": [asset]})["assetNodeOrError"]
    return {
        check["name"]: (check["executionForLatestMaterialization"] or {}).get("status")
        for check in node["assetChecksOrError"]["checks"]
    }
