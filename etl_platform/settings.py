"""Every environment variable the platform reads, typed and validated, in one place.

Code asks ``get_settings()`` for a field instead of reading ``os.environ``: a variable is named,
typed, defaulted and explained once (``docs/configuration.md`` is checked against this module),
and a bad value fails with one line naming the variable. Fields are the variable's name without
``ETL_``, in lower case. The settings are parsed again only when a variable they read changes,
so a test may set one and see it at once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dotenv import dotenv_values

from etl_platform.errors import UserError
from etl_platform.project import DEFAULT_DAGSTER_HOME, DEFAULT_LAKE_ROOT
from etl_platform.spark_connect import split_token

if TYPE_CHECKING:
    import dagster as dg

ENVIRONMENTS = ("local", "aws")


# Local Spark streams a file through tasks of about 128 MB on a few cores, so its heap follows the
# cores, not the file: 512m (Spark's floor is 450m) ran the 500x benchmark (995 MB of CSV) as fast
# as 2g, with 0.7 GB less memory over all processes (docs/performance.md).
DEFAULT_DRIVER_MEMORY = "512m"


class SettingsError(UserError, ValueError):
    """A variable's value does not fit its setting."""


class UnknownEnvironmentError(SettingsError):
    """ETL_PLATFORM_ENV names no resource set."""


def _setting(
    default: Any, doc: str, variable: str | None = None, minimum: float | None = None, secret: bool = False
) -> Any:
    """A field read from ``variable`` (``ETL_<FIELD>`` unless named), with its documentation; a secret
    is left out of the settings' repr."""
    return field(default=default, repr=not secret, metadata={"doc": doc, "variable": variable, "minimum": minimum})


