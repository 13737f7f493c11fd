"""Both backends against the `Storage` contract: keys, prefixes, ranges, atomic puts, appends.

`S3Storage` runs against moto's S3 server on loopback (no real S3-compatible server installs on
these machines); what only the local folder does (temporary files, folders pruned) is tested on
`LocalStorage` alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from roomscribe.config import Settings
from roomscribe.errors import InvalidInput, NotFound
from roomscribe.recordings.s3 import S3Storage
from roomscribe.recordings.storage import LocalStorage, Storage, open_storage


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "recordings")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "recordings")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Storage(bucket, "recordings", endpoint_url=request.getfixturevalue("s3_endpoint"))


def test_an_s3_url_chooses_the_bucket(settings: Settings, s3_bucket: str,
                                      s3_endpoint: str) -> None:
    chosen = open_storage(settings.model_copy(update={
        "storage_url": f"s3://{s3_bucket}/rooms", "s3_endpoint_url": s3_endpoint}))
    assert isinstance(chosen, S3Storage)
    assert (chosen.bucket, chosen.prefix) == (s3_bucket, "rooms")
    chosen.put("r1/mix.ogg", b"x")
    assert chosen.list("") == ["r1/mix.ogg"]


def test_the_default_backend_is_the_recordings_folder_in_the_data_dir(
    settings: Settings,
) -> None:
    storage = open_storage(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == settings.data_dir / "recordings"


def test_put_get_and_ranges(storage: Storage) -> None:
    storage.put("r1/mix.ogg", b"0123456789")
    assert storage.get("r1/mix.ogg") == b"0123456789"
    assert storage.get("r1/mix.ogg", 2, 5) == b"234"
    assert storage.get("r1/mix.ogg", 8) == b"89"
    assert storage.get("r1/mix.ogg", 8, 100) == b"89"  # past the end reads short
    assert storage.get("r1/mix.ogg", 20) == b""
    assert b"".join(storage.stream("r1/mix.ogg", 1, 9, chunk_size=3)) == b"12345678"
    assert [len(c) for c in storage.stream("r1/mix.ogg", chunk_size=4)] == [4, 4, 2]


def test_put_accepts_chunks_and_replaces_whole(storage: Storage) -> None:
    storage.put("r1/mix.ogg", b"old contents that are longer")
    storage.put("r1/mix.ogg", iter([b"new ", b"one"]))
    assert storage.get("r1/mix.ogg") == b"new one"


def test_failed_put_leaves_the_old_object_and_no_temporary_file(storage: Storage) -> None:
    storage.put("r1/mix.ogg", b"good")

    def chunks() -> Iterator[bytes]:
        yield b"half"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.put("r1/mix.ogg", chunks())
    assert storage.get("r1/mix.ogg") == b"good"
    assert storage.list("r1") == ["r1/mix.ogg"]
    if isinstance(storage, LocalStorage):
        assert [p.name for p in (storage.root / "r1").iterdir()] == ["mix.ogg"]


def test_missing_objects_and_bad_ranges(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.get("r1/nothing")
    storage.put("r1/a", b"x")
    with pytest.raises(NotFound):
        storage.get("r1")  # a folder is not an object
    with pytest.raises(InvalidInput):
        storage.get("r1/a", 5, 2)
    with pytest.raises(InvalidInput):
        storage.get("r1/a", -1)


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../x", "a/../b", "a/./b", ".hidden",
                                 "a/.tmp", "a\\b", "a/b/", "spa ce", "x" * 201])
def test_rejects_keys_that_could_escape_or_hide(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidInput):
        storage.put(key, b"x")


def test_prefix_is_a_key_path_not_a_string_prefix(storage: Storage) -> None:
    for key in ("rooms/1/a", "rooms/1/b/c", "rooms/10/a", "rooms/1"):
        if key != "rooms/1":
            storage.put(key, b"12345")
    assert storage.list("rooms/1") == ["rooms/1/a", "rooms/1/b/c"]
    assert storage.list("") == ["rooms/1/a", "rooms/1/b/c", "rooms/10/a"]
    assert storage.list("rooms/1/a") == ["rooms/1/a"]  # a key is its own prefix
    assert storage.list("rooms/2") == []
    assert storage.size("rooms/1") == 10
    assert storage.size("rooms/1/a") == 5
    assert storage.size("rooms/2") == 0


def test_delete_by_prefix_spares_siblings(storage: Storage) -> None:
    for key in ("rooms/1/a", "rooms/1/b/c", "rooms/10/a"):
        storage.put(key, b"x")
    assert storage.delete("rooms/1") == 2
    assert storage.list("") == ["rooms/10/a"]
    assert storage.delete("rooms/1") == 0
    assert storage.delete("rooms/10/a") == 1
    assert storage.list("") == []
    storage.put("rooms/2/a", b"x")
    with pytest.raises(InvalidInput, match="every recording"):
        storage.delete("")
    assert storage.list("") == ["rooms/2/a"]


def test_deleting_a_folder_prunes_it_on_disk(local: LocalStorage) -> None:
    for key in ("rooms/1/a", "rooms/1/b/c", "rooms/10/a"):
        local.put(key, b"x")
    local.delete("rooms/1")
    assert not (local.root / "rooms" / "1").exists()
    local.delete("rooms/10")
    assert not (local.root / "rooms").exists()
    assert local.root.exists()


def test_appended_objects_read_as_one_and_survive_reopening(storage: Storage) -> None:
    appender = storage.append("r1/tracks/t/audio.pcm")
    appender.write(b"abc")
    if isinstance(storage, LocalStorage):
        # No buffering in the process: another reader sees the bytes while it is open.
        assert storage.get("r1/tracks/t/audio.pcm") == b"abc"
    appender.flush()
    # Flushed: durable, and every reader sees it (on S3, a part object of its own).
    assert storage.get("r1/tracks/t/audio.pcm") == b"abc"
    assert storage.list("r1") == ["r1/tracks/t/audio.pcm"]
    appender.write(b"de")
    assert appender.size == 5
    appender.close()
    appender.close()
    with pytest.raises(ValueError):
        appender.write(b"late")
    with storage.append("r1/tracks/t/audio.pcm") as again:
        assert again.size == 5  # reopening continues where it ended
        again.write(b"f")
    assert storage.get("r1/tracks/t/audio.pcm") == b"abcdef"
    assert storage.get("r1/tracks/t/audio.pcm", 2, 5) == b"cde"  # across the parts
    assert storage.size("r1") == 6
    assert storage.exists("r1/tracks/t/audio.pcm")
    assert not storage.exists("r1/tracks/t")
    assert storage.delete("r1") == 1
    assert not storage.exists("r1/tracks/t/audio.pcm")


def test_half_written_objects_go_with_their_room_and_at_start(local: LocalStorage) -> None:
    """A writer killed mid-put leaves a dot-named temporary file: invisible as a key, but the
    room's bytes all the same."""
    storage = local
    storage.put("r1/mix.ogg", b"mix")
    for room in ("r1", "r2"):
        (storage.root / room).mkdir(exist_ok=True)
        (storage.root / room / ".mix.ogg.0123abcd.tmp").write_bytes(b"half")
    storage.delete("r1")
    assert not (storage.root / "r1").exists()
    assert (storage.root / "r2" / ".mix.ogg.0123abcd.tmp").exists()
    assert storage.clean() == 1
    assert list(storage.root.rglob("*.tmp")) == []
