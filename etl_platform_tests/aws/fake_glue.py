"""A Glue client for tests: moto records each job run, and the script runs here on local Spark.

Local Spark here has no S3 connector, so the run's S3 inputs are staged to local paths before the
script starts and its output is uploaded after it ends, the way Glue would read and write S3.
Pipes context and messages go through (moto) S3 exactly as on Glue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from etl_platform.resources.glue_runner import GlueSparkRunner
from etl_platform.resources.spark_runner import SESSION_VARIABLES

_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception): ")


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


class FakeGlue:
    def __init__(self, workdir: Path, region_name: str):
        self._glue = boto3.client("glue", region_name=region_name)
        self._s3 = boto3.client("s3", region_name=region_name)
        self.meta = self._glue.meta
        self.workdir = workdir
        self.started: list[dict[str, Any]] = []
        self._runs: dict[str, dict[str, Any]] = {}

    def _download(self, uri: str, target: Path) -> Path:
        bucket, key = _split(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._s3.download_file(bucket, key, str(target))
        return target

    def _download_prefix(self, uri: str, target: Path) -> None:
        bucket, prefix = _split(uri)
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
            for item in page.get("Contents", []):
                self._download(f"s3://{bucket}/{item['Key']}", target / Path(item["Key"]).name)

    def _upload_output(self, local: Path, uri: str) -> None:
        bucket, prefix = _split(uri)
        prefix = prefix.rstrip("/") + "/"
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                self._s3.delete_object(Bucket=bucket, Key=item["Key"])
        for file in sorted(local.iterdir()):
            if not file.name.endswith(".crc"):
                self._s3.upload_file(str(file), bucket, prefix + file.name)

    def _stage(self, arguments: dict[str, str], run_dir: Path) -> tuple[dict[str, str], str | None]:
        staged = dict(arguments)
        if "--input_path" in arguments:
            name = Path(_split(arguments["--input_path"])[1]).name
            staged["--input_path"] = str(self._download(arguments["--input_path"], run_dir / "input" / name))
        if "--inputs" in arguments:
            local = {}
            for table, uri in json.loads(arguments["--inputs"]).items():
                self._download_prefix(uri, run_dir / "inputs" / table)
                local[table] = str(run_dir / "inputs" / table)
            staged["--inputs"] = json.dumps(local)
        output = arguments.get("--output_path")
        if output:
            staged["--output_path"] = str(run_dir / "output")
        return staged, output

    def start_job_run(self, **params: Any) -> dict[str, str]:
        run_id = self._glue.start_job_run(**params)["JobRunId"]  # moto checks the job exists
        self.started.append(params)
        job = self._glue.get_job(JobName=params["JobName"])["Job"]
        arguments = {**job.get("DefaultArguments", {}), **params.get("Arguments", {})}
        run_dir = self.workdir / run_id
        script = self._download(job["Command"]["ScriptLocation"], run_dir / Path(job["Command"]["ScriptLocation"]).name)
        for extra in filter(None, arguments.get("--extra-py-files", "").split(",")):
            self._download(extra, run_dir / Path(extra).name)
        staged, output = self._stage(arguments, run_dir)
        env = {
            **{key: value for key, value in os.environ.items() if key not in SESSION_VARIABLES},  # classic Spark, as on Glue
            "PYTHONPATH": str(run_dir),
            "PYSPARK_SUBMIT_ARGS": "--master local[2] --conf spark.ui.enabled=false --conf spark.log.level=WARN pyspark-shell",
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
        command = [sys.executable, str(script), *[part for item in staged.items() for part in item]]
        process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        sys.stderr.write(process.stderr[-5000:])
        if process.returncode == 0:
            if output:
                self._upload_output(run_dir / "output", output)
            self._runs[run_id] = {"JobRunState": "SUCCEEDED"}
        else:
            errors = [line for line in process.stderr.splitlines() if _EXCEPTION_LINE.match(line)]
            self._runs[run_id] = {"JobRunState": "FAILED", "ErrorMessage": errors[-1] if errors else "exit code " + str(process.returncode)}
        return {"JobRunId": run_id}

    def get_job_run(self, JobName: str, RunId: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        return {"JobRun": {"Id": RunId, "JobName": JobName, **self._runs[RunId]}}

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str]) -> dict[str, Any]:  # noqa: N803
        return {"SuccessfulSubmissions": [{"JobName": JobName, "JobRunId": run} for run in JobRunIds], "Errors": []}


class FakeGlueRunner(GlueSparkRunner):
    """The real Glue runner (PipesGlueClient, S3 context and messages) over the fake Glue client."""

    workdir: str

    def glue_client(self) -> FakeGlue:
        client = FakeGlue(Path(self.workdir), self.region_name)
        FakeGlueRunner.last_client = client  # type: ignore[attr-defined]
        return client
