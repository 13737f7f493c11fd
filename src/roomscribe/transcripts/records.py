"""Transcript rows read and written inside a transaction: the service's building blocks."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func
from sqlmodel import Session, col, select

from roomscribe.accounts.tables import Account
from roomscribe.errors import NotFound
from roomscribe.languages import ENGLISH, languages
from roomscribe.rooms.tables import Member
from roomscribe.transcripts.schemas import (
    SegmentEdit,
    Track,
    TrackPublic,
    TranscriptPublic,
    VersionPublic,
)
from roomscribe.transcripts.tables import (
    LIVE_VERSION,
    Source,
    Transcript,
    TranscriptSegment,
    TranscriptVersion,
)


def edited(row: TranscriptSegment, edit: SegmentEdit | None) -> tuple[str, str]:
    """A segment's text and speaker label after `edit` (unchanged where it says nothing)."""
    if edit is None:
        return row.text, row.speaker_name
    return (row.text if edit.text is None else edit.text,
            row.speaker_name if edit.speaker is None else edit.speaker)


def open_transcript(session: Session, room_id: str) -> Transcript:
    transcript = Transcript(room_id=room_id)
    session.add(transcript)
    session.add(TranscriptVersion(room_id=room_id, number=LIVE_VERSION, source=Source.LIVE))
    return transcript


def transcript(session: Session, room_id: str) -> Transcript:
    transcript = session.get(Transcript, room_id)
    if transcript is None:
        raise NotFound(f"room {room_id} has no transcript")
    return transcript


def rows(session: Session, room_id: str, version: int, *,
         translated: bool = False) -> list[TranscriptSegment]:
    """A version's segments in time order: the words as spoken, or its English track."""
    return list(session.exec(select(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == version,
        TranscriptSegment.translated == translated)
        .order_by(col(TranscriptSegment.start), col(TranscriptSegment.position))).all())


def count(session: Session, room_id: str, version: int) -> int:
    """Segments as spoken in a version."""
    return session.exec(select(func.count()).select_from(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == version,
        col(TranscriptSegment.translated).is_(False))).one()


def track_rows(session: Session, room_id: str, version: int,
               track: Track) -> list[TranscriptSegment]:
    """A version's segments on one track; `NotFound` for an English track it does not have."""
    if track == "english":
        translated = rows(session, room_id, version, translated=True)
        if translated:
            return translated
    spoken = rows(session, room_id, version)
    if track == "spoken" or all(row.lang == ENGLISH for row in spoken):
        return spoken  # (English track) said in English: the words as spoken are it
    raise NotFound(f"room {room_id} has no English track (it was captioned before rooms in "
                   "other languages had one)")


def _label(code: str) -> str:
    lang = languages().get(code)
    if lang is None:
        return code
    return lang.name if lang.name == lang.english_name else f"{lang.name} ({lang.english_name})"


def tracks(session: Session, room_id: str, version: int) -> list[TrackPublic]:
    """The caption tracks a version offers: as spoken, and English when that differs."""
    spoken = Counter(session.exec(select(TranscriptSegment.lang).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == version,
        col(TranscriptSegment.translated).is_(False))).all())
    translated = session.exec(select(func.count()).select_from(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == version,
        col(TranscriptSegment.translated).is_(True))).one()
    main = spoken.most_common(1)[0][0] if spoken else ENGLISH
    found = [TrackPublic(track="spoken", lang=main, label=_label(main))]
    if translated:
        found.append(TrackPublic(track="english", lang=ENGLISH,
                                 label="English (machine translation)"))
    return found


def carry_translation(session: Session, room_id: str, source: int, target: int,
                      first: int) -> None:
    """Copy `source`'s English track into version `target` from position `first`.

    A new version re-hears or corrects the words as spoken; the English track stays the live
    translation (translating the whole room again would double the final pass's cost).
    """
    session.add_all(
        TranscriptSegment(room_id=room_id, version=target, position=first + i,
                          speaker_id=row.speaker_id, speaker_name=row.speaker_name,
                          start=row.start, end=row.end, text=row.text, lang=row.lang,
                          translated=True, words=row.words)
        for i, row in enumerate(rows(session, room_id, source, translated=True)))


def new_version(session: Session, room_id: str, source: Source, *, base: int | None = None,
                 author_id: int | None = None) -> int:
    number = session.exec(select(func.max(TranscriptVersion.number)).where(
        TranscriptVersion.room_id == room_id)).one()
    number = LIVE_VERSION + 1 if number is None else number + 1
    session.add(TranscriptVersion(room_id=room_id, number=number, source=source, base=base,
                                  author_id=author_id))
    return number


def speaker_names(session: Session, room_id: str) -> dict[str, str]:
    """Handle → name for the room's speakers: the name captions showed, else the account's."""
    names = dict(session.exec(select(TranscriptSegment.speaker_id, TranscriptSegment.speaker_name)
                              .where(TranscriptSegment.room_id == room_id,
                                     TranscriptSegment.version == LIVE_VERSION)).all())
    members = session.exec(select(Account.handle, Account.display_name)
                           .join(Member, col(Member.account_id) == col(Account.id))
                           .where(Member.room_id == room_id)).all()
    return {**dict(members), **names}


def public(session: Session, transcript: Transcript) -> TranscriptPublic:
    counts = dict(session.exec(
        select(TranscriptSegment.version, func.count()).where(
            TranscriptSegment.room_id == transcript.room_id)
        .group_by(col(TranscriptSegment.version))).all())
    authors = dict(session.exec(select(Account.id, Account.handle).join(
        TranscriptVersion, col(TranscriptVersion.author_id) == col(Account.id)).where(
        TranscriptVersion.room_id == transcript.room_id)).all())
    versions = session.exec(select(TranscriptVersion).where(
        TranscriptVersion.room_id == transcript.room_id)
        .order_by(col(TranscriptVersion.number))).all()
    return TranscriptPublic(
        room_id=transcript.room_id, stage=transcript.stage, current=transcript.current,
        note=transcript.note, tracks=tracks(session, transcript.room_id, transcript.current),
        versions=[
            VersionPublic(number=v.number, source=v.source, base=v.base,
                          author=authors.get(v.author_id) if v.author_id else None,
                          created_at=v.created_at, segments=counts.get(v.number, 0))
            for v in versions])
