"""What a new user sees in the UI (``dagster dev`` in a browser), read the way the browser reads it:
through the webserver's GraphQL API, over an instance made by ``ensure_dagster_home`` and the code
location loaded out of process from the project's ``workspace.yaml``, as ``dagster dev`` loads it.

Each query asks for the fields the UI's own queries read to decide what it draws (named below).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceRequestContext
from dagster_graphql.test.utils import define_out_of_process_context
from PIL import Image

from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.insight.report import HEATMAP, WEEKLY, chart_key
from etl_platform.instance import ensure_dagster_home
from etl_platform.project import PROJECT_ROOT
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import lake_catalog, table_resources
from etl_platform_tests.insight.synthetic import publish_joined, random_days
from etl_platform_tests.ui import graphql

REPORT_TABLE = REGISTRY.report.table
WEBHOOK_URL = "https://hooks.example/services/T0/secret-token"

LOCATION = "etl_platform"
REPOSITORY = "__repository__"  # what Dagster names the repository of a Definitions object
DATA_URI_IMAGE = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")
# The overview shows description images at their natural size in its left column, 768 px wide on
# a 1440 px window; wider ones are cut off behind a horizontal scroll bar.
OVERVIEW_COLUMN_PX = 768


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkspaceRequestContext, Path]]:
    """A published report in a lake of its own, and the UI's view of it: the project's instance
    settings in a new ``DAGSTER_HOME``, the code location loaded by a code server of its own."""
    root = tmp_path_factory.mktemp("ui")
    lake_root = root / "lake"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(root / "home"))
        patch.setenv("ETL_LAKE_ROOT", str(lake_root))  # read by the code server the context starts
        patch.delenv("ETL_PLATFORM_ENV", raising=False)
        patch.setenv("ETL_ALERT_WEBHOOK_URL", WEBHOOK_URL)
        home = ensure_dagster_home()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            publish_joined(lake_root, random_days(120))
            build = build_definitions(REGISTRY, table_resources(lake_root, RecordingRunner()))
            result = build.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey(REPORT_TABLE)]
            )
            assert result.success
            with define_out_of_process_context(str(PROJECT_ROOT / "workspace.yaml"), None, instance) as context:
                yield context, lake_root


# The overview page reads the description through AssetViewDefinitionQuery (assetOrError ->
# definition -> description) and renders it as markdown, data-URI images included.
ASSET_DESCRIPTION = """
query ($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) { ... on Asset { definition { description } } }
}
"""


def test_the_report_overview_shows_the_published_charts(ui) -> None:
    context, lake_root = ui
    description = graphql(context, ASSET_DESCRIPTION, {"path": [REPORT_TABLE]})["assetOrError"]["definition"][
        "description"
    ]
    current = lake_catalog(lake_root).current(REPORT_TABLE)
    stored = {name: (lake_root / chart_key(current.build_key, name)).read_bytes() for name in (HEATMAP, WEEKLY)}

    shown = [(title, base64.b64decode(data)) for title, data in DATA_URI_IMAGE.findall(description)]
    # Exactly the PNGs kept with the current snapshot, heatmap first, each under its title.
    assert [png for _, png in shown] == [stored[HEATMAP], stored[WEEKLY]]
    assert [title for title, _ in shown] == [
        "Correlation at the strongest lead",
        "Weekly website_visits vs. forecasted_lead_revenue",
    ]
    assert f"snapshot `{current.version}`" in description  # which build the pictures are of
    assert all(Image.open(io.BytesIO(png)).width <= OVERVIEW_COLUMN_PX for _, png in shown)


# The global lineage (AssetGraphQuery) groups nodes by groupName; the UI collapses groups on a
# first visit only when the graph has more than one.
ASSET_GROUPS = "query { assetNodes { assetKey { path } groupName } }"


def test_the_lineage_page_opens_with_every_asset_shown(ui) -> None:
    context, lake_root = ui
    groups = {tuple(n["assetKey"]["path"]): n["groupName"] for n in graphql(context, ASSET_GROUPS)["assetNodes"]}
    graph = build_definitions(REGISTRY, table_resources(lake_root, RecordingRunner())).resolve_asset_graph()
    assert set(groups) == {tuple(key.path) for key in graph.get_all_asset_keys()}
    assert set(groups.values()) == {"etl_pipeline"}


# The job page (JobMetadataQuery) shows an "Auto-materialize on/off" tag when one of the job's
# assets has an automation condition, reading instance.autoMaterializePaused for it.
JOB_AUTOMATION = """
query ($job: PipelineSelector!, $sensor: SensorSelector!) {
  instance { autoMaterializePaused useAutoMaterializeSensors }
  assetNodes(pipeline: $job) { assetKey { path } automationCondition { __typename } }
  sensorOrError(sensorSelector: $sensor) { ... on Sensor { sensorType sensorState { status } } }
}
"""


def test_the_job_page_says_automation_is_on_while_the_barrier_sensor_runs(ui) -> None:
    context, _ = ui
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    data = graphql(
        context,
        JOB_AUTOMATION,
        {
            "job": {**selector, "pipelineName": "etl_pipeline_job"},
            "sensor": {**selector, "sensorName": "join_barrier_automation_sensor"},
        },
    )
    automated = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"] if n["automationCondition"]}
    assert automated == {REGISTRY.joined.name, REPORT_TABLE}  # so the job page shows the tag
    assert data["sensorOrError"] == {"sensorType": "AUTO_MATERIALIZE", "sensorState": {"status": "RUNNING"}}
    assert data["instance"] == {"autoMaterializePaused": False, "useAutoMaterializeSensors": True}


def test_the_first_visit_pop_up_is_off(ui) -> None:
    context, _ = ui
    # The UI opens its "Join the Dagster community" dialog when shouldShowNux is true; a fresh
    # DAGSTER_HOME has no record of it having been seen, so only the instance setting turns it off.
    assert not (Path(context.instance.root_directory) / ".nux").exists()
    assert graphql(context, "query { shouldShowNux }") == {"shouldShowNux": False}


# The resource page reads configuredValues (ResourceDetailsFragment) to show each field's value.
RESOURCE_VALUES = """
query ($selector: ResourceSelector!) {
  topLevelResourceDetailsOrError(resourceSelector: $selector) {
    ... on ResourceDetails { configuredValues { key value type } }
  }
}
"""


def test_the_alert_webhook_shows_as_its_variable_never_as_its_url(ui) -> None:
    context, _ = ui
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "resourceName": "notifier"}
    details = graphql(context, RESOURCE_VALUES, {"selector": selector})["topLevelResourceDetailsOrError"]
    values = {entry["key"]: entry for entry in details["configuredValues"]}
    assert values["webhook_url"]["type"] == "ENV_VAR" and values["webhook_url"]["value"] == "ETL_ALERT_WEBHOOK_URL"
    assert "secret-token" not in repr(details)
