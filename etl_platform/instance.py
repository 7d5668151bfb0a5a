"""The project's Dagster instance (``DAGSTER_HOME``, ``.dagster/`` by default) and its settings.

Run by ``make setup``, ``make dev`` and ``make materialize`` (``python -m etl_platform.instance``)
and by every ``etl-platform`` command, so runs started any of these ways share one instance and
one set of limits. Bare ``dagster`` commands find it through the project's ``.env``.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import yaml

from etl_platform.automation.barrier import clear_legacy_automation_pause
from etl_platform.project import PROJECT_ROOT
from etl_platform.settings import export_dagster_home, project_environment

# Each table asset has its own pool (``table_<name>``): a limit of 1 makes a second build of the
# same table wait for the first, so two uploads seconds apart never race to publish.
SETTINGS = {
    "telemetry": {"enabled": False},
    "nux": {"enabled": False},  # the UI's first-visit pop-up covers the asset graph
    "concurrency": {"pools": {"default_limit": 1}},
}


def ensure_dagster_home() -> Path:
    """Create ``DAGSTER_HOME`` (the project's ``.dagster/`` unless set) with the project's
    settings; keys a user already set are kept."""
    home = export_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = (yaml.safe_load(config.read_text()) if config.exists() else None) or {}
    merged = {**SETTINGS, **current}
    if merged != current:
        config.write_text(yaml.safe_dump(merged, sort_keys=False))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        clear_legacy_automation_pause(instance)
    return home


_DAGSTER_HOME_LINE = re.compile(r"^\s*(export\s+)?DAGSTER_HOME\s*=")


def ensure_dotenv(home: Path, folder: Path = PROJECT_ROOT) -> Path:
    """Name ``home`` in ``folder/.env`` unless a ``DAGSTER_HOME`` is set there already.

    Dagster's commands (``dagster dev``, ``dagster asset materialize``, the webserver, the daemon)
    load ``.env`` from the working folder before choosing an instance; without ``DAGSTER_HOME``
    they run in a throwaway one whose runs never show in the UI.
    """
    dotenv = folder / ".env"
    lines = dotenv.read_text().splitlines() if dotenv.exists() else []
    if not any(_DAGSTER_HOME_LINE.match(line) for line in lines):
        dotenv.write_text("\n".join([*lines, f"DAGSTER_HOME={home.resolve()}"]) + "\n")
    return dotenv


if __name__ == "__main__":
    with project_environment():
        home = ensure_dagster_home()
        print(f"Dagster instance: {home} (named in {ensure_dotenv(home)})")
