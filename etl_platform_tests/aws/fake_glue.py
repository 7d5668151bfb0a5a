"""A Glue client for tests: moto records each job run, and the script runs here on local Spark.

The script gets the run's arguments unchanged, S3 URIs included, as on Glue, and reports them
unchanged (a build's ``output_path`` is the S3 folder the orchestrator publishes). Local Spark has
no S3 connector, so its ``s3://<bucket>/...`` paths go through Hadoop's
ViewFileSystemOverloadScheme to a local mirror of the bucket: the objects the run reads
(``--input_path``, ``--inputs``) are copied into the mirror before the script starts (one that is
missing is not, so the script meets it missing, as on Glue), and the folder it writes is uploaded
to S3 when it ends. boto3 in the script (the landing file's head, Pipes context and messages)
talks to the moto server itself.

Runs are kept in a ``FakeRuns`` a test's fixture owns and every client it makes shares, so a later
client (a re-executed step's) sees the runs an earlier one started. With ``asynchronous`` a run
goes on in the background like Glue's: start_job_run returns at once and get_job_run says RUNNING
until the script ends; otherwise start_job_run returns when it has ended. As on Glue, the
``--extra-py-files`` are on the script's path, the contract's zip among them.

``LocalSparkService`` is what a fake service does with a run, whichever service: the fake EMR
Serverless (``fake_emr_serverless``) runs its job runs the same way.
"""

# No `from __future__ import annotations` here: Dagster tells a ResourceDependency field from a
# config field by its annotation, which must stay a type, not a string.

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import dagster as dg

from etl_platform.resources.glue_runner import GlueSparkRunner
from etl_platform.resources.spark_runner import SESSION_VARIABLES

_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception): ")
TIMEOUT_SECONDS = 600


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


@dataclass
class FakeJobRun:
    """One job run: the parameters it was started with, the arguments its script got, the
    script's process, and its outcome (in Glue's words: RUNNING, SUCCEEDED, FAILED, TIMEOUT,
    STOPPED; a fake service says them in its own)."""

    run_id: str
    params: dict[str, Any]
    arguments: dict[str, str]
    run_dir: Path
    state: str = "RUNNING"
    error: str | None = None
    process: subprocess.Popen | None = None
    done: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def seconds(self) -> float:
        """How long the script ran (so far)."""
        return (self.ended or time.monotonic()) - self.started


