"""Transcript rows read and written inside a transaction: the service's building blocks."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from roomscribe.accounts.tables import Account
from roomscribe.errors import NotFound
from roomscribe.rooms.tables import Member
from roomscribe.transcripts.schemas import SegmentEdit, TranscriptPublic, VersionPublic
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


def rows(session: Session, room_id: str, version: int) -> list[TranscriptSegment]:
    return list(session.exec(select(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == version)
        .order_by(col(TranscriptSegment.start), col(TranscriptSegment.position))).all())


def count(session: Session, room_id: str, version: int) -> int:
    return session.exec(select(func.count()).select_from(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == version)).one()


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
        note=transcript.note, versions=[
            VersionPublic(number=v.number, source=v.source, base=v.base,
                          author=authors.get(v.author_id) if v.author_id else None,
                          created_at=v.created_at, segments=counts.get(v.number, 0))
            for v in versions])
