"""``etl-platform``: land files, run the whole pipeline, query the tables.

Errors are one line on stderr and a non-zero exit; no tracebacks for things a user can fix.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from dagster import DagsterInvalidConfigError

from etl_platform.datasets import REGISTRY, Registry, UnknownDatasetError
from etl_platform.deploy import DeployError
from etl_platform.environment import UnknownEnvironmentError, initialized_resources, resources_for_environment
from etl_platform.insight.report import ReportNotBuiltError, chart_paths, top_correlations
from etl_platform.instance import ensure_dagster_home
from etl_platform.project import SAMPLES_DIR
from etl_platform.resources import Lake, QueryResult, SqlEngine
from etl_platform.resources.lake import LakeError
from etl_platform.resources.sql import SqlError
from etl_platform.rollback import rollback_table, table_location
from etl_platform.versions import TableVersions


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def land(lake: Lake, registry: Registry, dataset_name: str, file: Path, name: str | None = None) -> str:
    dataset = registry.dataset(dataset_name)
    if not file.is_file():
        raise CliError(f"no such file: {file}")
    stored = lake.put_file(file, dataset.landing_key_prefix + (name or file.name))
    return f"landed {file} as {stored.key} ({stored.size:,} bytes) at {lake.uri(stored.key)}"


def run_query(sql_engine: SqlEngine, sql: str) -> QueryResult:
    try:
        return sql_engine.query(sql)
    except SqlError as error:
        built = ", ".join(t.name for t in sql_engine.tables()) or "none yet (run etl-platform demo)"
        raise CliError(f"SQL error: {error} (tables: {built})") from None


def describe_tables(sql_engine: SqlEngine) -> str:
    infos = sql_engine.tables()
    if not infos:
        return "no tables yet (run etl-platform demo)"
    lines = []
    for info in infos:
        built = datetime.fromtimestamp(info.built_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"{info.name}  {info.row_count:,} rows  built {built}  run {info.run_id}\n  {info.location}")
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


def describe_versions(lake: Lake, table: str) -> str:
    from etl_platform.definitions import defs

    versions = TableVersions(lake, table_location(defs, table))
    pointer = versions.pointer()
    if pointer is None:
        return f"{table}: no published version yet"
    published = versions.kept(pointer)
    lines = [f"{table}: {len(published)} kept version(s); * = current"]
    for version in sorted(published.values(), key=lambda v: v.version):
        mark = "*" if version.version == pointer.current.version else " "
        lines.append(f"{mark} {version.version}  {version.rows:>9,} rows  run {version.run_id}")
    return "\n".join(lines)


def rollback(lake: Lake, sql_engine: SqlEngine, table: str, to: str | None) -> int:
    import dagster as dg

    from etl_platform.definitions import defs

    ensure_dagster_home()
    restored = rollback_table(defs, lake, sql_engine, dg.DagsterInstance.get(), table, to)
    print(f"{table}: version {restored.version} ({restored.rows:,} rows) is current again, was {restored.rolled_back_from}")
    print(f"  {lake.uri(restored.key)}")
    return 0


def demo(samples_dir: Path) -> int:
    """Land the samples, materialise every asset through Dagster, and say where things are."""
    import dagster as dg

    from etl_platform.definitions import build_definitions

    home = ensure_dagster_home()
    with initialized_resources() as ready:
        for dataset in REGISTRY.inputs:
            files = sorted((samples_dir / dataset.landing_prefix).glob("*.csv"))
            if not files:
                raise CliError(f"no sample CSV for dataset {dataset.name} under {samples_dir / dataset.landing_prefix}")
            for file in files:
                print(land(ready["lake"], REGISTRY, dataset.name, file))
    defs = build_definitions(REGISTRY, resources_for_environment())
    job = defs.resolve_job_def("etl_pipeline_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)
    if not result.success:
        failures = [e.event_specific_data.error.message.strip() for e in result.get_step_failure_events()]  # type: ignore[union-attr]
        raise CliError(f"pipeline run {result.run_id} failed: {' | '.join(failures) or 'see dagster dev'}")
    print(f"\npipeline run {result.run_id} succeeded\n")
    with initialized_resources() as ready:
        for info in ready["sql"].tables():
            print(f"  {info.name:<30} {info.row_count:>7,} rows  {info.location}")
    print(
        f"\nTables:  etl-platform tables"
        f"\nQuery:   etl-platform query \"select * from {REGISTRY.joined.name} limit 5\""
        f"\nReport:  etl-platform report   (engagement vs. revenue: strongest correlations and charts)"
        f"\nUI:      DAGSTER_HOME={home} dagster dev   (then open http://127.0.0.1:3000; `make dev` does both)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl-platform", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    land_cmd = commands.add_parser("land", help="put a file into a dataset's landing zone")
    land_cmd.add_argument("dataset", help=f"one of: {', '.join(d.name for d in REGISTRY.inputs)}")
    land_cmd.add_argument("file", type=Path)
    land_cmd.add_argument("--name", help="object name in the landing zone (default: the file's name)")
    demo_cmd = commands.add_parser("demo", help="land the samples and materialise every asset")
    demo_cmd.add_argument("--samples-dir", type=Path, default=SAMPLES_DIR, help="folder with <dataset>/*.csv")
    query_cmd = commands.add_parser("query", help="run SQL against the built tables")
    query_cmd.add_argument("sql")
    query_cmd.add_argument("--format", choices=["table", "csv"], default="table")
    commands.add_parser("tables", help="list tables with columns, row counts and last build")
    report_cmd = commands.add_parser("report", help="strongest engagement vs. sales correlations and the charts' paths")
    report_cmd.add_argument("--top", type=int, default=10, help="how many metric pairs to show")
    deploy_cmd = commands.add_parser("deploy", help="create or update the AWS stack and upload the Glue scripts")
    deploy_cmd.add_argument("--stack-name", default="etl-platform")
    deploy_cmd.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    deploy_cmd.add_argument("--dry-run", action="store_true", help="print what would be done; no AWS calls")
    rollback_cmd = commands.add_parser("rollback", help="make an earlier published version of a table current again")
    rollback_cmd.add_argument("table")
    rollback_cmd.add_argument("--to", metavar="VERSION", help="version to restore (default: the one before the current)")
    versions_cmd = commands.add_parser("versions", help="list a table's kept versions, the current one marked")
    versions_cmd.add_argument("table")
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

        return run_deploy(stack_name=args.stack_name, region=args.region, dry_run=args.dry_run)
    if args.command == "generate-samples":
        from etl_platform.samples import generate

        for name, rows in generate(args.out, scale=args.scale).items():
            print(f"wrote {rows:,} rows to {args.out / name}")
        return 0
    with initialized_resources() as resources:
        if args.command == "land":
            print(land(resources["lake"], REGISTRY, args.dataset, args.file, args.name))
            return 0
        if args.command == "tables":
            print(describe_tables(resources["sql"]))
            return 0
        if args.command == "versions":
            print(describe_versions(resources["lake"], args.table))
            return 0
        if args.command == "rollback":
            return rollback(resources["lake"], resources["sql"], args.table, args.to)
        if args.command == "report":
            print(format_table(top_correlations(resources["sql"], args.top)))
            print("\ncharts:\n" + "\n".join(f"  {path}" for path in chart_paths(resources["lake"])))
            return 0
        result = run_query(resources["sql"], args.sql)
    if args.format == "csv":
        print_csv(result)
    else:
        print(format_table(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except (CliError, DeployError, LakeError, ReportNotBuiltError, UnknownDatasetError, UnknownEnvironmentError) as error:
        print(f"etl-platform: error: {error}", file=sys.stderr)
        return 1
    except DagsterInvalidConfigError as error:  # e.g. an ETL_* variable of the AWS profile is not set
        unset = sorted(set(re.findall(r"\{'env': '(\w+)'\}", str(error))))
        reason = f"environment variables not set: {', '.join(unset)}" if unset else str(error).strip().splitlines()[0]
        print(f"etl-platform: error: configuration: {reason} (see .env.example)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
