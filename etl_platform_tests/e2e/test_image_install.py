"""The orchestrator image's install, done as its Dockerfile does it (no container engine here): the
files it copies, in a folder of their own, installed by its own pip command (the pins, no extras)
into a fresh virtual environment. There the code location must load and the CLI start: the image has
nothing the local tooling (the dev extra) brings."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_platform.project import PROJECT_ROOT
from etl_platform_tests.test_dockerfile import _arguments, _copies

# A fresh environment and pyspark's few hundred MB: the longest test of its file set, so it starts early.
pytestmark = pytest.mark.e2e


def _copy_as_the_dockerfile_does(app: Path) -> None:
    """Each COPY into the image's working folder (the instance file goes elsewhere in the image)."""
    for sources, destination in _copies():
        if destination.startswith("/"):
            continue
        for source in sources:
            into_folder = len(sources) > 1 or destination.endswith("/")
            target = app / destination / Path(source).name if into_folder else app / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            if (PROJECT_ROOT / source).is_dir():
                shutil.copytree(PROJECT_ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(PROJECT_ROOT / source, target)


def _clean_environment(**overrides: str) -> dict[str, str]:
    """This environment without what would lead a Python process to the repository's code or the test
    venv (the test run puts the worktree on PYTHONPATH), nor the project's settings. Bytecode may be
    written (unlike in the image): the first command's then spares the others compiling it again."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment = {k: v for k, v in environment.items() if not k.startswith(("ETL_", "DAGSTER_", "SPARK_"))}
    return {**environment, **overrides}


@pytest.fixture(scope="module")
def image_venv() -> Iterator[tuple[Path, Path]]:
    """(the app folder, its venv's bin folder), installed by the Dockerfile's pip command. pip's cache
    is kept (the image sets PIP_NO_CACHE_DIR, for its size) and nothing is compiled ahead (the image
    never writes bytecode): the same packages, in a fraction of the time."""
    with tempfile.TemporaryDirectory(prefix="etl-image-") as folder:
        app, venv = Path(folder) / "app", Path(folder) / "venv"
        _copy_as_the_dockerfile_does(app)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        (install,) = [run for run in _arguments("RUN") if "pip install" in run]
        pip = shlex.split(install.split("&&")[0])
        assert pip[:2] == ["pip", "install"], pip
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", *pip, "--quiet", "--no-compile"],
            cwd=app,
            env=_clean_environment(),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        yield app, venv / "bin"


def _run_in_image(image_venv: tuple[Path, Path], *command: str) -> subprocess.CompletedProcess:
    app, bin_folder = image_venv
    with tempfile.TemporaryDirectory(prefix="etl-image-home-") as home:
        environment = _clean_environment(
            PATH=f"{bin_folder}{os.pathsep}{os.environ['PATH']}", DAGSTER_HOME=home, ETL_PLATFORM_ENV="aws"
        )
        return subprocess.run(command, cwd=app, env=environment, capture_output=True, text=True, timeout=600)


def test_the_code_location_loads_in_the_image(image_venv) -> None:
    """As the image's code server loads it (the AWS profile, as its task definition sets)."""
    done = _run_in_image(image_venv, "dagster", "definitions", "validate", "-m", "etl_platform.definitions")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_the_code_location_imports_none_of_the_local_tooling(image_venv) -> None:
    """The local Spark server and its process inspection are for this machine's commands only."""
    probe = "import sys, etl_platform.definitions; print(sorted({'etl_platform.spark_service', 'psutil'} & set(sys.modules)))"
    done = _run_in_image(image_venv, "python", "-c", probe)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr[-3000:]


def test_the_cli_starts_in_the_image(image_venv) -> None:
    done = _run_in_image(image_venv, "etl-platform", "--help")
    assert done.returncode == 0 and "usage: etl-platform" in done.stdout, done.stderr[-3000:]
