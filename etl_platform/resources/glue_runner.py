"""Runs the same Spark scripts as AWS Glue job runs, through dagster-aws's PipesGlueClient."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
from dagster_aws.pipes import PipesGlueClient
from dagster_pipes import DAGSTER_PIPES_MESSAGES_CLI_ARGUMENT, decode_param

from etl_platform.datasets import Capacity
from etl_platform.resources.aws_pipes import AwsPipesRunner, JobRun, S3MessageReader
from etl_platform.resources.usage import GLUE_WORKER_DPUS, EngineUsage, glue_usage

ACTIVE_STATES = {"STARTING", "RUNNING", "WAITING"}


class GlueSparkRunner(AwsPipesRunner):
    """One Glue job per script (``<job_prefix><script stem>``, created by the CloudFormation stack),
    which loads the shared modules, the contract and dagster-pipes (its ``--extra-py-files``)."""

    job_prefix: str

    SERVICE = "Glue"
    ENGINE = "glue"
    RUN_ID_KEY = "JobRunId"
    TRANSIENT_ERRORS = frozenset(
        {
            "ConcurrentRunsExceededException",
            "ThrottlingException",
            "ResourceNumberLimitExceededException",
            "InternalServiceException",
            "OperationTimeoutException",
        }
    )

    def job_client(self) -> Any:
        return boto3.client("glue", region_name=self.region_name)

    def job_run_params(self, script: str, arguments: Mapping[str, str], capacity: Capacity) -> dict[str, Any]:
        return {
            "JobName": self.job_prefix + Path(script).stem,
            "Arguments": {f"--{name}": value for name, value in arguments.items()},
            "WorkerType": capacity.worker_type,
            "NumberOfWorkers": capacity.number_of_workers,
            "Timeout": capacity.timeout_minutes,
        }

    def start_params(
        self, context: dg.AssetExecutionContext, script: str, arguments: Mapping[str, str], capacity: Capacity
    ) -> dict[str, Any]:
        return self.job_run_params(script, arguments, capacity)

    def job_name(self, params: Mapping[str, Any]) -> str:
        return params["JobName"]

    def describe(self, client: Any, params: Mapping[str, Any], run_id: str) -> JobRun:
        record = client.get_job_run(JobName=params["JobName"], RunId=run_id)["JobRun"]
        arguments = record.get("Arguments", {})  # may hold the job's default arguments too
        messages = arguments.get(DAGSTER_PIPES_MESSAGES_CLI_ARGUMENT)
        return JobRun(
            id=run_id,
            state=record.get("JobRunState", ""),
            active=record.get("JobRunState") in ACTIVE_STATES,
            details=record.get("ErrorMessage", ""),
            arguments=arguments,
            messages=decode_param(messages) if messages else None,
            record=record,
        )

    def pipes_client(self, client: Any, injector: dg.PipesContextInjector, reader: S3MessageReader) -> Any:
        return PipesGlueClient(
            client=client, context_injector=injector, message_reader=reader, forward_termination=True
        )

    def usage(self, job_run: JobRun, params: Mapping[str, Any]) -> EngineUsage:
        """Glue's DPU-seconds when it reports them (auto-scaling, Flex), else its execution time
        times the DPUs of the run's workers."""
        record = job_run.record
        workers = record.get("NumberOfWorkers", params["NumberOfWorkers"])
        dpus = GLUE_WORKER_DPUS[record.get("WorkerType", params["WorkerType"])] * workers
        return glue_usage(float(record["ExecutionTime"]), dpus, record.get("DPUSeconds"))
