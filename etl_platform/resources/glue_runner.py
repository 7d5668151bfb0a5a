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
# A failed run's ErrorMessage names the script's exception. These mean the input is at fault: no
# retry, and the landing file is quarantined.
DATA_ERRORS = ("LakeJobError", "MissingColumnsError", "AnalysisException")
# These mean the store failed (a missing path, throttling, a lost connection), not the input:
# retried, never quarantined. lake_job raises LakeStorageError for them; the rest is what a script
# shows that died before it could say so (the same words as lake_job.STORAGE_TEXT).
STORAGE_ERRORS = (
    "LakeStorageError",
    "[PATH_NOT_FOUND]",
    "Path does not exist",
    "FILE_NOT_EXIST",
    "File does not exist",
    "[UNABLE_TO_INFER_SCHEMA]",
    "FileNotFoundException",
    "IOException",
    "No such file or directory",
    "SlowDown",
    "Slow Down",
    "Status Code: 503",
    "Service Unavailable",
    "ServiceUnavailable",
    "Throttling",
    "RequestLimitExceeded",
    "Connection reset",
    "Connection refused",
    "Connection closed",
    "ConnectException",
    "ConnectTimeoutException",
    "SocketTimeoutException",
    "UnknownHostException",
    "Unable to execute HTTP request",
    "EndpointConnectionError",
    "AmazonS3Exception",
    "SdkClientException",
    "NoSuchKey",
    "ClientError",
)
ACTIVE_STATES = {"STARTING", "RUNNING", "WAITING"}
ROOT_RUN_TAG = "dagster/root_run_id"


def is_data_error(message: str) -> bool:
    """Whether a failed Glue run's ErrorMessage blames the input (no retry; the file is
    quarantined) rather than the store or the platform (retried)."""
    if "LakeStorageError" in message:
        return False
    if any(word in message for word in ("LakeJobError", "MissingColumnsError")):
        return True  # the script's own verdict, whatever paths its message names
    if any(word in message for word in STORAGE_ERRORS):
        return False
    return any(word in message for word in DATA_ERRORS)


def _work(arguments: Mapping[str, str]) -> dict[str, str]:
    """A job run's arguments but its build folder and its Pipes bootstrap: what it computes."""
    return {
        name: value
        for name, value in arguments.items()
        if name != "--output_path" and not name.startswith("--dagster-pipes")
    }


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

    def _active_earlier_run(
        self, context: dg.AssetExecutionContext, glue: Any, params: Mapping[str, Any], tag: str
    ) -> dict[str, Any] | None:
        """A Glue run this step started in an earlier attempt, if still active and doing the same
        work: same job, same arguments but the build folder (each attempt stages its own).

        After an orchestrator crash the step is re-executed in a new Dagster run of the same
        lineage; after a failure while the Glue run went on (polling refused, say) it is retried
        in the same run. Starting a second Glue run would double the work and race the first one's
        output; the reattached step publishes the folder the earlier run writes (its own
        ``output_path``, which its Pipes messages report). An earlier run over other arguments (an
        input republished since, another asset sharing the job) is left alone.
        """
        job_name = params["JobName"]
        current = context.instance.get_run_by_id(context.run.run_id) or context.run  # with tags added since it started
        runs = [current]
        root = current.tags.get(ROOT_RUN_TAG)
        if root:
            runs += [
                *context.instance.get_runs(filters=dg.RunsFilter(tags={ROOT_RUN_TAG: root})),
                *context.instance.get_runs(filters=dg.RunsFilter(run_ids=[root])),
            ]
        checked = set()
        for run in runs:
            glue_run_id = run.tags.get(tag)
            if not glue_run_id or glue_run_id in checked:
                continue
            checked.add(glue_run_id)
            job_run = glue.get_job_run(JobName=job_name, RunId=glue_run_id)["JobRun"]
            if job_run.get("JobRunState") not in ACTIVE_STATES:
                continue
            wanted = _work(params["Arguments"])
            recorded = job_run.get("Arguments", {})  # may hold the job's default arguments too
            if {name: recorded.get(name) for name in wanted} != wanted:
                context.log.warning(
                    f"Glue run {glue_run_id} of {job_name}, still running from an earlier attempt, has other "
                    "arguments: a new run is started and its output is not published"
                )
                continue
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
        earlier = self._active_earlier_run(context, glue, params, tag)
        resumed = None
        if earlier:
            context.log.warning(
                f"reattaching to Glue run {earlier['Id']} of {params['JobName']}, still running from an earlier attempt"
            )
            resumed = decode_param(earlier["Arguments"][DAGSTER_PIPES_MESSAGES_CLI_ARGUMENT])
        reader = _S3MessageReader(
            bucket=self.pipes_bucket,
            client=s3,
            interval=self.message_interval_seconds,
            key_prefix=self.pipes_prefix,
            resumed_params=resumed,
        )

        started: list[str] = [earlier["Id"]] if earlier else []

        def record(run_id: str) -> None:
            started.append(run_id)
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
            if started:  # the run goes on; a retry reattaches to it
                raise dg.Failure(
                    description=f"Glue run {started[0]} of {params['JobName']} could not be followed: {code}: {message}",
                    allow_retries=True,
                ) from None
            raise dg.Failure(
                description=f"Glue job {params['JobName']} could not start: {code}: {message}",
                allow_retries=code in TRANSIENT_GLUE_ERRORS,
            ) from None
        except RuntimeError as error:
            # PipesGlueClient raises RuntimeError for FAILED / TIMEOUT / STOPPED / ERROR runs,
            # with Glue's ErrorMessage (the script's exception) in the text.
            text = " ".join(str(error).split())
            raise dg.Failure(description=text, allow_retries=not is_data_error(text)) from None
