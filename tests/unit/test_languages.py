"""The languages a room may be captioned in, named in themselves."""

from __future__ import annotations

import pytest

from roomscribe import languages
from roomscribe.errors import InvalidInput


def test_whispers_languages_are_named_in_themselves_with_their_direction() -> None:
    known = languages.languages()
    assert len(known) >= 99
    assert (known["es"].name, known["es"].english_name) == ("español", "Spanish")
    assert known["ja"].name == "日本語"
    assert [code for code in ("ar", "he", "fa", "ur", "en", "zh") if known[code].rtl] == [
        "ar", "he", "fa", "ur"]
    names = [lang.name.casefold() for lang in known.values()]
    assert names == sorted(names)  # listed as their speakers would look for them


def test_a_room_language_is_a_whisper_code_or_detect() -> None:
    assert languages.check("pt") == "pt"
    assert languages.check("detect") == "detect"
    with pytest.raises(InvalidInput, match="unknown language 'xx'"):
        languages.check("xx")
    assert languages.is_rtl("ar") and not languages.is_rtl("detect")


def test_the_languages_setting_names_known_languages() -> None:
    from roomscribe.config import Settings

    assert Settings(languages="en, es").languages == "en, es"
    with pytest.raises(ValueError, match="ROOMSCRIBE_LANGUAGES: unknown language 'xx'"):
        Settings(languages="en,xx")
