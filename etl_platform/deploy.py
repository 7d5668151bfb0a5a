"""``etl-platform deploy``: create or update the CloudFormation stack, then ship the Glue scripts.

A change set makes the deploy idempotent (no changes -> nothing happens) and reviewable; the
scripts are uploaded after the stack exists because the stack creates their bucket.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

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
# A stack whose first create failed can only be deleted, not updated.
DEAD_STATES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
# Where an operation on the stack starts in its event history (newest first).
OPERATION_STARTS = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS")


class DeployError(Exception):
    """A deploy that cannot go on, in one line (CloudFormation's own reason where there is one)."""


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML without cfn-lint (a dev dependency): the dry run needs no more."""


def _keep_intrinsic(loader: yaml.SafeLoader, _tag: str, node: yaml.Node) -> Any:
    """``!Sub x``, ``!GetAtt a.b``... become their plain value; only ids and types are read."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _keep_intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def script_files(scripts_dir: Path = GLUE_SCRIPTS_DIR) -> list[Path]:
    return sorted(scripts_dir.glob("*.py"))


def _describe_script(path: Path) -> str:
    """Size and digest, so a user can tell which version of a script was (or would be) shipped."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"  {path.name:<40} {path.stat().st_size:>7,} bytes  sha256 {digest}"


def _print_plan(stack_name: str, region: str | None, out: Callable[[str], None]) -> None:
    """The dry run: read only local files, so it works offline and without credentials."""
    out(
        f"would deploy stack {stack_name} in {region or 'the default region'} from {TEMPLATE.relative_to(PROJECT_ROOT)}:"
    )
    for logical_id, resource in load_template()["Resources"].items():
        out(f"  {resource['Type']:<28} {logical_id}")
    out(
        f"then upload to s3://<ArtifactBucketName output>/{SCRIPTS_PREFIX} (the bucket's name is known once the stack exists):"
    )
    for path in script_files():
        out(_describe_script(path))


def _stack(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stack


def _change_set_type(cloudformation: Any, stack_name: str) -> str:
    """CREATE for a new stack, and for one a failed first change set left in REVIEW_IN_PROGRESS."""
    stack = _stack(cloudformation, stack_name)
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return "CREATE"
    if stack["StackStatus"] in DEAD_STATES:
        raise DeployError(
            f"stack {stack_name} is {stack['StackStatus']} after a failed first create: delete it "
            f"(aws cloudformation delete-stack --stack-name {stack_name}) and deploy again"
        )
    return "UPDATE"


def _latest_operation_events(cloudformation: Any, stack_name: str) -> Iterator[dict[str, Any]]:
    """The stack's events, newest first, back to the start of its latest create or update."""
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_name):
        for event in page["StackEvents"]:
            yield event
            if event["LogicalResourceId"] == stack_name and event.get("ResourceStatus") in OPERATION_STARTS:
                return


def _failure_reason(cloudformation: Any, stack_name: str) -> str:
    """The stack's status and the first resource failure of its latest operation: the cause
    (resources that failed after it mostly report "Resource creation cancelled")."""
    stack = _stack(cloudformation, stack_name) or {}
    status = stack.get("StackStatus", "DELETED")
    events = _latest_operation_events(cloudformation, stack_name)
    failures = [event for event in events if event.get("ResourceStatus", "").endswith("_FAILED")]
    if failures:
        cause = failures[-1]
        return f"{status}: {cause['LogicalResourceId']}: {cause.get('ResourceStatusReason', 'failed')}"
    return f"{status}: {stack.get('StackStatusReason', 'see the stack events in the CloudFormation console')}"


def _apply_change_set(cloudformation: Any, stack_name: str, template: str, out: Callable[[str], None]) -> None:
    kind = _change_set_type(cloudformation, stack_name)
    # Unique even for two deploys within a second; the time says which deploy made it.
    name = f"etl-platform-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        TemplateBody=template,
        ChangeSetType=kind,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
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
        raise DeployError(
            f"stack {stack_name} did not {kind.lower()}: {_failure_reason(cloudformation, stack_name)}"
        ) from None
    out(f"stack {stack_name}: {kind.lower()} complete")


def _outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = _stack(cloudformation, stack_name) or {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "ArtifactBucketName" not in outputs:
        raise DeployError(f"stack {stack_name} has no ArtifactBucketName output; is it this project's stack?")
    return outputs


def _upload_scripts(s3: Any, bucket: str, out: Callable[[str], None]) -> None:
    """Every script, shared modules included: Glue loads them from here on each run."""
    out(f"uploading to s3://{bucket}/{SCRIPTS_PREFIX}:")
    for path in script_files():
        s3.upload_file(str(path), bucket, SCRIPTS_PREFIX + path.name)
        out(_describe_script(path))


def _print_outputs(outputs: dict[str, str], out: Callable[[str], None]) -> None:
    out("stack outputs (attach OrchestratorPolicyArn to the role or user that runs Dagster):")
    for key, value in sorted(outputs.items()):
        out(f"  {key:<24} {value}")
    out("")
    out("Put these in .env (or export them) to run with ETL_PLATFORM_ENV=aws:")
    out("ETL_PLATFORM_ENV=aws")
    for variable, output in ENVIRONMENT_OUTPUTS.items():
        out(f"{variable}={outputs.get(output, '')}")


def run_deploy(
    *,
    stack_name: str,
    region: str | None,
    dry_run: bool,
    out: Callable[[str], None] = print,
    cloudformation: Any = None,
    s3: Any = None,
) -> int:
    """Create or update the stack, upload ``glue-scripts/``, print the stack's outputs as ``.env`` lines.

    Clients come from boto3's standard credential chain unless given (tests inject them).
    """
    if dry_run:
        _print_plan(stack_name, region, out)
        return 0
    try:
        cloudformation = cloudformation or boto3.client("cloudformation", region_name=region)
        s3 = s3 or boto3.client("s3", region_name=region)
        _apply_change_set(cloudformation, stack_name, TEMPLATE.read_text(), out)
        outputs = _outputs(cloudformation, stack_name)
        _upload_scripts(s3, outputs["ArtifactBucketName"], out)
    except (BotoCoreError, ClientError) as error:  # no credentials or region, access denied, bad template...
        raise DeployError(f"deploy of stack {stack_name} failed: {error}") from None
    _print_outputs(outputs, out)
    return 0
