"""Caption presets: every one readable (WCAG AA), and the contrast arithmetic they rest on."""

from __future__ import annotations

import pytest

from roomscribe.web.presets import (
    DEFAULT_FONT,
    DEFAULT_PRESET,
    FONTS,
    MIN_CONTRAST,
    PRESETS,
    Preset,
    blend,
    contrast,
)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_every_preset_has_at_least_aa_contrast(preset: Preset) -> None:
    assert contrast(preset.text, preset.background) >= MIN_CONTRAST


def test_there_are_several_presets_with_distinct_keys() -> None:
    assert len(PRESETS) >= 4
    assert len({p.key for p in PRESETS}) == len(PRESETS)
    assert DEFAULT_PRESET in PRESETS and DEFAULT_FONT in FONTS


@pytest.mark.parametrize(("text", "background", "expected"), [
    ("#000000", "#ffffff", 21.0),
    ("#ffffff", "#ffffff", 1.0),
    ("#777777", "#ffffff", 4.48),  # the classic grey that just fails AA
    ("#ffff00", "#000000", 19.56),
])
def test_contrast_matches_published_wcag_values(text: str, background: str,
                                                expected: float) -> None:
    assert contrast(text, background) == pytest.approx(expected, abs=0.01)
    assert contrast(background, text) == pytest.approx(expected, abs=0.01)


def test_a_see_through_background_is_judged_by_what_shows_through() -> None:
    assert blend("#000000", 1.0) == "#000000"
    assert blend("#000000", 0.0) == "#ffffff"
    assert blend("#000000", 0.5) == "#808080"
    # White text over a faint black background on a white page is unreadable.
    assert contrast("#ffffff", blend("#000000", 0.2)) < MIN_CONTRAST


def test_font_stacks_end_in_a_generic_family() -> None:
    generic = ("sans-serif", "serif", "monospace")
    assert all(f.stack.endswith(generic) for f in FONTS)


@pytest.mark.parametrize("colour", ["#fff", "white", "#12345g", "123456"])
def test_only_full_hex_colours_are_understood(colour: str) -> None:
    with pytest.raises(ValueError, match="rrggbb"):
        contrast(colour, "#000000")
