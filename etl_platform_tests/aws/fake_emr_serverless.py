"""An EMR Serverless client for tests: moto records each job run (checking its application, the
role's account and the timeout), and the script runs here on local Spark, as the fake Glue runs
Glue's (``fake_glue.LocalSparkService``: S3 mirrored, output uploaded, synchronous or not).

As on EMR Serverless, the script is the job driver's ``entryPoint`` with its
``entryPointArguments``, the ``--py-files`` of its ``sparkSubmitParameters`` are on its path, and
their ``spark.emr-serverless.driverEnv.*`` confs (the Pipes bootstrap PipesEMRServerlessClient
adds) are its environment. Moto's job runs are SUCCESS at once and bill nothing: get_job_run here
is moto's record with the script's state in EMR Serverless' words, its ``stateDetails`` and, once
it ended, the resource utilisation in ``UTILIZATION``.
"""

# No `from __future__ import annotations` here: Dagster tells a ResourceDependency field from a
# config field by its annotation, which must stay a type, not a string.

import re
from typing import Any

import dagster as dg

from etl_platform.resources.emr_serverless_runner import EmrServerlessSparkRunner
from etl_platform_tests.aws.fake_glue import FakeRuns, LocalSparkService

# The fake's states (Glue's words) in EMR Serverless' words.
STATES = {"RUNNING": "RUNNING", "SUCCEEDED": "SUCCESS", "FAILED": "FAILED", "TIMEOUT": "FAILED", "STOPPED": "CANCELLED"}
# What every ended run used and was billed for.
UTILIZATION = {"vCPUHour": 0.5, "memoryGBHour": 2.0, "storageGBHour": 0.25}
_SPARK_CONF = re.compile(r"--conf ([^=\s]+)=(\S+)")
_PY_FILES = re.compile(r"--py-files (\S+)")
_DRIVER_ENV = "spark.emr-serverless.driverEnv."


class FakeEmrServerless(LocalSparkService):
    SERVICE = "emr-serverless"

    def start_job_run(self, **params: Any) -> dict[str, str]:
        response = self.moto.start_job_run(**params)
        submit = params["jobDriver"]["sparkSubmit"]
        parameters = submit.get("sparkSubmitParameters", "")
        py_files = _PY_FILES.search(parameters)
        pairs = submit.get("entryPointArguments", [])
        environment = {
            name.removeprefix(_DRIVER_ENV): value
            for name, value in _SPARK_CONF.findall(parameters)
            if name.startswith(_DRIVER_ENV)
        }
        self.launch(
            response["jobRunId"],
            params,
            submit["entryPoint"],
            py_files.group(1).split(",") if py_files else [],
            dict(zip(pairs[::2], pairs[1::2], strict=True)),
            environment,
        )
        return {key: response[key] for key in ("applicationId", "jobRunId", "arn")}

    def get_job_run(self, applicationId: str, jobRunId: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        record = self.moto.get_job_run(applicationId=applicationId, jobRunId=jobRunId)["jobRun"]
        run = self.runs.runs[jobRunId]
        state = STATES[run.state]
        details = {
            "FAILED": "Job failed, please check complete logs in configured logging destination. "
            f"ExitCode: 1. Last few exceptions: {run.error}",
            "CANCELLED": "Job run was cancelled.",
        }
        record |= {"state": state, "stateDetails": details.get(state, ""), "totalExecutionDurationSeconds": run.seconds}
        record.pop("billedResourceUtilization", None)
        if state != "RUNNING":
            record |= {"billedResourceUtilization": UTILIZATION, "totalResourceUtilization": UTILIZATION}
        return {"jobRun": record}

    def get_dashboard_for_job_run(self, applicationId: str, jobRunId: str) -> dict[str, str]:  # noqa: N803
        return {"url": f"https://dashboard.example/{applicationId}/{jobRunId}"}

    def cancel_job_run(self, applicationId: str, jobRunId: str) -> dict[str, str]:  # noqa: N803
        self.moto.cancel_job_run(applicationId=applicationId, jobRunId=jobRunId)
        self.stop(jobRunId)
        return {"applicationId": applicationId, "jobRunId": jobRunId}


class FakeEmrServerlessRunner(EmrServerlessSparkRunner):
    """The real EMR Serverless runner (PipesEMRServerlessClient, S3 context and messages) over the fake client."""

    runs: dg.ResourceDependency[FakeRuns]
    asynchronous: bool = False

    def job_client(self) -> FakeEmrServerless:
        return FakeEmrServerless(self.runs, self.region_name, self.asynchronous)
