"""The languages rooms may be captioned in: Whisper's, each named in itself ("español", "日本語")
with its English name and writing direction, from CLDR through Babel.

A room's language is one of these codes, or `DETECT`: each speaker's language is then detected
from their first seconds of speech. English rooms are heard by the English-only model; the others
by the multilingual one (`captions.languages`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from babel import Locale

# faster-whisper's own list (its `WhisperModel.supported_languages` returns it, but needs a
# loaded model): the codes Whisper's tokenizer has a start token for.
from faster_whisper.tokenizer import _LANGUAGE_CODES

from roomscribe.errors import InvalidInput

DETECT = "detect"
ENGLISH = "en"


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    name: str
    """In the language itself: what its speakers look for in a list."""
    english_name: str
    rtl: bool
    """Written right to left (Arabic, Hebrew, Persian, Urdu, …): pages set `dir="rtl"`."""


@functools.cache
def languages() -> dict[str, Language]:
    """Every language, by code, in the order of their own names."""
    english = Locale("en")
    found = []
    for code in _LANGUAGE_CODES:
        locale = Locale.parse(code)
        found.append(Language(code=code, name=locale.display_name or code,
                              english_name=english.languages.get(code, code),
                              rtl=locale.text_direction == "rtl"))
    return {lang.code: lang for lang in sorted(found, key=lambda lang: lang.name.casefold())}


def check(code: str) -> str:
    """`code` if rooms may use it (a Whisper language or `DETECT`), else a clear error."""
    if code == DETECT or code in languages():
        return code
    raise InvalidInput(f"unknown language {code!r}: use a Whisper language code such as "
                       f"'en', 'es' or 'zh', or {DETECT!r}")


def is_rtl(code: str | None) -> bool:
    lang = languages().get(code or "")
    return lang is not None and lang.rtl


def find_language(value: str) -> str:
    """The code of a language given as its code, its English name or its own name, in any
    case ("es", "Spanish", "español"); `InvalidInput` if none matches."""
    wanted = value.strip().casefold()
    every = languages()
    if wanted in every:
        return wanted
    for lang in every.values():
        if wanted in (lang.english_name.casefold(), lang.name.casefold()):
            return lang.code
    raise InvalidInput(f"unknown language {value!r}: write its code (es), its English name "
                       "(Spanish) or its own name (español)")
