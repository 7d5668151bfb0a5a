"""The arguments of each kind of Spark job, as a Glue job run receives them (``--name value`` pairs):
the orchestrator writes them with ``arguments()``, the script reads them with ``parse()``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from etl_platform.contract.checks import CheckPlan
from etl_platform.contract.columns import ExpectedColumn, columns_from_json, columns_to_json
from etl_platform.contract.errors import ContractError

# The argument naming the folder a run writes: each attempt of a step stages a folder of its own.
OUTPUT_PATH = "output_path"


def read_arguments(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``--name value`` pairs, the way Glue passes job arguments.

    Glue adds arguments of its own (``--JOB_ID``, ``--TempDir``, the Pipes bootstrap...), so unknown
    ones are ignored. ``awsglue.utils.getResolvedOptions`` does this on Glue but does not exist on
    local Spark, hence this small equivalent.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in required:
        parser.add_argument(f"--{name}")
    for name, default in (optional or {}).items():
        parser.add_argument(f"--{name}", default=default)
    known, _ = parser.parse_known_args(list(argv))
    values = vars(known)
    missing = [f"--{name}" for name in required if values.get(name) is None]
    if missing:
        raise ContractError(f"missing job arguments: {', '.join(missing)}")
    return values


@dataclass(frozen=True)
class ProcessJob:
    """A processing script's run: one landing file typed by the registry's columns into a daily table."""

    input_path: str
    output_path: str
    columns: tuple[ExpectedColumn, ...]
    date_column: str = "Date"
    date_format: str = "M/d/yyyy"
    checks: CheckPlan = field(default_factory=CheckPlan)
    # Quoted values may span lines (the file is then parsed in one task).
    multiline: bool = False

    def arguments(self) -> dict[str, str]:
        return {
            "input_path": self.input_path,
            OUTPUT_PATH: self.output_path,
            "columns": columns_to_json((c.name, c.type) for c in self.columns),
            "date_format": self.date_format,
            "date_column": self.date_column,
            "checks": self.checks.to_json(),
            "multiline": str(self.multiline).lower(),
        }

    @classmethod
    def parse(cls, argv: Sequence[str]) -> ProcessJob:
        values = read_arguments(
            argv,
            required=["input_path", OUTPUT_PATH, "columns"],
            optional={"date_format": "M/d/yyyy", "date_column": "Date", "checks": "", "multiline": "false"},
        )
        return cls(
            input_path=values["input_path"],
            output_path=values[OUTPUT_PATH],
            columns=columns_from_json(values["columns"]),
            date_column=values["date_column"],
            date_format=values["date_format"],
            checks=CheckPlan.from_json(values["checks"]),
            multiline=values["multiline"].lower() == "true",
        )


@dataclass(frozen=True)
class JoinJob:
    """The join script's run: each input table read from the data files of one snapshot."""

    inputs: Mapping[str, tuple[str, ...]]
    output_path: str
    checks: CheckPlan = field(default_factory=CheckPlan)

    def arguments(self) -> dict[str, str]:
        return {
            "inputs": json.dumps({table: list(files) for table, files in self.inputs.items()}),
            OUTPUT_PATH: self.output_path,
            "checks": self.checks.to_json(),
        }

    @classmethod
    def parse(cls, argv: Sequence[str]) -> JoinJob:
        """``--inputs`` maps each table to its files; one path instead of a list (a folder) is read too."""
        values = read_arguments(argv, required=["inputs", OUTPUT_PATH], optional={"checks": ""})
        try:
            inputs = {
                str(table): (paths,) if isinstance(paths, str) else tuple(paths)
                for table, paths in dict(json.loads(values["inputs"])).items()
            }
        except (ValueError, TypeError) as error:
            raise ContractError(f"--inputs must be a JSON object of table name -> file list: {error}") from None
        empty = [table for table, paths in inputs.items() if not paths]
        if empty:
            raise ContractError(f"input table(s) {', '.join(empty)} have no data files")
        return cls(inputs=inputs, output_path=values[OUTPUT_PATH], checks=CheckPlan.from_json(values["checks"]))
