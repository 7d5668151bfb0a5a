"""What the AWS Spark runners (Glue, EMR Serverless) share: Pipes context and messages through S3,
reattaching a retried step to the job run its earlier attempt started, the step failure of a
refused call or a failed run, and the usage of every run.

A runner of one service says how to start, describe, follow and bill its job runs; how a step
becomes a job run, and what its failure, reattachment and usage look like, is the same for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3
import dagster as dg
from botocore.exceptions import ClientError
from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader

from etl_platform.contract.jobs import OUTPUT_PATH
from etl_platform.contract.report import ScriptResult
from etl_platform.datasets import Capacity
from etl_platform.resources.script_run import ScriptRun, script_failed
from etl_platform.resources.spark_runner import SparkJobRunner
from etl_platform.resources.usage import EngineUsage, client_run, unknown_usage

ROOT_RUN_TAG = "dagster/root_run_id"


@dataclass(frozen=True)
class JobRun:
    """A job run as a runner compares and follows it, whichever service runs it."""

    id: str
    state: str
    # Still going: a retried step may follow it.
    active: bool
    # Why it ended as it did, in the service's words (Glue's ErrorMessage, EMR Serverless' stateDetails).
    details: str
    # Its script's arguments, ``--name``: value.
    arguments: Mapping[str, str]
    # Where its script writes its Pipes messages (the bootstrap it was started with), if anywhere.
    messages: Mapping[str, Any] | None
    # As the service described it.
    record: Mapping[str, Any]


def same_work(wanted: Mapping[str, str], recorded: Mapping[str, str]) -> bool:
    """Whether a job run recorded with ``recorded`` arguments computes what ``wanted`` asks: the
    same arguments but the build folder (each attempt stages its own). ``recorded`` may hold more
    (a Glue job's default arguments, the Pipes bootstrap)."""
    compared = {name: value for name, value in wanted.items() if name != f"--{OUTPUT_PATH}"}
    return {name: recorded.get(name) for name in compared} == compared


class S3MessageReader(PipesS3MessageReader):
    """PipesS3MessageReader with three things it lacks: messages under a key prefix (so the job
    role's IAM policy can stay scoped to ``dagster-pipes/*`` of the scratch bucket), reading
    a resumed run's messages where that run writes them (its original key prefix), and what the
    script reported even when its run failed (the Pipes client then raises, and the session goes
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


class _RecordedStarts:
    """The service's client as the Pipes client sees it: start_job_run records the new run's id
    on the Dagster run, or hands back a run still going from an earlier attempt instead of
    starting a second one."""

    def __init__(self, client: Any, id_key: str, record: Any, resumed: Mapping[str, str] | None):
        self._client, self._id_key, self._record, self._resumed = client, id_key, record, resumed

    def start_job_run(self, **params: Any) -> Mapping[str, str]:
        if self._resumed is not None:
            return self._resumed
        response = self._client.start_job_run(**params)
        self._record(response[self._id_key])
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class AwsPipesRunner(SparkJobRunner, ABC):
    """A script as one job run of an AWS service, through that service's dagster-aws Pipes client.

    Pipes context and messages go through S3 (``pipes_bucket``): unlike CloudWatch, S3 needs no
    continuous-logging setup to carry messages, works the same under moto, and its objects outlive
    the run for inspection. The service's own output still streams to its logs.

    The job run started is recorded as a tag of the Dagster run (``etl_platform/<engine>_run.<job>``):
    a step retried, or re-executed after an orchestrator crash, follows it while it still runs.
    """

    region_name: str
    pipes_bucket: str
    pipes_prefix: str = "dagster-pipes"
    message_interval_seconds: float = 5
    # The script's own stdout and stderr (Spark's driver errors, a traceback, print) travel with its
    # messages into the step's compute log instead of staying in CloudWatch only; a job run's end
    # then waits about 2 s for them to be flushed.
    script_output_in_log: bool = True

    # How the service is named in messages, and the engine its usage is billed as.
    SERVICE: ClassVar[str]
    ENGINE: ClassVar[str]
    # The key of a job run's id in start_job_run's response.
    RUN_ID_KEY: ClassVar[str]
    # Refusals to start that clear up by themselves: worth a retry with back-off.
    TRANSIENT_ERRORS: ClassVar[frozenset[str]]

    def s3_client(self) -> Any:
        return boto3.client("s3", region_name=self.region_name)

    @abstractmethod
    def job_client(self) -> Any:
        """The service's boto3 client."""

    @abstractmethod
    def start_params(
        self, context: dg.AssetExecutionContext, script: str, arguments: Mapping[str, str], capacity: Capacity
    ) -> dict[str, Any]:
        """start_job_run's parameters for ``script``."""

    @abstractmethod
    def job_name(self, params: Mapping[str, Any]) -> str:
        """What the job runs of these parameters are runs of, in messages and in the run tag."""

    @abstractmethod
    def describe(self, client: Any, params: Mapping[str, Any], run_id: str) -> JobRun:
        """The job run ``run_id`` of these parameters, as the service describes it now."""

    @abstractmethod
    def pipes_client(self, client: Any, injector: dg.PipesContextInjector, reader: S3MessageReader) -> Any:
        """The service's Pipes client, over ``client``, with S3 context and messages."""

    @abstractmethod
    def usage(self, job_run: JobRun, params: Mapping[str, Any]) -> EngineUsage:
        """What the ended ``job_run`` used, from the service's record of it."""

    def resumed_start(self, params: Mapping[str, Any], run_id: str) -> dict[str, str]:
        """start_job_run's response, for a run already going."""
        return {self.RUN_ID_KEY: run_id}

    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> ScriptRun:
        params = self.start_params(context, script, arguments, capacity)
        name = self.job_name(params)
        s3, client = self.s3_client(), self.job_client()
        tag = f"etl_platform/{self.ENGINE}_run.{name}"
        try:
            earlier = self._active_earlier_run(context, client, params, tag, arguments)
        except ClientError as error:
            raise self._refused(error, name, None) from None
        started: list[str] = []
        if earlier:
            context.log.warning(
                f"reattaching to {self.SERVICE} run {earlier.id} of {name}, still running from an earlier attempt"
            )
            started.append(earlier.id)
        reader = S3MessageReader(
            bucket=self.pipes_bucket,
            client=s3,
            interval=self.message_interval_seconds,
            key_prefix=self.pipes_prefix,
            resumed_params=earlier.messages if earlier else None,
            include_stdio_in_messages=self.script_output_in_log,
        )

        def record(run_id: str) -> None:
            started.append(run_id)
            context.instance.add_run_tags(context.run.run_id, {tag: run_id})

        recorded = _RecordedStarts(
            client, self.RUN_ID_KEY, record, self.resumed_start(params, earlier.id) if earlier else None
        )
        injector = PipesS3ContextInjector(bucket=self.pipes_bucket, client=s3, key_prefix=f"{self.pipes_prefix}/")
        context.log.info(f"starting {self.SERVICE} job {name} with {dict(arguments)}")
        try:
            invocation = self.pipes_client(recorded, injector, reader).run(context=context, start_job_run_params=params)
        except ClientError as error:
            raise self._refused(error, name, started[0] if started else None) from None
        except RuntimeError as error:
            # The Pipes clients raise RuntimeError for a run that ended otherwise than succeeding;
            # the service's account of why (the script's exception) makes the step failure's text,
            # and the script's failure record decides whether to retry. A script that died before
            # it could report one (out of memory, a stopped run) may be retried.
            text = self._ended(client, params, name, started[0], error) if started else str(error)
            raise script_failed(context, script, reader.result(), text, description=text) from None
        usage = self._usage(context, client, params, started[0]).of_run(client_run(invocation.metadata))
        return ScriptRun(reader.result(), metadata=usage.metadata())

    def _active_earlier_run(
        self,
        context: dg.AssetExecutionContext,
        client: Any,
        params: Mapping[str, Any],
        tag: str,
        arguments: Mapping[str, str],
    ) -> JobRun | None:
        """A job run this step started in an earlier attempt, if still active and doing the same work.

        After an orchestrator crash the step is re-executed in a new Dagster run of the same
        lineage; after a failure while the job run went on (polling refused, say) it is retried
        in the same run. Starting a second job run would double the work and race the first one's
        output; the reattached step publishes the folder the earlier run writes (its own
        ``output_path``, which its Pipes messages report). An earlier run over other arguments (an
        input republished since, another asset sharing the job) is left alone.
        """
        current = context.instance.get_run_by_id(context.run.run_id) or context.run  # with tags added since it started
        runs = [current]
        root = current.tags.get(ROOT_RUN_TAG)
        if root:
            runs += [
                *context.instance.get_runs(filters=dg.RunsFilter(tags={ROOT_RUN_TAG: root})),
                *context.instance.get_runs(filters=dg.RunsFilter(run_ids=[root])),
            ]
        wanted = {f"--{name}": value for name, value in arguments.items()}
        checked = set()
        for run in runs:
            run_id = run.tags.get(tag)
            if not run_id or run_id in checked:
                continue
            checked.add(run_id)
            try:
                job_run = self.describe(client, params, run_id)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code in self.TRANSIENT_ERRORS:
                    raise
                # Gone (say, its application replaced since): it can be neither followed nor stopped.
                context.log.warning(f"{self.SERVICE} run {run_id} of an earlier attempt cannot be described: {code}")
                continue
            if not job_run.active:
                continue
            if job_run.messages is None or not same_work(wanted, job_run.arguments):
                context.log.warning(
                    f"{self.SERVICE} run {run_id} of {self.job_name(params)}, still running from an earlier attempt, "
                    "has other arguments: a new run is started and its output is not published"
                )
                continue
            return job_run
        return None

    def _refused(self, error: ClientError, name: str, run_id: str | None) -> dg.Failure:
        """The service refused a call: to start the run (retried if the refusal clears up by
        itself), or to report on the run ``run_id``, which goes on (a retry reattaches to it)."""
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if run_id:
            return dg.Failure(
                description=f"{self.SERVICE} run {run_id} of {name} could not be followed: {code}: {message}",
                allow_retries=True,
            )
        return dg.Failure(
            description=f"{self.SERVICE} job {name} could not start: {code}: {message}",
            allow_retries=code in self.TRANSIENT_ERRORS,
        )

    def _ended(self, client: Any, params: Mapping[str, Any], name: str, run_id: str, error: RuntimeError) -> str:
        """How the run ``run_id`` ended, in one line: its state and the service's details."""
        try:
            job_run = self.describe(client, params, run_id)
        except ClientError:
            return " ".join(str(error).split())
        return " ".join(
            f"{self.SERVICE} job {name} run {run_id} completed with status {job_run.state}: {job_run.details}".split()
        )

    def _usage(
        self, context: dg.AssetExecutionContext, client: Any, params: Mapping[str, Any], run_id: str
    ) -> EngineUsage:
        """The run's usage; a build that succeeded stands even when its bill cannot be read."""
        try:
            return self.usage(self.describe(client, params, run_id), params)
        except Exception as error:  # whatever the service returned or refused
            reason = f"{type(error).__name__}: {error}"
            context.log.warning(f"the usage of {self.SERVICE} run {run_id} could not be read: {reason}")
            return unknown_usage(self.ENGINE, reason)
