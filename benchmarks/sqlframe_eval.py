"""Evaluation: can SQLFrame run the platform's Spark scripts on DuckDB, with parity to Spark?

Run as ``python -m benchmarks.sqlframe_eval`` from a venv holding the project and
``sqlframe[duckdb]`` (never the project's own venv; see docs/performance.md). It runs on classic
local Spark (``local[1]``) and on SQLFrame's DuckDB session (``sqlframe.activate("duckdb")``, so
the unchanged ``glue-scripts`` modules import ``pyspark.sql`` and get SQLFrame's), each engine in a
child process of its own (activation swaps the ``pyspark`` modules of the whole process):

- ``transform``: the three pure transforms (``daily_sales``, ``daily_marketing``, ``join_daily``)
  on typed inputs (the CSV typed by DuckDB into one Parquet file, the same for both engines),
  output written as Parquet and compared row for row, with its Arrow schema;
- ``flow``: ``lake_builds.process_landing_file`` on every bad-input case of
  ``etl_platform_tests/glue_scripts/test_bad_inputs.py`` (as ``test_parity.CASES`` gathers them),
  the QuickSight files and a 100x sales file: failure message and line, output rows, every check;
- ``api``: the Spark APIs the shared modules use, one by one, to name what breaks.

One line per case (PASS/FAIL, first difference, both times) and a summary line.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from etl_platform.project import GLUE_SCRIPTS_DIR, PROJECT_ROOT

ENGINES = ("spark", "sqlframe")
QUICKSIGHT_DIR = Path(os.environ.get("QUICKSIGHT_SAMPLES_DIR") or PROJECT_ROOT.parent / "shared" / "quicksight-samples")
GLUE_MODULES = (
    "lake_job",
    "lake_csv",
    "lake_checks",
    "lake_types",
    "lake_write",
    "lake_builds",
    "process_sales_data",
    "process_marketing_data",
    "join_marketing_and_sales_data",
)
TRANSFORMS = {
    "daily_sales": ("process_sales_data", "daily_sales"),
    "daily_marketing": ("process_marketing_data", "daily_marketing"),
    "join_daily": ("join_marketing_and_sales_data", "join_daily"),
}
Case = dict[str, Any]


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------------------------
# The plan, made in the parent process (it never imports pyspark.sql through SQLFrame)
# ---------------------------------------------------------------------------------------------


def _typed_parquet(csv_path: Path, dataset: Any, out: Path) -> Path:
    """The CSV with the registry's types, as one Parquet file both engines read."""
    import duckdb

    from benchmarks.schema import typed_header
    from etl_platform.contract.columns import normalize_column_name

    sql_types = {"date": "DATE", "bigint": "BIGINT", "boolean": "BOOLEAN", "string": "VARCHAR", "double": "DOUBLE"}
    declared = {normalize_column_name(name): name for name, _ in dataset.columns}
    columns = typed_header(csv_path, dataset)
    spec = ", ".join(f"'{raw}': '{sql_types[type_]}'" for raw, type_ in columns)
    select = ", ".join(f'"{raw}" AS "{declared.get(normalize_column_name(raw), raw.strip())}"' for raw, _ in columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"COPY (SELECT {select} FROM read_csv('{csv_path}', header=true, columns={{{spec}}}, "
        f"dateformat='%m/%d/%Y', quote='\"', escape='\"')) TO '{out}' (FORMAT parquet)"
    )
    return out


def _flow_argv(dataset: Any, source: Path, out: Path, share: float | None, multiline: bool) -> list[str]:
    """The job's arguments, as ``test_bad_inputs._run`` (a case's tolerance) and
    ``test_parity._spark_dataset`` (the dataset as registered) build them."""
    from etl_platform.assets.processed import process_job
    from etl_platform.checks.settings import QualitySettings

    chosen = dataset if share is None else replace(dataset, max_reject_share=share)
    job = process_job(chosen, str(source), str(out), QualitySettings())
    argv = [part for name, value in job.arguments().items() for part in (f"--{name}", value)]
    return [*argv, *(["--multiline", "true"] if multiline else [])]


