"""The orchestrator's CloudFormation template (Dagster on ECS, PostgreSQL on RDS): lints clean,
fits CloudFormation, exposes nothing, keeps the database private and its password in Secrets
Manager, and gives each task only the permissions and settings it needs.

As in test_infra, the rendered text is parsed with cfn-lint's decoder, not the template module's
loader.
"""

from __future__ import annotations

import functools
import ipaddress
import subprocess
import sys
from pathlib import Path
from typing import Any

import cfnlint.decode
import yaml

from etl_platform.deploy import WEBSERVER_PORT
from etl_platform.infra_template import DATABASE_SECRETS, ENVIRONMENT_OUTPUTS, render_orchestrator_template
from etl_platform.project import PROJECT_ROOT
from etl_platform.settings import VARIABLES
from etl_platform_tests.test_infra import _as_list
from etl_platform_tests.test_infra import _template as _data_plane

# CloudFormation's limit on a template sent in the request (TemplateBody), as deploy sends it.
TEMPLATE_BODY_LIMIT = 51_200
# Actions that take no resource-level permission: the only ones a statement may grant on "*".
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
    "ec2:DescribeNetworkInterfaces",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "logs:DescribeLogGroups",
}
CODE_SERVER_PORT = 4000


@functools.cache
def _template() -> dict[str, Any]:
    template, errors = cfnlint.decode.decode_str(render_orchestrator_template())
    assert not errors, errors
    return template


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in _template()["Resources"].items() if r["Type"] == kind}


def _containers() -> dict[str, dict[str, Any]]:
    return {
        c["Name"]: c for task in _resources("AWS::ECS::TaskDefinition").values() for c in task["ContainerDefinitions"]
    }


