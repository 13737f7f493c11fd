"""The caption event: the public contract between the live engine and every listener.

As JSON: `{"type": "partial" | "final", "room": ID, "seq": N, "speaker": {"id": ID, "name": STR},
"start": SECONDS, "end": SECONDS, "text": STR, "words": [{"start", "end", "text", "p"}],
"lang": CODE, "task": "transcribe" | "translate"}`.
Times are room time (seconds since the room started). `seq` rises by one per event within a room;
a final is never retracted; a partial is replaced by the next partial or final of the same speaker
and task. `lang` is the language of `text` (a Whisper code: "en", "es", "zh", …): what was spoken
for `transcribe`, always "en" for `translate`, the English track of a room in another language
(a second stream of the same speaker, numbered in the same `seq`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from roomscribe.asr.engine import Task
from roomscribe.asr.results import Word

EventType = Literal["partial", "final"]


@dataclass(frozen=True, slots=True)
class Speaker:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class CaptionEvent:
    type: EventType
    room: str
    seq: int
    speaker: Speaker
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    lang: str = "en"
    task: Task = "transcribe"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "room": self.room,
            "seq": self.seq,
            "speaker": {"id": self.speaker.id, "name": self.speaker.name},
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "words": [
                {"start": round(w.start, 3), "end": round(w.end, 3), "text": w.text,
                 "p": round(w.probability, 3)}
                for w in self.words
            ],
            "lang": self.lang,
            "task": self.task,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaptionEvent:
        """The event `to_json` described (as an ASR worker sends it to the web process)."""
        return cls(type=data["type"], room=data["room"], seq=data["seq"],
                   speaker=Speaker(data["speaker"]["id"], data["speaker"]["name"]),
                   start=data["start"], end=data["end"], text=data["text"],
                   words=tuple(Word(w["start"], w["end"], w["text"], w["p"])
                               for w in data["words"]),
                   lang=data.get("lang", "en"), task=data.get("task", "transcribe"))


#: Where a live stream delivers its events (the rooms domain publishes them to listeners).
CaptionSink = Callable[[CaptionEvent], Awaitable[None]]


class LiveStream(Protocol):
    """One speaker's audio going in; caption events come out through the sink it was opened with."""

    def push(self, pcm: npt.NDArray[np.float32]) -> None:
        """Append 16 kHz mono samples. Never blocks the event loop, never drops audio."""

    async def finish(self) -> None:
        """Flush: everything heard so far is emitted as final before this returns."""

    def set_language(self, language: str) -> None:
        """From now on, hear `language` (a host's correction of what was detected)."""