def make_plan(work: Path, scale: int) -> list[Case]:
    """Every case, with its inputs written under ``work``; outputs go to ``work/<engine>/...``."""
    from etl_platform.datasets import MARKETING, SALES
    from etl_platform.project import SAMPLES_DIR
    from etl_platform.samples import MARKETING_SAMPLE, SALES_SAMPLE

    # The cases of test_bad_inputs, as test_parity gathers them. Imported by name: the test modules
    # import the scripts' modules (real PySpark in this process) and are not part of mypy's files.
    sys.path.insert(0, str(GLUE_SCRIPTS_DIR))
    helpers = importlib.import_module("etl_platform_tests.helpers")
    parity = importlib.import_module("etl_platform_tests.sql_jobs.test_parity")
    QUICKSIGHT_SALES, QUICKSIGHT_MARKETING = helpers.QUICKSIGHT_SALES, helpers.QUICKSIGHT_MARKETING
    CASES, MULTILINE_CASES = parity.CASES, parity.MULTILINE_CASES

    inputs = work / "inputs"
    sources: dict[str, tuple[Path, Path | None]] = {
        "samples": (SAMPLES_DIR / SALES_SAMPLE, SAMPLES_DIR / MARKETING_SAMPLE)
    }
    if (QUICKSIGHT_DIR / QUICKSIGHT_SALES).is_file():
        sources["quicksight"] = (QUICKSIGHT_DIR / QUICKSIGHT_SALES, QUICKSIGHT_DIR / QUICKSIGHT_MARKETING)
    if scale:
        from benchmarks.inputs import ensure_inputs

        big = ensure_inputs(inputs / "generated", scale)
        sources[f"{scale}x"] = (big.sales_path, None)  # the marketing file does not grow
    plan: list[Case] = []
    for label, (sales, marketing) in sources.items():
        typed_sales = _typed_parquet(sales, SALES, inputs / label / "sales.parquet")
        plan.append({"id": f"transform daily_sales {label}", "kind": "transform", "transform": "daily_sales",
                     "inputs": {"input": str(typed_sales)}})  # fmt: skip
        if marketing is not None:
            typed_marketing = _typed_parquet(marketing, MARKETING, inputs / label / "marketing.parquet")
            plan.append({"id": f"transform daily_marketing {label}", "kind": "transform",
                         "transform": "daily_marketing", "inputs": {"input": str(typed_marketing)}})  # fmt: skip
            # Both engines join the daily tables Spark wrote (one Parquet folder each).
            plan.append({"id": f"transform join_daily {label}", "kind": "transform", "transform": "join_daily",
                         "inputs": {"sales_daily": f"@spark/transform daily_sales {label}",
                                    "marketing_daily": f"@spark/transform daily_marketing {label}"}})  # fmt: skip
    flows: dict[str, tuple[bytes | Path, Any, float | None, bool]] = {
        **{name: (content, SALES, share, multiline) for name, (content, share, multiline) in CASES.items()},
        **{name: (content, SALES, share, multiline) for name, (content, share, multiline) in MULTILINE_CASES.items()},
    }
    if "quicksight" in sources:
        flows["quicksight_sales"] = (sources["quicksight"][0], SALES, None, False)
        flows["quicksight_marketing"] = (QUICKSIGHT_DIR / QUICKSIGHT_MARKETING, MARKETING, None, False)
    if scale:
        flows[f"sales_{scale}x"] = (sources[f"{scale}x"][0], SALES, None, False)
    for name, (content, dataset, share, multiline) in flows.items():
        case_id = f"flow {name}"
        folder = inputs / "flows" / name
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / "in.csv"
        if isinstance(content, Path):
            shutil.copyfile(content, source)
        else:
            source.write_bytes(content)
        plan.append({"id": case_id, "kind": "flow", "transform": "daily_sales" if dataset is SALES else "daily_marketing",
                     "source": str(source), "argv": _flow_argv(dataset, source, Path("@out"), share, multiline)})  # fmt: skip
    probe_csv = inputs / "probe.csv"
    probe_csv.write_text('a,b\n1,x\n2,y,extra\n3,"quoted, comma"\n')
    plan += [{"id": f"api {name}", "kind": "api", "probe": name, "csv": str(probe_csv)} for name in PROBES]
    return plan


