"""Column naming and the ``--columns`` argument, as both sides read them."""

import pytest

from etl_platform.contract.columns import (
    ExpectedColumn,
    columns_from_json,
    columns_to_json,
    normalize_column_name,
    quote_identifier,
)
from etl_platform.contract.errors import ContractError


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Mailing list adds ", "mailing_list_adds"),
        ("  New visitors   Social Media", "new_visitors_social_media"),
        ("Date", "date"),
        ("Tablet\tuniques", "tablet_uniques"),
        ("\ufeffDate", "date"),  # the first header name of a file saved with a byte order mark
    ],
)
def test_normalize_column_name(raw: str, normal: str) -> None:
    assert normalize_column_name(raw) == normal


def test_identifiers_are_backquoted_whatever_they_hold() -> None:
    assert quote_identifier("Weighted Revenue") == "`Weighted Revenue`"
    assert quote_identifier("a`b") == "`a``b`"


def test_columns_argument_round_trips_and_must_be_pairs_of_known_types() -> None:
    text = columns_to_json([("Date", "date"), ("N", "bigint")])
    assert columns_from_json(text) == (ExpectedColumn("Date", "date"), ExpectedColumn("N", "bigint"))
    with pytest.raises(ContractError, match=r"unknown types \['money'\]"):
        columns_from_json('[["N", "money"]]')
    with pytest.raises(ContractError, match="JSON list"):
        columns_from_json("Date:date")
    with pytest.raises(ContractError, match="column 'N' has unknown type 'money'"):
        ExpectedColumn("N", "money")
