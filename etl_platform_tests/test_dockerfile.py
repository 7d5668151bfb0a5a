"""The orchestrator's image and the EMR Serverless one, checked without building them (no container
engine here): what each Dockerfile installs, copies, runs and as whom, read instruction by
instruction."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import shlex
from pathlib import Path

import pytest

from etl_platform.project import PROJECT_ROOT
from etl_platform_tests.test_infra import _of_type
from etl_platform_tests.test_orchestrator_infra import _containers

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
EMR_DOCKERFILE = PROJECT_ROOT / "deploy" / "emr-serverless.Dockerfile"
# Where EMR Serverless keeps its images' base, per release label.
EMR_BASE = "public.ecr.aws/emr-serverless/spark/{release}:latest"
DAGSTER_HOME = "/opt/dagster/dagster_home"
JAVA = re.compile(r"\b(java|jdk|jre|openjdk|temurin|corretto)\b", re.IGNORECASE)


@functools.cache
def _instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _arguments(instruction: str, dockerfile: Path = DOCKERFILE) -> list[str]:
    return [arguments for name, arguments in _instructions(dockerfile) if name == instruction]


def _copies(dockerfile: Path = DOCKERFILE) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY."""
    copies = []
    for arguments in _arguments("COPY", dockerfile):
        *sources, destination = [word for word in shlex.split(arguments) if not word.startswith("--")]
        copies.append((sources, destination))
    return copies


def test_the_image_is_python_3_11_slim() -> None:
    assert _arguments("FROM") == ["python:3.11-slim"]


def _last_user(dockerfile: Path) -> str:
    """The user the image's processes run as: its last USER, after every RUN and COPY."""
    names = [name for name, _ in _instructions(dockerfile)]
    user = _arguments("USER", dockerfile)[-1]
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert len(names) - 1 - names[::-1].index("USER") > max(i for i, n in enumerate(names) if n in ("RUN", "COPY"))
    return user


def test_the_processes_run_as_a_user_the_image_creates_never_root() -> None:
    user = _last_user(DOCKERFILE)
    created = [step.split() for run in _arguments("RUN") for step in run.split("&&") if step.split()[:1] == ["useradd"]]
    assert [words[-1] for words in created] == [user]


def test_the_project_is_installed_with_the_pinned_dependencies_and_no_java() -> None:
    (install,) = [run for run in _arguments("RUN") if "pip install" in run]
    words = shlex.split(install.split("&&")[0])
    assert words[words.index("-c") + 1] == "constraints.txt"
    assert "." in words
    assert any("constraints.txt" in sources for sources, _ in _copies())
    for run in _arguments("RUN"):
        assert not JAVA.search(run) and "apt-get install" not in run, run


def test_the_instance_file_becomes_dagster_yaml_in_dagster_home() -> None:
    (environment,) = _arguments("ENV")
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in environment.split()
    assert (["deploy/dagster.aws.yaml"], f"{DAGSTER_HOME}/dagster.yaml") in _copies()


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, EMR_DOCKERFILE], ids=["orchestrator", "emr serverless"])
def test_every_file_copied_is_in_the_repository_and_sent_to_the_builder(dockerfile: Path) -> None:
    """Both are built from the project folder, so the one .dockerignore decides for both."""
    ignore = [line for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for sources, _ in _copies(dockerfile):
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), source
            sent = False
            for pattern in ignore:  # the last pattern that matches decides, as in Docker
                path = pattern.lstrip("!").rstrip("/")
                if fnmatch.fnmatch(source, path) or source.startswith(f"{path}/"):  # a folder holds its files
                    sent = pattern.startswith("!")
            assert sent, f"{source} is excluded by .dockerignore"


def test_by_default_the_image_is_the_code_server_the_orchestrator_runs() -> None:
    (command,) = _arguments("CMD")
    assert json.loads(command) == _containers()["code-server"]["Command"]
    (exposed,) = _arguments("EXPOSE")
    assert "4000" in exposed.split()


def test_the_webserver_and_daemon_find_the_workspace_the_image_holds() -> None:
    (workdir,) = _arguments("WORKDIR")
    assert (["deploy/workspace.aws.yaml"], "./workspace.yaml") in _copies() and workdir == "/opt/dagster/app"
    for name in ("webserver", "daemon"):
        command = _containers()[name]["Command"]
        assert command[command.index("--workspace") + 1] == "workspace.yaml", name


# --- the EMR Serverless image ---------------------------------------------------------------


def _emr_application() -> dict:
    return _of_type("AWS::EMRServerless::Application")["EmrServerlessApplication"]


def test_the_emr_image_is_built_on_the_base_of_the_application_release() -> None:
    """EMR Serverless refuses an image whose base is another release than the application's."""
    assert _arguments("FROM", EMR_DOCKERFILE) == [EMR_BASE.format(release=_emr_application()["ReleaseLabel"])]


def test_the_emr_image_runs_as_hadoop_as_emr_serverless_requires() -> None:
    assert _last_user(EMR_DOCKERFILE) == "hadoop:hadoop"


def test_the_emr_image_has_python_3_11_which_the_application_runs_the_scripts_with() -> None:
    (install,) = [run for run in _arguments("RUN", EMR_DOCKERFILE) if "dnf install" in run]
    assert "python3.11" in install.split("&&")[0].split()
    (environment,) = _arguments("ENV", EMR_DOCKERFILE)
    interpreters = dict(word.split("=", 1) for word in environment.split())
    assert interpreters == {"PYSPARK_PYTHON": "/usr/bin/python3.11", "PYSPARK_DRIVER_PYTHON": "/usr/bin/python3.11"}
    (defaults,) = [c for c in _emr_application()["RuntimeConfiguration"] if c["Classification"] == "spark-defaults"]
    assert set(defaults["Properties"].values()) == {"/usr/bin/python3.11"}
    assert {name.rsplit(".", 1)[-1] for name in defaults["Properties"]} == set(interpreters)


def test_the_emr_image_installs_only_boto3_at_the_tested_version() -> None:
    """pyspark is EMR's own; dagster-pipes and the contract come with the scripts (--py-files)."""
    (install,) = [run for run in _arguments("RUN", EMR_DOCKERFILE) if "pip install" in run]
    (pip,) = [step for step in install.split("&&") if "pip install" in step]
    words = shlex.split(pip)
    assert words[words.index("-c") + 1].endswith("constraints.txt")
    assert [word for word in words[words.index("install") + 1 :] if not word.startswith("-")][1:] == ["boto3"]
    assert (["constraints.txt"], "/tmp/constraints.txt") in _copies(EMR_DOCKERFILE)