# ---------------------------------------------------------------------------------------------
# Running one engine (a child process)
# ---------------------------------------------------------------------------------------------


def _import_glue_modules() -> dict[str, str]:
    """Each glue-scripts module imported unchanged: "ok" or its error."""
    found = {}
    for name in GLUE_MODULES:
        try:
            importlib.import_module(name)
            found[name] = "ok"
        except Exception as error:
            found[name] = _first_line(error)
    return found


def _start(engine: str) -> tuple[Any, dict[str, Any]]:
    """The engine's session and what it took to get it (and to import the scripts)."""
    sys.path.insert(0, str(GLUE_SCRIPTS_DIR))
    notes: dict[str, Any] = {}
    started = time.perf_counter()
    if engine == "sqlframe":
        sqlframe = importlib.import_module("sqlframe")
        notes["sqlframe"] = importlib.import_module("sqlframe._version").__version__
        if os.environ.get("SQLFRAME_EVAL_IMPORTS_ONLY"):
            sqlframe.activate("duckdb")
            return None, {"imports_unchanged": _import_glue_modules()}
        # Workaround 1: activate() replaces the ``pyspark`` package by a mock, so ``lake_job``'s
        # ``from pyspark.errors import ...`` fails; the real (pure Python) module, imported first, stays.
        importlib.import_module("pyspark.errors")
        sqlframe.activate("duckdb")
        imports = _import_glue_modules()
        # Workaround 2: the entry scripts import ``lake_builds`` (-> ``lake_types``, ``lake_write``:
        # ``Observation``). A stand-in lets their transform functions import unchanged.
        if imports["lake_builds"] != "ok":
            stub = types.ModuleType("lake_builds")
            stub.process_landing_file = stub.join_tables = None  # type: ignore[attr-defined]
            sys.modules["lake_builds"] = stub
            for name in ("process_sales_data", "process_marketing_data", "join_marketing_and_sales_data"):
                sys.modules.pop(name, None)
                imports[f"{name} (lake_builds stubbed)"] = "ok" if _importable(name) else "failed"
        notes["imports_with_pyspark_errors"] = imports
        from pyspark.sql import SparkSession  # SQLFrame's DuckDBSession

        spark = SparkSession.builder.appName("sqlframe_eval").getOrCreate()
    else:
        from etl_platform.settings import get_settings

        importlib.import_module("lake_builds")
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[1]")
            .appName("sqlframe_eval")
            .config("spark.driver.memory", get_settings().spark_driver_memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.log.level", "WARN")
            .getOrCreate()
        )
        notes["spark"] = spark.version
    notes["session_start_s"] = round(time.perf_counter() - started, 3)
    return spark, notes


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:
        return False


def _table(path: Path) -> dict[str, Any]:
    """A written table: its Arrow schema and rows by date."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    rows = sorted(table.to_pylist(), key=lambda r: (r.get("date") is None, str(r.get("date"))))
    return {"schema": [f"{f.name} {f.type}" for f in table.schema], "rows": _jsonable(rows)}


def _resolve(path: str, work: Path) -> str:
    """``@spark/<case id>`` is that case's output folder on Spark (its Parquet files)."""
    if path.startswith("@spark/"):
        return str(work / "spark" / _slug(path.removeprefix("@spark/")) / "*.parquet")
    return path


