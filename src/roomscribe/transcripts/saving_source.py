"""The hook between live captions and the transcript: each final is saved before it is published.

Wrapping the rooms' `CaptionSource` (in `app.py`) rather than touching the rooms domain: every
speaker stream it opens delivers through a sink that stores finals first, so a final a listener
has seen is in the database even if the server is killed the next moment. Saving costs a
millisecond or two of a caption's latency; partials go straight through.
"""

from __future__ import annotations

import logging

from roomscribe.asr.engine import Task
from roomscribe.captions.events import CaptionEvent, CaptionSink, LiveStream, Speaker
from roomscribe.rooms.audio import CaptionSource
from roomscribe.transcripts.service import TranscriptService

log = logging.getLogger(__name__)


class SavingCaptionSource:
    """A `CaptionSource` whose finals are saved to the transcript before they are published."""

    def __init__(self, source: CaptionSource, transcripts: TranscriptService) -> None:
        self.source = source
        self.transcripts = transcripts

    async def ready(self, language: str | None, task: Task = "transcribe") -> None:
        await self.source.ready(language, task)

    def open(self, *, room: str, speaker: Speaker, origin: float, sink: CaptionSink,
             language: str | None = "en", task: Task = "transcribe") -> LiveStream:
        async def save_then_publish(event: CaptionEvent) -> None:
            if event.type == "final":
                try:
                    await self.transcripts.save_final(event)
                except Exception:
                    # Listeners still get their captions; the transcript misses this one.
                    log.exception("saving final %d of room %s failed", event.seq, event.room)
            await sink(event)

        return self.source.open(room=room, speaker=speaker, origin=origin,
                                sink=save_then_publish, language=language, task=task)

    def forget(self, room: str) -> None:
        self.source.forget(room)
