"""A SparkJobRunner stand-in: records each call and reports a fixed result instead of running Spark."""

# No `from __future__ import annotations` here: Dagster tells a ResourceDependency field from a
# config field by its annotation, which must stay a type, not a string.
import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from etl_platform.contract.checks import ROW_COUNT_CHANGE
from etl_platform.contract.report import BuildReport, CheckOutcome, Column, FailureKind, ScriptFailure, ScriptResult
from etl_platform.resources import SparkJobRunner
from etl_platform.resources.script_run import ScriptRun, script_failed


class ScriptCalls:
    """The scripts a runner was asked to run, in order, with their arguments: a test's own record,
    shared by every copy Dagster makes of the runner."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []


class RecordingRunner(SparkJobRunner):
    """Reports what a script that built the table and evaluated every declared check (but the
    history-based row count change, which the orchestrator evaluates) would report."""

    record: dg.ResourceDependency[ScriptCalls] = Field(default_factory=ScriptCalls)
    row_count: int = 42
    failing_checks: list[str] = []  # checks the "script" reports as failed
    warning_checks: list[str] = []  # ... as failed and advisory (WARN severity), which does not block
    rejected_rows: int = 0
    error: str | None = None  # the "script" fails with this message instead
    error_line: int | None = None  # ... naming this line of the input as the one at fault
    retryable: bool = False

    def run_script(self, context, script, arguments, capacity=None) -> ScriptRun:
        self.record.calls.append((script, dict(arguments)))
        context.set_requires_typed_event_stream()  # as a Pipes session does
        if self.error:
            kind = FailureKind.RETRYABLE if self.retryable else FailureKind.DATA
            failure = ScriptFailure(self.error, kind, self.error_line)
            raise script_failed(context, script, ScriptResult(failure=failure), died="")
        # Like a script, leave a table at the output location (one row per reported row).
        output = Path(arguments["output_path"])
        output.mkdir(parents=True, exist_ok=True)
        dates = [dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(self.row_count)]
        pq.write_table(pa.table({"date": dates}), output / "part-00000.snappy.parquet")
        checks = tuple(
            CheckOutcome(
                spec.name,
                passed=spec.name not in self.failing_checks and spec.name not in self.warning_checks,
                blocking=spec.blocking and spec.name not in self.warning_checks,
            )
            for spec in context.assets_def.check_specs
            if spec.name != ROW_COUNT_CHANGE.name
        )
        processing = "input_path" in arguments  # a processing script also counts the landing rows it read
        build = BuildReport(
            output_path=arguments["output_path"],
            rows=self.row_count,
            columns=(Column("date", "date"),),
            input_rows=self.row_count + self.rejected_rows if processing else None,
            rejected_rows=self.rejected_rows,
        )
        return ScriptRun(ScriptResult(checks=checks, build=build))
