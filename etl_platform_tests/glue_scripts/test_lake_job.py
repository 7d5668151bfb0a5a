"""The script plumbing: what the reporter sends is what the orchestrator decodes."""

from unittest.mock import MagicMock

import lake_job
import pytest
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, encode_param

from etl_platform.contract.report import BuildReport, CheckOutcome, Column, FailureKind, ScriptFailure, ScriptResult


def test_the_reporter_sends_each_record_as_the_orchestrator_decodes_it() -> None:
    pipes = MagicMock()
    reporter = lake_job.Reporter(pipes, echo=False)
    outcome = CheckOutcome("date_valid", False, True, {"null_dates": 1, "examples": [{"date": None}]})
    build = BuildReport("s3://lake/processed/t/data/b1", 3, (Column("date", "date"),), input_rows=4, rejected_rows=1)
    failure = ScriptFailure("s3://lake/landing/t/a.csv: the file is empty (0 bytes)", FailureKind.DATA)
    reporter.check(outcome)
    reporter.built(build)
    reporter.failed(failure)
    sent = [call.args[0] for call in pipes.report_custom_message.call_args_list]
    assert ScriptResult.from_messages(sent) == ScriptResult(checks=(outcome,), build=build, failure=failure)
    assert pipes.log.warning.call_args.args[0].startswith('check date_valid: FAILED {"null_dates": 1')
    assert pipes.log.info.call_args.args[0] == "wrote 3 rows to s3://lake/processed/t/data/b1"


@pytest.mark.parametrize(
    ("context", "aws"),
    [
        ({"bucket": "scratch", "key": "dagster-pipes/abc/context.json"}, True),  # EMR Serverless: context in S3
        ({"path": "/tmp/context.json"}, False),  # a local run: context in a file
        (None, False),  # run by hand
    ],
)
def test_emr_serverless_is_told_by_its_bootstrap_naming_an_s3_context(monkeypatch, context, aws) -> None:
    """PipesEMRServerlessClient sets the bootstrap as driver environment variables, as a local run
    gets it: what tells them apart is where the context is."""
    if context is not None:
        monkeypatch.setenv(DAGSTER_PIPES_CONTEXT_ENV_VAR, encode_param(context))
        monkeypatch.setenv(DAGSTER_PIPES_MESSAGES_ENV_VAR, encode_param({"bucket": "scratch", "key_prefix": "p"}))
    assert (lake_job.on_emr_serverless(), lake_job.on_glue(), lake_job.on_aws()) == (aws, False, aws)
