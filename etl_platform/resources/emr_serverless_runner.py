"""Runs the same Spark scripts as EMR Serverless job runs, through dagster-aws's PipesEMRServerlessClient."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
from dagster_aws.pipes import PipesEMRServerlessClient
from dagster_pipes import DAGSTER_PIPES_MESSAGES_ENV_VAR, decode_param

from etl_platform.datasets import Capacity
from etl_platform.project import JOB_PY_FILES, SCRIPTS_PREFIX
from etl_platform.resources.aws_pipes import AwsPipesRunner, JobRun, S3MessageReader
from etl_platform.resources.usage import EngineUsage, emr_serverless_usage

ACTIVE_STATES = {"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED"}
# Each Glue worker type as the EMR Serverless worker of its size: (vCPUs, memory in GB). EMR
# Serverless has no worker of G.8X's 32 vCPUs.
WORKER_SIZES = {"G.025X": (2, 4), "G.1X": (4, 16), "G.2X": (8, 32), "G.4X": (16, 64)}
# EMR Serverless sizes a worker as Spark's memory plus 10% overhead: Spark gets what leaves the worker whole.
MEMORY_OVERHEAD = 1.1
# How PipesEMRServerlessClient hands the Pipes bootstrap to the script: driver environment variables.
DRIVER_ENV = re.compile(r"--conf spark\.emr-serverless\.driverEnv\.(\w+)=(\S+)")


def spark_sizing(capacity: Capacity) -> dict[str, str]:
    """The capacity's Glue workers as Spark executors: ``number_of_workers`` of them, and a driver,
    each the size of its worker type, without dynamic allocation (a fixed size, as on Glue)."""
    if capacity.worker_type not in WORKER_SIZES:
        raise dg.Failure(
            description=f"worker type {capacity.worker_type} has no EMR Serverless worker of its size; "
            f"choose one of {', '.join(WORKER_SIZES)}",
            allow_retries=False,
        )
    cores, memory_gb = WORKER_SIZES[capacity.worker_type]
    memory = f"{int(memory_gb / MEMORY_OVERHEAD)}g"
    return {
        "spark.driver.cores": str(cores),
        "spark.driver.memory": memory,
        "spark.executor.cores": str(cores),
        "spark.executor.memory": memory,
        "spark.executor.instances": str(capacity.number_of_workers),
        "spark.dynamicAllocation.enabled": "false",
    }


class _S3PipesEMRServerlessClient(PipesEMRServerlessClient):
    """PipesEMRServerlessClient reads messages from CloudWatch only, once the run has ended, and
    otherwise warns that it cannot; the S3 message reader reads them while the run goes on."""

    def _read_messages(self, context: Any, session: Any, response: Any) -> None:
        return None


class EmrServerlessSparkRunner(AwsPipesRunner):
    """Each script as a job run of one EMR Serverless application (``application_id``), under its
    execution role: the script, the shared modules, the contract and dagster-pipes are read from
    the artifact bucket where the deploy uploads them (``scripts_prefix``; ``py_files`` names what
    is loaded beside each script)."""

    application_id: str
    execution_role_arn: str
    artifact_bucket: str
    scripts_prefix: str = SCRIPTS_PREFIX
    py_files: list[str] = list(JOB_PY_FILES)
    poll_interval_seconds: float = 5

    SERVICE = "EMR Serverless"
    ENGINE = "emr_serverless"
    RUN_ID_KEY = "jobRunId"
    TRANSIENT_ERRORS = frozenset({"ThrottlingException", "InternalServerException", "ServiceQuotaExceededException"})

    def job_client(self) -> Any:
        return boto3.client("emr-serverless", region_name=self.region_name)

    def _artifact(self, name: str) -> str:
        return f"s3://{self.artifact_bucket}/{self.scripts_prefix}{name}"

    def job_run_params(
        self, script: str, arguments: Mapping[str, str], capacity: Capacity, dagster_run_id: str
    ) -> dict[str, Any]:
        submit = [f"--py-files {','.join(map(self._artifact, self.py_files))}"]
        submit += [f"--conf {key}={value}" for key, value in spark_sizing(capacity).items()]
        return {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "name": f"{Path(script).stem}-{dagster_run_id}",
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": self._artifact(script),
                    "entryPointArguments": [part for name, value in arguments.items() for part in (f"--{name}", value)],
                    "sparkSubmitParameters": " ".join(submit),
                }
            },
            "executionTimeoutMinutes": capacity.timeout_minutes,
        }

    def start_params(
        self, context: dg.AssetExecutionContext, script: str, arguments: Mapping[str, str], capacity: Capacity
    ) -> dict[str, Any]:
        return self.job_run_params(script, arguments, capacity, context.run.run_id)

    def job_name(self, params: Mapping[str, Any]) -> str:
        return Path(params["jobDriver"]["sparkSubmit"]["entryPoint"]).stem

    def resumed_start(self, params: Mapping[str, Any], run_id: str) -> dict[str, str]:
        return {"applicationId": params["applicationId"], "jobRunId": run_id}

    def describe(self, client: Any, params: Mapping[str, Any], run_id: str) -> JobRun:
        record = client.get_job_run(applicationId=params["applicationId"], jobRunId=run_id)["jobRun"]
        submit = record.get("jobDriver", {}).get("sparkSubmit", {})
        pairs = submit.get("entryPointArguments", [])
        messages = dict(DRIVER_ENV.findall(submit.get("sparkSubmitParameters", ""))).get(DAGSTER_PIPES_MESSAGES_ENV_VAR)
        return JobRun(
            id=run_id,
            state=record.get("state", ""),
            active=record.get("state") in ACTIVE_STATES,
            details=record.get("stateDetails", ""),
            arguments=dict(zip(pairs[::2], pairs[1::2], strict=False)),
            messages=decode_param(messages) if messages else None,
            record=record,
        )

    def pipes_client(self, client: Any, injector: dg.PipesContextInjector, reader: S3MessageReader) -> Any:
        return _S3PipesEMRServerlessClient(
            client=client,
            context_injector=injector,
            message_reader=reader,
            forward_termination=True,
            poll_interval=self.poll_interval_seconds,
        )

    def usage(self, job_run: JobRun, params: Mapping[str, Any]) -> EngineUsage:
        """What the service billed (its minimum charge applied, the free storage left out), or,
        where it has not said, what the run used."""
        used = job_run.record.get("billedResourceUtilization") or job_run.record["totalResourceUtilization"]
        return emr_serverless_usage(used["vCPUHour"], used["memoryGBHour"], used.get("storageGBHour", 0.0))
