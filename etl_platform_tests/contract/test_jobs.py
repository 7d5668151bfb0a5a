"""Job arguments: what the orchestrator writes is what the script reads, Glue's own arguments ignored."""

import re

import pytest

from etl_platform.contract.checks import CheckPlan, RowCheck
from etl_platform.contract.columns import ExpectedColumn
from etl_platform.contract.errors import ContractError
from etl_platform.contract.jobs import JoinJob, ProcessJob, read_arguments


def _argv(arguments: dict[str, str]) -> list[str]:
    return [part for name, value in arguments.items() for part in (f"--{name}", value)]


def test_arguments_are_read_glue_style_ignoring_glues_own() -> None:
    argv = [
        "--JOB_ID",
        "j_1",
        "--input_path",
        "s3://b/landing/sales/a.csv",
        "--TempDir",
        "s3://t",
        "--output_path",
        "/x",
    ]
    args = read_arguments(argv, required=["input_path", "output_path"], optional={"date_format": "M/d/yyyy"})
    assert args == {"input_path": "s3://b/landing/sales/a.csv", "output_path": "/x", "date_format": "M/d/yyyy"}


def test_missing_job_arguments_are_named() -> None:
    with pytest.raises(ContractError, match="--output_path, --columns"):
        read_arguments(["--input_path", "a"], required=["input_path", "output_path", "columns"])


def test_a_processing_job_reads_back_as_written() -> None:
    job = ProcessJob(
        input_path="s3://lake/landing/sales/a b.csv",
        output_path="s3://lake/processed/sales_daily/data/b1",
        columns=(ExpectedColumn("Date", "date"), ExpectedColumn("Weighted Revenue", "bigint")),
        date_format="d.M.yyyy",
        checks=CheckPlan(row_checks=(RowCheck("positive", "`Weighted Revenue` > 0", "Revenue is positive."),)),
        multiline=True,
    )
    assert ProcessJob.parse(["--JOB_ID", "j_1", *_argv(job.arguments())]) == job


def test_a_join_reads_back_as_written_and_a_folder_stands_for_its_files() -> None:
    job = JoinJob(inputs={"sales_daily": ("s3://lake/a.parquet", "s3://lake/b.parquet")}, output_path="/out")
    assert JoinJob.parse(_argv(job.arguments())) == job
    folder = JoinJob.parse(["--inputs", '{"t": "/lake/t"}', "--output_path", "/out"])
    assert folder.inputs == {"t": ("/lake/t",)}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ('{"sales_daily": []}', "input table(s) sales_daily have no data files"),
        ("sales_daily", "--inputs must be a JSON object of table name -> file list"),
    ],
)
def test_a_join_without_inputs_to_read_is_refused(inputs, message) -> None:
    with pytest.raises(ContractError, match=re.escape(message)):
        JoinJob.parse(["--inputs", inputs, "--output_path", "/out"])
