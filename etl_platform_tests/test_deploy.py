"""`etl-platform deploy`: an offline dry run, and the change-set flow against moto."""

import boto3
import pytest
from moto import mock_aws

from etl_platform import cli, deploy
from etl_platform.project import GLUE_SCRIPTS_DIR

# moto's CloudFormation lacks Glue jobs and Athena workgroups, so the flow is exercised with a
# stand-in stack holding what deploy relies on; the real template is checked by test_infra.py.
STAND_IN = """
Resources:
  ArtifactBucket:
    Type: AWS::S3::Bucket
Outputs:
  ArtifactBucketName:
    Value: !Ref ArtifactBucket
  Region:
    Value: !Ref AWS::Region
"""


class _MotoOutputs:
    """moto's CloudFormation client, plus the stack outputs its change-set execution leaves out."""

    def __init__(self):
        self._client = boto3.client("cloudformation", region_name="us-east-1")

    def describe_stacks(self, **kwargs):
        response = self._client.describe_stacks(**kwargs)
        for stack in response["Stacks"]:
            resources = self._client.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
            bucket = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ArtifactBucket")
            stack["Outputs"] = [{"OutputKey": "ArtifactBucketName", "OutputValue": bucket}, {"OutputKey": "Region", "OutputValue": "us-east-1"}]
        return response

    def __getattr__(self, name):
        return getattr(self._client, name)


class _FailingWaiter:
    """What boto3's change_set_create_complete waiter does when the change set fails."""

    def wait(self, **_):
        from botocore.exceptions import WaiterError

        raise WaiterError("ChangeSetCreateComplete", "failed", {})


class _Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"dry run called AWS: {name}")


def test_dry_run_makes_no_aws_calls(monkeypatch, capsys) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    lines: list[str] = []
    assert deploy.run_deploy(stack_name="etl", region=None, dry_run=True, out=lines.append,
                             cloudformation=_Untouchable(), s3=_Untouchable()) == 0  # fmt: skip
    text = "\n".join(lines)
    assert "AWS::Glue::Job" in text and "ProcessSalesJob" in text and "AWS::Athena::WorkGroup" in text
    for script in GLUE_SCRIPTS_DIR.glob("*.py"):
        assert script.name in text
    assert cli.main(["deploy", "--dry-run"]) == 0
    assert "would deploy stack etl-platform" in capsys.readouterr().out


def test_deploy_creates_then_updates_and_uploads_the_scripts(monkeypatch, tmp_path) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    template = tmp_path / "stack.yaml"
    template.write_text(STAND_IN)
    monkeypatch.setattr(deploy, "TEMPLATE", template)
    with mock_aws():
        cloudformation = _MotoOutputs()
        lines: list[str] = []
        assert deploy.run_deploy(stack_name="etl", region="us-east-1", dry_run=False, out=lines.append, cloudformation=cloudformation) == 0
        assert any("create complete" in line for line in lines)
        bucket = next(line.split("=", 1)[1] for line in lines if line.startswith("ETL_ARTIFACT_BUCKET="))
        s3 = boto3.client("s3", region_name="us-east-1")
        for script in GLUE_SCRIPTS_DIR.glob("*.py"):
            assert s3.get_object(Bucket=bucket, Key=f"glue-scripts/{script.name}")["Body"].read() == script.read_bytes()
        assert "ETL_AWS_REGION=us-east-1" in lines
        again: list[str] = []
        assert deploy.run_deploy(stack_name="etl", region="us-east-1", dry_run=False, out=again.append, cloudformation=cloudformation) == 0
        assert any(line.startswith("update change set") for line in again)


def test_failed_change_set_is_one_clear_error() -> None:
    class Refusing:
        def describe_stacks(self, **_):
            return {"Stacks": [{"StackName": "etl"}]}

        def create_change_set(self, **_):
            return {}

        def get_waiter(self, _):
            return _FailingWaiter()

        def describe_change_set(self, **_):
            return {"StatusReason": "Template error: instance of Fn::GetAtt references undefined resource Nope"}

    with pytest.raises(deploy.DeployError, match="failed: Template error: .*undefined resource Nope"):
        deploy.run_deploy(stack_name="etl", region="us-east-1", dry_run=False, out=lambda _: None,
                          cloudformation=Refusing(), s3=_Untouchable())  # fmt: skip


def test_a_deploy_with_no_changes_is_a_no_op() -> None:
    calls: list[str] = []

    class Unchanged:
        def describe_stacks(self, **_):
            return {"Stacks": [{"StackName": "etl", "Outputs": [{"OutputKey": "ArtifactBucketName", "OutputValue": "artifacts"}]}]}

        def create_change_set(self, **kwargs):
            calls.append(f"create {kwargs['ChangeSetType']}")

        def get_waiter(self, _):
            return _FailingWaiter()

        def describe_change_set(self, **_):
            return {"StatusReason": "The submitted information didn't contain changes. Submit different information to create a change set."}

        def delete_change_set(self, **_):
            calls.append("delete")

        def execute_change_set(self, **_):
            raise AssertionError("an empty change set was executed")

    class S3:
        def upload_file(self, *_):
            calls.append("upload")

    lines: list[str] = []
    assert deploy.run_deploy(stack_name="etl", region="us-east-1", dry_run=False, out=lines.append, cloudformation=Unchanged(), s3=S3()) == 0
    assert calls[:2] == ["create UPDATE", "delete"] and "stack is up to date: nothing to change" in lines
