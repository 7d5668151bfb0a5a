"""`etl-platform deploy`: an offline dry run, the real template against moto, and the change-set
flow call by call with botocore's Stubber.

moto 5's CloudFormation creates the buckets (without their versioning), topic, role and managed
policy of the template but skips AWS::Glue::Job, AWS::Glue::Database, AWS::Athena::WorkGroup,
AWS::EMRServerless::Application and AWS::S3::BucketPolicy (so the template names the application
by its Ref, never an attribute moto cannot give), and its change-set execution leaves the stack
without Outputs; it does
implement the "didn't contain changes" answer. What moto cannot show (exact calls, rollbacks, REVIEW_IN_PROGRESS) is stubbed.
The orchestrator's stack is stubbed only: moto's CloudFormation cannot create it (it fails on
``Fn::Select`` over ``Fn::Cidr`` and on a flow log to a bucket of another stack, before reaching
ECS, RDS or Cloud Map).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import dagster_pipes
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from etl_platform import cli, deploy
from etl_platform.datasets import MARKETING, REGISTRY, SALES, THREE_ENGINES, Registry
from etl_platform.infra_template import (
    ORCHESTRATOR_TEMPLATE,
    build_orchestrator_template,
    load_template,
    render_orchestrator_template,
    render_template,
)
from etl_platform.project import CONTRACT_DIR, CONTRACT_ZIP, GLUE_SCRIPTS_DIR, PIPES_ZIP, PROJECT_ROOT
from etl_platform_tests.test_infra import AD_SPEND, WITH_AD_SPEND

SCRIPTS = sorted(GLUE_SCRIPTS_DIR.glob("*.py"))
SHIPPED = [*(script.name for script in SCRIPTS), CONTRACT_ZIP, PIPES_ZIP]
NOW = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/etl/1"
OUTPUTS = {
    "ProjectName": "etl-platform",
    "ArtifactBucketName": "etl-artifacts",
    "DataBucketName": "etl-data",
    "ScratchBucketName": "etl-scratch",
    "LogBucketName": "etl-logs",
    "GlueJobPrefix": "etl-platform-",
    "EmrServerlessApplicationId": "00fabc123def4567",
    "EmrServerlessJobRoleArn": "arn:aws:iam::123456789012:role/etl-platform-emr-serverless-jobs",
    "EmrImageRepositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/etl-platform-emr-serverless",
    "GlueDatabaseName": "etl_platform",
    "AthenaWorkGroupName": "etl-platform",
    "Region": "us-east-1",
    "AthenaResultsLocation": "s3://etl-scratch/athena-results/",
    "AthenaQueryWorkGroupName": "etl-platform-query",
    "AthenaQueryRoleArn": "arn:aws:iam::123456789012:role/etl-platform-query",
    "AlertTopicArn": "arn:aws:sns:us-east-1:123456789012:etl-platform-alerts",
    "OrchestratorPolicyArn": "arn:aws:iam::123456789012:policy/etl-platform-orchestrator",
    "ImageRepositoryName": "etl-platform",
    "ImageRepositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/etl-platform",
}
ORCHESTRATOR_OUTPUTS = {"ClusterName": "etl-platform", "WebserverServiceName": "etl-orchestrator-WebserverService-1"}


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"dry run called AWS: {name}")


class _RecordingS3:
    def __init__(self) -> None:
        self.uploads: list[tuple[str, str]] = []

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803 - boto3's names
        self.uploads.append((Bucket, Key))


def _plan(**kwargs: Any) -> list[str]:
    lines: list[str] = []
    assert deploy.run_deploy(stack_name="etl", region="eu-west-1", dry_run=True, out=lines.append, **kwargs) == 0
    return lines


def test_dry_run_makes_no_aws_calls_and_needs_no_credentials(monkeypatch, capsys) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setattr(boto3, "client", _Untouchable().__getattr__)
    lines: list[str] = []
    assert (
        deploy.run_deploy(
            stack_name="etl",
            region="eu-west-1",
            dry_run=True,
            out=lines.append,
            cloudformation=_Untouchable(),
            s3=_Untouchable(),
        )
        == 0
    )
    text = "\n".join(lines)
    assert "stack etl in eu-west-1" in text
    assert any("AWS::S3::Bucket" in line and line.endswith("DataBucket") for line in lines)
    assert any(
        "AWS::Athena::WorkGroup" in line
        and line.endswith("AthenaWorkGroup  (writes the engagement report and runs the SQL inputs: no input yet)")
        for line in lines
    )
    assert any(
        line.endswith(
            "AthenaQueryWorkGroup  (runs etl-platform query and the report's queries as QueryRole, read-only)"
        )
        for line in lines
    )
    assert any(
        "AWS::Glue::Job" in line and line.endswith("ProcessSalesJob  (process_sales_data.py: 2 x G.1X, timeout 60 min)")
        for line in lines
    )
    assert any(
        "AWS::EMRServerless::Application" in line
        and line.endswith("EmrServerlessApplication  (runs no input yet; its image tag as deployed last)")
        for line in lines
    )
    assert "s3://<ArtifactBucketName output>/glue-scripts/" in text and "known once the stack exists" in text
    shipped = {script.name: script.read_bytes() for script in SCRIPTS} | {
        CONTRACT_ZIP: deploy.contract_zip(),
        PIPES_ZIP: deploy.pipes_zip(),
    }
    for name, content in shipped.items():
        digest = hashlib.sha256(content).hexdigest()[:12]
        assert any(name in line and f"{len(content):,} bytes" in line and digest in line for line in lines), name
    assert cli.main(["deploy", "--dry-run"]) == 0
    assert "would deploy stack etl-platform in the default region" in capsys.readouterr().out


def test_dry_run_shows_the_orchestrator_stack_and_every_resource_of_it() -> None:
    lines = _plan()
    (heading,) = [line for line in lines if line.startswith("then stack etl-orchestrator from infra/orchestrator.yaml")]
    assert heading.endswith("only with --image-tag TAG (an image pushed there):")
    shown = lines[lines.index(heading) + 1 :]
    resources = build_orchestrator_template()["Resources"]
    assert [line.split() for line in shown] == [[r["Type"], logical_id] for logical_id, r in resources.items()]
    for kind in ("AWS::ECS::Service", "AWS::RDS::DBInstance", "AWS::ECS::TaskDefinition", "AWS::EC2::VPC"):
        assert any(line.split()[0] == kind for line in shown), kind
    tagged = _plan(image_tag="v7")
    assert any(line.startswith("then stack etl-orchestrator") and line.endswith("image tag v7:") for line in tagged)


def test_a_third_dataset_adds_its_glue_job_to_the_plan_and_nothing_else(tmp_path) -> None:
    scripts = tmp_path / "glue-scripts"
    shutil.copytree(GLUE_SCRIPTS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / AD_SPEND.script).write_text("print('ad spend')\n")
    two = _plan(scripts_dir=scripts)
    three = _plan(scripts_dir=scripts, registry=WITH_AD_SPEND)
    added = [line for line in three if line not in two]
    assert [" ".join(line.split()) for line in added] == [
        "AWS::Glue::Job ProcessAdSpendJob (process_ad_spend_data.py: 10 x G.2X, timeout 120 min)"
    ]
    assert len(three) == len(two) + 1
    assert any(line.split()[0] == AD_SPEND.script for line in two)  # uploaded either way: it is in the folder


def test_per_engine_the_plan_has_glue_jobs_for_spark_only_and_names_what_emr_serverless_runs() -> None:
    lines = [" ".join(line.split()) for line in _plan(registry=THREE_ENGINES, emr_image_tag="py311-1")]
    jobs = [line for line in lines if line.startswith("AWS::Glue::Job ")]
    assert [line.split()[1] for line in jobs] == ["ProcessSalesJob", "JoinJob"]
    assert (
        "AWS::EMRServerless::Application EmrServerlessApplication "
        "(runs marketing (process_marketing_data.py); image tag py311-1)"
    ) in lines
    assert (
        "AWS::Athena::WorkGroup AthenaWorkGroup (writes the engagement report and runs the SQL inputs: "
        "ad_spend (process_ad_spend.sql))"
    ) in lines


def test_a_script_an_emr_serverless_input_names_must_be_in_the_folder(tmp_path) -> None:
    scripts = tmp_path / "glue-scripts"
    shutil.copytree(GLUE_SCRIPTS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "process_marketing_data.py").unlink()
    with pytest.raises(deploy.DeployError, match=r"Spark jobs need are missing from \S+: process_marketing_data.py$"):
        _plan(registry=THREE_ENGINES, scripts_dir=scripts)


def test_a_registered_script_missing_from_the_folder_stops_even_the_dry_run() -> None:
    with pytest.raises(deploy.DeployError, match=r"missing from \S+glue-scripts: process_ad_spend_data.py$"):
        _plan(registry=WITH_AD_SPEND, cloudformation=_Untouchable(), s3=_Untouchable())


def test_a_script_registered_with_two_capacities_is_a_one_line_error() -> None:
    twice = Registry(inputs=(SALES, MARKETING, replace(AD_SPEND, script=SALES.script)), joined=REGISTRY.joined)
    with pytest.raises(deploy.DeployError, match="process_sales_data.py is registered with two capacities"):
        _plan(registry=twice)


# --- the contract zip --------------------------------------------------------------------------


def _copy_of_the_contract(root: Path) -> Path:
    """The package's files under ``root`` as in the project, so a test may touch them."""
    contract = root / "etl_platform" / "contract"
    shutil.copytree(CONTRACT_DIR, contract, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "etl_platform" / "__init__.py", contract.parent / "__init__.py")
    return contract