def _statements(role: str) -> list[dict[str, Any]]:
    properties = _template()["Resources"][role]["Properties"]
    return [s for policy in properties.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def _ingress() -> list[tuple[str, dict[str, Any]]]:
    """(security group, rule) for every ingress rule, inline or a resource of its own."""
    rules = [
        (name, rule)
        for name, sg in _resources("AWS::EC2::SecurityGroup").items()
        for rule in sg.get("SecurityGroupIngress", [])
    ]
    rules += [(r["GroupId"]["Ref"], r) for r in _resources("AWS::EC2::SecurityGroupIngress").values()]
    return rules


def test_cfn_lint_passes(tmp_path: Path) -> None:
    rendered = tmp_path / "orchestrator.yaml"
    rendered.write_text(render_orchestrator_template())
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(rendered)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_rendered_template_fits_in_a_create_change_set_request() -> None:
    assert len(render_orchestrator_template().encode()) < TEMPLATE_BODY_LIMIT


def test_deploy_can_fill_every_parameter_from_the_data_plane_outputs_and_the_image_tag() -> None:
    required = {name for name, spec in _template()["Parameters"].items() if "Default" not in spec}
    assert required - set(_data_plane()["Outputs"]) == {"ImageTag"}


def test_the_webserver_has_no_listener_reachable_from_the_internet() -> None:
    """No load balancer, no internet or NAT gateway, no public address, no ingress from anywhere
    but the tasks' own security groups: the UI is reached through an IAM-authenticated SSM tunnel."""
    kinds = {r["Type"] for r in _template()["Resources"].values()}
    assert not kinds & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancing::LoadBalancer",
        "AWS::ApiGatewayV2::Api",
        "AWS::CloudFront::Distribution",
    }
    assert all(subnet["MapPublicIpOnLaunch"] is False for subnet in _resources("AWS::EC2::Subnet").values())
    for name, service in _resources("AWS::ECS::Service").items():
        assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED", name
        assert "LoadBalancers" not in service, name
    for group, rule in _ingress():
        assert "CidrIp" not in rule and "CidrIpv6" not in rule and "SourcePrefixListId" not in rule, (group, rule)
    webserver = _resources("AWS::ECS::Service")["WebserverService"]
    (group,) = webserver["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert [rule for name, rule in _ingress() if name == group["Ref"]] == []
    assert webserver["EnableExecuteCommand"] is True  # the tunnel's way in
    command = _containers()["webserver"]["Command"]
    assert command[command.index("--host") + 1] == "127.0.0.1" and "PortMappings" not in _containers()["webserver"]
    assert command[command.index("--port") + 1] == str(WEBSERVER_PORT)  # where deploy's tunnel commands lead


def test_the_code_server_and_the_database_admit_only_the_tasks() -> None:
    groups = {
        name: {
            rule["SourceSecurityGroupId"]["Ref"]: (rule["FromPort"], rule["ToPort"])
            for g, rule in _ingress()
            if g == name
        }
        for name in _resources("AWS::EC2::SecurityGroup")
    }
    assert groups["CodeServerSecurityGroup"] == {"TasksSecurityGroup": (CODE_SERVER_PORT, CODE_SERVER_PORT)}
    assert groups["DatabaseSecurityGroup"] == {
        "TasksSecurityGroup": (5432, 5432),
        "CodeServerSecurityGroup": (5432, 5432),
    }
    assert groups["EndpointSecurityGroup"] == {"TasksSecurityGroup": (443, 443), "CodeServerSecurityGroup": (443, 443)}


def test_tasks_send_only_to_aws_apis_postgresql_and_the_code_server() -> None:
    groups = _resources("AWS::EC2::SecurityGroup")
    assert _resources("AWS::EC2::SecurityGroupEgress") == {} and _resources("AWS::EC2::SecurityGroupIngress") == {}
    expected = {
        "TasksSecurityGroup": {(443, "0.0.0.0/0"), (5432, "VpcCidr"), (CODE_SERVER_PORT, "VpcCidr")},
        "CodeServerSecurityGroup": {(443, "0.0.0.0/0"), (5432, "VpcCidr")},
        "DatabaseSecurityGroup": {(-1, "127.0.0.1/32")},  # nothing: the default allow-all replaced
        "EndpointSecurityGroup": {(-1, "127.0.0.1/32")},
    }
    for name, wanted in expected.items():
        rules = groups[name]["SecurityGroupEgress"]
        sent = {
            (r.get("FromPort", -1), r["CidrIp"]["Ref"] if isinstance(r["CidrIp"], dict) else r["CidrIp"]) for r in rules
        }
        assert sent == wanted, name
        assert all(r.get("ToPort", -1) == r.get("FromPort", -1) for r in rules), name


def test_the_vpc_has_no_route_out_and_reaches_aws_through_endpoints() -> None:
    assert _resources("AWS::EC2::Route") == {}
    endpoints = {e["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1] for e in _resources("AWS::EC2::VPCEndpoint").values()}
    # ECR's two (the image), S3 (layers, lake), logs, the secret, ECS and EC2 (run launcher),
    # SSM messages (the tunnel), and what the platform calls.
    assert {
        "api",
        "dkr",
        "s3",
        "logs",
        "secretsmanager",
        "ecs",
        "ec2",
        "ssmmessages",
        "glue",
        "emr-serverless",
        "athena",
        "sns",
        "sts",  # the report's queries run as the data plane's query role
    } <= endpoints
    interface = [e for e in _resources("AWS::EC2::VPCEndpoint").values() if e["VpcEndpointType"] == "Interface"]
    assert all(e["PrivateDnsEnabled"] is True for e in interface)
    (flow_log,) = _resources("AWS::EC2::FlowLog").values()
    assert flow_log["ResourceId"] == {"Ref": "Vpc"} and flow_log["TrafficType"] == "ALL"


def test_subnets_are_in_two_zones_within_the_vpc() -> None:
    subnets = _resources("AWS::EC2::Subnet")
    assert sorted(s["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values()) == [0, 1]
    default = ipaddress.ip_network(_template()["Parameters"]["VpcCidr"]["Default"])
    assert default.prefixlen == 16 and default.is_private


def test_the_database_is_encrypted_private_backed_up_and_protected() -> None:
    (database,) = _resources("AWS::RDS::DBInstance").values()
    assert database["Engine"] == "postgres"
    assert database["StorageEncrypted"] is True
    assert database["PubliclyAccessible"] is False
    assert database["BackupRetentionPeriod"] >= 7
    assert database["DeletionProtection"] is True
    assert _template()["Resources"]["Database"]["DeletionPolicy"] == "Snapshot"
    (subnets,) = _resources("AWS::RDS::DBSubnetGroup").values()
    assert subnets["SubnetIds"] == [{"Ref": name} for name in _resources("AWS::EC2::Subnet")]
    assert database["VPCSecurityGroups"] == [{"Ref": "DatabaseSecurityGroup"}]
    (parameters,) = _resources("AWS::RDS::DBParameterGroup").values()
    assert parameters["Parameters"]["rds.force_ssl"] == "1"


def test_the_database_credentials_are_generated_in_secrets_manager_and_never_in_the_template() -> None:
    (secret,) = _resources("AWS::SecretsManager::Secret").values()
    generated = secret["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password" and generated["PasswordLength"] >= 32
    assert secret["KmsKeyId"] == {"Ref": "OrchestratorKey"}
    (database,) = _resources("AWS::RDS::DBInstance").values()
    for prop, key in (("MasterUsername", "username"), ("MasterUserPassword", "password")):
        assert database[prop] == {"Fn::Sub": f"{{{{resolve:secretsmanager:${{DatabaseSecret}}:SecretString:{key}}}}}"}
    (attachment,) = _resources("AWS::SecretsManager::SecretTargetAttachment").values()
    assert attachment == {
        "SecretId": {"Ref": "DatabaseSecret"},
        "TargetId": {"Ref": "Database"},
        "TargetType": "AWS::RDS::DBInstance",
    }


def _passwords(node: Any, path: str) -> list[str]:
    """Every value given to a property or a container variable named like a password: a literal
    there is a password in the template; a Secrets Manager dynamic reference is not."""
    found = []
    if isinstance(node, dict):
        if "Name" in node and "Value" in node:  # a container's environment variable
            node = {node["Name"]: node["Value"]}
        for key, value in node.items():
            if "password" in str(key).lower() and isinstance(value, (str, dict)):  # not a length, not a flag
                text = value.get("Fn::Sub", value) if isinstance(value, dict) else value
                if not (isinstance(text, str) and text.startswith("{{resolve:secretsmanager:")):
                    found.append(f"{path}.{key}={value!r}")
            found += _passwords(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _passwords(item, f"{path}[{index}]")
    return found


def test_no_plain_password_anywhere_in_either_template() -> None:
    assert _passwords(_template()["Resources"], "orchestrator") == []
    assert _passwords(_data_plane()["Resources"], "data plane") == []
    # The check itself sees a password put in plain.
    assert _passwords({"Db": {"MasterUserPassword": "hunter2"}}, "t") == ["t.Db.MasterUserPassword='hunter2'"]
    assert _passwords([{"Name": "DAGSTER_POSTGRES_PASSWORD", "Value": "x"}], "t") == [
        "t[0].DAGSTER_POSTGRES_PASSWORD='x'"
    ]


def test_every_container_gets_the_database_credentials_from_the_secret() -> None:
    for name, container in _containers().items():
        assert {s["Name"]: s["ValueFrom"] for s in container["Secrets"]} == {
            variable: {"Fn::Sub": f"${{DatabaseSecret}}:{key}::"} for variable, key in DATABASE_SECRETS.items()
        }, name
        environment = {e["Name"] for e in container["Environment"]}
        assert not environment & set(DATABASE_SECRETS), name
    execution = _statements("ExecutionRole")
    (read,) = [s for s in execution if "secretsmanager:GetSecretValue" in _as_list(s["Action"])]
    assert read["Resource"] == {"Ref": "DatabaseSecret"}


def test_every_container_gets_the_settings_deploy_prints_and_the_instance_reads() -> None:
    instance = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.aws.yaml").read_text())
    postgres = instance["storage"]["postgres"]["postgres_db"]
    read_by_instance = {v["env"] for v in postgres.values() if isinstance(v, dict)}
    read_by_instance.add(instance["compute_logs"]["config"]["bucket"]["env"])
    for name, container in _containers().items():
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert environment["ETL_PLATFORM_ENV"] == "aws", name
        assert set(ENVIRONMENT_OUTPUTS) <= set(environment), name
        assert read_by_instance <= set(environment) | set(DATABASE_SECRETS), name
        assert environment["DAGSTER_POSTGRES_HOSTNAME"] == {"Fn::GetAtt": ["Database", "Endpoint.Address"]}
        assert environment["DAGSTER_POSTGRES_DB"] == _resources("AWS::RDS::DBInstance")["Database"]["DBName"]
        # Every platform variable is one the settings define: none is set that nothing reads.
        platform = {variable for variable in environment if variable.startswith("ETL_")}
        assert platform <= set(VARIABLES), name


def test_webserver_and_daemon_reach_the_code_server_by_its_cloud_map_name() -> None:
    workspace = yaml.safe_load((PROJECT_ROOT / "deploy" / "workspace.aws.yaml").read_text())
    (location,) = workspace["load_from"]
    server = location["grpc_server"]
    assert server["port"] == CODE_SERVER_PORT and location["grpc_server"]["location_name"] == "etl_platform"
    (namespace,) = _resources("AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    (discovery,) = _resources("AWS::ServiceDiscovery::Service").values()
    address = {"Fn::Sub": f"{discovery['Name']}.{namespace['Name']['Fn::Sub']}"}
    containers = _containers()
    for name in ("webserver", "daemon"):
        environment = {e["Name"]: e["Value"] for e in containers[name]["Environment"]}
        assert environment[server["host"]["env"]] == address, name
        assert "workspace.yaml" in containers[name]["Command"], name
    code = containers["code-server"]
    assert code["Command"][-2:] == ["-p", str(CODE_SERVER_PORT)] and code["PortMappings"] == [
        {"ContainerPort": CODE_SERVER_PORT}
    ]
    service = _resources("AWS::ECS::Service")["CodeServerService"]
    assert service["ServiceRegistries"] == [{"RegistryArn": {"Fn::GetAtt": ["CodeServerDiscovery", "Arn"]}}]


def test_runs_are_tasks_of_the_run_definition_which_only_the_daemon_may_start() -> None:
    containers = _containers()
    (run,) = _resources("AWS::ECS::TaskDefinition")["RunTaskDefinition"]["ContainerDefinitions"]
    assert run["Name"] == "run"
    for name in ("webserver", "daemon"):
        environment = {e["Name"]: e["Value"] for e in containers[name]["Environment"]}
        assert environment["DAGSTER_RUN_TASK_DEFINITION"] == {"Ref": "RunTaskDefinition"}, name
    daemon = _statements("DaemonTaskRole")
    (start,) = [s for s in daemon if "ecs:RunTask" in _as_list(s["Action"])]
    assert start["Resource"]["Fn::Sub"].endswith(":task-definition/${ProjectName}-run:*")
    assert start["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}}
    (passing,) = [s for s in daemon if "iam:PassRole" in _as_list(s["Action"])]
    assert passing["Resource"] == [{"Fn::GetAtt": ["CodeTaskRole", "Arn"]}, {"Fn::GetAtt": ["ExecutionRole", "Arn"]}]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    webserver = _statements("WebserverTaskRole")
    assert not any(a in _as_list(s["Action"]) for s in webserver for a in ("ecs:RunTask", "iam:PassRole"))
    assert any("ecs:StopTask" in _as_list(s["Action"]) for s in webserver)  # a user may stop a run


def test_only_the_code_server_and_runs_hold_the_platform_permissions() -> None:
    roles = {name: r["Properties"] for name, r in _template()["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    holders = {
        name for name, role in roles.items() if {"Ref": "OrchestratorPolicyArn"} in role.get("ManagedPolicyArns", [])
    }
    assert holders == {"CodeTaskRole"}
    tasks = _resources("AWS::ECS::TaskDefinition")
    assert {name for name, task in tasks.items() if task["TaskRoleArn"] == {"Fn::GetAtt": ["CodeTaskRole", "Arn"]}} == {
        "CodeServerTaskDefinition",
        "RunTaskDefinition",
    }
    assert all(task["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]} for task in tasks.values())


def test_task_roles_are_least_privilege() -> None:
    roles = {name: r["Properties"] for name, r in _template()["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    for name, role in roles.items():
        for statement in [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]:
            actions = _as_list(statement["Action"])
            assert statement["Effect"] == "Allow", (name, statement)
            assert not any(a == "*" or a.endswith(":*") for a in actions), (name, statement)
            if "*" in _as_list(statement["Resource"]):
                assert set(actions) <= UNSCOPABLE, (name, statement)
        if name != "DatabaseMonitoringRole":
            (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
            assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}, name
            assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, name


def test_logs_are_kept_a_year_encrypted_with_a_rotating_key() -> None:
    (group,) = _resources("AWS::Logs::LogGroup").values()
    assert group["RetentionInDays"] >= 365
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["OrchestratorKey", "Arn"]}
    assert _resources("AWS::KMS::Key")["OrchestratorKey"]["EnableKeyRotation"] is True
    for container in _containers().values():
        options = container["LogConfiguration"]["Options"]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs" and options["awslogs-group"] == {
            "Ref": "LogGroup"
        }


def test_exactly_one_daemon_runs_at_a_time() -> None:
    daemon = _resources("AWS::ECS::Service")["DaemonService"]
    assert daemon["DesiredCount"] == 1
    assert daemon["DeploymentConfiguration"]["MaximumPercent"] == 100