class FakeRuns:
    """What a fake service remembers: every run started (by run id) and the parameters each
    start was given, with the folder the runs work in."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.runs: dict[str, FakeJobRun] = {}
        self.started: list[dict[str, Any]] = []


class LocalSparkService:
    """Runs a job run's script here on local Spark, its S3 reads and writes mirrored to local
    folders; ``moto`` is the client of the service it stands for (``SERVICE``), which records the runs."""

    SERVICE: str

    def __init__(self, runs: FakeRuns, region_name: str, asynchronous: bool = False):
        self._s3 = boto3.client("s3", region_name=region_name)
        self.moto = boto3.client(self.SERVICE, region_name=region_name)
        self.meta = self.moto.meta
        self.runs = runs
        self.asynchronous = asynchronous

    def _download(self, uri: str, target: Path) -> Path:
        bucket, key = _split(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._s3.download_file(bucket, key, str(target))
        return target

    def _keys(self, uri: str) -> list[str]:
        """The objects a run reads at ``uri``: the object itself, or every object under the folder."""
        bucket, key = _split(uri)
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            found += [
                item["Key"]
                for item in page.get("Contents", [])
                if item["Key"] == key or item["Key"].startswith(key.rstrip("/") + "/")
            ]
        return found

    def _mirror(self, run_dir: Path, arguments: dict[str, str]) -> dict[str, Path]:
        """Each bucket the run reads or writes, mirrored in the run's folder, with what it reads copied in."""
        reads = [arguments["--input_path"]] if "--input_path" in arguments else []
        for paths in json.loads(arguments.get("--inputs", "{}")).values():
            reads += [paths] if isinstance(paths, str) else list(paths)
        uris = [*reads, *([arguments["--output_path"]] if "--output_path" in arguments else [])]
        buckets = {_split(uri)[0]: run_dir / "s3" / _split(uri)[0] for uri in uris if uri.startswith("s3://")}
        for folder in buckets.values():
            folder.mkdir(parents=True, exist_ok=True)
        for uri in reads:
            bucket = _split(uri)[0]
            for key in self._keys(uri):
                self._download(f"s3://{bucket}/{key}", buckets[bucket] / key)
        return buckets

    def _upload_output(self, local: Path, uri: str) -> None:
        """What the run wrote into its output folder, to S3 (replacing what was there, as Spark's overwrite)."""
        bucket, prefix = _split(uri)
        prefix = prefix.rstrip("/") + "/"
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                self._s3.delete_object(Bucket=bucket, Key=item["Key"])
        if local.is_dir():
            for file in sorted(local.iterdir()):
                if file.is_file() and not file.name.endswith(".crc"):
                    self._s3.upload_file(str(file), bucket, prefix + file.name)

    def launch(
        self,
        run_id: str,
        params: dict[str, Any],
        script_uri: str,
        extra_uris: list[str],
        arguments: dict[str, str],
        environment: dict[str, str] | None = None,
    ) -> FakeJobRun:
        """Runs ``script_uri`` with ``arguments`` (``--name``: value), the ``extra_uris`` on its
        path (the folder for modules, a zip as itself) and ``environment`` set."""
        self.runs.started.append(params)
        run_dir = self.runs.workdir / run_id
        script = self._download(script_uri, run_dir / Path(script_uri).name)
        extras = [self._download(extra, run_dir / Path(extra).name) for extra in extra_uris]
        buckets = self._mirror(run_dir, arguments)
        mounts = [
            f"--conf spark.hadoop.fs.viewfs.mounttable.{bucket}.linkFallback={folder.as_uri()}"
            for bucket, folder in buckets.items()
        ]
        submit = [
            "--master local[2] --conf spark.ui.enabled=false --conf spark.log.level=WARN",
            "--conf spark.hadoop.fs.s3.impl=org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme",
            *mounts,
            "pyspark-shell",
        ]
        env = {
            **{key: value for key, value in os.environ.items() if key not in SESSION_VARIABLES},  # classic Spark
            **(environment or {}),
            "PYTHONPATH": os.pathsep.join([str(run_dir), *(str(extra) for extra in extras if extra.suffix == ".zip")]),
            "PYSPARK_SUBMIT_ARGS": " ".join(submit),
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
        command = [sys.executable, str(script), *[part for item in arguments.items() for part in item]]
        run = FakeJobRun(run_id=run_id, params=params, arguments=arguments, run_dir=run_dir)
        log = (run_dir / "output.log").open("w")
        run.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        self.runs.runs[run_id] = run
        threading.Thread(
            target=self._finish, args=(run, buckets, log), name=f"fake-run-{run_id[:12]}", daemon=True
        ).start()
        if not self.asynchronous:
            run.done.wait()
        return run

    def _finish(self, run: FakeJobRun, buckets: dict[str, Path], log: Any) -> None:
        """When the script ends: its output to S3 and SUCCEEDED, or FAILED with its last exception line."""
        assert run.process is not None
        try:
            returncode = run.process.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            run.process.kill()
            returncode = None
        log.close()
        output = (run.run_dir / "output.log").read_text(errors="replace")
        sys.stderr.write(output[-5000:])
        try:
            if run.state == "STOPPED":
                pass
            elif returncode is None:
                run.state, run.error = "TIMEOUT", f"timed out after {TIMEOUT_SECONDS} s"
            elif returncode == 0:
                if "--output_path" in run.arguments:
                    uri = run.arguments["--output_path"]
                    bucket, key = _split(uri)
                    self._upload_output(buckets[bucket] / key, uri)
                run.state = "SUCCEEDED"
            else:
                errors = [line for line in output.splitlines() if _EXCEPTION_LINE.match(line)]
                run.state, run.error = "FAILED", errors[-1] if errors else f"exit code {returncode}"
        finally:
            run.ended = time.monotonic()
            run.done.set()

    def stop(self, run_id: str) -> None:
        run = self.runs.runs[run_id]
        if run.process is not None and run.process.poll() is None:
            run.state = "STOPPED"
            run.process.terminate()


class FakeGlue(LocalSparkService):
    SERVICE = "glue"

    def start_job_run(self, **params: Any) -> dict[str, str]:
        run_id = self.moto.start_job_run(**params)["JobRunId"]  # moto checks the job exists
        job = self.moto.get_job(JobName=params["JobName"])["Job"]
        arguments = {**job.get("DefaultArguments", {}), **params.get("Arguments", {})}
        extras = list(filter(None, arguments.get("--extra-py-files", "").split(",")))
        self.launch(run_id, params, job["Command"]["ScriptLocation"], extras, arguments)
        return {"JobRunId": run_id}

    def get_job_run(self, JobName: str, RunId: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        """The run as Glue describes it, with its execution time (moto's runs never run) and workers."""
        run = self.runs.runs[RunId]
        job_run = {
            "Id": RunId,
            "JobName": JobName,
            "JobRunState": run.state,
            "Arguments": dict(run.params.get("Arguments", {})),
            "ExecutionTime": int(run.seconds),
            "WorkerType": run.params.get("WorkerType"),
            "NumberOfWorkers": run.params.get("NumberOfWorkers"),
        }
        return {"JobRun": job_run | ({"ErrorMessage": run.error} if run.error else {})}

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str]) -> dict[str, Any]:  # noqa: N803
        for run_id in JobRunIds:
            self.stop(run_id)
        return {"SuccessfulSubmissions": [{"JobName": JobName, "JobRunId": run} for run in JobRunIds], "Errors": []}


class FakeGlueRunner(GlueSparkRunner):
    """The real Glue runner (PipesGlueClient, S3 context and messages) over the fake Glue client."""

    runs: dg.ResourceDependency[FakeRuns]
    asynchronous: bool = False

    def job_client(self) -> FakeGlue:
        return FakeGlue(self.runs, self.region_name, self.asynchronous)
