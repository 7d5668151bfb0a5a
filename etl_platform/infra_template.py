"""The CloudFormation templates `etl-platform deploy` ships: the data plane (the hand-written base
plus the registry's Glue jobs) and the orchestrator.

``infra/etl_platform.yaml`` holds what every deployment shares (buckets, database, workgroup, EMR
Serverless application, topic, roles, policies). Each script of the registry's ``spark`` inputs and
of the join gets its Glue job here, with its entry's capacity, and the orchestrator policy names
every job, so a new dataset is one registry entry and its script on AWS too. The ``emr_serverless``
inputs run on the one application and the ``sql`` inputs on the Athena workgroup, neither needing
a resource of its own. The base's short-form tags are read as their long form (``!Sub x`` ->
``{"Fn::Sub": x}``), which CloudFormation reads as well: the rendered text is plain YAML.
``infra/orchestrator.yaml`` (Dagster on ECS) gets the same environment in each of its containers:
the platform's settings, from the data-plane outputs it is given as parameters, and the database's.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from etl_platform.datasets import REGISTRY, Capacity, Engine, InputDataset, Registry
from etl_platform.project import CONTRACT_ZIP, PIPES_ZIP, PROJECT_ROOT, SCRIPTS_PREFIX, SHARED_SCRIPTS

BASE_TEMPLATE = PROJECT_ROOT / "infra" / "etl_platform.yaml"
ORCHESTRATOR_TEMPLATE = PROJECT_ROOT / "infra" / "orchestrator.yaml"

# The orchestrator policy's statement that starts and follows the jobs: it lists each job's ARN.
RUN_JOBS_SID = "RunGlueJobs"
GLUE_VERSION = "5.0"
JOB_ARN = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/${%s}"
# Data-plane stack output -> the environment variable of the AWS profile it configures: printed by
# deploy for `.env`, and set on every orchestrator container from the parameter of the same name.
ENVIRONMENT_OUTPUTS = {
    "ETL_AWS_REGION": "Region",
    "ETL_DATA_BUCKET": "DataBucketName",
    "ETL_SCRATCH_BUCKET": "ScratchBucketName",
    "ETL_GLUE_JOB_PREFIX": "GlueJobPrefix",
    "ETL_GLUE_DATABASE": "GlueDatabaseName",
    "ETL_ATHENA_WORKGROUP": "AthenaWorkGroupName",
    "ETL_ATHENA_RESULTS": "AthenaResultsLocation",
    "ETL_ATHENA_QUERY_WORKGROUP": "AthenaQueryWorkGroupName",
    "ETL_ATHENA_QUERY_ROLE_ARN": "AthenaQueryRoleArn",
    "ETL_ALERT_TOPIC_ARN": "AlertTopicArn",
    "ETL_ARTIFACT_BUCKET": "ArtifactBucketName",
    "ETL_EMR_SERVERLESS_APPLICATION_ID": "EmrServerlessApplicationId",
    "ETL_EMR_SERVERLESS_ROLE_ARN": "EmrServerlessJobRoleArn",
}
EMR_APPLICATION = "EmrServerlessApplication"
# The data plane's parameter naming the EMR Serverless image's tag (empty: EMR's own image).
EMR_IMAGE_PARAMETER = "EmrImageTag"
# The orchestrator runs in the data plane's region: that output is its own AWS::Region.
REGION_OUTPUT = "Region"
# The database user's name and password, from its Secrets Manager secret (JSON keys).
DATABASE_SECRETS = {"DAGSTER_POSTGRES_USER": "username", "DAGSTER_POSTGRES_PASSWORD": "password"}


class _LongFormLoader(yaml.SafeLoader):
    """CloudFormation YAML, each short-form tag read as its long form."""


def _long_form(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag == "GetAtt":  # the long form takes [resource, attribute]
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {tag if tag in ("Ref", "Condition") else f"Fn::{tag}": value}


_LongFormLoader.add_multi_constructor("!", _long_form)


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by two places twice: CloudFormation rejects YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(template: dict[str, Any]) -> str:
    return yaml.dump(template, Dumper=_PlainDumper, sort_keys=False, width=4096)


def artifact_uri(name: str) -> dict[str, str]:
    """Where deploy uploads a script or the contract, in the stack's artifact bucket."""
    return {"Fn::Sub": f"s3://${{ArtifactBucket}}/{SCRIPTS_PREFIX}{name}"}


def _camel(name: str) -> str:
    """``ad_spend`` -> ``AdSpend``: logical ids are letters and digits only."""
    return "".join(part.capitalize() for part in re.findall("[A-Za-z0-9]+", name))


def emr_serverless_inputs(registry: Registry = REGISTRY) -> list[InputDataset]:
    """The inputs whose scripts run on the stack's EMR Serverless application."""
    return [d for d in registry.inputs if d.engine is Engine.EMR_SERVERLESS]


