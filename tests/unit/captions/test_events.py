"""The caption event's JSON, which ASR workers send to web processes and web processes to
listeners, reads back as the same event."""

from __future__ import annotations

import pytest

from roomscribe.asr.results import Word
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.config import Settings


def test_an_event_survives_its_json() -> None:
    event = CaptionEvent(type="final", room="r1", seq=7, speaker=Speaker("ada", "Ada"),
                         start=1.25, end=2.5, text="Hello there.",
                         words=(Word(1.25, 1.75, "Hello", 0.875), Word(1.875, 2.5, "there.", 0.5)))
    assert CaptionEvent.from_json(event.to_json()) == event
    english = CaptionEvent(type="partial", room="r1", seq=8, speaker=Speaker("ana", "Ana"),
                           start=3.0, end=4.0, text="Shallow waters.", lang="en",
                           task="translate")
    assert english.to_json()["task"] == "translate"
    assert CaptionEvent.from_json(english.to_json()) == english


def test_an_event_from_before_languages_is_english() -> None:
    data = CaptionEvent(type="final", room="r1", seq=1, speaker=Speaker("ada", "Ada"),
                        start=0.0, end=1.0, text="Hi.").to_json()
    del data["lang"], data["task"]
    assert (CaptionEvent.from_json(data).lang, CaptionEvent.from_json(data).task) == (
        "en", "transcribe")


def test_workers_need_redis() -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        Settings(asr="workers")
    assert Settings(asr="workers", redis_url="redis://127.0.0.1:1/0").asr == "workers"