def test_contract_zip_holds_the_package_sorted_with_fixed_times() -> None:
    archive = zipfile.ZipFile(io.BytesIO(deploy.contract_zip()))
    names = archive.namelist()
    expected = ["etl_platform/__init__.py"] + [
        path.relative_to(PROJECT_ROOT).as_posix() for path in CONTRACT_DIR.rglob("*.py")
    ]
    assert names == sorted(expected) and "etl_platform/contract/__init__.py" in names
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    for name in names:
        assert archive.read(name) == (PROJECT_ROOT / name).read_bytes()


def test_contract_zip_changes_with_the_sources_not_with_their_file_times(tmp_path) -> None:
    contract = _copy_of_the_contract(tmp_path)
    before = deploy.contract_zip(contract)
    for path in contract.rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert deploy.contract_zip(contract) == before
    (contract / "__init__.py").write_text((contract / "__init__.py").read_text() + "\n# edited\n")
    assert deploy.contract_zip(contract) != before


def test_a_missing_contract_package_stops_the_deploy(tmp_path) -> None:
    with pytest.raises(deploy.DeployError, match="no contract package at"):
        deploy.contract_zip(tmp_path / "etl_platform" / "contract")


def test_pipes_zip_holds_the_installed_dagster_pipes_sorted_with_fixed_times() -> None:
    archive = zipfile.ZipFile(io.BytesIO(deploy.pipes_zip()))
    installed = Path(dagster_pipes.__file__).parent
    assert archive.namelist() == sorted(
        f"dagster_pipes/{p.relative_to(installed).as_posix()}" for p in installed.rglob("*.py")
    )
    assert "dagster_pipes/__init__.py" in archive.namelist()
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert deploy.pipes_zip() == deploy.pipes_zip()


