"""Which engine hears which stream, and the tracks a room's speakers feed."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.fake_asr import FakeTranscriber
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.captions.languages import LanguageEngines, tracks
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.errors import ModelUnavailable

SPEAKER = Speaker("ana", "Ana")


def test_an_english_room_has_one_track_others_add_english() -> None:
    assert tracks("en") == [("en", "transcribe")]
    assert tracks("es") == [("es", "transcribe"), ("es", "translate")]
    assert tracks("detect") == [(None, "transcribe"), (None, "translate")]


async def sink(event: CaptionEvent) -> None:
    return None


async def test_english_streams_use_the_english_engine_the_rest_the_multilingual() -> None:
    made: list[LiveEngine] = []

    def multilingual() -> LiveEngine:
        model = FakeTranscriber()
        model.multilingual = True  # type: ignore[attr-defined]
        made.append(LiveEngine(model))
        return made[-1]

    english = LiveEngine(FakeTranscriber())
    async with LanguageEngines(english, multilingual) as engines:
        await engines.ready("en")
        assert made == []  # an English-only server never loads the multilingual model
        stream: Any = engines.open(room="r", speaker=SPEAKER, origin=0.0, sink=sink)
        assert stream.engine is english
        with pytest.raises(ModelUnavailable, match="await ready"):
            engines.open(room="r", speaker=SPEAKER, origin=0.0, sink=sink, language="es")
        await engines.ready("es", "translate")
        await engines.ready(None)
        assert len(made) == 1  # loaded once
        other: Any = engines.open(room="r", speaker=SPEAKER, origin=0.0, sink=sink,
                                  language=None)
        assert other.engine is made[0] and other.session.language is None
        for s in (stream, other):
            await s.finish()


async def test_a_server_without_the_multilingual_model_says_so() -> None:
    async with LanguageEngines(LiveEngine(FakeTranscriber())) as engines:
        with pytest.raises(ModelUnavailable, match="multilingual model"):
            await engines.ready("fr")