def glue_jobs(registry: Registry = REGISTRY) -> dict[str, tuple[str, Capacity]]:
    """Logical id -> (script, capacity), one job per script of a ``spark`` input and of the join.

    Ids follow the entry (``Process<Name>Job``, ``JoinJob``), not the script: an id a stack already
    has keeps its job, where a renamed id would make CloudFormation create a second job of the same
    name before deleting the first, which Glue refuses. Entries sharing a script share its job.
    """
    spark = [d for d in registry.inputs if d.engine is Engine.SPARK]
    entries = [(f"Process{_camel(d.name)}Job", d.script, d.capacity) for d in spark]
    entries.append(("JoinJob", registry.joined.script, registry.joined.capacity))
    jobs: dict[str, tuple[str, Capacity]] = {}
    capacities: dict[str, Capacity] = {}
    for logical_id, script, capacity in entries:
        if script in capacities:
            if capacities[script] != capacity:
                raise ValueError(f"script {script} is registered with two capacities: {capacities[script]}, {capacity}")
            continue
        if logical_id in jobs:
            raise ValueError(f"two registry entries make the Glue job id {logical_id}: rename one")
        capacities[script] = capacity
        jobs[logical_id] = (script, capacity)
    return jobs


def _job(script: str, capacity: Capacity) -> dict[str, Any]:
    """A job named ``<ProjectName>-<script stem>``, the name GlueSparkRunner starts it by, under the
    stack's security configuration (S3, CloudWatch logs and bookmarks encrypted)."""
    extra_files = [artifact_uri(name)["Fn::Sub"] for name in (*SHARED_SCRIPTS, CONTRACT_ZIP, PIPES_ZIP)]
    return {
        "Type": "AWS::Glue::Job",
        "Properties": {
            "Name": {"Fn::Sub": f"${{ProjectName}}-{PurePosixPath(script).stem}"},
            "Role": {"Fn::GetAtt": ["GlueJobRole", "Arn"]},
            "SecurityConfiguration": {"Ref": "GlueSecurityConfiguration"},
            "GlueVersion": GLUE_VERSION,
            "WorkerType": capacity.worker_type,
            "NumberOfWorkers": capacity.number_of_workers,
            "Timeout": capacity.timeout_minutes,
            "Command": {"Name": "glueetl", "PythonVersion": "3", "ScriptLocation": artifact_uri(script)},
            "DefaultArguments": {
                "--extra-py-files": {"Fn::Sub": ",".join(extra_files)},
                "--enable-continuous-cloudwatch-log": "true",
                "--job-language": "python",
                "--TempDir": {"Fn::Sub": "s3://${ScratchBucket}/glue-temp/"},
            },
        },
    }


def load_template(path: Path) -> dict[str, Any]:
    """A hand-written template, its short-form tags in their long form."""
    return yaml.load(path.read_text(), Loader=_LongFormLoader)  # noqa: S506 - a SafeLoader subclass


def build_template(registry: Registry = REGISTRY) -> dict[str, Any]:
    """The base template with a Glue job per registered script, each named in the orchestrator policy."""
    template = load_template(BASE_TEMPLATE)
    jobs = glue_jobs(registry)
    statements = template["Resources"]["OrchestratorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (run_jobs,) = [statement for statement in statements if statement.get("Sid") == RUN_JOBS_SID]
    run_jobs["Resource"] = [{"Fn::Sub": JOB_ARN % logical_id} for logical_id in jobs]
    template["Resources"].update({logical_id: _job(*job) for logical_id, job in jobs.items()})
    return template


def render_template(registry: Registry = REGISTRY) -> str:
    """The template as the YAML text CloudFormation is sent."""
    return _dump(build_template(registry))


def _orchestrator_environment(template: dict[str, Any]) -> list[dict[str, Any]]:
    """What every orchestrator container reads: the platform's AWS profile (etl_platform.settings)
    and the Dagster instance's PostgreSQL and compute logs (deploy/dagster.aws.yaml)."""
    values: dict[str, Any] = {"ETL_PLATFORM_ENV": "aws", "AWS_DEFAULT_REGION": {"Ref": "AWS::Region"}}
    for variable, output in ENVIRONMENT_OUTPUTS.items():
        values[variable] = {"Ref": "AWS::Region" if output == REGION_OUTPUT else output}
    values |= {
        "DAGSTER_POSTGRES_HOSTNAME": {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
        "DAGSTER_POSTGRES_PORT": {"Fn::GetAtt": ["Database", "Endpoint.Port"]},
        "DAGSTER_POSTGRES_DB": template["Resources"]["Database"]["Properties"]["DBName"],
        "DAGSTER_COMPUTE_LOG_BUCKET": {"Ref": "ScratchBucketName"},
    }
    return [{"Name": name, "Value": value} for name, value in values.items()]


def build_orchestrator_template() -> dict[str, Any]:
    """The orchestrator template, each container given the environment and the database secret."""
    template = load_template(ORCHESTRATOR_TEMPLATE)
    environment = _orchestrator_environment(template)
    secrets = [
        {"Name": name, "ValueFrom": {"Fn::Sub": f"${{DatabaseSecret}}:{key}::"}}
        for name, key in DATABASE_SECRETS.items()
    ]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            for container in resource["Properties"]["ContainerDefinitions"]:
                container["Environment"] = [*container.get("Environment", []), *environment]
                container["Secrets"] = secrets
    return template


def render_orchestrator_template() -> str:
    """The orchestrator template as the YAML text CloudFormation is sent."""
    return _dump(build_orchestrator_template())
