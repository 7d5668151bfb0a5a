"""The project's Dagster instance (``DAGSTER_HOME``, ``.dagster/`` by default) and its settings.

Run from ``make dev`` and ``make materialize`` (``python -m etl_platform.instance``) and by
``etl-platform demo``, so runs started any of these ways share one instance and one set of limits.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from etl_platform.project import DEFAULT_DAGSTER_HOME

# Each table asset has its own pool (``table_<name>``): a limit of 1 makes a second build of the
# same table wait for the first, so two uploads seconds apart never race to publish.
SETTINGS = {
    "telemetry": {"enabled": False},
    "concurrency": {"pools": {"default_limit": 1}},
}


def ensure_dagster_home() -> Path:
    """Create ``DAGSTER_HOME`` with the project's settings; keys a user already set are kept."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = (yaml.safe_load(config.read_text()) if config.exists() else None) or {}
    merged = {**SETTINGS, **current}
    if merged != current:
        config.write_text(yaml.safe_dump(merged, sort_keys=False))
    return home


if __name__ == "__main__":
    print(f"Dagster instance: {ensure_dagster_home()}")