def _slug(case_id: str) -> str:
    return case_id.replace(" ", "_")


def run_transform(spark: Any, case: Case, out: Path, work: Path) -> dict[str, Any]:
    module, function = TRANSFORMS[case["transform"]]
    transform = getattr(importlib.import_module(module), function)
    frames = {name: spark.read.parquet(_resolve(path, work)) for name, path in case["inputs"].items()}
    frame = transform(frames) if function == "join_daily" else transform(frames["input"])
    frame.write.mode("overwrite").option("compression", "snappy").parquet(str(out))
    return _table(out)


def _failure_line(source: str, error: str) -> int | None:
    """The line the failure record names: the header vetting's (``test_parity._failure_line``)."""
    from etl_platform.contract.errors import InputError
    from etl_platform.contract.landing import read_head, read_header

    try:
        read_header(read_head(source), source)
    except InputError as raised:
        return raised.line if str(raised) == error else None
    return None


def run_flow(case: Case, out: Path) -> dict[str, Any]:
    """``test_bad_inputs._run`` on this engine: the failure, the rows, every check reported."""
    from unittest.mock import MagicMock

    from etl_platform.contract.errors import InputError
    from etl_platform.contract.report import ScriptResult

    lake_builds = importlib.import_module("lake_builds")
    lake_job = importlib.import_module("lake_job")
    module, function = TRANSFORMS[case["transform"]]
    transform = getattr(importlib.import_module(module), function)
    if lake_builds.process_landing_file is None:
        importlib.import_module("lake_types")  # raises what made lake_builds unimportable
    argv = [str(out) if part == "@out" else part for part in case["argv"]]
    pipes = MagicMock()
    source = case["source"]
    result: dict[str, Any] = {"failure": None, "rows": None}
    try:
        lake_builds.process_landing_file(lake_job.Reporter(pipes, echo=False), argv, transform)
    except InputError as error:
        result["failure"] = [str(error).replace(source, "<in>"), _failure_line(source, str(error))]
    else:
        result["rows"] = _table(out)["rows"]
    messages = (call.args[0] for call in pipes.report_custom_message.call_args_list)
    result["checks"] = {c.name: [c.passed, c.blocking, _jsonable(dict(c.metadata))] for c in ScriptResult.from_messages(messages).checks}  # fmt: skip
    return result


# The shared modules' Spark APIs, one at a time; each returns something comparable.
def _probe_csv(spark: Any, case: Case, out: Path) -> Any:
    """``lake_csv.read_landing_csv``: every column a string, PERMISSIVE, ``_corrupt_record``."""
    lake_csv = importlib.import_module("lake_csv")
    return [row.asDict() for row in lake_csv.read_landing_csv(spark, case["csv"]).collect()]


def _probe_observe(spark: Any, case: Case, out: Path) -> Any:
    """``Observation`` + ``DataFrame.observe``: counts taken during the write (``lake_write``, ``lake_types``)."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    seen = Observation("probe")
    frame = spark.createDataFrame([(1,), (2,)], ["x"])
    frame.observe(seen, F.count(F.lit(1)).alias("rows")).write.mode("overwrite").parquet(str(out))
    return dict(seen.get)


def _probe_monotonic(spark: Any, case: Case, out: Path) -> Any:
    """``monotonically_increasing_id``: rejected rows in file order (``lake_types``), row order (``lake_checks``)."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([("a",), ("b",), ("c",)], ["x"])
    return [r["x"] for r in frame.withColumn("p", F.monotonically_increasing_id()).orderBy("p").collect()]


