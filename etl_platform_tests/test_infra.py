"""The CloudFormation template deploy renders: lints clean, keeps its security promises, has one
Glue job per script of a ``spark`` input or the join with that entry's capacity, and one EMR
Serverless application (with its job role) for the ``emr_serverless`` inputs.

The rendered text is parsed with cfn-lint's decoder (intrinsic functions as ``{"Fn::Sub": ...}``),
not with the template module's own loader, so these checks do not depend on the code they protect.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cfnlint.decode
import pytest

from etl_platform.datasets import MARKETING, REGISTRY, SALES, THREE_ENGINES, Capacity, Registry
from etl_platform.infra_template import ENVIRONMENT_OUTPUTS, render_template
from etl_platform.project import SHARED_SCRIPTS
from etl_platform.resources.glue_runner import GlueSparkRunner
from etl_platform_tests.helpers import third_input

AD_SPEND = third_input(
    "ad_spend",
    script="process_ad_spend_data.py",
    columns=(("Date", "date"), ("Spend", "double")),
    capacity=Capacity(worker_type="G.2X", number_of_workers=10, timeout_minutes=120),
)
WITH_AD_SPEND = Registry(inputs=(SALES, MARKETING, AD_SPEND), joined=REGISTRY.joined)
PROJECT_NAME = "etl-platform"  # the ProjectName parameter's default
APPLICATION_ARN = (
    "arn:${AWS::Partition}:emr-serverless:${AWS::Region}:${AWS::AccountId}:/applications/${EmrServerlessApplication}"
)
EMR_LOG_GROUP = {"Fn::GetAtt": ["EmrServerlessLogGroup", "Arn"]}


def _decode(text: str) -> dict[str, Any]:
    template, errors = cfnlint.decode.decode_str(text)
    assert not errors, errors
    return template


@functools.cache
def _template() -> dict[str, Any]:
    return _decode(render_template())


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


def _role_statements(name: str) -> list[dict[str, Any]]:
    role = _template()["Resources"][name]["Properties"]
    return [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def _writes(statement: dict[str, Any]) -> bool:
    """Whether an Allow statement lets its holder create, change or delete objects."""
    verbs = ("s3:Put", "s3:Delete", "s3:Restore", "s3:Replicate", "s3:*", "*")
    return statement["Effect"] == "Allow" and any(a.startswith(verbs) for a in _as_list(statement["Action"]))


def _scripts(registry: Registry) -> dict[str, Capacity]:
    return {entry.script: entry.capacity for entry in (*registry.inputs, registry.joined)}


@pytest.mark.parametrize(
    "registry", [REGISTRY, WITH_AD_SPEND, THREE_ENGINES], ids=["two inputs", "three inputs", "one per engine"]
)
def test_cfn_lint_passes(registry: Registry, tmp_path: Path) -> None:
    rendered = tmp_path / "etl_platform.yaml"
    rendered.write_text(render_template(registry))
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(rendered)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_parameters_are_the_project_name_and_the_emr_image_tag() -> None:
    """Capacity is the registry's, per job: no stack-wide parameter competes with it. The EMR image
    is pushed after the stack made its repository: no tag until then."""
    parameters = _template()["Parameters"]
    assert {name: parameters[name]["Default"] for name in parameters} == {
        "ProjectName": PROJECT_NAME,
        "EmrImageTag": "",
    }


def test_buckets_are_encrypted_private_tls_only_and_versioned() -> None:
    buckets = _of_type("AWS::S3::Bucket")
    assert set(buckets) == {"DataBucket", "ArtifactBucket", "ScratchBucket", "LogBucket"}
    for name, bucket in buckets.items():
        assert bucket["VersioningConfiguration"]["Status"] == "Enabled", name
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}, name
        access = bucket["PublicAccessBlockConfiguration"]
        assert [
            access.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ] == [True] * 4, name
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
    role = _of_type("AWS::IAM::Role")["GlueJobRole"]
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


def test_orchestrator_runs_exactly_the_jobs_of_the_stack() -> None:
    (policy,) = _of_type("AWS::IAM::ManagedPolicy").values()
    (run,) = [s for s in policy["PolicyDocument"]["Statement"] if "glue:StartJobRun" in _as_list(s["Action"])]
    assert {"glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"} <= set(run["Action"])
    jobs = set(_of_type("AWS::Glue::Job"))
    assert len(jobs) == 3
    assert sorted(r["Fn::Sub"].rsplit("/", 1)[1] for r in run["Resource"]) == sorted(f"${{{job}}}" for job in jobs)


def test_each_registered_script_has_a_glue_5_job_with_its_capacity_pipes_and_continuous_logs() -> None:
    jobs = _of_type("AWS::Glue::Job")
    scripts = _scripts(REGISTRY)
    assert sorted(job["Name"]["Fn::Sub"] for job in jobs.values()) == sorted(
        f"${{ProjectName}}-{Path(script).stem}" for script in scripts
    )
    extra_files = [
        f"s3://${{ArtifactBucket}}/glue-scripts/{name}"
        for name in (*SHARED_SCRIPTS, "etl_platform_contract.zip", "dagster_pipes.zip")
    ]
    for job in jobs.values():
        script = job["Name"]["Fn::Sub"].removeprefix("${ProjectName}-") + ".py"
        assert job["GlueVersion"] == "5.0"
        assert job["Command"] == {
            "Name": "glueetl",
            "PythonVersion": "3",
            "ScriptLocation": {"Fn::Sub": f"s3://${{ArtifactBucket}}/glue-scripts/{script}"},
        }
        capacity = scripts[script]
        assert (job["WorkerType"], job["NumberOfWorkers"], job["Timeout"]) == (
            capacity.worker_type,
            capacity.number_of_workers,
            capacity.timeout_minutes,
        )
        arguments = job["DefaultArguments"]
        assert arguments["--enable-continuous-cloudwatch-log"] == "true"
        assert arguments["--extra-py-files"]["Fn::Sub"].split(",") == extra_files


def test_glue_jobs_install_nothing_and_get_dagster_pipes_with_their_scripts() -> None:
    """No package index on a job's path: dagster-pipes is the orchestrator's own copy, shipped by deploy."""
    for job in _of_type("AWS::Glue::Job").values():
        arguments = job["DefaultArguments"]
        assert "--additional-python-modules" not in arguments and "--python-modules-installer-option" not in arguments
        assert "s3://${ArtifactBucket}/glue-scripts/dagster_pipes.zip" in arguments["--extra-py-files"]["Fn::Sub"]


def test_every_glue_job_runs_under_the_encrypting_security_configuration() -> None:
    (name, configuration) = next(iter(_of_type("AWS::Glue::SecurityConfiguration").items()))
    encryption = configuration["EncryptionConfiguration"]
    assert [e["S3EncryptionMode"] for e in encryption["S3Encryptions"]] in (["SSE-S3"], ["SSE-KMS"])
    key = {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
    assert encryption["CloudWatchEncryption"] == {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": key}
    assert encryption["JobBookmarksEncryption"] == {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": key}
    jobs = _of_type("AWS::Glue::Job")
    assert jobs and all(job["SecurityConfiguration"] == {"Ref": name} for job in jobs.values())
    # The key must let CloudWatch Logs encrypt the jobs' log groups, and the role associate it with them.
    statements = _template()["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}} for s in statements)
    assert any("logs:AssociateKmsKey" in _as_list(s["Action"]) for s in _role_statements("GlueJobRole"))


@pytest.mark.parametrize("role", ["GlueJobRole", "EmrServerlessJobRole"])
def test_jobs_may_read_their_scripts_but_never_write_the_artifact_bucket(role: str) -> None:
    statements = _role_statements(role)
    assert any(
        s["Action"] == "s3:GetObject" and "ArtifactBucket.Arn}/glue-scripts/*" in str(s["Resource"]) for s in statements
    )
    assert [s for s in statements if _writes(s) and "ArtifactBucket" in str(s["Resource"])] == []
    # Nor does the bucket let them, whatever policy the role may be given later.
    (policy,) = [p for p in _of_type("AWS::S3::BucketPolicy").values() if p["Bucket"] == {"Ref": "ArtifactBucket"}]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "DenyWritesByJobs"]
    assert deny["Effect"] == "Deny" and {"s3:PutObject", "s3:DeleteObject"} <= set(deny["Action"])
    assert {"Fn::GetAtt": [role, "Arn"]} in deny["Condition"]["ArnEquals"]["aws:PrincipalArn"]


def test_the_orchestrator_has_no_access_to_the_artifact_bucket() -> None:
    (policy,) = _of_type("AWS::IAM::ManagedPolicy").values()
    assert "ArtifactBucket" not in str(policy["PolicyDocument"])


def test_what_runs_write_besides_the_lake_goes_to_expiring_scratch_prefixes() -> None:
    scratch = _of_type("AWS::S3::Bucket")["ScratchBucket"]
    expiring = {r["Prefix"] for r in scratch["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r}
    assert expiring == {"dagster-pipes/", "glue-temp/", "athena-results/", "compute-logs/"}
    for job in _of_type("AWS::Glue::Job").values():
        assert job["DefaultArguments"]["--TempDir"] == {"Fn::Sub": "s3://${ScratchBucket}/glue-temp/"}
    (policy,) = _of_type("AWS::IAM::ManagedPolicy").values()
    jobs = [*_role_statements("GlueJobRole"), *_role_statements("EmrServerlessJobRole")]
    written = [s for s in [*jobs, *policy["PolicyDocument"]["Statement"]] if _writes(s)]
    for resource in (r["Fn::Sub"] for s in written for r in _as_list(s["Resource"])):
        bucket, prefix = resource.removeprefix("${").split(".Arn}/")
        assert bucket == "DataBucket" or (bucket == "ScratchBucket" and prefix.rstrip("*") in expiring), resource


def test_buckets_log_their_access_to_the_log_bucket_which_only_s3_may_write() -> None:
    buckets = _of_type("AWS::S3::Bucket")
    sources = []
    for name, bucket in buckets.items():
        if name == "LogBucket":
            continue
        logging = bucket["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": "LogBucket"}
        assert logging["LogFilePrefix"].startswith("s3/"), name
        sources.append({"Fn::GetAtt": [name, "Arn"]})
    assert buckets["LogBucket"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (policy,) = [p for p in _of_type("AWS::S3::BucketPolicy").values() if p["Bucket"] == {"Ref": "LogBucket"}]
    (delivery,) = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Resource"] == {"Fn::Sub": "${LogBucket.Arn}/s3/*"}
    assert sorted(map(str, delivery["Condition"]["ArnLike"]["aws:SourceArn"])) == sorted(map(str, sources))
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_versioned_buckets_expire_old_versions_and_abort_incomplete_uploads() -> None:
    for name, bucket in _of_type("AWS::S3::Bucket").items():
        rules = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r["Status"] == "Enabled"]
        assert any("NoncurrentVersionExpiration" in r and "Prefix" not in r for r in rules), name
        assert any("AbortIncompleteMultipartUpload" in r and "Prefix" not in r for r in rules), name


def test_jobs_are_named_as_the_glue_runner_starts_them() -> None:
    prefix = _template()["Outputs"]["GlueJobPrefix"]["Value"]["Fn::Sub"].replace("${ProjectName}", PROJECT_NAME)
    runner = GlueSparkRunner(region_name="us-east-1", job_prefix=prefix, pipes_bucket="scratch")
    names = {
        job["Name"]["Fn::Sub"].replace("${ProjectName}", PROJECT_NAME) for job in _of_type("AWS::Glue::Job").values()
    }
    for script, capacity in _scripts(REGISTRY).items():
        assert runner.job_run_params(script, {}, capacity)["JobName"] in names


def test_a_third_dataset_adds_its_job_with_its_capacity_and_nothing_else() -> None:
    three = _decode(render_template(WITH_AD_SPEND))
    job = three["Resources"].pop("ProcessAdSpendJob")["Properties"]
    assert job["Name"] == {"Fn::Sub": "${ProjectName}-process_ad_spend_data"}
    assert job["Command"]["ScriptLocation"] == {
        "Fn::Sub": "s3://${ArtifactBucket}/glue-scripts/process_ad_spend_data.py"
    }
    assert (job["WorkerType"], job["NumberOfWorkers"], job["Timeout"]) == ("G.2X", 10, 120)
    (run,) = [
        s
        for s in three["Resources"]["OrchestratorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "RunGlueJobs"
    ]
    run["Resource"].remove(
        {"Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/${ProcessAdSpendJob}"}
    )
    assert three == _template()


def test_entries_sharing_a_script_share_its_job_if_they_agree_on_its_capacity() -> None:
    same = replace(AD_SPEND, script=SALES.script, capacity=SALES.capacity)
    assert _decode(render_template(Registry(inputs=(SALES, MARKETING, same), joined=REGISTRY.joined))) == _template()
    other = replace(AD_SPEND, script=SALES.script)
    with pytest.raises(ValueError, match="script process_sales_data.py is registered with two capacities"):
        render_template(Registry(inputs=(SALES, MARKETING, other), joined=REGISTRY.joined))


def test_glue_database_name_follows_the_project_name() -> None:
    (database,) = _of_type("AWS::Glue::Database").values()
    assert database["DatabaseInput"]["Name"] == {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "ProjectName"}]}]}


def test_athena_results_are_encrypted_with_a_rotating_key_and_alerts_topic_exists() -> None:
    workgroups = _of_type("AWS::Athena::WorkGroup")
    assert set(workgroups) == {"AthenaWorkGroup", "AthenaQueryWorkGroup"}
    assert workgroups["AthenaWorkGroup"]["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Sub": "s3://${ScratchBucket}/athena-results/"
    }
    for workgroup in workgroups.values():
        configuration = workgroup["WorkGroupConfiguration"]
        assert configuration["EnforceWorkGroupConfiguration"] is True
        assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {
            "EncryptionOption": "SSE_KMS",
            "KmsKey": {"Fn::GetAtt": ["EncryptionKey", "Arn"]},
        }
    assert _of_type("AWS::KMS::Key")["EncryptionKey"]["EnableKeyRotation"] is True
    # Athena writes the results with its caller's permissions: the orchestrator's.
    (policy,) = _of_type("AWS::IAM::ManagedPolicy").values()
    assert any(
        s["Resource"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]} and "kms:GenerateDataKey" in s["Action"]
        for s in policy["PolicyDocument"]["Statement"]
    )
    (topic,) = _of_type("AWS::SNS::Topic").values()
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"


def test_outputs_cover_what_deploy_prints() -> None:
    assert {
        *ENVIRONMENT_OUTPUTS.values(),
        "GlueJobRoleArn",
        "OrchestratorPolicyArn",
        "ImageRepositoryUri",
        "EmrImageRepositoryUri",
    } <= set(_template()["Outputs"])
    outputs = {name: output["Value"] for name, output in _template()["Outputs"].items()}
    assert outputs["EmrServerlessApplicationId"] == {"Ref": "EmrServerlessApplication"}  # its Ref is the id
    assert outputs["EmrServerlessJobRoleArn"] == {"Fn::GetAtt": ["EmrServerlessJobRole", "Arn"]}
    assert outputs["ArtifactBucketName"] == {"Ref": "ArtifactBucket"}
    assert _template()["Outputs"]["GlueJobPrefix"]["Value"] == {"Fn::Sub": "${ProjectName}-"}


# --- the engines: Glue jobs for `spark` inputs only, EMR Serverless, Athena --------------------


def _policy_statements() -> dict[str, dict[str, Any]]:
    """The orchestrator policy's statements by Sid."""
    (policy,) = _of_type("AWS::IAM::ManagedPolicy").values()
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_only_spark_inputs_and_the_join_get_glue_jobs_while_the_application_is_always_there() -> None:
    """An input moved to EMR Serverless or SQL loses its Glue job and nothing else changes: the
    application and the workgroup are in every stack, costing nothing while no job runs."""
    per_engine = _decode(render_template(THREE_ENGINES))
    jobs = {name for name, r in per_engine["Resources"].items() if r["Type"] == "AWS::Glue::Job"}
    assert jobs == {"ProcessSalesJob", "JoinJob"}
    assert per_engine["Resources"]["EmrServerlessApplication"] == _template()["Resources"]["EmrServerlessApplication"]
    default = _decode(render_template())
    del default["Resources"]["ProcessMarketingJob"]
    (run,) = [
        s
        for s in default["Resources"]["OrchestratorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "RunGlueJobs"
    ]
    run["Resource"].remove(
        {"Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/${ProcessMarketingJob}"}
    )
    assert per_engine == default


def test_the_emr_serverless_application_costs_nothing_idle_and_is_capped() -> None:
    application = _of_type("AWS::EMRServerless::Application")["EmrServerlessApplication"]
    assert application["Type"] == "Spark" and application["ReleaseLabel"].startswith("emr-7.")
    assert application["AutoStartConfiguration"] == {"Enabled": True}
    assert application["AutoStopConfiguration"]["Enabled"] is True
    assert application["AutoStopConfiguration"]["IdleTimeoutMinutes"] <= 15
    assert "InitialCapacity" not in application  # no worker kept warm
    assert {"Cpu", "Memory"} <= set(application["MaximumCapacity"])


def test_the_application_runs_the_python_3_11_image_of_its_repository_once_a_tag_is_given() -> None:
    application = _of_type("AWS::EMRServerless::Application")["EmrServerlessApplication"]
    assert _template()["Conditions"]["HasEmrImage"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EmrImageTag"}, ""]}]}
    assert application["ImageConfiguration"] == {
        "Fn::If": [
            "HasEmrImage",
            {"ImageUri": {"Fn::Sub": "${EmrImageRepository.RepositoryUri}:${EmrImageTag}"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    repository = _of_type("AWS::ECR::Repository")["EmrImageRepository"]
    assert repository["ImageTagMutability"] == "IMMUTABLE" and repository["ImageScanningConfiguration"]["ScanOnPush"]
    (pull,) = repository["RepositoryPolicyText"]["Statement"]
    assert pull["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert set(pull["Action"]) == {"ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"}
    assert pull["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_emr_serverless_logs_go_to_its_own_encrypted_log_group() -> None:
    application = _of_type("AWS::EMRServerless::Application")["EmrServerlessApplication"]
    cloudwatch = application["MonitoringConfiguration"]["CloudWatchLoggingConfiguration"]
    assert cloudwatch == {"Enabled": True, "LogGroupName": {"Ref": "EmrServerlessLogGroup"}}
    group = _of_type("AWS::Logs::LogGroup")["EmrServerlessLogGroup"]
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/emr-serverless/${ProjectName}"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]} and group["RetentionInDays"] >= 365
    (logs,) = [
        s
        for s in _template()["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    ]
    encrypted = [arn["Fn::Sub"] for arn in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]]
    assert any(arn.endswith(":log-group:/aws/emr-serverless/${ProjectName}") for arn in encrypted)
    writes = [s for s in _role_statements("EmrServerlessJobRole") if "logs:PutLogEvents" in _as_list(s["Action"])]
    assert [s["Resource"] for s in writes] == [EMR_LOG_GROUP]


def test_emr_serverless_job_role_reads_its_inputs_and_writes_only_processed_tables_and_pipes() -> None:
    role = _of_type("AWS::IAM::Role")["EmrServerlessJobRole"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert trust["Condition"]["ArnEquals"] == {"aws:SourceArn": {"Fn::Sub": APPLICATION_ARN}}
    statements = {s["Sid"]: s for s in _role_statements("EmrServerlessJobRole")}
    objects = {
        resource["Fn::Sub"]: set(_as_list(s["Action"]))
        for s in statements.values()
        if any(a.endswith("Object") for a in _as_list(s["Action"]))
        for resource in _as_list(s["Resource"])
    }
    assert objects == {
        "${ArtifactBucket.Arn}/glue-scripts/*": {"s3:GetObject"},
        "${DataBucket.Arn}/landing/*": {"s3:GetObject"},
        "${DataBucket.Arn}/processed/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"},
        "${ScratchBucket.Arn}/dagster-pipes/*": {"s3:GetObject", "s3:PutObject"},
    }
    listing = statements["ListOwnPrefixes"]
    assert set(listing["Condition"]["StringLike"]["s3:prefix"]) == {
        "landing/*",
        "processed/*",
        "glue-scripts/*",
        "dagster-pipes/*",
    }
    assert not any(a.startswith(("glue:", "kms:", "iam:")) for s in statements.values() for a in _as_list(s["Action"]))


def test_the_orchestrator_runs_emr_serverless_jobs_on_the_application_as_its_job_role_only() -> None:
    statements = _policy_statements()
    run = statements["RunEmrServerlessJobs"]
    assert {
        "emr-serverless:StartJobRun",
        "emr-serverless:GetJobRun",
        "emr-serverless:CancelJobRun",
        "emr-serverless:GetDashboardForJobRun",
    } <= set(run["Action"])
    assert run["Resource"] == [{"Fn::Sub": APPLICATION_ARN}, {"Fn::Sub": f"{APPLICATION_ARN}/jobruns/*"}]
    passing = statements["PassEmrServerlessJobRole"]
    assert passing["Action"] == "iam:PassRole"
    assert passing["Resource"] == {"Fn::GetAtt": ["EmrServerlessJobRole", "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}}
    assert [s for s in _iam_statements() if "iam:PassRole" in _as_list(s["Action"])] == [passing]


def test_the_orchestrator_runs_sql_inputs_on_athena_and_drops_only_temporary_tables() -> None:
    """A `sql` input: its landing file copied under athena-results/, an external table over it,
    queries and an UNLOAD into processed/ (Athena writes with the caller's credentials), the
    table dropped after."""
    statements = _policy_statements()
    catalog = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"
    assert {"glue:CreateTable", "glue:GetTable", "glue:GetDatabase"} <= set(statements["Catalog"]["Action"])
    assert {"Fn::Sub": catalog + "table/${GlueDatabase}/*"} in statements["Catalog"]["Resource"]
    deletes = [s for s in statements.values() if "glue:DeleteTable" in _as_list(s["Action"])]
    assert deletes == [statements["DropTemporaryTables"]]
    tables = [r["Fn::Sub"] for r in deletes[0]["Resource"] if ":table/" in r["Fn::Sub"]]
    assert tables == [catalog + "table/${GlueDatabase}/etl_tmp_*"]  # etl_platform.resources.athena's names
    lake = statements["LakeAndScratch"]
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= set(lake["Action"])
    assert {"Fn::Sub": "${DataBucket.Arn}/*"} in lake["Resource"]  # landing read, UNLOAD into processed/
    assert {"Fn::Sub": "${ScratchBucket.Arn}/athena-results/*"} in lake["Resource"]  # the staged copy
    assert {"athena:StartQueryExecution", "athena:GetQueryExecution"} <= set(statements["Athena"]["Action"])
    assert statements["Athena"]["Resource"]["Fn::Sub"].endswith(":workgroup/${AthenaWorkGroup}")


def test_queries_run_in_a_workgroup_of_their_own_as_a_role_that_writes_only_their_results() -> None:
    """`etl-platform query`'s defence beside its guard: whatever statement reaches Athena as this
    role can change nothing in the lake or the catalog."""
    configuration = _of_type("AWS::Athena::WorkGroup")["AthenaQueryWorkGroup"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    results = "athena-results/queries/"
    assert configuration["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": f"s3://${{ScratchBucket}}/{results}"}
    statements = _role_statements("QueryRole")
    writes = [s for s in statements if _writes(s)]
    assert [_as_list(s["Resource"]) for s in writes] == [[{"Fn::Sub": f"${{ScratchBucket.Arn}}/{results}*"}]]
    actions = [action for s in statements for action in _as_list(s["Action"])]
    assert not [a for a in actions if a.startswith(("glue:Create", "glue:Update", "glue:Delete", "glue:Batch"))]
    assert [a for a in actions if a.startswith("glue:")] == [a for a in actions if a.startswith("glue:Get")]
    (athena,) = [s for s in statements if any(a.startswith("athena:") for a in _as_list(s["Action"]))]
    assert athena["Resource"]["Fn::Sub"].endswith(":workgroup/${AthenaQueryWorkGroup}")
    assert not [a for a in actions if a.startswith(("iam:", "sts:", "s3:Delete"))]
    assume = _policy_statements()["AssumeQueryRole"]
    assert (assume["Action"], assume["Resource"]) == ("sts:AssumeRole", {"Fn::GetAtt": ["QueryRole", "Arn"]})
    outputs = _template()["Outputs"]
    assert outputs["AthenaQueryWorkGroupName"]["Value"] == {"Ref": "AthenaQueryWorkGroup"}
    assert outputs["AthenaQueryRoleArn"]["Value"] == {"Fn::GetAtt": ["QueryRole", "Arn"]}
