"""The orchestrator's image, checked without building it (no container engine here): what the
Dockerfile installs, copies, runs and as whom, read instruction by instruction."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import shlex

from etl_platform.project import PROJECT_ROOT
from etl_platform_tests.test_orchestrator_infra import _containers

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DAGSTER_HOME = "/opt/dagster/dagster_home"
JAVA = re.compile(r"\b(java|jdk|jre|openjdk|temurin|corretto)\b", re.IGNORECASE)


@functools.cache
def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _arguments(instruction: str) -> list[str]:
    return [arguments for name, arguments in _instructions() if name == instruction]


def _copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY."""
    copies = []
    for arguments in _arguments("COPY"):
        *sources, destination = [word for word in shlex.split(arguments) if not word.startswith("--")]
        copies.append((sources, destination))
    return copies


def test_the_image_is_python_3_11_slim() -> None:
    assert _arguments("FROM") == ["python:3.11-slim"]


def test_the_processes_run_as_a_user_the_image_creates_never_root() -> None:
    names = [name for name, _ in _instructions()]
    (user,) = _arguments("USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert names.index("USER") > max(i for i, name in enumerate(names) if name in ("RUN", "COPY"))
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


def test_every_file_copied_is_in_the_repository_and_sent_to_the_builder() -> None:
    ignore = [line for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for sources, _ in _copies():
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