def _probe_input_file_name(spark: Any, case: Case, out: Path) -> Any:
    """``input_file_name`` per row, over a folder of two Parquet files (``join_coverage_outcome``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    out.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        pq.write_table(pa.table({"x": [i]}), out / f"part-{i}.parquet")
    rows = spark.read.parquet(str(out / "*.parquet")).select("x", F.input_file_name().alias("f")).collect()
    return sorted((r["x"], Path(str(r["f"]).removeprefix("file://")).name) for r in rows)


def _probe_parse(spark: Any, case: Case, out: Path) -> Any:
    """``lake_types.parse_value``'s expressions (strict ``M/d/yyyy``, ``try_cast``) on edge values."""
    from pyspark.sql import functions as F

    values = ["1/2/2016", " 1/2/2016 ", "2/30/2016", "01/02/2016", "1/2/16", "12", "12abc", "1.5", "1.5d", "NaN", "TRUE", ""]  # fmt: skip
    frame = spark.createDataFrame([(v,) for v in values], ["v"])
    text = F.trim(F.col("v"))
    parsed = frame.select(
        "v",
        F.to_date(F.try_to_timestamp(text, F.lit("M/d/yyyy"))).alias("date"),
        F.expr("try_cast(trim(v) AS BIGINT)").alias("bigint"),
        F.expr("try_cast(trim(v) AS DOUBLE)").alias("double"),
    )
    return _jsonable([r.asDict() for r in parsed.orderBy("v").collect()])


def _probe_date_gaps(spark: Any, case: Case, out: Path) -> Any:
    """``lake_checks.date_gap_outcome`` (``zip_with``, ``inline``, ``sort_array(collect_list)``)."""
    import datetime as dt

    lake_checks = importlib.import_module("lake_checks")
    days = [dt.date(2016, 1, d) for d in (1, 2, 6, 7, 20)]
    table = spark.createDataFrame([(d,) for d in days], ["date"])
    outcome = lake_checks.date_gap_outcome(table, 3)
    return [outcome.passed, _jsonable(dict(outcome.metadata))]


def _probe_join_coverage(spark: Any, case: Case, out: Path) -> Any:
    """``lake_checks.join_coverage_outcome`` (``input_file_name``, ``monotonically_increasing_id``, ``lag``)."""
    import datetime as dt

    lake_checks = importlib.import_module("lake_checks")
    table = spark.createDataFrame([(dt.date(2016, 1, d),) for d in (1, 2, 3)], ["date"])
    outcome = lake_checks.join_coverage_outcome(table, {"a": table, "b": table}, 3)
    return [outcome.passed, _jsonable(dict(outcome.metadata))]


PROBES: dict[str, Callable[[Any, Case, Path], Any]] = {
    "csv_permissive_corrupt_record": _probe_csv,
    "observation_observe": _probe_observe,
    "monotonically_increasing_id": _probe_monotonic,
    "input_file_name": _probe_input_file_name,
    "strict_parsing": _probe_parse,
    "date_gap_outcome": _probe_date_gaps,
    "join_coverage_outcome": _probe_join_coverage,
}