@dataclass(frozen=True)
class Settings:
    platform_env: str = _setting("local", "picks the resource set: `local` or `aws`")
    dagster_home: Path = _setting(
        DEFAULT_DAGSTER_HOME,
        "the Dagster instance of `make dev`, `make demo`, `make materialize` and `etl-platform` (named in `.env` by `make setup`)",
        "DAGSTER_HOME",
    )
    registry: str = _setting(
        "quicksight",
        "the dataset registry: `quicksight` (sales and marketing) or `three_engines` (plus ad spend, one input per engine)",
    )
    # --- local profile
    lake_root: Path = _setting(DEFAULT_LAKE_ROOT, "lake root folder")
    iceberg_catalog_uri: str | None = _setting(
        None, "the local Iceberg SQL catalog, any SQLAlchemy URI (default `sqlite:///<lake root>/catalog.db`)"
    )
    spark_remote: str | None = _setting(
        None,
        "a Spark Connect endpoint (`sc://host:port`) the scripts run on; unset: a Spark process per script "
        "(a `;token=` in it reaches the scripts only, never config, metadata or logs)",
        secret=True,
    )
    spark_connect_token: str | None = _setting(
        None,
        "the Spark Connect server's token (a secret: passed to the scripts' environment only; the local server's "
        "is set by the command that starts it)",
        "SPARK_CONNECT_AUTHENTICATE_TOKEN",
        secret=True,
    )
    spark_master: str = _setting("local[*]", "Spark master of the local runner")
    spark_driver_memory: str = _setting(
        DEFAULT_DRIVER_MEMORY, "heap of the local Spark server (and of a script's own Spark without one)"
    )
    alerts_file: Path = _setting(DEFAULT_DAGSTER_HOME / "alerts.jsonl", "where failure alerts are appended")
    alert_webhook_url: str | None = _setting(
        None, "optional `https://` webhook receiving each alert as JSON (a secret: never logged or shown)", secret=True
    )
    alert_webhook_allow_http: bool = _setting(False, "also accept an `http://` alert webhook (a local receiver)")
    # --- both profiles
    spark_retries: int = _setting(3, "retries of a Spark step on transient errors", minimum=0)
    spark_retry_delay_seconds: float = _setting(15.0, "first retry delay (exponential back-off)", minimum=0)
    check_max_date_gap_days: int = _setting(7, "advisory check: longest stretch of days without a row", minimum=0)
    check_max_row_count_change: float = _setting(
        0.5, "advisory check: share of rows gained or lost versus the last build", minimum=0
    )
    report_min_days: int = _setting(30, "fewest days a correlation in the engagement report may rest on", minimum=1)
    keep_versions: int = _setting(5, "snapshots kept per table for rollback and time travel", minimum=1)
    # Iceberg's own default for orphan clean-up is three days: a build still writing, or a reader
    # still reading an expired snapshot's files, is never cut short.
    orphan_min_age_hours: float = _setting(
        72.0, "unreferenced build folders are removed only once all their files are older than this", minimum=0
    )
    cycle_cron: str = _setting("0 0 * * 1", "the weekly cycle (barrier, schedule, freshness)")
    cycle_timezone: str = _setting("UTC", "time zone of the cycle's cron")
    sensor_interval_seconds: int = _setting(2, "how often arrival sensors poll", minimum=1)
    sensor_page_size: int = _setting(1000, "objects an arrival sensor lists per tick at most", minimum=1)
    automation_interval_seconds: int = _setting(2, "how often the join barrier's automation is evaluated", minimum=1)
    # --- production mode (`make serve`)
    serve_home: Path = _setting(
        DEFAULT_DAGSTER_HOME / "serve", "the production instance `make serve` runs (its PostgreSQL data too)"
    )
    webserver_port: int = _setting(
        3000, "port of the UI: the webserver `make dev` and `make serve` start", "DAGSTER_WEBSERVER_PORT", minimum=1
    )
    code_server_port: int = _setting(4000, "port of the code location's gRPC server `make serve` starts", minimum=1)
    postgres_port: int = _setting(15432, "port of the PostgreSQL server `make serve` starts", minimum=1)
    postgres_hostname: str | None = _setting(
        None,
        "a PostgreSQL server of your own for `make serve` (with `DAGSTER_POSTGRES_PORT`, `_USER`, `_PASSWORD`, `_DB`); "
        "unset: `make serve` starts one",
        "DAGSTER_POSTGRES_HOSTNAME",
    )
    # --- aws profile (printed by `etl-platform deploy` from the stack's outputs)
    aws_region: str | None = _setting(None, "AWS region of the stack")
    aws_endpoint_url: str | None = _setting(
        None, "an AWS API endpoint to use instead of AWS's (tests)", "AWS_ENDPOINT_URL"
    )
    data_bucket: str | None = _setting(None, "the data bucket (the lake)")
    scratch_bucket: str | None = _setting(None, "the scratch bucket (Pipes messages, Athena results, compute logs)")
    lake_prefix: str = _setting("", "key prefix of the lake in the data bucket")
    glue_job_prefix: str | None = _setting(None, "prefix of the Glue job names")
    artifact_bucket: str | None = _setting(
        None, "the artifact bucket (the scripts, the contract and dagster-pipes that Glue and EMR Serverless load)"
    )
    emr_serverless_application_id: str | None = _setting(
        None, "the EMR Serverless application that runs the inputs of the `emr_serverless` engine"
    )
    emr_serverless_role_arn: str | None = _setting(None, "the execution role of EMR Serverless job runs")
    glue_database: str | None = _setting(None, "the Glue database (the Iceberg catalog's namespace)")
    athena_workgroup: str | None = _setting(None, "the Athena workgroup")
    athena_results: str | None = _setting(None, "where Athena writes query results")
    athena_query_workgroup: str | None = _setting(
        None, "the read-only Athena workgroup of `etl-platform query` and the report's queries"
    )
    athena_query_role_arn: str | None = _setting(
        None, "the role those queries run as: it reads the lake and writes only their results"
    )
    alert_topic_arn: str | None = _setting(None, "the SNS topic of failure alerts")

    def __post_init__(self) -> None:
        if self.platform_env not in ENVIRONMENTS:
            raise UnknownEnvironmentError(
                f"ETL_PLATFORM_ENV={self.platform_env!r} is not a known environment; choose one of: "
                + ", ".join(ENVIRONMENTS)
            )
        webhook = (self.alert_webhook_url or "https://").lower()
        if not webhook.startswith("https://") and not (self.alert_webhook_allow_http and webhook.startswith("http://")):
            # The URL is a secret: the message names its scheme only.
            scheme = webhook.split("://", 1)[0] if "://" in webhook else "no scheme"
            raise SettingsError(
                f"ETL_ALERT_WEBHOOK_URL must be an https:// URL, not {scheme}"
                + ("" if scheme != "http" else " (set ETL_ALERT_WEBHOOK_ALLOW_HTTP=true for a local receiver)")
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values = {}
        for spec in dataclasses.fields(cls):
            text = environ.get(variable_of(spec), "").strip()
            if text:
                values[spec.name] = _parse(spec, text)
        return cls(**values)

    @property
    def spark_address(self) -> str | None:
        """``spark_remote`` without its token: what config, metadata and logs may show."""
        return split_token(self.spark_remote)[0] if self.spark_remote else None

    @property
    def spark_token(self) -> str | None:
        """The Spark Connect server's token: the remote's own, else ``SPARK_CONNECT_AUTHENTICATE_TOKEN``."""
        return (split_token(self.spark_remote)[1] if self.spark_remote else None) or self.spark_connect_token

    @property
    def catalog_uri(self) -> str:
        return self.iceberg_catalog_uri or f"sqlite:///{self.lake_root / 'catalog.db'}"


def variable_of(spec: dataclasses.Field) -> str:
    return spec.metadata["variable"] or f"ETL_{spec.name.upper()}"


def env_var(name: str) -> dg.EnvVar:
    """A setting as Dagster resource config: read by Dagster when the resource starts (so a code
    location loads before it is set), and shown in the UI as the variable's name, not its value."""
    import dagster as dg  # here: `etl-platform --help` reads the settings and needs no Dagster

    (spec,) = [s for s in dataclasses.fields(Settings) if s.name == name]
    return dg.EnvVar(variable_of(spec))


BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _boolean(text: str) -> bool:
    if text.lower() not in BOOLEANS:
        raise ValueError(text)
    return BOOLEANS[text.lower()]


def _parse(spec: dataclasses.Field, text: str) -> Any:
    kind = str(spec.type)
    variable = variable_of(spec)
    try:
        if kind.startswith("bool"):
            return _boolean(text)
        if kind.startswith("int"):
            value: Any = int(text)
        elif kind.startswith("float"):
            value = float(text)
        elif kind.startswith("Path"):
            return Path(text)
        else:
            return text.lower() if spec.name == "platform_env" else text
    except ValueError:
        expected = (
            "true or false" if kind.startswith("bool") else f"a {'whole ' if kind.startswith('int') else ''}number"
        )
        raise SettingsError(f"{variable}={text!r} is not {expected}") from None
    minimum = spec.metadata["minimum"]
    if minimum is not None and value < minimum:
        raise SettingsError(f"{variable}={text!r} must be at least {minimum:g}")
    return value


VARIABLES = tuple(variable_of(spec) for spec in dataclasses.fields(Settings))
_cache: tuple[tuple[str | None, ...], Settings] | None = None


def get_settings() -> Settings:
    """The settings of the current environment, parsed once per change of any variable they read."""
    global _cache
    key = tuple(os.environ.get(name) for name in VARIABLES)
    if _cache is None or _cache[0] != key:
        _cache = (key, Settings.from_environ(os.environ))
    return _cache[1]


def subprocess_environment(**overrides: str) -> dict[str, str]:
    """This process's environment for a child process (a Spark script, a server), with overrides."""
    return {**os.environ, **overrides}


@contextmanager
def project_environment() -> Iterator[None]:
    """The environment plus ``.env`` in the working folder, read as Dagster's own commands
    read it, so ``etl-platform`` and ``dagster dev`` see the same settings and instance; a variable
    already set in the environment wins. Restored afterwards."""
    saved = dict(os.environ)
    dotenv = Path.cwd() / ".env"
    for name, value in (dotenv_values(dotenv) if dotenv.is_file() else {}).items():
        if value is not None:
            os.environ.setdefault(name, value)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def exported(**variables: str) -> Iterator[None]:
    """``variables`` set in this process for the block (so the steps it runs in process and the
    processes it starts see them), then restored."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def export_dagster_home() -> Path:
    """Name the settings' Dagster instance in ``DAGSTER_HOME`` (unless set), for Dagster's own lookups
    and the processes this one starts."""
    home = get_settings().dagster_home
    os.environ.setdefault("DAGSTER_HOME", str(home))
    return home
