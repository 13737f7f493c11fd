"""How transcript text becomes index terms, in each language.

Every segment is analysed in its own language: stemmed where whoosh has a stemmer for it (Arabic,
Danish, Dutch, English, Finnish, French, German, Hungarian, Italian, Norwegian, Portuguese,
Romanian, Russian, Spanish, Swedish, Turkish), lower-cased words otherwise, and one term per
character for Chinese and Japanese, which do not put spaces between words (a phrase of
characters then finds a word). Terms of other languages than English carry their language
("es|presupuest"), so a Spanish stem never matches an unrelated English word and English terms
stay as they always were.

The index receives a segment's terms already made (`index_form`), since whoosh gives one
analyser per field. A query is parsed into plain words, and each word is looked for in every
language the index holds (`archive.search` expands it): "budgets" finds "budget" in English
segments and "presupuestos" finds "presupuesto" in Spanish ones.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from whoosh.analysis import (
    Analyzer,
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StemmingAnalyzer,
)
from whoosh.lang import has_stemmer

from roomscribe.languages import ENGLISH

WORD = r"\w+(\.?\w+)*"

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CHARACTER_WORD = rf"[{_CJK_CHARS}]|[^\W{_CJK_CHARS}]+(\.?[^\W{_CJK_CHARS}]+)*"
"""Chinese and Japanese: each character a term; runs of other letters (Latin names) words."""

BY_CHARACTER = frozenset({"zh", "ja", "yue"})

SEPARATOR = "|"
"""Between a language and a term: never inside a word, so no query word can forge one."""

TEXT_ANALYZER: Analyzer = StemmingAnalyzer(expression=WORD, stoplist=None, minsize=1)
"""English: words are stemmed ("budgets" finds "budget") and no stop words are dropped (people
search transcripts for phrases like "to be or not to be")."""

WORDS: Analyzer = RegexTokenizer(WORD) | LowercaseFilter()
"""Plain words: what a query's words are parsed into, and speaker names."""


class _Tagged(Filter):  # type: ignore[misc]
    """Puts the language in front of each term."""

    def __init__(self, lang: str) -> None:
        self.prefix = lang + SEPARATOR

    def __call__(self, tokens: Iterator[Any]) -> Iterator[Any]:
        for token in tokens:
            token.text = self.prefix + token.text
            yield token


@functools.cache
def analyzer(lang: str) -> Analyzer:
    """The analyser of text in `lang` (a Whisper code)."""
    if lang == ENGLISH:
        return TEXT_ANALYZER
    if lang in BY_CHARACTER:
        return RegexTokenizer(CHARACTER_WORD) | LowercaseFilter() | _Tagged(lang)
    if has_stemmer(lang):
        return WORDS | StemFilter(lang=lang) | _Tagged(lang)
    return WORDS | _Tagged(lang)


def terms(text: str, lang: str) -> list[str]:
    """`text`'s index terms, in order."""
    return [token.text for token in analyzer(lang)(text)]


def index_form(text: str, lang: str) -> str:
    """What the index's `text` field is given: the terms, separated by spaces (terms never hold
    one), so that positions, and with them phrases, stay those of the words."""
    return " ".join(terms(text, lang))

