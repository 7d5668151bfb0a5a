"""The project's Dagster instances and their settings, from one source.

Three instance configurations share the same rules (one build per table at a time, dead runs
detected, their pool slots freed and their runs retried, telemetry off):

- the development instance (``DAGSTER_HOME``, ``.dagster/`` by default) of ``make dev``,
  ``make materialize`` and every ``etl-platform`` command, on SQLite;
- the production instance, ``deploy/dagster.yaml``: PostgreSQL, the queued run coordinator with
  a limit on runs at once, local compute logs; ``make serve`` runs it here;
- the AWS instance, ``deploy/dagster.aws.yaml``: the same, with runs as ECS tasks and compute logs
  in S3 (the image's ``$DAGSTER_HOME/dagster.yaml``).

The two instance files in ``deploy/`` are written by ``python -m etl_platform.instance --write-deploy`` and
a test keeps them equal to this module. Secrets are never in them: every connection detail is an
``{env: ...}`` reference, set by ``make serve`` or from Secrets Manager on AWS.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from etl_platform.automation.barrier import clear_legacy_automation_pause
from etl_platform.errors import UserError
from etl_platform.orphans import reap_and_say
from etl_platform.project import PROJECT_ROOT
from etl_platform.settings import export_dagster_home, project_environment

DEPLOY_DIR = PROJECT_ROOT / "deploy"
# Where Dagster keeps an instance's SQLite runs, event logs and schedules, and its compute logs.
STORAGE_FOLDERS = ("history", "schedules", "storage")
# Each table asset has its own pool (``table_<name>``): a limit of 1 makes a second build of the
# same table wait for the first, so two uploads seconds apart never race to publish. A user's
# instance file may add to these settings but not change this one.
TABLE_POOL_LIMIT = ("concurrency", "pools", "default_limit")
FREE_SLOTS_AFTER_RUN_END_SECONDS = 15

DEQUEUE_INTERVAL_SECONDS = 1
SETTINGS: dict[str, Any] = {
    "telemetry": {"enabled": False},
    "nux": {"enabled": False},  # the UI's first-visit pop-up covers the asset graph
    "concurrency": {"pools": {"default_limit": 1}},
    # A run whose worker died (kill -9, lost machine) is marked failed by its code server; the
    # monitoring daemon then frees the pool slots it held, which otherwise stay taken for good.
    "run_monitoring": {
        "enabled": True,
        "poll_interval_seconds": 5,
        "start_timeout_seconds": 180,
        "cancel_timeout_seconds": 180,
        "free_slots_after_run_end_seconds": FREE_SLOTS_AFTER_RUN_END_SECONDS,
    },
    # Only runs whose worker crashed are retried whole; a step's own failure has its retry policy.
    "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
    # A requested run waits for the daemon's next look at the queue: every second instead of
    # Dagster's 5, as the arrival sensors and the barrier each add such a wait before it.
    "run_queue": {"dequeue_interval_seconds": DEQUEUE_INTERVAL_SECONDS},
}


def _env(name: str) -> dict[str, str]:
    return {"env": name}


POSTGRES = {
    "postgres_db": {
        "hostname": _env("DAGSTER_POSTGRES_HOSTNAME"),
        "port": _env("DAGSTER_POSTGRES_PORT"),
        "username": _env("DAGSTER_POSTGRES_USER"),
        "password": _env("DAGSTER_POSTGRES_PASSWORD"),
        "db_name": _env("DAGSTER_POSTGRES_DB"),
        # dagster-postgres installs psycopg2; SQLAlchemy 2.1's plain `postgresql` means psycopg 3.
        "scheme": "postgresql+psycopg2",
    }
}
PRODUCTION_SETTINGS: dict[str, Any] = {
    **{key: value for key, value in SETTINGS.items() if key != "run_queue"},  # Dagster takes one or the other
    "storage": {"postgres": POSTGRES},
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {"dequeue_interval_seconds": DEQUEUE_INTERVAL_SECONDS},
    },
    # Compute logs stay Dagster's default here: local files under $DAGSTER_HOME/storage.
    "concurrency": {**SETTINGS["concurrency"], "runs": {"max_concurrent_runs": 4}},
}
AWS_SETTINGS: dict[str, Any] = {
    **PRODUCTION_SETTINGS,
    # Each run is an ECS task of its own task definition (infra/orchestrator.yaml): runs hold the
    # data-plane permissions, the daemon that launches them does not. No secrets lookup per launch:
    # a run's secrets are in its task definition.
    "run_launcher": {
        "module": "dagster_aws.ecs",
        "class": "EcsRunLauncher",
        "config": {
            "task_definition": _env("DAGSTER_RUN_TASK_DEFINITION"),
            "container_name": "run",
            "include_sidecars": False,
            "secrets_tag": None,
        },
    },
    "compute_logs": {
        "module": "dagster_aws.s3.compute_log_manager",
        "class": "S3ComputeLogManager",
        "config": {
            "bucket": _env("DAGSTER_COMPUTE_LOG_BUCKET"),
            "prefix": "compute-logs",
            "upload_interval": 30,  # a running step's logs show within half a minute
        },
    },
}
DEPLOY_FILES = {"dagster.yaml": PRODUCTION_SETTINGS, "dagster.aws.yaml": AWS_SETTINGS}


class InstanceConfigError(UserError, ValueError):
    """A user's instance file contradicts a setting the platform depends on."""


