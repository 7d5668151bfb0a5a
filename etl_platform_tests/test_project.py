"""Code versions follow the scripts: editing one marks its asset stale in the UI."""

from etl_platform.project import CONTRACT_DIR, GLUE_SCRIPTS_DIR, SHARED_SCRIPTS, script_code_version

SCRIPTS = ("process_sales_data.py", "process_marketing_data.py")


def _copy_scripts(tmp_path):
    """The scripts and the contract, copied: (scripts folder, contract folder)."""
    scripts, contract = tmp_path / "glue-scripts", tmp_path / "contract"
    scripts.mkdir()
    contract.mkdir()
    for name in (*SCRIPTS, *SHARED_SCRIPTS):
        (scripts / name).write_bytes((GLUE_SCRIPTS_DIR / name).read_bytes())
    for path in CONTRACT_DIR.glob("*.py"):
        (contract / path.name).write_bytes(path.read_bytes())
    return scripts, contract


def test_editing_a_script_changes_only_its_code_version(tmp_path) -> None:
    scripts, contract = _copy_scripts(tmp_path)
    sales, marketing = (script_code_version(s, scripts, contract) for s in SCRIPTS)
    assert sales == script_code_version("process_sales_data.py")
    with open(scripts / "process_sales_data.py", "a") as script:
        script.write("\n# tweak\n")
    assert script_code_version("process_sales_data.py", scripts, contract) != sales
    assert script_code_version("process_marketing_data.py", scripts, contract) == marketing


def test_editing_a_shared_module_or_the_contract_changes_every_code_version(tmp_path) -> None:
    scripts, contract = _copy_scripts(tmp_path)
    for edited in (scripts / "lake_checks.py", contract / "checks.py"):
        before = [script_code_version(s, scripts, contract) for s in SCRIPTS]
        with open(edited, "a") as module:
            module.write("\n# tweak\n")
        after = [script_code_version(s, scripts, contract) for s in SCRIPTS]
        assert all(b != a for b, a in zip(before, after)), edited.name