def run_engine(engine: str, plan_path: Path, results_path: Path) -> None:
    plan = json.loads(plan_path.read_text())
    work = plan_path.parent
    spark, notes = _start(engine)
    results: dict[str, Any] = {"notes": notes, "cases": {}}
    if spark is not None:
        for case in plan:
            out = work / engine / _slug(case["id"])
            shutil.rmtree(out, ignore_errors=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            try:
                if case["kind"] == "transform":
                    value: Any = run_transform(spark, case, out, work)
                elif case["kind"] == "flow":
                    value = run_flow(case, out)
                else:
                    value = _jsonable(PROBES[case["probe"]](spark, case, out))
                outcome = {"value": value}
            except Exception as error:
                outcome = {"error": _first_line(error)}
            outcome["seconds"] = round(time.perf_counter() - started, 3)
            results["cases"][case["id"]] = outcome
            print(f"{engine}: {case['id']}: {outcome['seconds']} s", file=sys.stderr, flush=True)
    results_path.write_text(json.dumps(results, indent=1))


# ---------------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------------


def first_difference(expected: Any, actual: Any, where: str = "") -> str | None:
    """Where two JSON values first differ, in a few words."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in [*expected, *(k for k in actual if k not in expected)]:
            if key not in actual or key not in expected:
                return f"{where}{key}: only on {'spark' if key in expected else 'sqlframe'}"
            found = first_difference(expected[key], actual[key], f"{where}{key}.")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for i, (e, a) in enumerate(zip(expected, actual)):
            found = first_difference(e, a, f"{where}[{i}].")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{where.rstrip('.')}: {len(expected)} items on spark, {len(actual)} on sqlframe"
        return None
    if expected != actual:
        return f"{where.rstrip('.')}: spark {expected!r:.120} vs sqlframe {actual!r:.120}"
    return None


def verdict(spark: dict[str, Any], sqlframe: dict[str, Any]) -> tuple[bool, str]:
    if "error" in spark:
        return False, f"Spark itself failed: {spark['error']}"
    if "error" in sqlframe:
        return False, sqlframe["error"]
    difference = first_difference(spark["value"], sqlframe["value"])
    return difference is None, difference or ""


def _load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _run_child(engine: str, work: Path, imports_only: bool = False) -> dict[str, Any]:
    results = work / f"results-{engine}{'-imports' if imports_only else ''}.json"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SPARK_REMOTE", "ETL_SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")
    }
    if imports_only:
        env["SQLFRAME_EVAL_IMPORTS_ONLY"] = "1"
    command = [sys.executable, "-m", "benchmarks.sqlframe_eval", "--child", engine, "--work", str(work)]
    with open(work / f"{engine}.log", "a") as log:
        done = subprocess.run([*command, "--results", str(results)], cwd=PROJECT_ROOT, env=env, stderr=log, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {engine} run failed (exit {done.returncode}); see {work / f'{engine}.log'}")
    return json.loads(results.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for inputs, outputs and logs (default: a new temporary one)")
    parser.add_argument("--scale", type=int, default=100, help="also a generated sales file this many times the QuickSight one (0: none)")  # fmt: skip
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("sqlframe") is None:
        raise SystemExit("sqlframe is not installed in this Python: pip install 'sqlframe[duckdb]' in a separate venv")
    if args.child:
        run_engine(args.child, args.work / "plan.json", args.results)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="sqlframe-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, {_load()} at the start; work folder {work}", flush=True)
    plan = make_plan(work, args.scale)
    (work / "plan.json").write_text(json.dumps(plan, indent=1))
    unchanged = _run_child("sqlframe", work, imports_only=True)["notes"]
    runs = {engine: _run_child(engine, work) for engine in ENGINES}
    notes = {engine: runs[engine]["notes"] for engine in ENGINES}
    print(f"Spark {notes['spark'].get('spark')} (local[1], session {notes['spark']['session_start_s']} s); "
          f"SQLFrame {notes['sqlframe'].get('sqlframe')} on DuckDB (session {notes['sqlframe']['session_start_s']} s)")  # fmt: skip
    print("glue-scripts imported unchanged under sqlframe.activate('duckdb'):")
    for module, status in unchanged["imports_unchanged"].items():
        print(f"  {module}: {status}")
    print("... with the real pyspark.errors imported first:")
    for module, status in notes["sqlframe"]["imports_with_pyspark_errors"].items():
        print(f"  {module}: {status}")
    agree = 0
    for case in plan:
        on_spark, on_sqlframe = runs["spark"]["cases"][case["id"]], runs["sqlframe"]["cases"][case["id"]]
        same, where = verdict(on_spark, on_sqlframe)
        agree += same
        print(f"{case['id']:<48} {'PASS' if same else 'FAIL'}  spark {on_spark['seconds']:7.2f} s  "
              f"sqlframe {on_sqlframe['seconds']:7.2f} s  {where}", flush=True)  # fmt: skip
    print(f"{agree} of {len(plan)} cases agree; {_load()} at the end")


if __name__ == "__main__":
    main()
