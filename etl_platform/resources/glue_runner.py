"""Runs the same Spark scripts as AWS Glue job runs, through dagster-aws's PipesGlueClient."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
from botocore.exceptions import ClientError
from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader
from dagster_pipes import DAGSTER_PIPES_MESSAGES_CLI_ARGUMENT, decode_param

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
ACTIVE_STATES = {"STARTING", "RUNNING", "WAITING"}
ROOT_RUN_TAG = "dagster/root_run_id"


class _GlueJobRuns:
    """The Glue client PipesGlueClient sees: start_job_run records the run id on the Dagster run,
    or hands back a run still going from an earlier attempt instead of starting a second one."""

    def __init__(self, client: Any, record: Any, resume_run_id: str | None):
        self._client, self._record, self._resume_run_id = client, record, resume_run_id

    def start_job_run(self, **params: Any) -> dict[str, str]:
        if self._resume_run_id:
            return {"JobRunId": self._resume_run_id}
        run_id = self._client.start_job_run(**params)["JobRunId"]
        self._record(run_id)
        return {"JobRunId": run_id}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _S3MessageReader(PipesS3MessageReader):
    """PipesS3MessageReader with two things it lacks: messages under a key prefix (so the Glue
    role's IAM policy can stay scoped to ``dagster-pipes/*`` instead of the whole bucket), and
    reading a resumed run's messages where that run writes them (its original key prefix)."""

    def __init__(self, *, key_prefix: str, resumed_params: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._key_prefix, self._resumed_params = key_prefix, resumed_params

    @contextmanager
    def get_params(self) -> Iterator[dict[str, Any]]:
        if self._resumed_params is not None:
            yield dict(self._resumed_params)
            return
        with super().get_params() as params:
            yield {**params, "key_prefix": f"{self._key_prefix}/{params['key_prefix']}"}


class GlueSparkRunner(SparkJobRunner):
    """One Glue job per script (``<job_prefix><script stem>``, created by the CloudFormation stack).

    Pipes context and messages go through S3 (``pipes_bucket``): unlike CloudWatch, S3 needs no
    continuous-logging setup to carry messages, works the same under moto, and its objects outlive
    the run for inspection. Glue's own output still streams to CloudWatch.
    """

    region_name: str
    job_prefix: str
    pipes_bucket: str
    pipes_prefix: str = "dagster-pipes"
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

    def _active_earlier_run(self, context: dg.AssetExecutionContext, glue: Any, job_name: str, tag: str) -> dict[str, Any] | None:
        """A Glue run this step started in an earlier attempt of the same run lineage, if still active.

        After an orchestrator crash the step is re-executed in a new Dagster run; starting a second
        Glue run would double the work and race the first one's output.
        """
        root = context.run.tags.get(ROOT_RUN_TAG)
        if not root:
            return None
        lineage = [*context.instance.get_runs(filters=dg.RunsFilter(run_ids=[root])),
                   *context.instance.get_runs(filters=dg.RunsFilter(tags={ROOT_RUN_TAG: root}))]  # fmt: skip
        for run in lineage:
            glue_run_id = run.tags.get(tag)
            if run.run_id != context.run.run_id and glue_run_id:
                job_run = glue.get_job_run(JobName=job_name, RunId=glue_run_id)["JobRun"]
                if job_run.get("JobRunState") in ACTIVE_STATES:
                    return job_run
        return None

    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> dg.PipesClientCompletedInvocation:
        params = self.job_run_params(script, arguments, capacity)
        s3, glue = self.s3_client(), self.glue_client()
        tag = f"etl_platform/glue_run.{params['JobName']}"
        earlier = self._active_earlier_run(context, glue, params["JobName"], tag)
        resumed = None
        if earlier:
            context.log.warning(f"reattaching to Glue run {earlier['Id']} of {params['JobName']}, still running from an earlier attempt")
            resumed = decode_param(earlier["Arguments"][DAGSTER_PIPES_MESSAGES_CLI_ARGUMENT])
        reader = _S3MessageReader(
            bucket=self.pipes_bucket,
            client=s3,
            interval=self.message_interval_seconds,
            key_prefix=self.pipes_prefix,
            resumed_params=resumed,
        )

        def record(run_id: str) -> None:
            context.instance.add_run_tags(context.run.run_id, {tag: run_id})

        client = PipesGlueClient(
            client=_GlueJobRuns(glue, record, earlier["Id"] if earlier else None),  # type: ignore[arg-type]
            context_injector=PipesS3ContextInjector(bucket=self.pipes_bucket, client=s3, key_prefix=self.pipes_prefix),
            message_reader=reader,
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
