"""Runs the same Spark scripts as AWS Glue job runs, through dagster-aws's PipesGlueClient."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
from botocore.exceptions import ClientError
from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader

from etl_platform.datasets import Capacity
from etl_platform.resources.spark_runner import SparkJobRunner

# Glue refusals that clear up by themselves: worth a retry with back-off.
TRANSIENT_GLUE_ERRORS = {
    "ConcurrentRunsExceededException",
    "ThrottlingException",
    "ResourceNumberLimitExceededException",
    "InternalServiceException",
    "OperationTimeoutException",
}
# Words in a failed run's ErrorMessage that mean the input is at fault: no retry.
DATA_ERRORS = ("LakeJobError", "MissingColumnsError", "AnalysisException")


class GlueSparkRunner(SparkJobRunner):
    """One Glue job per script (``<job_prefix><script stem>``, created by the CloudFormation stack).

    Pipes context and messages go through S3 (``pipes_bucket``): unlike CloudWatch, S3 needs no
    continuous-logging setup to carry messages, works the same under moto, and its objects outlive
    the run for inspection. Glue's own output still streams to CloudWatch.
    """

    region_name: str
    job_prefix: str
    pipes_bucket: str
    message_interval_seconds: float = 5

    def glue_client(self) -> Any:
        return boto3.client("glue", region_name=self.region_name)

    def s3_client(self) -> Any:
        return boto3.client("s3", region_name=self.region_name)

    def job_run_params(self, script: str, arguments: Mapping[str, str], capacity: Capacity) -> dict[str, Any]:
        return {
            "JobName": self.job_prefix + Path(script).stem,
            "Arguments": {f"--{name}": value for name, value in arguments.items()},
            "WorkerType": capacity.worker_type,
            "NumberOfWorkers": capacity.number_of_workers,
            "Timeout": capacity.timeout_minutes,
        }

    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> dg.PipesClientCompletedInvocation:
        params = self.job_run_params(script, arguments, capacity)
        s3 = self.s3_client()
        client = PipesGlueClient(
            client=self.glue_client(),
            context_injector=PipesS3ContextInjector(bucket=self.pipes_bucket, client=s3),
            message_reader=PipesS3MessageReader(bucket=self.pipes_bucket, client=s3, interval=self.message_interval_seconds),
            forward_termination=True,
        )
        context.log.info(f"starting Glue job {params['JobName']} with {params['Arguments']}")
        try:
            return client.run(context=context, start_job_run_params=params)  # type: ignore[arg-type]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            raise dg.Failure(
                description=f"Glue job {params['JobName']} could not start: {code}: {message}",
                allow_retries=code in TRANSIENT_GLUE_ERRORS,
            ) from None
        except RuntimeError as error:
            # PipesGlueClient raises RuntimeError for FAILED / TIMEOUT / STOPPED / ERROR runs,
            # with Glue's ErrorMessage (the script's exception) in the text.
            text = " ".join(str(error).split())
            raise dg.Failure(description=text, allow_retries=not any(word in text for word in DATA_ERRORS)) from None
