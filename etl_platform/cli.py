"""etl-platform: land files, run the whole pipeline, query the tables.

Errors are one line on stderr and a non-zero exit; no tracebacks for things a user can fix.
Each command imports what it needs when it runs (Dagster, the resources, PyIceberg, DuckDB,
Spark's client, matplotlib take seconds to import): ``--help`` and a usage error need none.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from etl_platform.datasets import Registry, registry_named
from etl_platform.errors import UserError
from etl_platform.project import PROJECT_ROOT, SAMPLES_DIR
from etl_platform.settings import get_settings, project_environment

if TYPE_CHECKING:
    from etl_platform.resources import Lake, QueryResult, SqlEngine, TableCatalog


class CliError(UserError):
    """A user-facing failure: printed as one line, exit status 1."""


def selected_registry() -> Registry:
    """The registry ``ETL_REGISTRY`` names (the QuickSight inputs unless set)."""
    return registry_named(get_settings().registry)


def land(lake: Lake, registry: Registry, dataset_name: str, file: Path, name: str | None = None) -> str:
    """Store ``file`` where the dataset's arrival sensor finds it.

    A file the sensor would skip is refused, for the sensor's reason, rather than stored with a
    warning: stored, it would never be processed. A name the engines cannot open and an empty file
    are refused too (their runs could only fail and quarantine them), and so is a ``name`` with
    folders: files land directly under the prefix.
    """
    from etl_platform.resources.lake import key_skip_reason

    dataset = registry.dataset(dataset_name)
    if file.is_dir():
        raise CliError(f"{file} is a directory: land one file at a time")
    if not file.is_file():
        raise CliError(f"no such file: {file}")
    from etl_platform.contract.landing import unreadable_name

    key = dataset.landing_key_prefix + (name or file.name)
    reason = key_skip_reason(key)
    if reason:
        raise CliError(f"not landing {file} as {key}: {reason} (the arrival sensor would skip it)")
    unreadable = unreadable_name(key)
    if unreadable:
        raise CliError(f"not landing {file} as {key}: {unreadable}")
    if name and "/" in name:
        raise CliError(
            f"--name {name!r} is a path: give a file name, it lands directly under {dataset.landing_key_prefix}"
        )
    if file.stat().st_size == 0:
        raise CliError(f"not landing {file}: the file is empty (0 bytes), its run would fail and quarantine it")
    stored = lake.put_file(file, key)
    return f"landed {file} as {stored.key} ({stored.size:,} bytes) at {lake.uri(stored.key)}"


def run_query(
    sql_engine: SqlEngine, catalog: TableCatalog, sql: str, allow_writes: bool = False, as_of: str | None = None
) -> QueryResult:
    """Run ``sql`` once the read-only guard has passed it, parsed as the engine's own dialect, so a
    query cannot write files or change the catalog by accident."""
    from etl_platform.resources.sql import SqlError
    from etl_platform.sql_guard import EmptySqlError, WriteRefusedError, check_read_only

    try:
        check_read_only(sql, sql_engine.dialect.name, allow_writes)
        return sql_engine.query(sql, as_of)
    except EmptySqlError as error:
        raise CliError(str(error)) from None
    except WriteRefusedError as error:
        raise CliError(f"query is read-only: refusing {error}; pass --allow-writes to run it") from None
    except SqlError as error:
        built = ", ".join(catalog.names()) or "none yet (run etl-platform demo)"
        raise CliError(f"SQL error: {error} (tables: {built})") from None


def describe_tables(catalog: TableCatalog) -> str:
    infos = catalog.infos()
    if not infos:
        return "no tables yet (run etl-platform demo)"
    lines = []
    for info in infos:
        built = datetime.fromtimestamp(info.built_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        # A table published without rejected landing rows says so beside its count: it is not the whole file.
        rejected = f" ({info.rejected_rows:,} rejected)" if info.rejected_rows else ""
        lines.append(
            f"{info.name}  {info.row_count:,} rows{rejected}  built {built}  run {info.run_id}  snapshot {info.snapshot_id}\n"
            f"  {info.location}"
        )
        lines += [f"    {name:<32} {type_}" for name, type_ in info.columns]
    return "\n".join(lines)


def format_table(result: QueryResult) -> str:
    cells = [[str(c) for c in result.columns]] + [["NULL" if v is None else str(v) for v in row] for row in result.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(result.columns))]
    lines = [" | ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(lines)


def print_csv(result: QueryResult) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows(result.rows)


def describe_versions(catalog: TableCatalog, table: str) -> str:
    """A table's kept snapshots; a name the platform neither builds nor has in its catalog is an
    error, as for rollback, not a table with no snapshot yet."""
    from etl_platform.tables import describe_snapshots

    registry = selected_registry()
    known = sorted({*registry.table_locations(), registry.report.table, *catalog.names()})
    if table not in known:
        raise CliError(f"unknown table {table!r}; tables: {', '.join(known)}")
    snapshots = catalog.snapshots(table)
    if not snapshots:
        return f"{table}: no snapshot yet"
    current = catalog.current(table)
    lines = [f"{table}: {len(snapshots)} kept snapshot(s), oldest first; * = current"]
    return "\n".join(lines + describe_snapshots(snapshots, current.snapshot_id if current else None))


def snapshot_id(text: str) -> int:
    """An argparse type: Iceberg snapshot ids are whole numbers."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a snapshot id (etl-platform versions TABLE lists them)")
    return int(text)


