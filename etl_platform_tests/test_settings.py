"""Settings: every variable read in one module, typed, validated in one line, and documented."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from etl_platform.project import PROJECT_ROOT
from etl_platform.settings import Settings, SettingsError, UnknownEnvironmentError, get_settings, variable_of


def test_defaults_need_no_variable() -> None:
    settings = Settings.from_environ({})
    assert (settings.platform_env, settings.keep_versions, settings.spark_retries) == ("local", 5, 3)
    assert settings.catalog_uri == f"sqlite:///{settings.lake_root / 'catalog.db'}"


def test_values_are_typed() -> None:
    settings = Settings.from_environ(
        {
            "ETL_KEEP_VERSIONS": "9",
            "ETL_ORPHAN_MIN_AGE_HOURS": "1.5",
            "ETL_LAKE_ROOT": "/data/lake",
            "ETL_PLATFORM_ENV": "AWS",
        }
    )
    assert (settings.keep_versions, settings.orphan_min_age_hours) == (9, 1.5)
    assert settings.lake_root == Path("/data/lake") and settings.platform_env == "aws"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ETL_KEEP_VERSIONS", "many", "ETL_KEEP_VERSIONS='many' is not a whole number"),
        ("ETL_KEEP_VERSIONS", "0", "ETL_KEEP_VERSIONS='0' must be at least 1"),
        ("ETL_CHECK_MAX_ROW_COUNT_CHANGE", "half", "ETL_CHECK_MAX_ROW_COUNT_CHANGE='half' is not a number"),
        ("ETL_ALERT_WEBHOOK_ALLOW_HTTP", "maybe", "ETL_ALERT_WEBHOOK_ALLOW_HTTP='maybe' is not true or false"),
    ],
)
def test_a_bad_value_is_named_in_one_line(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({variable: value})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example/T0K3N", "must be an https:// URL, not http (set ETL_ALERT_WEBHOOK_ALLOW_HTTP=true"),
        ("ftp://hooks.example/T0K3N", "must be an https:// URL, not ftp"),
        ("hooks.example/T0K3N", "must be an https:// URL, not no scheme"),
    ],
)
def test_an_alert_webhook_must_be_https_and_its_url_is_never_shown(url: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"ETL_ALERT_WEBHOOK_URL": url})
    assert message in str(raised.value) and "T0K3N" not in str(raised.value)


def test_an_http_webhook_is_accepted_only_when_allowed() -> None:
    allowed = Settings.from_environ(
        {"ETL_ALERT_WEBHOOK_URL": "http://127.0.0.1/h", "ETL_ALERT_WEBHOOK_ALLOW_HTTP": "yes"}
    )
    assert allowed.alert_webhook_allow_http is True
    assert Settings.from_environ({"ETL_ALERT_WEBHOOK_URL": "https://hooks.example/h"}).alert_webhook_url


def test_an_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(
        UnknownEnvironmentError, match="ETL_PLATFORM_ENV='moon' is not a known environment; choose one of: local, aws"
    ):
        Settings.from_environ({"ETL_PLATFORM_ENV": "moon"})


def test_a_changed_variable_is_seen_at_once(monkeypatch) -> None:
    monkeypatch.setenv("ETL_KEEP_VERSIONS", "7")
    assert get_settings().keep_versions == 7
    assert get_settings() is get_settings()  # parsed once while nothing changes
    monkeypatch.setenv("ETL_KEEP_VERSIONS", "8")
    assert get_settings().keep_versions == 8


def _environment_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} os.{node.attr}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "EnvVar"
            or isinstance(node, ast.Name)
            and node.id == "EnvVar"
        ):
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} EnvVar")
    return found


def test_no_module_but_settings_reads_the_environment() -> None:
    package = PROJECT_ROOT / "etl_platform"
    reads = [
        read
        for path in sorted(package.rglob("*.py"))
        if path.name != "settings.py"
        for read in _environment_reads(path)
    ]
    assert reads == []


def configuration_rows() -> list[str]:
    """The configuration page's table, one row per setting: variable, default, meaning."""
    rows = []
    for spec in dataclasses.fields(Settings):
        default = spec.default
        if isinstance(default, Path):
            shown = f"`<project>/{default.relative_to(PROJECT_ROOT)}`"
        else:
            shown = (
                "unset"
                if default is None
                else "empty"
                if default == ""
                else f"`{default:g}`"
                if isinstance(default, float)
                else f"`{default}`"
            )
        rows.append(f"| `{variable_of(spec)}` | {shown} | {spec.metadata['doc']} |")
    return rows


def test_the_configuration_page_lists_every_variable_as_the_settings_define_it() -> None:
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    table = [line for line in page.splitlines() if re.match(r"^\| `[A-Z_]+` \|", line)]
    assert table == configuration_rows()
