"""Search across languages: each segment analysed in its language, `lang:`, snippets in script."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from roomscribe.archive.audience import Asker
from roomscribe.archive.documents import SegmentDoc
from roomscribe.archive.index import Index
from roomscribe.archive.search import languages_in, search_sync
from roomscribe.errors import InvalidInput
from roomscribe.visibility import Visibility

ADMIN = Asker("root", admin=True)


def doc(room: str, n: int, text: str, lang: str, *, translated: bool = False) -> SegmentDoc:
    return SegmentDoc(segment_id=f"{room}-{n}", room_id=room, room_title=f"Room {room}",
                      room_date=datetime(2026, 3, 1, tzinfo=UTC), visibility=Visibility.PUBLIC,
                      host_id="h0", speaker="Ana", start=n * 10.0, end=n * 10.0 + 4.0,
                      text=text, lang=lang, translated=translated)


CORPUS = [
    doc("en", 0, "The budgets for the plan are ready", "en"),
    doc("es", 0, "Los presupuestos del plan están listos", "es"),
    doc("es", 1, "The budgets of the plan are ready", "en", translated=True),
    doc("de", 0, "Die Haushalte sind fertig", "de"),
    doc("ar", 0, "الميزانية جاهزة الآن", "ar"),
    doc("zh", 0, "我们的预算已经准备好了", "zh"),
    doc("ja", 0, "予算の準備ができました", "ja"),
    doc("pl", 0, "Budżety planu są gotowe", "pl"),  # no whoosh stemmer: plain words
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    ix = Index(tmp_path_factory.mktemp("languages") / "index")
    ix.rebuild(CORPUS)
    yield ix
    ix.close()


def found(index: Index, q: str) -> list[str]:
    page = search_sync(index, q, asker=ADMIN, per_page=100)
    return sorted(f"{h.room_id}-{round(h.start / 10)}" for h in page.hits)


@pytest.mark.parametrize(("q", "expected"), [
    # Stemmed in each language: a plural finds the singular and back.
    ("presupuesto", ["es-0"]),
    ("budget", ["en-0", "es-1"]),
    ("haushalt", ["de-0"]),
    ("الميزانيات", ["ar-0"]),  # Arabic, stemmed to its root
    # Chinese and Japanese by character: a word is the phrase of its characters.
    ("预算", ["zh-0"]),
    ("予算", ["ja-0"]),
    ("准备", ["zh-0"]),
    # A language without a stemmer: its words as they are, lower-cased.
    ("budżety", ["pl-0"]),
    ("budżet", []),
    # A Spanish stem does not match an unrelated English word: "plan" is both, and each
    # language finds its own.
    ("plan", ["en-0", "es-0", "es-1"]),
    # lang: by code, by English name or by its own name; lang:en includes the English track.
    ("plan lang:es", ["es-0"]),
    ("plan lang:Spanish", ["es-0"]),
    ("plan lang:español", ["es-0"]),
    ("plan lang:en", ["en-0", "es-1"]),
    ("lang:zh", ["zh-0"]),
    ("NOT lang:en", ["ar-0", "de-0", "es-0", "ja-0", "pl-0", "zh-0"]),
    ('"presupuestos del plan"', ["es-0"]),
    ('"del budgets"', []),
])
def test_each_language_is_searched_as_it_is_written(index: Index, q: str,
                                                    expected: list[str]) -> None:
    assert found(index, q) == expected


def test_hits_carry_their_language_and_track(index: Index) -> None:
    page = search_sync(index, "budget OR presupuestos", asker=ADMIN, per_page=100).hits
    es = sorted((h.lang, h.translated) for h in page if h.room_id == "es")
    assert es == [("en", True), ("es", False)]


def test_snippets_mark_words_in_their_own_script(index: Index) -> None:
    (zh,) = search_sync(index, "预算", asker=ADMIN).hits
    assert zh.highlight == "我们的<mark>预</mark><mark>算</mark>已经准备好了"
    (ar,) = search_sync(index, "الميزانيات", asker=ADMIN).hits
    assert ar.highlight == "<mark>الميزانية</mark> جاهزة الآن" and ar.lang == "ar"
    (es,) = search_sync(index, "presupuesto lang:es", asker=ADMIN).hits
    assert es.highlight == "Los <mark>presupuestos</mark> del plan están listos"


def test_an_unknown_language_is_refused_with_the_reason(index: Index) -> None:
    with pytest.raises(InvalidInput, match="unknown language 'klingon'"):
        search_sync(index, "plan lang:klingon", asker=ADMIN)


def test_an_english_archive_is_searched_as_before(tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    """Only English terms are looked for while the index holds English alone."""
    ix = Index(tmp_path_factory.mktemp("english") / "index")
    try:
        ix.rebuild([dataclasses.replace(CORPUS[0])])
        with ix.searcher() as searcher:
            assert languages_in(searcher) == frozenset({"en"})
        assert [h.room_id for h in search_sync(ix, "budgets", asker=ADMIN).hits] == ["en"]
    finally:
        ix.close()
