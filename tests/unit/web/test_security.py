"""Local redirects only, and a CSRF secret that is made once and then kept."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from roomscribe.web.security import SECRET_FILE, load_secret, local_path


@pytest.mark.parametrize("target", ["/", "/r/abc", "/r/abc/host?x=1", "/signin?next=/r/a"])
def test_paths_on_this_site_are_kept(target: str) -> None:
    assert local_path(target) == target


@pytest.mark.parametrize("target", [None, "", "r/abc", "//evil.example/x", "/\\evil.example",
                                    "https://evil.example/", "javascript:alert(1)"])
def test_anything_else_becomes_the_default(target: str | None) -> None:
    assert local_path(target, "/home") == "/home"


def test_the_secret_is_created_private_and_then_reused(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "data")
    assert len(first) == 64
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path / "data") == first
    assert [p.name for p in (tmp_path / "data").iterdir()] == [SECRET_FILE]


def test_workers_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_secret(tmp_path), range(32)))
    assert len(secrets) == 1
