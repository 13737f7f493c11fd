"""HTTP byte ranges (RFC 9110 `Range: bytes=…`) over an object of known size: what a recording's
download and its replay answer with, so a player can seek without fetching the whole file."""

from __future__ import annotations

import re

from roomscribe.errors import RangeNotSatisfiable

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`[start, end)` asked for by a `Range` header on an object of `size` bytes.

    None means the whole object: no header, or one RFC 9110 lets a server ignore (several
    ranges, another unit, a malformed or backwards range). A range starting past the end (or an
    empty suffix) is `RangeNotSatisfiable` (416).
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group() == "bytes=-":
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} selects nothing of {size} bytes",
                                      size=size)
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"range {header!r} starts past the end ({size} bytes)",
                                  size=size)
    return start, size if not last else min(size, int(last) + 1)