def test_the_shipped_dagster_pipes_imports_with_the_standard_library_alone(tmp_path) -> None:
    """As on Glue, with nothing installed: the zip on the path is all the scripts need to talk Pipes."""
    shipped = tmp_path / PIPES_ZIP
    shipped.write_bytes(deploy.pipes_zip())
    code = (
        f"import sys; sys.path.insert(0, {str(shipped)!r}); import dagster_pipes as p; "
        "from dagster_pipes.version import __version__; print(p.__file__, __version__); p.open_dagster_pipes"
    )
    imported = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    where, version = imported.stdout.split()
    assert where.startswith(str(shipped)) and version == importlib.metadata.version("dagster-pipes")


@pytest.mark.parametrize("as_shipped", ["unpacked", "zip on the path"])
def test_the_contract_imports_with_the_standard_library_alone(tmp_path, as_shipped: str) -> None:
    """As on Glue: a Python without site-packages (``-S``) nor the environment (``-I``) imports the
    package from the zip (Glue puts ``--extra-py-files`` on the path) or from its unpacked files."""
    shipped = tmp_path / CONTRACT_ZIP
    shipped.write_bytes(deploy.contract_zip())
    entry = shipped
    if as_shipped == "unpacked":
        entry = tmp_path / "unpacked"
        zipfile.ZipFile(shipped).extractall(entry)
    code = f"import sys; sys.path.insert(0, {str(entry)!r}); import etl_platform.contract as c; print(c.__file__)"
    imported = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip().startswith(str(entry))


