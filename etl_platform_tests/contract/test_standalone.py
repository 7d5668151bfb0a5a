"""The contract ships to Glue alone: it imports with none of the platform's dependencies."""

import subprocess
import sys

from etl_platform.project import CONTRACT_DIR, PROJECT_ROOT

BLOCKED = ("dagster", "dagster_pipes", "pyspark", "pydantic", "pyarrow", "boto3")


def test_every_contract_module_imports_without_dagster_pyspark_or_pydantic() -> None:
    modules = sorted(
        f"etl_platform.contract.{path.stem}" for path in CONTRACT_DIR.glob("*.py") if path.stem != "__init__"
    )
    code = "\n".join(
        [
            "import sys",
            # A module set to None in sys.modules cannot be imported: any import of it fails.
            *(f"sys.modules[{name!r}] = None" for name in BLOCKED),
            *(f"import {module}" for module in modules),
            "print(sorted(name for name in sys.modules if name.startswith('etl_platform')))",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert modules and eval(done.stdout) == ["etl_platform", "etl_platform.contract", *modules]
