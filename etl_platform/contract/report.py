"""What a script reports back, as typed records: each check's outcome, the table it built, or why it
failed. A script sends each record as it happens (one Pipes custom message, ``to_json()``); the
orchestrator decodes them (``ScriptResult.from_messages``) and decides from them alone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from etl_platform.contract.errors import ContractError


class FailureKind(StrEnum):
    DATA = "data"  # the input is at fault: retrying cannot help, the landing file is quarantined
    RETRYABLE = "retryable"  # storage trouble, a lost executor, a crash: the step is retried


@dataclass(frozen=True)
class CheckOutcome:
    """One check evaluated by the script; ``metadata`` holds JSON values (counts, example rows)."""

    name: str
    passed: bool
    blocking: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return _encode("check", asdict(self))


@dataclass(frozen=True)
class Column:
    """A column of a written table, its type as Spark names it (``bigint``, ``date``...)."""

    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class ColumnSource:
    """An input table's column an output column is computed from."""

    table: str
    column: str


@dataclass(frozen=True)
class BuildReport:
    """The table a script wrote: where, how many rows, which columns. A processing script adds the
    landing rows read and rejected; the join, the data files it read per input and each output
    column's sources."""

    output_path: str
    rows: int
    columns: tuple[Column, ...]
    input_rows: int | None = None
    rejected_rows: int = 0
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lineage: Mapping[str, tuple[ColumnSource, ...]] = field(default_factory=dict)

    def to_json(self) -> str:
        return _encode("build", asdict(self))

    @classmethod
    def _from_data(cls, data: dict[str, Any]) -> BuildReport:
        return cls(
            **{
                **data,
                "columns": tuple(Column(**column) for column in data["columns"]),
                "inputs": {table: tuple(files) for table, files in data.get("inputs", {}).items()},
                "lineage": {
                    column: tuple(ColumnSource(**source) for source in sources)
                    for column, sources in data.get("lineage", {}).items()
                },
            }
        )


@dataclass(frozen=True)
class ScriptFailure:
    """Why a script failed, in one line, whether the input is to blame, and the line of the input
    file at fault when the script knows it."""

    message: str
    kind: FailureKind
    line: int | None = None

    @property
    def retryable(self) -> bool:
        return self.kind is FailureKind.RETRYABLE

    def to_json(self) -> str:
        return _encode("failure", {"message": self.message, "kind": self.kind.value, "line": self.line})


Record = CheckOutcome | BuildReport | ScriptFailure


def _encode(record: str, data: dict[str, Any]) -> str:
    return json.dumps({"record": record, **data})


def from_json(text: str) -> Record:
    """The record a script sent as ``text``."""
    try:
        data = dict(json.loads(text))
        record = data.pop("record")
        if record == "check":
            return CheckOutcome(**data)
        if record == "build":
            return BuildReport._from_data(data)
        if record == "failure":
            return ScriptFailure(message=data["message"], kind=FailureKind(data["kind"]), line=data.get("line"))
    except (ValueError, TypeError, KeyError) as error:
        raise ContractError(f"a script reported a malformed record ({error}): {str(text)[:200]}") from None
    raise ContractError(f"a script reported an unknown record {record!r}")


@dataclass(frozen=True)
class ScriptResult:
    """Everything one run of a script reported: its checks in order, the table it built (none if
    it failed first), and its failure (none if it succeeded, or died before it could say)."""

    checks: tuple[CheckOutcome, ...] = ()
    build: BuildReport | None = None
    failure: ScriptFailure | None = None

    @classmethod
    def from_messages(cls, messages: Iterable[Any]) -> ScriptResult:
        records = [from_json(message) for message in messages]
        builds = [r for r in records if isinstance(r, BuildReport)]
        failures = [r for r in records if isinstance(r, ScriptFailure)]
        if len(builds) > 1 or len(failures) > 1:
            raise ContractError(f"a script reported {len(builds)} builds and {len(failures)} failures; one at most")
        return cls(
            checks=tuple(r for r in records if isinstance(r, CheckOutcome)),
            build=builds[0] if builds else None,
            failure=failures[0] if failures else None,
        )
