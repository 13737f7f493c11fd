"""Who may find and replay a recorded room: the visibility its host chose, and the one rule.

Shared vocabulary below the domains: rooms store a visibility, the archive indexes and filters
by it, the replay checks it. `may_see` is the rule; search applies the same rule inside its
query (archive.search) and confirms each hit with this function.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Visibility(StrEnum):
    """Who may find a room's transcript in search and replay its recording."""

    PUBLIC = "public"
    """Anyone, signed in or not."""
    MEMBERS = "members"
    """Anyone signed in (the default)."""
    PRIVATE = "private"
    """The host and admins."""


AUDIENCE: dict[Visibility, str] = {
    Visibility.PUBLIC: "anyone, with or without an account",
    Visibility.MEMBERS: "anyone signed in to this site",
    Visibility.PRIVATE: "only the host and the site's admins",
}
"""Who that is, in the words the pages use: "the replay will be visible to …"."""


class Viewer(Protocol):
    """Who is asking: an account (`accounts.tables.Account`)."""

    @property
    def id(self) -> int | None: ...

    @property
    def is_admin(self) -> bool: ...


def may_see(visibility: Visibility, host_id: int, viewer: Viewer | None) -> bool:
    """Public to anyone, members to anyone signed in, private to the host; admins see all."""
    if viewer is not None and (viewer.is_admin or viewer.id == host_id):
        return True
    if visibility is Visibility.PUBLIC:
        return True
    return visibility is Visibility.MEMBERS and viewer is not None
