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

from etl_platform.contract.jobs import OUTPUT_PATH
from etl_platform.contract.report import ScriptResult
from etl_platform.datasets import Capacity
from etl_platform.resources.script_run import ScriptRun, script_failed
from etl_platform.resources.spark_runner import SparkJobRunner

# Glue refusals that clear up by themselves: worth a retry with back-off.
TRANSIENT_GLUE_ERRORS = {
    "ConcurrentRunsExceededException",
    "ThrottlingException",
    "ResourceNumberLimitExceededException",
    "InternalServiceException",
    "OperationTimeoutException",
}
ACTIVE_STATES = {"STARTING", "RUNNING", "WAITING"}
ROOT_RUN_TAG = "dagster/root_run_id"


def _work(arguments: Mapping[str, str]) -> dict[str, str]:
    """A job run's arguments but its build folder and its Pipes bootstrap: what it computes."""
    return {
        name: value
        for name, value in arguments.items()
        if name != f"--{OUTPUT_PATH}" and not name.startswith("--dagster-pipes")
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
    """PipesS3MessageReader with three things it lacks: messages under a key prefix (so the Glue
    role's IAM policy can stay scoped to ``dagster-pipes/*`` of the scratch bucket), reading
    a resumed run's messages where that run writes them (its original key prefix), and what the
    script reported even when its run failed (``PipesGlueClient`` then raises, and the session goes
    with it: the reader keeps its handler, which has read every message once the session closed)."""

    def __init__(self, *, key_prefix: str, resumed_params: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._key_prefix, self._resumed_params = key_prefix, resumed_params
        self._handler: dg.PipesMessageHandler | None = None

    @contextmanager
    def read_messages(self, handler: dg.PipesMessageHandler) -> Iterator[Mapping[str, Any]]:
        self._handler = handler
        with super().read_messages(handler) as params:
            yield params

    def result(self) -> ScriptResult:
        """What the script reported, decoded; after the session, every message it sent."""
        return ScriptResult.from_messages(self._handler.get_custom_messages() if self._handler else ())

    @contextmanager
    def get_params(self) -> Iterator[dict[str, Any]]:
        if self._resumed_params is not None:
            yield dict(self._resumed_params)
            return
        with super().get_params() as params:
            yield {**params, "key_prefix": f"{self._key_prefix}/{params['key_prefix']}"}


def _refused(error: ClientError, job_name: str, run_id: str | None) -> dg.Failure:
    """Glue refused a call: to start the run (retried if the refusal clears up by itself), or to
    report on the run ``run_id``, which goes on (a retry reattaches to it)."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if run_id:
        return dg.Failure(
            description=f"Glue run {run_id} of {job_name} could not be followed: {code}: {message}", allow_retries=True
        )
    return dg.Failure(
        description=f"Glue job {job_name} could not start: {code}: {message}",
        allow_retries=code in TRANSIENT_GLUE_ERRORS,
    )


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
    ) -> ScriptRun:
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
            client=_GlueJobRuns(glue, record, earlier["Id"] if earlier else None),
            context_injector=PipesS3ContextInjector(bucket=self.pipes_bucket, client=s3, key_prefix=self.pipes_prefix),
            message_reader=reader,
            forward_termination=True,
        )
        context.log.info(f"starting Glue job {params['JobName']} with {params['Arguments']}")
        try:
            invocation = client.run(context=context, start_job_run_params=params)
        except ClientError as error:
            raise _refused(error, params["JobName"], started[0] if started else None) from None
        except RuntimeError as error:
            # PipesGlueClient raises RuntimeError for FAILED / TIMEOUT / STOPPED / ERROR runs, with
            # Glue's ErrorMessage (the script's exception) in the text: the step failure says it,
            # and the script's failure record decides whether to retry. A script that died before
            # it could report one (out of memory, a stopped run) may be retried.
            text = " ".join(str(error).split())
            raise script_failed(context, script, reader.result(), text, description=text) from None
        return ScriptRun(reader.result(), metadata=invocation.metadata)
