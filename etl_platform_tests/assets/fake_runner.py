"""A SparkJobRunner stand-in: records each call and reports a fixed result instead of running Spark."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.resources import SparkJobRunner


class _Invocation:
    """What a script that built the table and passed every check it evaluates would report."""

    def __init__(
        self, metadata: Mapping[str, Any], checks: list[dg.AssetCheckSpec], failing: list[str], warning: list[str] = ()
    ):
        self._metadata, self._checks, self._failing, self._warning = metadata, checks, failing, warning

    def get_results(self) -> list[dg.MaterializeResult | dg.AssetCheckResult]:
        return [
            dg.MaterializeResult(metadata=dict(self._metadata)),
            *[
                dg.AssetCheckResult(
                    check_name=spec.name,
                    passed=spec.name not in self._failing and spec.name not in self._warning,
                    severity=dg.AssetCheckSeverity.ERROR
                    if spec.blocking and spec.name not in self._warning
                    else dg.AssetCheckSeverity.WARN,
                )
                for spec in self._checks
            ],
        ]


class RecordingRunner(SparkJobRunner):
    calls: ClassVar[list[tuple[str, dict[str, str]]]] = []
    row_count: int = 42
    failing_checks: list[str] = []  # checks the "script" reports as failed
    warning_checks: list[str] = []  # ... as failed with a warning (WARN severity), which does not block
    rejected_rows: int = 0
    error: str | None = None  # the "script" fails with this message instead
    retryable: bool = False

    def run_script(self, context, script, arguments, capacity=None):  # type: ignore[override]
        RecordingRunner.calls.append((script, dict(arguments)))
        context.set_requires_typed_event_stream()  # as a Pipes session does
        if self.error:
            raise dg.Failure(description=f"{script} failed: {self.error}", allow_retries=self.retryable)
        # Like a script, leave a table at the output location (one row per reported row).
        output = Path(arguments["output_path"])
        output.mkdir(parents=True, exist_ok=True)
        dates = [dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(self.row_count)]
        pq.write_table(pa.table({"date": dates}), output / "part-00000.snappy.parquet")
        # The script evaluates every declared check except the history-based row count change.
        checks = [spec for spec in context.assets_def.check_specs if spec.name != "row_count_change"]
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(self.row_count),
            "rejected_rows": dg.MetadataValue.int(self.rejected_rows),
            "dagster/column_schema": dg.MetadataValue.table_schema(
                dg.TableSchema(columns=[dg.TableColumn("date", "date")])
            ),
        }
        return _Invocation(metadata, checks, self.failing_checks, self.warning_checks)
