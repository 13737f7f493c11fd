"""Whole-number parameters the API and pages share, bounded as the database can store them.

An id or cursor past 2**63 - 1 is not "not found": SQLite cannot even compare with it (it fails
inside the driver), so such values are refused as bad input (400) before they get that far.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

MAX_ROW_ID = 2**63 - 1

Id = Annotated[int, PathParameter(ge=0, le=MAX_ROW_ID)]
"""A row's number in a path (a report, a pin)."""

Cursor = Annotated[int | None, QueryParameter(ge=0, le=MAX_ROW_ID)]
"""An optional row number in a query: a version, an id to page before or after."""

Page = Annotated[int, QueryParameter(ge=1, le=10_000)]
"""A page of results, counted from 1."""
