"""The final pass: a recorded room's tracks transcribed again after it ended, replacing its live
captions as the archived version (or, when it cannot, the live version kept with a note saying
why).

Blocking (reads every track, runs the model); run where the model is: a thread of the web
process on the embedded profile, or an ASR worker process through `final_pass_queue` on the
scale-out one. Both settle the transcript the same way, in the shared database.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from roomscribe.asr.engine import Transcriber
from roomscribe.asr.offline import OfflineTranscriber, sentences, transcribe_track
from roomscribe.asr.results import Segment, Word
from roomscribe.asr.streaming import SpeechDetector
from roomscribe.asr.vad import SileroVad
from roomscribe.config import Settings
from roomscribe.db import session_scope
from roomscribe.errors import ModelUnavailable
from roomscribe.languages import DETECT, ENGLISH
from roomscribe.recordings.storage import Storage
from roomscribe.recordings.tracks import TrackReader, track_ids
from roomscribe.rooms.tables import Room
from roomscribe.timestamps import utcnow
from roomscribe.transcripts import records
from roomscribe.transcripts.tables import LIVE_VERSION, Source, Stage, Transcript, TranscriptSegment

log = logging.getLogger(__name__)

Outcome = list[tuple[str, Segment]] | str
"""(speaker handle, segment) in time order, or why the live version stays archived."""


def words_json(words: Sequence[Word]) -> list[dict[str, Any]]:
    return [{"start": w.start, "end": w.end, "text": w.text, "p": w.probability} for w in words]


class FinalPass:
    """`transcriber` is the shared model; None loads one from `settings` when first needed.
    `detector` makes each window's voice activity model (Silero; a fake for tone-burst tests)."""

    def __init__(self, engine: Engine, storage: Storage, settings: Settings, *,
                 transcriber: OfflineTranscriber | None = None,
                 detector: Callable[[], SpeechDetector] = SileroVad) -> None:
        self.engine = engine
        self.storage = storage
        self.settings = settings
        self.transcriber = transcriber
        self.multilingual: OfflineTranscriber | None = None
        self.detector = detector

    def complete(self, room_id: str) -> bool:
        """Run and settle a pending room; True when a new version was written. A missing
        model leaves the room pending (`ModelUnavailable` raised) for the next try."""
        outcome = self.outcome(room_id)
        return outcome is not None and self.settle(room_id, outcome)

    def outcome(self, room_id: str) -> Outcome | None:
        """`run`, with a failure turned into the note the live version is kept with."""
        try:
            return self.run(room_id)
        except ModelUnavailable:
            raise
        except Exception as err:
            log.exception("the final pass of room %s failed", room_id)
            return f"the final pass failed: {err}"

    def run(self, room_id: str) -> Outcome | None:
        """A pending room's tracks transcribed again: (speaker handle, segment) in time order,
        or why the live version stays archived, or None when the room is not pending.
        Blocking: reads every track and runs the model."""
        with Session(self.engine) as session:
            transcript = session.get(Transcript, room_id)
            if transcript is None or transcript.stage is not Stage.PENDING:
                return None
            names = records.speaker_names(session, room_id)
            live = records.count(session, room_id, LIVE_VERSION)
            room = session.get(Room, room_id)
            language = room.language if room is not None else ENGLISH
        readers = [TrackReader(self.storage, room_id, name)
                   for name in track_ids(self.storage, room_id)]
        readers = [r for r in readers if r.runs]
        if not readers:
            return "no audio was recorded"
        model = self._model(language)
        heard = None if language == DETECT else language
        found = [(reader.track_id, piece) for reader in readers
                 for segment in transcribe_track(model, reader, self.detector, language=heard)
                 for piece in sentences(dataclasses.replace(
                     segment, speaker=names.get(reader.track_id, reader.track_id)))]
        if not found and live:
            return "the final pass heard no speech where the live captions did"
        return sorted(found, key=lambda pair: (pair[1].start, pair[0]))

    def _model(self, language: str) -> OfflineTranscriber:
        """English rooms on the shared model; the others on the multilingual one, loaded when a
        room first needs it."""
        if language == ENGLISH:
            if self.transcriber is None:
                self.transcriber = Transcriber.from_settings(self.settings)
            return self.transcriber
        if self.multilingual is None:
            self.multilingual = Transcriber.from_settings(
                self.settings, model=self.settings.multilingual_model)
        return self.multilingual

    def settle(self, room_id: str, outcome: Outcome) -> bool:
        """Archive the final pass's segments, or keep the live version saying why. True when a
        new version was written."""
        with session_scope(self.engine) as session:
            transcript = session.get(Transcript, room_id)
            if transcript is None or transcript.stage is not Stage.PENDING:
                return False  # purged meanwhile
            if isinstance(outcome, str):
                transcript.sqlmodel_update({"stage": Stage.LIVE_ONLY, "note": outcome,
                                            "updated_at": utcnow()})
                session.add(transcript)
                return False
            number = records.new_version(session, room_id, Source.FINAL_PASS)
            room = session.get(Room, room_id)
            spoken = room.language if room is not None and room.language != DETECT else ENGLISH
            session.add_all(
                TranscriptSegment(room_id=room_id, version=number, position=i,
                                  speaker_id=handle, speaker_name=s.speaker or handle,
                                  start=s.start, end=s.end, text=s.text,
                                  lang=s.language or spoken, words=words_json(s.words))
                for i, (handle, s) in enumerate(outcome))
            records.carry_translation(session, room_id, LIVE_VERSION, number, len(outcome))
            transcript.sqlmodel_update({"stage": Stage.FINAL, "current": number, "note": None,
                                        "updated_at": utcnow()})
            session.add(transcript)
            return True
