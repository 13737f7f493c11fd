"""Recorded rooms: storage, per-speaker tracks on the room clock, and the mixdown."""
