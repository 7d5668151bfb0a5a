"""The interface a processed asset calls, whatever engine its dataset names (``datasets.Engine``):
one landing file in, a staged table and the contract's records out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import dagster as dg

from etl_platform.contract.jobs import ProcessJob
from etl_platform.datasets import Capacity
from etl_platform.resources.script_run import ScriptRun


class FileProcessor(ABC):
    """Runs ``script`` (a PySpark script, or a SQL text for the SQL engine) over ``job.input_path``,
    writes the table into the empty folder ``job.output_path`` and returns what the contract says
    the build reports (``ScriptRun``: the build, every check's outcome, and the engine's usage in
    its metadata). Raises ``ScriptFailed`` as a Spark script's failure does: not retryable when the
    input is at fault."""

    @abstractmethod
    def process_file(
        self, context: dg.AssetExecutionContext, script: str, job: ProcessJob, capacity: Capacity
    ) -> ScriptRun: ...
