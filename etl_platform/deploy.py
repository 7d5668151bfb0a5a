"""``etl-platform deploy``: create or update the CloudFormation stack, ship the Spark scripts, then
(with an image tag) create or update the orchestrator's stack.

The template is rendered from the registry (``etl_platform.infra_template``). A change set makes
the deploy idempotent (no changes -> nothing happens) and reviewable; the scripts and the zips
they import are uploaded after the stack exists because the stack creates their bucket. The
orchestrator's stack (``<stack>-orchestrator``) takes the data plane's outputs as its parameters
and the image tag the user pushed to the data plane's repository. The EMR Serverless image's tag is
a data-plane parameter: set when given, kept as it was when not.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import stat
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import dagster_pipes
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from etl_platform.datasets import REGISTRY, Engine, Registry
from etl_platform.errors import UserError
from etl_platform.infra_template import (
    BASE_TEMPLATE,
    EMR_APPLICATION,
    EMR_IMAGE_PARAMETER,
    ENVIRONMENT_OUTPUTS,
    ORCHESTRATOR_TEMPLATE,
    build_orchestrator_template,
    build_template,
    emr_serverless_inputs,
    glue_jobs,
    load_template,
    render_orchestrator_template,
    render_template,
)
from etl_platform.project import (
    CONTRACT_DIR,
    CONTRACT_ZIP,
    GLUE_SCRIPTS_DIR,
    PIPES_ZIP,
    PROJECT_ROOT,
    SCRIPTS_PREFIX,
    SHARED_SCRIPTS,
)

# The orchestrator's parameter deploy sets itself; every other one is the data-plane output of its name.
IMAGE_TAG_PARAMETER = "ImageTag"
WEBSERVER_PORT = 3000
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# A stack whose first create failed can only be deleted, not updated.
DEAD_STATES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
# Where an operation on the stack starts in its event history (newest first).
OPERATION_STARTS = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS")
# The earliest time a zip entry can carry: no build time in the contract zip, so its digest is stable.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class DeployError(UserError):
    """A deploy that cannot go on, in one line (CloudFormation's own reason where there is one)."""


def orchestrator_stack_name(stack_name: str) -> str:
    """A stack of its own beside the data plane's: it needs an image pushed after the data plane exists."""
    return f"{stack_name}-orchestrator"


def _zip(root: Path, files: list[Path]) -> bytes:
    """``files`` named by their path under ``root``. Sorted entries with fixed times and modes make
    equal sources give equal bytes, so a digest tells whether it changed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in files:
            entry = zipfile.ZipInfo(path.relative_to(root).as_posix(), ZIP_TIME)
            entry.create_system = 3  # Unix, whatever the machine, for the mode below
            entry.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def contract_zip(contract_dir: Path = CONTRACT_DIR) -> bytes:
    """``etl_platform/__init__.py`` and every module of the contract package, for Glue's
    ``--extra-py-files``: the scripts import ``etl_platform.contract`` from it."""
    if not (contract_dir / "__init__.py").is_file():
        raise DeployError(f"no contract package at {contract_dir}: the Glue scripts import it")
    return _zip(contract_dir.parents[1], sorted([contract_dir.parent / "__init__.py", *contract_dir.rglob("*.py")]))


def pipes_zip() -> bytes:
    """The dagster-pipes package the orchestrator runs, for ``--extra-py-files``: the scripts speak
    the orchestrator's protocol version, and a Glue run installs nothing from a package index."""
    package = Path(dagster_pipes.__file__).parent
    return _zip(package.parent, sorted(package.rglob("*.py")))


def artifacts(registry: Registry = REGISTRY, scripts_dir: Path = GLUE_SCRIPTS_DIR) -> dict[str, bytes]:
    """What Glue and EMR Serverless load from the artifact bucket, by file name: every script,
    shared modules included, the contract zip and dagster-pipes. A script the registry's Spark
    inputs or the join name but the folder lacks stops the deploy."""
    files = {path.name: path.read_bytes() for path in sorted(scripts_dir.glob("*.py"))}
    try:
        named = {script for script, _ in glue_jobs(registry).values()} | set(SHARED_SCRIPTS)
    except ValueError as error:  # the registry cannot be laid out as Glue jobs
        raise DeployError(str(error)) from None
    named |= {d.script for d in emr_serverless_inputs(registry)}
    missing = sorted(named - set(files))
    if missing:
        raise DeployError(f"scripts the Spark jobs need are missing from {scripts_dir}: {', '.join(missing)}")
    return {**files, CONTRACT_ZIP: contract_zip(), PIPES_ZIP: pipes_zip()}


def _describe(name: str, content: bytes) -> str:
    """Size and digest, so a user can tell which version of a file was (or would be) shipped."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"  {name:<40} {len(content):>7,} bytes  sha256 {digest}"


def _print_resources(resources: dict[str, Any], notes: dict[str, str], out: Callable[[str], None]) -> None:
    """One line per resource: its type, its logical id, and a note on it if there is one."""
    width = max(len(resource["Type"]) for resource in resources.values())
    for logical_id, resource in resources.items():
        note = f"  ({notes[logical_id]})" if logical_id in notes else ""
        out(f"  {resource['Type']:<{width}} {logical_id}{note}")


def _print_plan(
    stack_name: str,
    region: str | None,
    registry: Registry,
    shipped: dict[str, bytes],
    image_tag: str | None,
    emr_image_tag: str | None,
    out: Callable[[str], None],
) -> None:
    """The dry run: read only local files, so it works offline and without credentials."""
    out(
        f"would deploy stack {stack_name} in {region or 'the default region'} from "
        f"{BASE_TEMPLATE.relative_to(PROJECT_ROOT)} and the dataset registry:"
    )
    notes = {
        logical_id: f"{script}: {capacity.number_of_workers} x {capacity.worker_type}, "
        f"timeout {capacity.timeout_minutes} min"
        for logical_id, (script, capacity) in glue_jobs(registry).items()
    }
    runs = ", ".join(f"{d.name} ({d.script})" for d in emr_serverless_inputs(registry)) or "no input yet"
    image = f"image tag {emr_image_tag}" if emr_image_tag else "its image tag as deployed last"
    notes[EMR_APPLICATION] = f"runs {runs}; {image}"
    sql_inputs = [d for d in registry.inputs if d.engine is Engine.SQL]
    queries = ", ".join(f"{d.name} ({d.script})" for d in sql_inputs) or "no input yet"
    notes["AthenaWorkGroup"] = f"writes the engagement report and runs the SQL inputs: {queries}"
    notes["AthenaQueryWorkGroup"] = "runs etl-platform query and the report's queries as QueryRole, read-only"
    _print_resources(build_template(registry)["Resources"], notes, out)
    out(
        f"then upload to s3://<ArtifactBucketName output>/{SCRIPTS_PREFIX} (the bucket's name is known once the stack exists):"
    )
    for name, content in shipped.items():
        out(_describe(name, content))
    image = f"image tag {image_tag}" if image_tag else "only with --image-tag TAG (an image pushed there)"
    out(
        f"then stack {orchestrator_stack_name(stack_name)} from {ORCHESTRATOR_TEMPLATE.relative_to(PROJECT_ROOT)}, "
        f"the stack's outputs as its parameters, from <ImageRepositoryUri output>, {image}:"
    )
    _print_resources(build_orchestrator_template()["Resources"], {}, out)


def _stack(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        # DescribeStacks answers a missing stack with ValidationError (its API reference says so).
        # A malformed name gets the same code; the change set then refuses it with AWS's reason.
        if error.response["Error"]["Code"] == "ValidationError":
            return None
        raise
    return stack


def _change_set_type(stack_name: str, stack: dict[str, Any] | None) -> str:
    """CREATE for a new stack, and for one a failed first change set left in REVIEW_IN_PROGRESS."""
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


def _given(stack: dict[str, Any] | None, parameters: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """The change set's parameters: each value given, and for a ``None`` the stack's current value
    if it has one that is not empty; otherwise the parameter is left out, so it takes the
    template's default (empty for these), as CloudFormation refuses to keep a value the stack
    never had."""
    current = {p["ParameterKey"]: p.get("ParameterValue") for p in (stack or {}).get("Parameters", [])}
    given: list[dict[str, Any]] = []
    for key, value in parameters.items():
        if value is not None:
            given.append({"ParameterKey": key, "ParameterValue": value})
        elif current.get(key):
            given.append({"ParameterKey": key, "UsePreviousValue": True})
    return given


def _apply_change_set(
    cloudformation: Any,
    stack_name: str,
    template: str,
    out: Callable[[str], None],
    parameters: Mapping[str, str | None] | None = None,
) -> None:
    """``parameters``: a value, or ``None`` to keep the stack's."""
    stack = _stack(cloudformation, stack_name)
    kind = _change_set_type(stack_name, stack)
    # Unique even for two deploys within a second; the time says which deploy made it.
    name = f"etl-platform-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    given = _given(stack if kind == "UPDATE" else None, parameters or {})
    cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        TemplateBody=template,
        ChangeSetType=kind,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        **({"Parameters": given} if given else {}),
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


def _outputs(cloudformation: Any, stack_name: str, required: str = "ArtifactBucketName") -> dict[str, str]:
    stack = _stack(cloudformation, stack_name) or {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if required not in outputs:
        raise DeployError(f"stack {stack_name} has no {required} output; is it this project's stack?")
    return outputs


def orchestrator_parameters(outputs: dict[str, str], image_tag: str) -> dict[str, str]:
    """Each orchestrator parameter the data plane has an output of that name for, and the image tag.
    A parameter without a default that neither gives stops the deploy before any change set."""
    declared = load_template(ORCHESTRATOR_TEMPLATE)["Parameters"]
    values = {name: outputs[name] for name in declared if name in outputs} | {IMAGE_TAG_PARAMETER: image_tag}
    missing = sorted(name for name, spec in declared.items() if name not in values and "Default" not in spec)
    if missing:
        raise DeployError(f"the data-plane stack has no output for the orchestrator's parameters: {', '.join(missing)}")
    return values


def _upload(s3: Any, bucket: str, shipped: dict[str, bytes], out: Callable[[str], None]) -> None:
    """Glue and EMR Serverless load these from here on each run."""
    out(f"uploading to s3://{bucket}/{SCRIPTS_PREFIX}:")
    for name, content in shipped.items():
        s3.put_object(Bucket=bucket, Key=SCRIPTS_PREFIX + name, Body=content)
        out(_describe(name, content))


def _print_tunnel(outputs: dict[str, str], region: str | None, out: Callable[[str], None]) -> None:
    """How to reach the webserver, which nothing on the network can: a Session Manager port
    forwarding into its task (ECS Exec), then http://localhost:3000."""
    cluster, service = outputs["ClusterName"], outputs["WebserverServiceName"]
    flag = f" --region {region}" if region else ""
    out(f"orchestrator stack outputs (Dagster UI: http://localhost:{WEBSERVER_PORT} through this tunnel):")
    for key, value in sorted(outputs.items()):
        out(f"  {key:<24} {value}")
    out(
        f"TASK=$(aws ecs list-tasks{flag} --cluster {cluster} --service-name {service} --query 'taskArns[0]' --output text)"
    )
    out(
        f"RUNTIME=$(aws ecs describe-tasks{flag} --cluster {cluster} --tasks $TASK "
        "--query 'tasks[0].containers[?name==`webserver`].runtimeId' --output text)"
    )
    out(
        f'aws ssm start-session{flag} --target "ecs:{cluster}_${{TASK##*/}}_$RUNTIME" '
        f"--document-name AWS-StartPortForwardingSession --parameters portNumber={WEBSERVER_PORT},"
        f"localPortNumber={WEBSERVER_PORT}"
    )


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
    registry: Registry = REGISTRY,
    scripts_dir: Path = GLUE_SCRIPTS_DIR,
    image_tag: str | None = None,
    emr_image_tag: str | None = None,
) -> int:
    """Create or update the stack (with ``emr_image_tag``, its EMR Serverless application on that
    image), upload the scripts and the zips, print the stack's outputs as ``.env`` lines; with
    ``image_tag``, then create or update the orchestrator's stack and print how to open its UI.

    Clients come from boto3's standard credential chain unless given (tests inject them).
    """
    shipped = artifacts(registry, scripts_dir)  # before any AWS call: a missing file stops the deploy here
    if dry_run:
        _print_plan(stack_name, region, registry, shipped, image_tag, emr_image_tag, out)
        return 0
    orchestrator: dict[str, str] = {}
    try:
        cloudformation = cloudformation or boto3.client("cloudformation", region_name=region)
        s3 = s3 or boto3.client("s3", region_name=region)
        data_plane = {EMR_IMAGE_PARAMETER: emr_image_tag}
        _apply_change_set(cloudformation, stack_name, render_template(registry), out, data_plane)
        outputs = _outputs(cloudformation, stack_name)
        _upload(s3, outputs["ArtifactBucketName"], shipped, out)
        if image_tag:
            name = orchestrator_stack_name(stack_name)
            parameters = orchestrator_parameters(outputs, image_tag)
            _apply_change_set(cloudformation, name, render_orchestrator_template(), out, parameters)
            orchestrator = _outputs(cloudformation, name, required="ClusterName")
    except (BotoCoreError, ClientError) as error:  # no credentials or region, access denied, bad template...
        raise DeployError(f"deploy of stack {stack_name} failed: {error}") from None
    _print_outputs(outputs, out)
    if orchestrator:
        out("")
        _print_tunnel(orchestrator, region, out)
    return 0