def merged(project: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """The project's settings with the user's on top, key by key at every depth."""
    result = copy.deepcopy(dict(project))
    for key, value in user.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _located(config: Path, path: tuple[str, ...]) -> str:
    """``file:line:column`` of the key at ``path`` in a YAML file."""
    node = yaml.compose(config.read_text())
    for key in path:
        assert isinstance(node, yaml.MappingNode)
        node = next(value for name, value in node.value if name.value == key)
    return f"{config}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _check_table_pool_limit(config: Path, user: Mapping[str, Any], project: Mapping[str, Any]) -> None:
    value: Any = user
    for key in TABLE_POOL_LIMIT:
        if not isinstance(value, Mapping) or key not in value:
            return
        value = value[key]
    required = project["concurrency"]["pools"]["default_limit"]
    if value != required:
        raise InstanceConfigError(
            f"{_located(config, TABLE_POOL_LIMIT)}: {'.'.join(TABLE_POOL_LIMIT)} is {value!r}, but the platform "
            f"builds each table one run at a time ({required}); remove the key or set it to {required}"
        )


def private_mode() -> int:
    """An instance folder's mode: its owner's alone. As root, others may pass through it (not list
    it): the production mode's PostgreSQL, which refuses root, runs as another account and reaches its
    data under the instance folder; the folders and files in it are private themselves."""
    return 0o711 if os.geteuid() == 0 else 0o700


def _make_private(home: Path) -> None:
    """The instance's folder, Dagster's storage folders in it and what else it holds (runs, event
    logs, compute logs, the servers' logs) readable by its owner only, older instances included.
    Dagster keeps the mode of a storage folder that exists, so they are made here first. An instance
    folder inside this one (the production one) keeps its own mode."""
    for name in STORAGE_FOLDERS:
        (home / name).mkdir(exist_ok=True, mode=0o700)
    for path in [home, *home.iterdir()]:
        status = path.lstat()
        if status.st_uid != os.geteuid() or stat.S_ISLNK(status.st_mode):
            continue  # not ours to change (PostgreSQL's data is its account's, and 0700)
        if path == home:
            path.chmod(private_mode())
        elif not (path / "dagster.yaml").is_file():
            path.chmod(stat.S_IMODE(status.st_mode) & ~0o077)


def ensure_instance(home: Path, project: Mapping[str, Any] = SETTINGS) -> Path:
    """Write ``project``'s settings into ``home/dagster.yaml``, merged under what the user set there;
    the folder is private (``_make_private``)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = home / "dagster.yaml"
    current = (yaml.safe_load(config.read_text()) if config.exists() else None) or {}
    _check_table_pool_limit(config, current, project)
    settings = merged(project, current)
    if settings != current:
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
    _make_private(home)
    return home


def ensure_dagster_home() -> Path:
    """Create ``DAGSTER_HOME`` (the project's ``.dagster/`` unless set) with the project's settings."""
    home = ensure_instance(export_dagster_home())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        clear_legacy_automation_pause(instance)
    return home


def deploy_file_text(settings: Mapping[str, Any]) -> str:
    header = "# Written by `python -m etl_platform.instance --write-deploy` from etl_platform/instance.py.\n"
    return header + yaml.safe_dump(dict(settings), sort_keys=False)


def write_deploy_files(folder: Path = DEPLOY_DIR) -> list[Path]:
    folder.mkdir(exist_ok=True)
    written = []
    for name, settings in DEPLOY_FILES.items():
        (folder / name).write_text(deploy_file_text(settings))
        written.append(folder / name)
    return written


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_platform.instance", description=__doc__.splitlines()[0])
    parser.add_argument("--write-deploy", action="store_true", help="rewrite deploy/dagster*.yaml from this module")
    if parser.parse_args(argv).write_deploy:
        for path in write_deploy_files():
            print(f"wrote {path.relative_to(PROJECT_ROOT)}")
        return 0
    with project_environment():
        try:
            home = ensure_dagster_home()
        except InstanceConfigError as error:
            print(f"error: {error}")
            return 1
        print(f"Dagster instance: {home} (named in {ensure_dotenv(home)})")
        # make dev and make materialize run this first: a run killed earlier no longer holds its table.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            reap_and_say(instance)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
