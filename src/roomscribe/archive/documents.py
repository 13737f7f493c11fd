"""What the search index holds: one document per transcript segment, its schema and analyzers.

Words are postings; everything about the room (date, visibility, host) is a per-document column,
so search tests those for every candidate at once in numpy (`archive.evaluator`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from whoosh import columns, fields
from whoosh.analysis import SpaceSeparatedTokenizer

from roomscribe.archive.analysis import WORDS, index_form
from roomscribe.errors import InvalidInput
from roomscribe.languages import ENGLISH
from roomscribe.visibility import Visibility


@dataclass(frozen=True, slots=True)
class SegmentDoc:
    """One transcript segment as the index holds it, with the room facts search filters on."""

    segment_id: str
    """Unique across all rooms; re-adding the same id replaces the segment."""
    room_id: str
    room_title: str
    room_date: datetime
    """When the room took place; naive values are taken as UTC."""
    visibility: Visibility
    host_id: str | None
    speaker: str
    """Display name of who spoke."""
    start: float
    """Seconds on the room clock (also the position in the room's mix)."""
    end: float
    text: str
    lang: str = ENGLISH
    """The language of `text` (a Whisper code): how it is analysed, and what `lang:` finds."""
    translated: bool = False
    """On the English track of a room in another language (Whisper's translation)."""


VISIBILITY_CODES = {Visibility.PUBLIC: 1, Visibility.MEMBERS: 2, Visibility.PRIVATE: 3}
"""How the `visibility` column stores each value; 0, a column's default, matches no one."""


def schema() -> fields.Schema:
    """Words are postings; everything about the room is a per-document column.

    Searching by room, date or visibility tests those columns for every candidate at once in
    numpy (see archive.search) instead of walking postings that cover most of the index, and it
    keeps indexing lean: a room's title and date are stored, not indexed, on every segment.
    """
    return fields.Schema(
        seg_id=fields.ID(stored=True, unique=True),
        room_id=fields.ID(stored=True),  # indexed only to delete a room's segments by term
        room_title=fields.STORED,
        room_facts=fields.STORED,  # (date, visibility, host id) as given, for reconcile
        speaker=fields.TEXT(stored=True, analyzer=WORDS),
        # Given the terms `archive.analysis` made in the segment's language; stores the words.
        text=fields.TEXT(stored=True, analyzer=SpaceSeparatedTokenizer()),
        lang=fields.ID(stored=True),  # indexed for its lexicon: the languages to search in
        translated=fields.STORED,
        span=fields.STORED,  # (start, end) in milliseconds
        newest=fields.COLUMN(columns.NumericColumn("q", default=0)),
        date=fields.COLUMN(columns.NumericColumn("q", default=0)),
        room_key=fields.COLUMN(columns.NumericColumn("q", default=0)),
        visibility=fields.COLUMN(columns.NumericColumn("B", default=0)),
        host_key=fields.COLUMN(columns.NumericColumn("q", default=0)),
        host_id=fields.COLUMN(columns.VarBytesColumn()),
        lang_key=fields.COLUMN(columns.NumericColumn("q", default=0)),
    )


def layout(fields_of: fields.Schema) -> list[tuple[str, str]]:
    """The schema's field names and kinds, to tell an index written by another version."""
    return sorted((name, type(field).__name__) for name, field in fields_of.items())


def key_of(value: str) -> int:
    """A signed 64-bit number for an id, so columns can compare rooms and hosts as numbers."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little",
                          signed=True)


def newest_key(room_date: datetime, start: float) -> int:
    """Ascending order = latest room first, then by time in the room (to 0.1 s, up to 19 days)."""
    tenths = min(max(round(start * 10), 0), (1 << 24) - 1)
    return ((1 << 31) - epoch(room_date)) << 24 | tenths


def epoch(moment: datetime) -> int:
    """Seconds since 1970 UTC, how the index keeps dates; naive datetimes are taken as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp())


def document_of(doc: SegmentDoc) -> dict[str, Any]:
    """The fields whoosh stores for `doc`; `InvalidInput` if it lacks its ids."""
    if not doc.segment_id or not doc.room_id:
        raise InvalidInput("a segment needs a segment id and a room id")
    visibility = Visibility(doc.visibility)
    host = doc.host_id or ""
    return {
        "seg_id": doc.segment_id,
        "room_id": doc.room_id,
        "room_title": doc.room_title,
        "room_facts": (epoch(doc.room_date), visibility.value, host),
        "speaker": doc.speaker,
        "text": index_form(doc.text, doc.lang),
        "_stored_text": doc.text,
        "lang": doc.lang,
        "lang_key": key_of(doc.lang),
        "translated": doc.translated,
        "span": (round(doc.start * 1000), round(doc.end * 1000)),
        "newest": newest_key(doc.room_date, doc.start),
        "date": epoch(doc.room_date),
        "room_key": key_of(doc.room_id),
        "visibility": VISIBILITY_CODES[visibility],
        "host_key": key_of(host) if host else 0,
        "host_id": host.encode(),
    }
