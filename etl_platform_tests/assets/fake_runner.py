"""A SparkJobRunner stand-in: records each call and reports a fixed result instead of running Spark."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dagster as dg

from etl_platform.resources import SparkJobRunner


class _Invocation:
    def __init__(self, metadata: Mapping[str, Any]):
        self._metadata = metadata

    def get_materialize_result(self) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=dict(self._metadata))


class RecordingRunner(SparkJobRunner):
    calls: ClassVar[list[tuple[str, dict[str, str]]]] = []
    row_count: int = 42

    def run_script(self, context, script, arguments):  # type: ignore[override]
        RecordingRunner.calls.append((script, dict(arguments)))
        return _Invocation({"dagster/row_count": self.row_count})
