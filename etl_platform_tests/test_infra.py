"""The CloudFormation template: lints clean and keeps its security promises.

Parsed with cfn-lint's decoder (intrinsic functions as ``{"Fn::Sub": ...}``), not with the deploy
module's own loader, so these checks do not depend on the code they protect.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import cfnlint.decode

from etl_platform.project import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "infra" / "etl_platform.yaml"
SCRIPTS = ("process_sales_data", "process_marketing_data", "join_marketing_and_sales_data")


@functools.cache
def _template() -> dict[str, Any]:
    template, errors = cfnlint.decode.decode(str(TEMPLATE))
    assert not errors, errors
    return template


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in _template()["Resources"].items() if r["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _iam_statements() -> list[dict[str, Any]]:
    """Every Allow/Deny statement an identity gets: the managed policy and the roles' inline ones."""
    statements = [s for p in _of_type("AWS::IAM::ManagedPolicy").values() for s in p["PolicyDocument"]["Statement"]]
    for role in _of_type("AWS::IAM::Role").values():
        statements += [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    return statements


def test_cfn_lint_passes() -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_parameters_have_the_documented_defaults() -> None:
    parameters = _template()["Parameters"]
    assert {name: parameters[name]["Default"] for name in parameters} == {
        "ProjectName": "etl-platform",
        "GlueWorkerType": "G.1X",
        "GlueNumberOfWorkers": 2,
        "GlueTimeoutMinutes": 60,
    }


def test_buckets_are_encrypted_private_tls_only_and_data_is_versioned() -> None:
    buckets = _of_type("AWS::S3::Bucket")
    assert set(buckets) == {"DataBucket", "ArtifactBucket"}
    for name, bucket in buckets.items():
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}, name
        access = bucket["PublicAccessBlockConfiguration"]
        assert [
            access.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ] == [True] * 4, name
    assert buckets["DataBucket"]["VersioningConfiguration"]["Status"] == "Enabled"
    policies = {
        p["Bucket"]["Ref"]: p["PolicyDocument"]["Statement"] for p in _of_type("AWS::S3::BucketPolicy").values()
    }
    for bucket in buckets:
        denials = [
            s
            for s in policies[bucket]
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denials, f"{bucket} accepts plain HTTP"
        assert _as_list(denials[0]["Action"]) == ["s3:*"] and denials[0]["Principal"] == "*"


def test_iam_is_least_privilege() -> None:
    for role in _of_type("AWS::IAM::Role").values():
        assert not any("FullAccess" in str(arn) for arn in role.get("ManagedPolicyArns", []))
    statements = _iam_statements()
    assert len(statements) >= 8
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        assert "*" not in _as_list(statement["Resource"]), statement
        assert not any(action == "*" or action.endswith(":*") for action in _as_list(statement["Action"])), statement


def test_glue_role_is_assumed_by_glue_and_logs_only_to_glue_log_groups() -> None:
    (role,) = _of_type("AWS::IAM::Role").values()
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "glue.amazonaws.com"}
    logs = [
        s
        for policy in role["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if "logs:PutLogEvents" in _as_list(s["Action"])
    ]
    assert [s["Resource"] for s in logs] == [
        {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*"}
    ]


def test_orchestrator_runs_exactly_the_three_jobs() -> None:
    (policy,) = _of_type("AWS::IAM::ManagedPolicy").values()
    (run,) = [s for s in policy["PolicyDocument"]["Statement"] if "glue:StartJobRun" in _as_list(s["Action"])]
    assert {"glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"} <= set(run["Action"])
    jobs = set(_of_type("AWS::Glue::Job"))
    assert sorted(r["Fn::Sub"].rsplit("/", 1)[1] for r in run["Resource"]) == sorted(f"${{{job}}}" for job in jobs)


def test_glue_jobs_run_glue_5_with_dagster_pipes_and_continuous_logs() -> None:
    jobs = _of_type("AWS::Glue::Job")
    assert sorted(job["Name"]["Fn::Sub"] for job in jobs.values()) == sorted(f"${{ProjectName}}-{s}" for s in SCRIPTS)
    for job in jobs.values():
        stem = job["Name"]["Fn::Sub"].removeprefix("${ProjectName}-")
        assert job["GlueVersion"] == "5.0"
        assert job["Command"] == {
            "Name": "glueetl",
            "PythonVersion": "3",
            "ScriptLocation": {"Fn::Sub": f"s3://${{ArtifactBucket}}/glue-scripts/{stem}.py"},
        }
        assert (job["WorkerType"], job["NumberOfWorkers"], job["Timeout"]) == (
            {"Ref": "GlueWorkerType"},
            {"Ref": "GlueNumberOfWorkers"},
            {"Ref": "GlueTimeoutMinutes"},
        )
        arguments = job["DefaultArguments"]
        assert "dagster-pipes" in arguments["--additional-python-modules"]
        assert arguments["--enable-continuous-cloudwatch-log"] == "true"
        assert arguments["--extra-py-files"]["Fn::Sub"] == (
            "s3://${ArtifactBucket}/glue-scripts/lake_job.py,s3://${ArtifactBucket}/glue-scripts/lake_checks.py"
        )


def test_glue_database_name_follows_the_project_name() -> None:
    (database,) = _of_type("AWS::Glue::Database").values()
    assert database["DatabaseInput"]["Name"] == {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "ProjectName"}]}]}


def test_athena_results_are_encrypted_and_alerts_topic_exists() -> None:
    (workgroup,) = _of_type("AWS::Athena::WorkGroup").values()
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Sub": "s3://${ArtifactBucket}/athena-results/"
    }
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    (topic,) = _of_type("AWS::SNS::Topic").values()
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"


def test_outputs_cover_what_deploy_prints() -> None:
    assert {
        "DataBucketName",
        "ArtifactBucketName",
        "GlueDatabaseName",
        "GlueJobPrefix",
        "AthenaWorkGroupName",
        "AthenaResultsLocation",
        "AlertTopicArn",
        "GlueJobRoleArn",
        "OrchestratorPolicyArn",
        "Region",
    } <= set(_template()["Outputs"])
    assert _template()["Outputs"]["GlueJobPrefix"]["Value"] == {"Fn::Sub": "${ProjectName}-"}
