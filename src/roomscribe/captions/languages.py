"""Which live engine hears a stream: English on the English-only model (`tiny.en`, fast), and
everything else (another language, a language still to detect, the English translation of a
room in another language) on the multilingual model (`ROOMSCRIBE_MULTILINGUAL_MODEL`, `base` by
default), loaded the first time a room needs it, never before: an English-only server pays
nothing for it.

Both engines share the room numbering, so a room's events keep one `seq` across its tracks.
The two engines share the machine's cores: the multilingual `base` encoder costs several times
`tiny.en`'s, so a server holds fewer `base` streams (scripts/bench_languages.py measures how
many), and each engine's overload rule (partials skipped before finals are delayed) holds on
its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from roomscribe.asr.catalog import Catalog
from roomscribe.asr.engine import Task, needs_multilingual
from roomscribe.captions.events import CaptionSink, LiveStream, Speaker
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.config import Settings
from roomscribe.errors import ModelUnavailable
from roomscribe.languages import DETECT, ENGLISH

log = logging.getLogger(__name__)


def multilingual_missing(settings: Settings) -> str | None:
    """What an operator runs so that this server captions rooms in other languages than
    English, or None when it can: the multilingual model is in place, or its packages are (it
    is assembled and loaded when a room first needs it), or the ASR workers hear every room.
    File checks, cheap enough per page."""
    if settings.asr == "workers":
        return None
    name = settings.multilingual_model
    catalog = Catalog(settings.models_dir)
    if name in catalog.entries:
        ready = catalog.location(name) is not None or catalog.installable(name)
        return None if ready else catalog.fix_command(name)
    if Path(name).expanduser().is_dir():
        return None
    return "set ROOMSCRIBE_MULTILINGUAL_MODEL to a catalog model or a model directory"


def tracks(room_language: str) -> list[tuple[str | None, Task]]:
    """The caption streams each speaker of a room feeds, as (language, task): an English room
    has one; a room in another language (or detecting each speaker's) has the words as spoken
    and an English translation, so every listener can follow."""
    language = None if room_language == DETECT else room_language
    if language == ENGLISH:
        return [(ENGLISH, "transcribe")]
    return [(language, "transcribe"), (language, "translate")]


class LanguageEngines:
    """A `CaptionSource` over an English engine and a multilingual one made by `multilingual`
    (None: this server has no multilingual model)."""

    def __init__(self, english: LiveEngine,
                 multilingual: Callable[[], LiveEngine] | None = None) -> None:
        self.english = english
        self._make = multilingual
        self.multilingual: LiveEngine | None = None
        self._loading = asyncio.Lock()

    async def ready(self, language: str | None, task: Task = "transcribe") -> None:
        """Load and start the engine a stream of `language` and `task` needs (once); the model
        is read in a worker thread. `ModelUnavailable` says what to install."""
        if not needs_multilingual(language, task) or self.multilingual is not None:
            return
        if self._make is None:
            raise ModelUnavailable("captions in languages other than English need the "
                                   "multilingual model, which this server does not run")
        async with self._loading:
            if self.multilingual is None:
                engine = await asyncio.to_thread(self._make)
                await engine.start()
                self.multilingual = engine
                log.info("the multilingual live engine is running")

    def open(self, *, room: str, speaker: Speaker, origin: float, sink: CaptionSink,
             language: str | None = "en", task: Task = "transcribe") -> LiveStream:
        if not needs_multilingual(language, task):
            return self.english.open(room=room, speaker=speaker, origin=origin, sink=sink)
        if self.multilingual is None:
            raise ModelUnavailable("the multilingual live engine is not loaded: await ready()")
        return self.multilingual.open(room=room, speaker=speaker, origin=origin, sink=sink,
                                      language=language, task=task)

    def forget(self, room: str) -> None:
        self.english.forget(room)

    async def start(self) -> None:
        await self.english.start()

    async def close(self) -> None:
        if self.multilingual is not None:
            await self.multilingual.close()
        await self.english.close()

    async def __aenter__(self) -> LanguageEngines:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, err: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
