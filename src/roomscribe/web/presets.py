"""Caption appearance: the colour presets, fonts and sizes a listener chooses from.

Every preset is vouched for by arithmetic, not by eye: `contrast` is WCAG 2.x's contrast ratio and a
unit test holds each preset to at least `MIN_CONTRAST` (4.5:1, success criterion 1.4.3 AA). The
pages render these values into the settings form, which is where the browser script reads them, so
the presets exist once, here. The script repeats `contrast` to warn about custom colours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_CONTRAST = 4.5
PAGE_BACKGROUND = "#ffffff"
"""What a see-through caption background is blended over (the page is light)."""

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    label: str
    text: str
    """Text colour, `#rrggbb`."""
    background: str
    """Background colour, `#rrggbb`, shown at full opacity by the preset."""


@dataclass(frozen=True, slots=True)
class Font:
    key: str
    label: str
    stack: str
    """A CSS font-family list ending in a generic family, so something always renders."""


PRESETS = (
    Preset("white-on-black", "White on black", "#ffffff", "#000000"),
    Preset("black-on-white", "Black on white", "#000000", "#ffffff"),
    Preset("yellow-on-black", "Yellow on black", "#ffff00", "#000000"),
    Preset("white-on-blue", "White on dark blue", "#ffffff", "#1a3a8a"),
    Preset("black-on-cream", "Black on cream", "#111111", "#fdf6e3"),
)
DEFAULT_PRESET = PRESETS[0]

FONTS = (
    Font("sans", "Sans-serif", "system-ui, 'Segoe UI', Roboto, 'Noto Sans', sans-serif"),
    Font("wide", "Wide sans-serif", "Verdana, 'DejaVu Sans', Tahoma, sans-serif"),
    Font("serif", "Serif", "Georgia, 'DejaVu Serif', 'Times New Roman', serif"),
    Font("mono", "Monospace", "ui-monospace, 'DejaVu Sans Mono', Consolas, monospace"),
)
DEFAULT_FONT = FONTS[0]

SIZE_MIN, SIZE_MAX, SIZE_STEP, SIZE_DEFAULT = 100, 300, 10, 100
"""Caption text size in percent of the base caption size (1.5rem), so browser zoom still applies."""
OPACITY_MIN, OPACITY_MAX, OPACITY_STEP, OPACITY_DEFAULT = 0, 100, 5, 100
"""Background opacity in percent."""


def _channels(colour: str) -> tuple[float, float, float]:
    if not _HEX.match(colour):
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return int(colour[1:3], 16) / 255, int(colour[3:5], 16) / 255, int(colour[5:7], 16) / 255


def luminance(colour: str) -> float:
    """WCAG relative luminance of an sRGB `#rrggbb` colour."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(text: str, background: str) -> float:
    """WCAG contrast ratio, from 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((luminance(text), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def blend(background: str, opacity: float, under: str = PAGE_BACKGROUND) -> str:
    """The colour a background of `opacity` (0–1) shows as over `under`."""
    top, bottom = _channels(background), _channels(under)
    mixed = (round((t * opacity + b * (1 - opacity)) * 255) for t, b in zip(top, bottom,
                                                                          strict=True))
    return "#" + "".join(f"{c:02x}" for c in mixed)
