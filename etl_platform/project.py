"""Where the project's own files are: the default lake root and the Spark scripts shipped to Glue."""

import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GLUE_SCRIPTS_DIR = PROJECT_ROOT / "glue-scripts"
SAMPLES_DIR = PROJECT_ROOT / "samples"
DEFAULT_LAKE_ROOT = PROJECT_ROOT / ".lake"
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster"
# Every script imports these modules, so a change to them changes every script's code version.
SHARED_SCRIPTS = ("lake_job.py", "lake_checks.py")


def script_code_version(script: str, scripts_dir: Path = GLUE_SCRIPTS_DIR) -> str:
    """A digest of the script and the shared modules: editing any marks its asset stale in the UI."""
    digest = hashlib.sha256()
    for name in (script, *SHARED_SCRIPTS):
        digest.update((scripts_dir / name).read_bytes())
    return digest.hexdigest()[:16]
