"""Who is searching, and what that lets them see: the archive's side of `visibility`."""

from __future__ import annotations

from dataclasses import dataclass

from roomscribe.archive.documents import VISIBILITY_CODES
from roomscribe.visibility import Visibility


@dataclass(frozen=True, slots=True)
class Asker:
    """Who is searching. No `user_id` means anonymous."""

    user_id: str | None = None
    admin: bool = False


ANONYMOUS = Asker()


@dataclass(frozen=True, slots=True)
class Audience:
    """Which visibility codes an asker sees, plus the private rooms they host (None: all)."""

    codes: frozenset[int] | None
    host: str | None = None

    @classmethod
    def of(cls, asker: Asker) -> Audience:
        if asker.admin:
            return cls(None)
        if asker.user_id is None:
            return cls(frozenset({VISIBILITY_CODES[Visibility.PUBLIC]}))
        return cls(frozenset({VISIBILITY_CODES[Visibility.PUBLIC],
                              VISIBILITY_CODES[Visibility.MEMBERS]}), host=asker.user_id)


PRIVATE_CODE = VISIBILITY_CODES[Visibility.PRIVATE]
