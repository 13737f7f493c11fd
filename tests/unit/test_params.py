"""Row numbers from pages: what an integer column of either database can hold, or nothing."""

from __future__ import annotations

import pytest

from roomscribe.params import MAX_ROW_ID, row_number


@pytest.mark.parametrize(("text", "number"), [
    ("0", 0), ("42", 42), (str(MAX_ROW_ID), MAX_ROW_ID), (None, None), ("", None),
    ("abc", None), ("-1", None), (str(MAX_ROW_ID + 1), None), ("9223372036854775807", None),
])
def test_row_numbers_from_pages(text: str | None, number: int | None) -> None:
    assert row_number(text) == number


def test_the_bound_is_postgresqls_integer() -> None:
    assert MAX_ROW_ID == 2**31 - 1
