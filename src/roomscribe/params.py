"""Whole-number parameters the API and pages share, bounded as the database can store them.

An id or cursor past what an integer column holds is not "not found": the database cannot even
compare with it (SQLite's driver fails past 2**63 - 1, PostgreSQL's INTEGER past 2**31 - 1), so
such values are refused as bad input (400) before they get that far. The bound is the smaller
database's, so both profiles answer alike.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

MAX_ROW_ID = 2**31 - 1

Id = Annotated[int, PathParameter(ge=0, le=MAX_ROW_ID)]
"""A row's number in a path (a report, a pin)."""

Cursor = Annotated[int | None, QueryParameter(ge=0, le=MAX_ROW_ID)]
"""An optional row number in a query: a version, an id to page before or after."""

Page = Annotated[int, QueryParameter(ge=1, le=10_000)]
"""A page of results, counted from 1."""


def row_number(text: str | None) -> int | None:
    """A row number typed into a page's form or query, or None when it is missing or not one
    (pages treat a mangled cursor as no cursor, as the first page)."""
    try:
        number = int(text) if text else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number <= MAX_ROW_ID else None
