"""``etl-platform deploy``: create or update the CloudFormation stack, then ship the Glue scripts.

A change set makes the deploy idempotent (no changes -> nothing happens) and reviewable; the
scripts are uploaded after the stack exists because the stack creates their bucket.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError, WaiterError

from etl_platform.project import GLUE_SCRIPTS_DIR, PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "infra" / "etl_platform.yaml"
SCRIPTS_PREFIX = "glue-scripts/"
# Stack output -> the environment variable of the AWS profile it configures.
ENVIRONMENT_OUTPUTS = {
    "ETL_AWS_REGION": "Region",
    "ETL_DATA_BUCKET": "DataBucketName",
    "ETL_ARTIFACT_BUCKET": "ArtifactBucketName",
    "ETL_GLUE_JOB_PREFIX": "GlueJobPrefix",
    "ETL_GLUE_DATABASE": "GlueDatabaseName",
    "ETL_ATHENA_WORKGROUP": "AthenaWorkGroupName",
    "ETL_ATHENA_RESULTS": "AthenaResultsLocation",
    "ETL_ALERT_TOPIC_ARN": "AlertTopicArn",
}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployError(Exception):
    """A deploy that cannot go on, in one line (CloudFormation's own reason where there is one)."""


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping intrinsic functions (!Sub, !Ref...) as plain values."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node))  # noqa: E501


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def script_files(scripts_dir: Path = GLUE_SCRIPTS_DIR) -> list[Path]:
    return sorted(scripts_dir.glob("*.py"))


def _stack(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stack


def _first_failure(cloudformation: Any, stack_name: str) -> str:
    for event in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]:
        if event.get("ResourceStatus", "").endswith("FAILED"):
            return f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', 'failed')}"
    return "see the stack's events in the CloudFormation console"


def _apply_change_set(cloudformation: Any, stack_name: str, template: str, out: Callable[[str], None]) -> None:
    kind = "UPDATE" if _stack(cloudformation, stack_name) else "CREATE"
    name = f"etl-platform-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=stack_name, ChangeSetName=name, TemplateBody=template, ChangeSetType=kind,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )  # fmt: skip
    out(f"{kind.lower()} change set {name} for stack {stack_name}")
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(StackName=stack_name, ChangeSetName=name)
    except WaiterError:
        reason = cloudformation.describe_change_set(StackName=stack_name, ChangeSetName=name).get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cloudformation.delete_change_set(StackName=stack_name, ChangeSetName=name)
            out("stack is up to date: nothing to change")
            return
        raise DeployError(f"change set {name} failed: {reason}") from None
    cloudformation.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack_name)
    except WaiterError:
        raise DeployError(f"stack {stack_name} did not {kind.lower()}: {_first_failure(cloudformation, stack_name)}") from None
    out(f"stack {stack_name}: {kind.lower()} complete")


def run_deploy(
    *,
    stack_name: str,
    region: str | None,
    dry_run: bool,
    out: Callable[[str], None] = print,
    cloudformation: Any = None,
    s3: Any = None,
) -> int:
    """Create or update the stack, upload ``glue-scripts/``, print the stack's outputs as ``.env`` lines."""
    template = TEMPLATE.read_text()
    scripts = script_files()
    if dry_run:
        out(f"would deploy stack {stack_name} in {region or 'the default region'} from {TEMPLATE.relative_to(PROJECT_ROOT)}:")
        for logical_id, resource in load_template()["Resources"].items():
            out(f"  {resource['Type']:<28} {logical_id}")
        out(f"then upload to s3://<ArtifactBucketName output>/{SCRIPTS_PREFIX} (the bucket exists once the stack does):")
        for path in scripts:
            out(f"  {path.name:<40} {path.stat().st_size:>7,} bytes  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]}")
        return 0
    cloudformation = cloudformation or boto3.client("cloudformation", region_name=region)
    s3 = s3 or boto3.client("s3", region_name=region)
    _apply_change_set(cloudformation, stack_name, template, out)
    stack = _stack(cloudformation, stack_name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}
    if "ArtifactBucketName" not in outputs:
        raise DeployError(f"stack {stack_name} has no ArtifactBucketName output; is it this project's stack?")
    for path in scripts:
        s3.upload_file(str(path), outputs["ArtifactBucketName"], SCRIPTS_PREFIX + path.name)
    out(f"uploaded {len(scripts)} scripts to s3://{outputs['ArtifactBucketName']}/{SCRIPTS_PREFIX}")
    out("\nPut these in .env (or export them) to run with ETL_PLATFORM_ENV=aws:\nETL_PLATFORM_ENV=aws")
    for variable, output in ENVIRONMENT_OUTPUTS.items():
        out(f"{variable}={outputs.get(output, '')}")
    return 0
