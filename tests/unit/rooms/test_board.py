"""Merging the presence of a room's web processes into one roster."""

from __future__ import annotations

from roomscribe.rooms.board import Audience, Listener, Presence


def test_merge_names_at_most_the_limit_in_order() -> None:
    entries = [Presence(listeners=[Listener(f"u{i}", f"User {i:03}") for i in range(j, 150, 2)],
                        listener_count=75) for j in (0, 1)]
    audience = Audience.merge(entries, named=100)
    assert [w.name for w in audience.listeners] == [f"User {i:03}" for i in range(100)]
    assert audience.listener_count == 150
