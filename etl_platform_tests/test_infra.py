"""The CloudFormation template: lints clean and keeps its security promises."""

import subprocess
import sys
from pathlib import Path

from etl_platform.deploy import TEMPLATE, load_template

RESOURCES = load_template()["Resources"]


def _of_type(kind: str) -> dict:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == kind}


def test_cfn_lint_passes() -> None:
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_buckets_are_encrypted_private_tls_only_and_data_is_versioned() -> None:
    buckets = _of_type("AWS::S3::Bucket")
    assert set(buckets) == {"DataBucket", "ArtifactBucket"}
    for name, bucket in buckets.items():
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        assert all(bucket["PublicAccessBlockConfiguration"].values()), name
    assert buckets["DataBucket"]["VersioningConfiguration"]["Status"] == "Enabled"
    policies = {p["Bucket"]: p["PolicyDocument"]["Statement"] for p in _of_type("AWS::S3::BucketPolicy").values()}
    for bucket in buckets:
        (deny,) = policies[bucket]
        assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def _statements() -> list[dict]:
    statements = [s for p in _of_type("AWS::IAM::ManagedPolicy").values() for s in p["PolicyDocument"]["Statement"]]
    for role in _of_type("AWS::IAM::Role").values():
        assert not any("FullAccess" in str(arn) for arn in role.get("ManagedPolicyArns", []))
        statements += [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    return statements


def test_iam_is_least_privilege() -> None:
    statements = _statements()
    assert len(statements) >= 10
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources, statement
        assert statement["Effect"] == "Allow" and "*" not in str(statement["Action"]).replace("s3:*", "!"), statement


def test_glue_jobs_run_glue_5_with_dagster_pipes_and_continuous_logs() -> None:
    jobs = _of_type("AWS::Glue::Job")
    assert {job["Command"]["ScriptLocation"].rsplit("/", 1)[-1] for job in jobs.values()} == {
        "process_sales_data.py", "process_marketing_data.py", "join_marketing_and_sales_data.py",
    }  # fmt: skip
    for job in jobs.values():
        assert job["GlueVersion"] == "5.0"
        arguments = job["DefaultArguments"]
        assert "dagster-pipes" in arguments["--additional-python-modules"]
        assert arguments["--enable-continuous-cloudwatch-log"] == "true"
        assert "lake_job.py" in arguments["--extra-py-files"] and "lake_checks.py" in arguments["--extra-py-files"]


def test_athena_results_are_encrypted_and_alerts_topic_exists() -> None:
    (workgroup,) = _of_type("AWS::Athena::WorkGroup").values()
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert list(_of_type("AWS::SNS::Topic").values())[0]["KmsMasterKeyId"] == "alias/aws/sns"
