"""The lock: `make setup` installs with `constraints.txt`, which pins every dependency the project
declares, and the environment the tests run in has exactly those versions."""

import tomllib
from importlib.metadata import requires, version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from etl_platform.project import PROJECT_ROOT


def _pins() -> dict[str, str]:
    lines = (PROJECT_ROOT / "constraints.txt").read_text().splitlines()
    pairs = (line.split("==", 1) for line in lines if line and not line.startswith("#"))
    return {canonicalize_name(name): pinned for name, pinned in pairs}


def _declared() -> set[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_every_declared_dependency_is_pinned_and_installed_at_its_pin() -> None:
    pins = _pins()
    unpinned = sorted(_declared() - set(pins))
    assert not unpinned, f"not in constraints.txt (run make lock): {unpinned}"
    drifted = {name: (pinned, version(name)) for name, pinned in pins.items() if version(name) != pinned}
    assert not drifted, f"installed versions differ from constraints.txt (run make setup, or make lock): {drifted}"


def test_make_setup_installs_with_the_constraints() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[dev,serve]'" in makefile
    assert "$(STAMP): pyproject.toml constraints.txt" in makefile


def _floor(requirement: Requirement, operators: tuple[str, ...] = (">=", "~=")) -> Version | None:
    """The lowest version ``requirement`` admits by its lower bounds, if it has any."""
    bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator in operators]
    return max(bounds, default=None)


def test_no_declared_floor_is_below_what_another_declared_dependency_requires() -> None:
    """A floor lower than a dependency's own (pyarrow 17 for a PyIceberg that needs 18) promises
    an install that cannot work; read from the installed packages' metadata, with the extras used."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    floors = {canonicalize_name(r.name): _floor(r) for r in declared}
    too_low = []
    for dependency in declared:
        for needed in map(Requirement, requires(dependency.name) or []):
            ours = floors.get(canonicalize_name(needed.name))
            theirs = _floor(needed, (">=",))  # not the == of a release to its siblings (dagster's)
            used = any(needed.marker is None or needed.marker.evaluate({"extra": e}) for e in [*dependency.extras, ""])
            if used and ours is not None and theirs is not None and ours < theirs:
                too_low.append(f"{needed.name}>={ours} but {dependency.name} requires {needed}")
    assert not too_low, too_low


def test_make_test_runs_the_scripts_on_the_spark_of_glue_and_emr_serverless_too() -> None:
    """AWS Glue 5 and EMR Serverless 7 run the scripts on classic Spark 3.5: `make test` runs their
    tests and the QuickSight graph again in a venv with that Spark in front of .venv's packages."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "$(SPARK35)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(SPARK35_TESTS)" in makefile
    assert (
        "SPARK35_TESTS ?= etl_platform_tests/glue_scripts etl_platform_tests/e2e/test_quicksight_pipeline.py"
        in makefile
    )
    assert "$(SPARK35)/bin/python -m pip install --quiet -r constraints-spark35.txt" in makefile
    lines = (PROJECT_ROOT / "constraints-spark35.txt").read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))
    assert pins["pyspark"].startswith("3.5.") and set(pins) == {"pyspark", "py4j"}