def rollback(lake: Lake, catalog: TableCatalog, table: str, to: int | None) -> int:
    import dagster as dg

    from etl_platform.definitions import defs
    from etl_platform.instance import ensure_dagster_home
    from etl_platform.rollback import rollback_table

    ensure_dagster_home()
    restored, replaced = rollback_table(defs, lake, catalog, dg.DagsterInstance.get(), table, to)
    print(
        f"{table}: snapshot {restored.version} ({restored.rows:,} rows, run {restored.run_id}) is current again, was {replaced.version}"
    )
    return 0


def step_failure_text(failure: Any) -> str:
    """A failed step in one line: a ``dg.Failure``'s own description (a refused file's reason),
    else the error's first line, without Dagster's exception class path."""
    user = getattr(failure, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip().splitlines()[0]
    error = failure.error.cause or failure.error  # user code's own exception, not Dagster's wrapper
    return (error.message.strip().splitlines() or ["failed"])[0]


STOP_SECONDS = 30  # for a canceled run's step to stop its script, while its Spark server still runs


def _execute_stoppably(job: Any, instance: Any, **kwargs: Any) -> Any:
    """``job.execute_in_process`` in a thread of its own. In the main thread Dagster takes over
    Ctrl-C and SIGTERM for the run and only acts on them when it ends; here they stop the demo at
    once (its Spark server with it), and the run is recorded as canceled. The thread says it ended
    through an event: a ``Thread.join`` interrupted by Ctrl-C marks a running thread as ended."""
    import signal
    import threading

    outcome: list[Any] = []
    ended = threading.Event()

    def execute() -> None:
        # A terminal's Ctrl-C reaches every process of its foreground group, Dagster's helpers that
        # echo the run's captured logs too: Python scripts that print a KeyboardInterrupt traceback
        # each. Blocked in this thread, SIGINT stays blocked in the processes it starts (the Spark
        # scripts unblock it, spark_runner._interruptible); the main thread still gets it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            outcome.append(job.execute_in_process(instance=instance, **kwargs))
        except BaseException as error:  # handed to the main thread
            outcome.append(error)
        finally:
            ended.set()

    worker = threading.Thread(target=execute, name="demo-run", daemon=True)
    worker.start()
    try:
        while not ended.wait(0.2):
            pass
    except KeyboardInterrupt:
        run = instance.get_run_by_id(kwargs["run_id"])
        if run is not None and not run.is_finished:  # its executor ends it as canceled
            instance.report_run_canceling(run, message="the demo was interrupted")
        # The run sees the cancellation: a Spark step stops its script, a build waiting for its
        # table's pool slot stops waiting (etl_platform.pool_wait).
        ended.wait(STOP_SECONDS)
        run = instance.get_run_by_id(kwargs["run_id"])
        if run is not None and not run.is_finished:  # its executor did not get to it
            instance.report_run_canceled(run, message="the demo was interrupted")
        instance.event_log_storage.free_concurrency_slots_for_run(kwargs["run_id"])  # a step stopped midway
        raise
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def demo(samples_dir: Path) -> int:
    """Land the samples, materialise every asset through Dagster, and say where things are.

    The terminal gets a line per step; Dagster's console logger is turned down for this run, as
    the whole log stays in the instance for ``dagster dev``. Locally the steps share a Spark
    Connect server started for the run (unless ``ETL_SPARK_REMOTE`` names one).
    """
    import dataclasses
    import signal
    import uuid

    import dagster as dg

    from etl_platform.definitions import build_definitions
    from etl_platform.environment import initialized_resources, resources_for_environment
    from etl_platform.instance import ensure_dagster_home
    from etl_platform.orphans import reap_and_say
    from etl_platform.progress import step_progress
    from etl_platform.spark_service import SparkServiceError, address, local_spark_service

    ensure_dagster_home()
    registry = selected_registry()
    with initialized_resources() as ready:
        for dataset in registry.inputs:
            files = sorted((samples_dir / dataset.landing_prefix).glob("*.csv"))
            if not files:
                raise CliError(f"no sample CSV for dataset {dataset.name} under {samples_dir / dataset.landing_prefix}")
            for file in files:
                print(land(ready["lake"], registry, dataset.name, file))
    instance = dg.DagsterInstance.get()
    reap_and_say(instance)  # a demo killed earlier leaves its tables' pool slots free for this one
    run_id = str(uuid.uuid4())
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # a failure is reported below, in one line
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # ends the demo as Ctrl-C does: its server stops too
    try:
        with local_spark_service() as remote:
            resources = resources_for_environment(dataclasses.replace(get_settings(), spark_remote=remote))
            job = build_definitions(registry, resources).resolve_job_def("etl_pipeline_job")
            where = f", Spark Connect at {address(remote)}" if remote else ""
            print(f"\nrunning {job.name} (run {run_id}{where}):")
            with step_progress(instance, run_id, [node.name for node in job.nodes_in_topological_order]):
                result = _execute_stoppably(job, instance, run_config=quiet, run_id=run_id, raise_on_error=False)
    except SparkServiceError as error:
        raise CliError(str(error)) from None
    if not result.success:
        failures = [step_failure_text(e.event_specific_data) for e in result.get_step_failure_events()]
        raise CliError(f"pipeline run {result.run_id} failed: {' | '.join(failures) or 'see dagster dev'}")
    print(f"\npipeline run {result.run_id} succeeded\n")
    with initialized_resources() as ready:
        for info in ready["catalog"].infos():
            print(f"  {info.name:<30} {info.row_count:>7,} rows  {info.location}")
    print(
        f"\nTables:  etl-platform tables"
        f'\nQuery:   etl-platform query "select * from {registry.joined.name} limit 5"'
        f"\nReport:  etl-platform report   (engagement vs. revenue: strongest correlations and charts)"
        f"\nUI:      make dev   (from {PROJECT_ROOT}; then open http://127.0.0.1:3000)"
    )
    return 0


class CliParser(argparse.ArgumentParser):
    """Usage errors in the command's one-line error form (argparse's exit status 2), with where
    to read the usage instead of printing it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"etl-platform: error: {message}; see {self.prog} --help\n")


def positive_int(text: str) -> int:
    """An argparse type: counts such as ``report --top`` make no sense at zero or below."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number (1 or more)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="etl-platform", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    land_cmd = commands.add_parser("land", help="put a file into a dataset's landing zone")
    land_cmd.add_argument("dataset", help=f"one of: {', '.join(d.name for d in selected_registry().inputs)}")
    land_cmd.add_argument("file", type=Path, help="the CSV file to land (not empty, not hidden, named *.csv)")
    land_cmd.add_argument("--name", help="file name in the landing zone, no folders (default: the file's name)")
    demo_cmd = commands.add_parser("demo", help="land the samples and materialise every asset")
    demo_cmd.add_argument("--samples-dir", type=Path, default=SAMPLES_DIR, help="folder with <dataset>/*.csv")
    query_cmd = commands.add_parser("query", help="run read-only SQL against the built tables")
    query_cmd.add_argument(
        "sql", help="SQL that only reads: SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"
    )
    query_cmd.add_argument("--format", choices=["table", "csv"], default="table", help="aligned columns or CSV")
    query_cmd.add_argument(
        "--as-of",
        metavar="SNAPSHOT|TIME",
        help="time travel: a snapshot id (that table at that snapshot) or an ISO time such as 2026-11-30T09:00:00 (UTC unless given)",
    )
    query_cmd.add_argument(
        "--allow-writes",
        action="store_true",
        help="also run statements that write files or change the catalog or session (COPY TO, CREATE, ATTACH, SET, ...)",
    )
    commands.add_parser("tables", help="list tables with columns, row counts and last build")
    report_cmd = commands.add_parser("report", help="strongest engagement vs. sales correlations and the charts' paths")
    report_cmd.add_argument("--top", type=positive_int, default=10, help="how many metric pairs to show")
    deploy_cmd = commands.add_parser("deploy", help="create or update the AWS stack and upload the Glue scripts")
    deploy_cmd.add_argument("--stack-name", default="etl-platform")
    deploy_cmd.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    deploy_cmd.add_argument("--dry-run", action="store_true", help="print what would be done; no AWS calls")
    deploy_cmd.add_argument(
        "--image-tag",
        help="then deploy the orchestrator (Dagster on ECS) with this image, pushed to the stack's repository",
    )
    deploy_cmd.add_argument(
        "--emr-image-tag",
        help="run the EMR Serverless application on this image (Python 3.11), pushed to the stack's EMR repository",
    )
    rollback_cmd = commands.add_parser("rollback", help="make an earlier snapshot of a table current again")
    rollback_cmd.add_argument("table", help="a built table's name (etl-platform tables lists them)")
    rollback_cmd.add_argument(
        "--to",
        metavar="SNAPSHOT",
        type=snapshot_id,
        help="snapshot id to restore (default: the one the current snapshot was committed on)",
    )
    versions_cmd = commands.add_parser(
        "versions", help="list a table's kept snapshots (id, time, run, rows, source file)"
    )
    versions_cmd.add_argument("table", help="a built table's name (etl-platform tables lists them)")
    commands.add_parser(
        "serve", help="run PostgreSQL, the code server, the webserver and the daemon until Ctrl-C (production mode)"
    )
    generate_cmd = commands.add_parser("generate-samples", help="write the deterministic sample CSVs")
    generate_cmd.add_argument("--out", type=Path, default=SAMPLES_DIR)
    generate_cmd.add_argument("--scale", type=float, default=1.0, help="multiply rows (benchmarks use 100, 500)")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo(args.samples_dir)
    if args.command == "deploy":
        from etl_platform.deploy import run_deploy

        return run_deploy(
            stack_name=args.stack_name,
            region=args.region,
            dry_run=args.dry_run,
            image_tag=args.image_tag,
            emr_image_tag=args.emr_image_tag,
            registry=selected_registry(),
        )
    if args.command == "serve":
        from etl_platform.serve import main as serve

        return serve()
    if args.command == "generate-samples":
        from etl_platform.samples import generate

        for name, rows in generate(args.out, scale=args.scale).items():
            print(f"wrote {rows:,} rows to {args.out / name}")
        return 0
    from etl_platform.environment import initialized_resources
    from etl_platform.insight.report import chart_paths, top_correlations

    with initialized_resources() as resources:
        if args.command == "land":
            print(land(resources["lake"], selected_registry(), args.dataset, args.file, args.name))
            return 0
        if args.command == "tables":
            print(describe_tables(resources["catalog"]))
            return 0
        if args.command == "versions":
            print(describe_versions(resources["catalog"], args.table))
            return 0
        if args.command == "rollback":
            return rollback(resources["lake"], resources["catalog"], args.table, args.to)
        if args.command == "report":
            print(format_table(top_correlations(resources["sql"], resources["catalog"], args.top)))
            print(
                "\ncharts:\n" + "\n".join(f"  {path}" for path in chart_paths(resources["lake"], resources["catalog"]))
            )
            return 0
        result = run_query(resources["sql"], resources["catalog"], args.sql, args.allow_writes, args.as_of)
    if args.format == "csv":
        print_csv(result)
    else:
        print(format_table(result))
    return 0


def _dagster_config_error() -> tuple[type[Exception], ...]:
    """Dagster's error for a resource's unset variable, if the command loaded Dagster: a command
    that did not cannot have raised it, and importing Dagster only to catch it costs seconds."""
    dagster = sys.modules.get("dagster")
    return (dagster.DagsterInvalidConfigError,) if dagster else ()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with project_environment():
            return run(argv)
    except UserError as error:
        print(f"etl-platform: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM to the demo: whatever it started has been stopped
        print("etl-platform: interrupted", file=sys.stderr)
        return 130
    except _dagster_config_error() as error:
        # e.g. an ETL_* variable of the AWS profile is not set
        unset = sorted(set(re.findall(r"\{'env': '(\w+)'\}", str(error))))
        reason = f"environment variables not set: {', '.join(unset)}" if unset else str(error).strip().splitlines()[0]
        print(f"etl-platform: error: configuration: {reason} (see .env.example)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
