"""Code versions follow the scripts: editing one marks its asset stale in the UI."""

from etl_platform.project import GLUE_SCRIPTS_DIR, SHARED_SCRIPTS, script_code_version


def _copy_scripts(tmp_path):
    for name in ("process_sales_data.py", "process_marketing_data.py", *SHARED_SCRIPTS):
        (tmp_path / name).write_bytes((GLUE_SCRIPTS_DIR / name).read_bytes())


def test_editing_a_script_changes_only_its_code_version(tmp_path) -> None:
    _copy_scripts(tmp_path)
    sales, marketing = (
        script_code_version(s, tmp_path) for s in ("process_sales_data.py", "process_marketing_data.py")
    )
    assert sales == script_code_version("process_sales_data.py", GLUE_SCRIPTS_DIR)
    with open(tmp_path / "process_sales_data.py", "a") as script:
        script.write("\n# tweak\n")
    assert script_code_version("process_sales_data.py", tmp_path) != sales
    assert script_code_version("process_marketing_data.py", tmp_path) == marketing


def test_editing_a_shared_module_changes_every_code_version(tmp_path) -> None:
    _copy_scripts(tmp_path)
    before = script_code_version("process_marketing_data.py", tmp_path)
    with open(tmp_path / "lake_checks.py", "a") as module:
        module.write("\n# tweak\n")
    assert script_code_version("process_marketing_data.py", tmp_path) != before
