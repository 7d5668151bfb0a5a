"""Dagster's view of a table's checks: one ``AssetCheckSpec`` per built-in check and registry row rule.

The checks themselves (names, blocking flags, row rules) are declared once in the contract
(``etl_platform.contract.checks``), which the Spark scripts evaluate, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from etl_platform.contract.checks import BuiltinCheck, RowCheck


def check_specs(asset: str, builtin: Sequence[BuiltinCheck], row_checks: Sequence[RowCheck]) -> list[dg.AssetCheckSpec]:
    specs = [dg.AssetCheckSpec(c.name, asset=asset, blocking=c.blocking, description=c.description) for c in builtin]
    specs += [
        dg.AssetCheckSpec(
            c.name,
            asset=asset,
            blocking=c.blocking,
            # A double-backquoted code span, as conditions quote column names in backquotes.
            description=f"{c.description} (`` {c.condition} ``, on the {c.on} rows)",
        )
        for c in row_checks
    ]
    return specs