class _MotoCloudFormation:
    """moto's CloudFormation client, plus the outputs its change-set execution leaves out, taken
    from the resources it did create."""

    def __init__(self) -> None:
        self._client = boto3.client("cloudformation", region_name="us-east-1")

    def describe_stacks(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.describe_stacks(**kwargs)
        for stack in response["Stacks"]:
            if "Outputs" not in stack:
                resources = self._client.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
                ids = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if "LogicalResourceId" in r}
                outputs = {
                    "ArtifactBucketName": ids["ArtifactBucket"],
                    "DataBucketName": ids["DataBucket"],
                    "Region": "us-east-1",
                }
                stack["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
def test_real_template_deploys_on_moto_then_redeploys_as_a_no_op(fake_aws_credentials) -> None:
    with mock_aws():
        cloudformation = _MotoCloudFormation()
        lines: list[str] = []
        assert (
            deploy.run_deploy(
                stack_name="etl", region="us-east-1", dry_run=False, out=lines.append, cloudformation=cloudformation
            )
            == 0
        )
        assert any(line.startswith("create change set") for line in lines) and "stack etl: create complete" in lines
        bucket = next(line.split()[1] for line in lines if line.split()[:1] == ["ArtifactBucketName"])
        assert bucket == "etl-platform-artifacts-123456789012-us-east-1"
        s3 = boto3.client("s3", region_name="us-east-1")
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert listed == sorted(f"glue-scripts/{name}" for name in SHIPPED)
        for script in SCRIPTS:
            assert s3.get_object(Bucket=bucket, Key=f"glue-scripts/{script.name}")["Body"].read() == script.read_bytes()
        assert s3.get_object(Bucket=bucket, Key=f"glue-scripts/{CONTRACT_ZIP}")["Body"].read() == deploy.contract_zip()
        assert "etl-platform-data-123456789012-us-east-1" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert "ETL_PLATFORM_ENV=aws" in lines and "ETL_AWS_REGION=us-east-1" in lines

        again: list[str] = []
        assert (
            deploy.run_deploy(
                stack_name="etl", region="us-east-1", dry_run=False, out=again.append, cloudformation=cloudformation
            )
            == 0
        )
        assert (
            any(line.startswith("update change set") for line in again)
            and "stack is up to date: nothing to change" in again
        )
        # Only the executed create is left (moto keeps executed change sets; AWS drops them).
        summaries = cloudformation.list_change_sets(StackName="etl")["Summaries"]
        assert [s["ExecutionStatus"] for s in summaries] == ["EXECUTE_COMPLETE"]
        assert f"  {'ArtifactBucketName':<24} {bucket}" in again


# --- the change-set flow, call by call ----------------------------------------------------------


def _stack(status: str, **extra: Any) -> dict[str, Any]:
    return {"Stacks": [{"StackName": "etl", "StackId": STACK_ID, "CreationTime": NOW, "StackStatus": status, **extra}]}


def _with_outputs() -> dict[str, Any]:
    return _stack("CREATE_COMPLETE", Outputs=[{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()])


def _event(logical_id: str, status: str, reason: str = "", kind: str = "AWS::S3::Bucket") -> dict[str, Any]:
    return {
        "StackId": STACK_ID,
        "EventId": f"{logical_id}-{status}",
        "StackName": "etl",
        "LogicalResourceId": logical_id,
        "ResourceType": kind,
        "Timestamp": NOW,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
    }


def _stack_event(status: str) -> dict[str, Any]:
    return _event("etl", status, kind="AWS::CloudFormation::Stack")


class _Flow:
    """A real CloudFormation client whose answers are queued in order; any other call fails."""

    def __init__(self) -> None:
        self.client = boto3.client("cloudformation", region_name="us-east-1")
        self.stub = Stubber(self.client)
        self.names: list[str] = []

    def stack(self, response: dict[str, Any] | None, name: str = "etl") -> None:
        if response is None:
            self.stub.add_client_error(
                "describe_stacks",
                "ValidationError",
                f"Stack with id {name} does not exist",
                expected_params={"StackName": name},
            )
        else:
            self.stub.add_response("describe_stacks", response, {"StackName": name})

    def change_set(
        self, kind: str, status: str, reason: str = "", reads: int = 1, name: str = "etl", **template: Any
    ) -> None:
        """A change set of the data plane's template, or of ``TemplateBody`` and ``Parameters`` given."""
        params = {
            "StackName": name,
            "ChangeSetName": ANY,
            "TemplateBody": render_template(),
            "ChangeSetType": kind,
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            **template,
        }
        self.stub.add_response(
            "create_change_set",
            {"Id": "arn:aws:cloudformation:us-east-1:123456789012:changeSet/cs/1", "StackId": STACK_ID},
            params,
        )
        for _ in range(reads):
            self.stub.add_response(
                "describe_change_set",
                {"Status": status, "StatusReason": reason},
                {"StackName": name, "ChangeSetName": ANY},
            )

    def execute(self, final_stack: dict[str, Any], name: str = "etl") -> None:
        self.stub.add_response("execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
        self.stack(final_stack, name)

    def run(self, s3: Any = None, image_tag: str | None = None, emr_image_tag: str | None = None) -> list[str]:
        lines: list[str] = []
        with self.stub:
            try:
                deploy.run_deploy(
                    stack_name="etl",
                    region="us-east-1",
                    dry_run=False,
                    out=lines.append,
                    cloudformation=self.client,
                    s3=s3 or _RecordingS3(),
                    image_tag=image_tag,
                    emr_image_tag=emr_image_tag,
                )
            finally:
                self.lines = lines
            self.stub.assert_no_pending_responses()
        return lines


def test_first_deploy_creates_the_stack_uploads_and_prints_the_environment(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(None)
    flow.change_set("CREATE", "CREATE_COMPLETE")
    flow.execute(_stack("CREATE_COMPLETE"))
    flow.stack(_with_outputs())
    s3 = _RecordingS3()
    lines = flow.run(s3)
    assert s3.uploads == [("etl-artifacts", f"glue-scripts/{name}") for name in SHIPPED]
    assert "stack etl: create complete" in lines
    assert any("OrchestratorPolicyArn" in line and OUTPUTS["OrchestratorPolicyArn"] in line for line in lines)
    environment = lines[lines.index("ETL_PLATFORM_ENV=aws") :]
    assert environment == [
        "ETL_PLATFORM_ENV=aws",
        "ETL_AWS_REGION=us-east-1",
        "ETL_DATA_BUCKET=etl-data",
        "ETL_SCRATCH_BUCKET=etl-scratch",
        "ETL_GLUE_JOB_PREFIX=etl-platform-",
        "ETL_GLUE_DATABASE=etl_platform",
        "ETL_ATHENA_WORKGROUP=etl-platform",
        "ETL_ATHENA_RESULTS=s3://etl-scratch/athena-results/",
        "ETL_ATHENA_QUERY_WORKGROUP=etl-platform-query",
        f"ETL_ATHENA_QUERY_ROLE_ARN={OUTPUTS['AthenaQueryRoleArn']}",
        f"ETL_ALERT_TOPIC_ARN={OUTPUTS['AlertTopicArn']}",
        "ETL_ARTIFACT_BUCKET=etl-artifacts",
        "ETL_EMR_SERVERLESS_APPLICATION_ID=00fabc123def4567",
        f"ETL_EMR_SERVERLESS_ROLE_ARN={OUTPUTS['EmrServerlessJobRoleArn']}",
    ]


def test_an_image_tag_then_deploys_the_orchestrator_with_the_data_plane_outputs_and_tells_how_to_open_it(
    fake_aws_credentials,
) -> None:
    flow = _Flow()
    flow.stack(_stack("CREATE_COMPLETE"))
    flow.change_set("UPDATE", "CREATE_COMPLETE")
    flow.execute(_stack("UPDATE_COMPLETE"))
    flow.stack(_with_outputs())
    declared = load_template(ORCHESTRATOR_TEMPLATE)["Parameters"]
    given = [{"ParameterKey": k, "ParameterValue": OUTPUTS[k]} for k in declared if k in OUTPUTS]
    given.append({"ParameterKey": "ImageTag", "ParameterValue": "v7"})
    assert {p["ParameterKey"] for p in given} >= {k for k, spec in declared.items() if "Default" not in spec}
    orchestrator = "etl-orchestrator"
    flow.stack(None, orchestrator)
    flow.change_set(
        "CREATE", "CREATE_COMPLETE", name=orchestrator, TemplateBody=render_orchestrator_template(), Parameters=given
    )
    outputs = [{"OutputKey": k, "OutputValue": v} for k, v in ORCHESTRATOR_OUTPUTS.items()]
    flow.execute(_stack("CREATE_COMPLETE", Outputs=outputs), orchestrator)
    flow.stack(_stack("CREATE_COMPLETE", Outputs=outputs), orchestrator)
    lines = flow.run(image_tag="v7")
    assert "stack etl: update complete" in lines and "stack etl-orchestrator: create complete" in lines
    (start,) = [i for i, line in enumerate(lines) if line.startswith("orchestrator stack outputs")]
    tunnel = lines[start:]
    assert tunnel[0].startswith("orchestrator stack outputs (Dagster UI: http://localhost:3000")
    assert any("--cluster etl-platform --service-name etl-orchestrator-WebserverService-1" in line for line in tunnel)
    assert tunnel[-1] == (
        'aws ssm start-session --region us-east-1 --target "ecs:etl-platform_${TASK##*/}_$RUNTIME" '
        "--document-name AWS-StartPortForwardingSession --parameters portNumber=3000,localPortNumber=3000"
    )


def test_an_orchestrator_parameter_the_data_plane_has_no_output_for_stops_the_deploy() -> None:
    assert deploy.orchestrator_parameters(OUTPUTS, "v7")["ImageTag"] == "v7"
    older = {k: v for k, v in OUTPUTS.items() if k != "OrchestratorPolicyArn"}
    with pytest.raises(deploy.DeployError, match="no output for the orchestrator's parameters: OrchestratorPolicyArn$"):
        deploy.orchestrator_parameters(older, "v7")


def test_an_emr_image_tag_is_set_when_given_and_kept_when_not(fake_aws_credentials) -> None:
    """Kept: a deploy for a script change must not take the application back to EMR's own image."""
    given = _Flow()
    given.stack(_stack("CREATE_COMPLETE"))
    given.change_set(
        "UPDATE", "CREATE_COMPLETE", Parameters=[{"ParameterKey": "EmrImageTag", "ParameterValue": "py311-2"}]
    )
    given.execute(_stack("UPDATE_COMPLETE"))
    given.stack(_with_outputs())
    given.run(emr_image_tag="py311-2")
    tagged = _stack("UPDATE_COMPLETE", Parameters=[{"ParameterKey": "EmrImageTag", "ParameterValue": "py311-2"}])
    kept = _Flow()
    kept.stack(tagged)
    kept.change_set("UPDATE", "CREATE_COMPLETE", Parameters=[{"ParameterKey": "EmrImageTag", "UsePreviousValue": True}])
    kept.execute(_stack("UPDATE_COMPLETE"))
    kept.stack(_with_outputs())
    kept.run()


def test_existing_stack_is_updated(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(_stack("CREATE_COMPLETE"))
    flow.change_set("UPDATE", "CREATE_COMPLETE")
    flow.execute(_stack("UPDATE_COMPLETE"))
    flow.stack(_with_outputs())
    assert "stack etl: update complete" in flow.run()


def test_stack_left_in_review_by_a_failed_first_change_set_is_created_again(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(_stack("REVIEW_IN_PROGRESS"))
    flow.change_set("CREATE", "CREATE_COMPLETE")
    flow.execute(_stack("CREATE_COMPLETE"))
    flow.stack(_with_outputs())
    assert "stack etl: create complete" in flow.run()


def test_no_changes_deletes_the_change_set_and_still_ships_the_scripts(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(_with_outputs())
    flow.change_set(
        "UPDATE",
        "FAILED",
        "The submitted information didn't contain changes. Submit different information to create a change set.",
        reads=2,
    )
    flow.stub.add_response("delete_change_set", {}, {"StackName": "etl", "ChangeSetName": ANY})
    flow.stack(_with_outputs())
    s3 = _RecordingS3()
    lines = flow.run(s3)
    assert "stack is up to date: nothing to change" in lines and len(s3.uploads) == len(SHIPPED)


def test_rollback_names_the_resource_that_caused_it(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(None)
    flow.change_set("CREATE", "CREATE_COMPLETE")
    flow.execute(_stack("ROLLBACK_COMPLETE"))
    flow.stack(
        _stack("ROLLBACK_COMPLETE", StackStatusReason="The following resource(s) failed to create: [DataBucket].")
    )
    events = [  # newest first, as CloudFormation returns them
        _stack_event("ROLLBACK_COMPLETE"),
        _event("ArtifactBucket", "CREATE_FAILED", "Resource creation cancelled"),
        _stack_event("ROLLBACK_IN_PROGRESS"),
        _event("DataBucket", "CREATE_FAILED", "etl-platform-data-123456789012-us-east-1 already exists"),
        _event("DataBucket", "CREATE_IN_PROGRESS"),
        _stack_event("CREATE_IN_PROGRESS"),
        _event("Earlier", "CREATE_FAILED", "from an earlier operation"),
    ]
    flow.stub.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": "etl"})
    with pytest.raises(
        deploy.DeployError,
        match=r"did not create: ROLLBACK_COMPLETE: DataBucket: etl-platform-data-\S+ already exists$",
    ):
        flow.run()


def test_only_a_validation_error_means_the_stack_is_missing(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stub.add_client_error(
        "describe_stacks",
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudformation:DescribeStacks "
        "on resource: etl because no identity-based policy allows it, or the stack does not exist",
        expected_params={"StackName": "etl"},
    )
    with pytest.raises(deploy.DeployError, match=r"stack etl failed: .*AccessDenied"):
        flow.run()  # no create_change_set is queued: calling it would fail the stub instead


def test_stack_whose_first_create_failed_must_be_deleted_first(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(_stack("ROLLBACK_COMPLETE"))
    with pytest.raises(deploy.DeployError, match="ROLLBACK_COMPLETE after a failed first create: delete it"):
        flow.run()


def test_failed_change_set_is_one_clear_error(fake_aws_credentials) -> None:
    flow = _Flow()
    flow.stack(_stack("UPDATE_COMPLETE"))
    flow.change_set(
        "UPDATE", "FAILED", "Template error: instance of Fn::GetAtt references undefined resource Nope", reads=2
    )
    with pytest.raises(deploy.DeployError, match="failed: Template error: .*undefined resource Nope"):
        flow.run()


def test_aws_refusals_are_one_line_errors(fake_aws_credentials, monkeypatch) -> None:
    flow = _Flow()
    flow.stack(None)
    flow.stub.add_client_error(
        "create_change_set", "AccessDenied", "User is not authorized to perform: cloudformation:CreateChangeSet"
    )
    with pytest.raises(deploy.DeployError, match=r"stack etl failed: .*AccessDenied.*not authorized"):
        flow.run()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found earlier
    with pytest.raises(deploy.DeployError, match="Unable to locate credentials"):
        deploy.run_deploy(stack_name="etl", region="us-east-1", dry_run=False, out=lambda _: None)
