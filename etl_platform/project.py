"""Where the project's own files are: the default lake root, and the Spark scripts and the contract
package shipped to Glue."""

import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GLUE_SCRIPTS_DIR = PROJECT_ROOT / "glue-scripts"
# The SQL texts of the inputs the SQL engine computes (DuckDB locally, Athena on AWS).
SQL_SCRIPTS_DIR = PROJECT_ROOT / "sql-scripts"
# The package both the orchestrator and the scripts import: shipped to Glue with the scripts.
CONTRACT_DIR = PROJECT_ROOT / "etl_platform" / "contract"
SAMPLES_DIR = PROJECT_ROOT / "samples"
DEFAULT_LAKE_ROOT = PROJECT_ROOT / ".lake"
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster"
# The modules of glue-scripts/ that are not entry scripts: every script imports them (through
# lake_job and lake_builds), so a change to them changes every script's code version.
SHARED_SCRIPTS = ("lake_job.py", "lake_csv.py", "lake_types.py", "lake_write.py", "lake_checks.py", "lake_builds.py")
# Where the deploy puts the scripts in the artifact bucket, and what it ships beside them: the
# contract package the scripts import, and dagster-pipes, the orchestrator's own copy (Glue and EMR
# Serverless install nothing from a package index).
SCRIPTS_PREFIX = "glue-scripts/"
CONTRACT_ZIP = "etl_platform_contract.zip"
PIPES_ZIP = "dagster_pipes.zip"
# What a job run loads beside its script.
JOB_PY_FILES = (*SHARED_SCRIPTS, CONTRACT_ZIP, PIPES_ZIP)


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def script_code_version(script: str, scripts_dir: Path = GLUE_SCRIPTS_DIR, contract_dir: Path = CONTRACT_DIR) -> str:
    """A digest of the script, the shared modules and the contract: editing any marks its asset
    stale in the UI."""
    return _digest([scripts_dir / name for name in (script, *SHARED_SCRIPTS)] + sorted(contract_dir.glob("*.py")))


def transform_path(engine: str, script: str) -> str:
    """Where an input's transform lives, relative to the project: a SQL text or a Spark script."""
    folder = SQL_SCRIPTS_DIR if engine == "sql" else GLUE_SCRIPTS_DIR
    return f"{folder.name}/{script}"


def transform_code_version(engine: str, script: str) -> str:
    """The code version of an input's table: for a SQL text, the text, the platform's SQL jobs
    (which read, type and check around it), the engines that run them and the contract; for a
    script, ``script_code_version``."""
    if engine != "sql":
        return script_code_version(script)
    package = PROJECT_ROOT / "etl_platform"
    engines = [package / "resources" / name for name in ("sql.py", "athena.py")]
    sql_jobs = sorted((package / "sql_jobs").glob("*.py"))
    return _digest([SQL_SCRIPTS_DIR / script, *sql_jobs, *engines, *sorted(CONTRACT_DIR.glob("*.py"))])
