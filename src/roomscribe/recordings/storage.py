"""Where recordings live: a byte store addressed by keys, so the disk can become an object store.

Recording code talks only to `Storage`, never to paths, because an S3-compatible bucket is the
expected next backend. So the operations are the ones an object store has: whole-object put and
get, ranged reads (HTTP range requests on a mix), listing and deleting by prefix, and appending,
which on a bucket becomes a multipart upload plus a small tail object rewritten on each `flush()`.

Keys are `/`-separated paths of plain segments (letters, digits, `.`, `_`, `-`; never `.` or `..`
and never starting with a dot). A *prefix* is a key path, not a string prefix: `rooms/1` covers
`rooms/1` and everything under `rooms/1/`, never `rooms/10/...`, which a string prefix would.

`LocalStorage(root)` keeps each key as a file under `root` (by default `data_dir/recordings`);
`recordings.s3.S3Storage` keeps them in a bucket.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, Self

from roomscribe.config import Settings
from roomscribe.errors import InvalidInput, NotFound

_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,199}")
CHUNK = 1 << 20


def check_key(key: str, *, prefix: bool = False) -> str:
    """`key` if it is a well-formed key (or, with `prefix`, the empty prefix), else InvalidInput."""
    if prefix and key == "":
        return key
    parts = key.split("/")
    if not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidInput(f"{key!r} is not a storage key (plain segments joined by '/')")
    return key


class Appender(Protocol):
    """An open, append-only object. Bytes passed to `write` reach the backend in order."""

    @property
    def size(self) -> int:
        """Bytes in the object so far, including what was there before it was opened."""

    def write(self, data: bytes) -> None:
        """Append `data`. Locally it is in the OS on return, so a killed process keeps it."""

    def flush(self) -> None:
        """Make everything written so far durable (fsync locally; upload the tail on a bucket)."""

    def close(self) -> None:
        """Flush and release. Closing twice is harmless."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class Storage(Protocol):
    """Byte objects by key. Every method is blocking; async callers go through a thread."""

    def put(self, key: str, data: bytes | Iterable[bytes]) -> None:
        """Store an object whole. Readers see the old object or the new one, never a mix."""

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `[start, end)` of an object (all of it by default); past the end reads short."""

    def stream(self, key: str, start: int = 0, end: int | None = None,
               chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Like `get`, in chunks: serves large objects and HTTP ranges without loading them."""

    def append(self, key: str) -> Appender:
        """Open an object for appending, creating it if needed."""

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]:
        """Every key under `prefix` (a key path), sorted."""

    def size(self, prefix: str) -> int:
        """Total bytes of the objects under `prefix` (the object's size when it is one key)."""

    def delete(self, prefix: str) -> int:
        """Delete every object under `prefix` (never empty) and return how many; none is fine."""

    def clean(self) -> int:
        """Remove what writers killed mid-write left behind; returns how many pieces."""


def open_storage(settings: Settings) -> Storage:
    """The configured backend: the local folder `data_dir/recordings` by default, or an S3
    bucket (`ROOMSCRIBE_STORAGE_URL=s3://bucket/prefix`, see `recordings.s3`)."""
    if settings.storage_url:
        from roomscribe.recordings.s3 import S3Storage  # boto3 loads only when asked for

        return S3Storage.from_url(settings.storage_url, endpoint_url=settings.s3_endpoint_url)
    return LocalStorage.from_settings(settings)


class LocalAppender:
    """Appends through an unbuffered descriptor, so each `write` is in the OS on return."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError("write to a closed appender")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written

    def flush(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalStorage:
    """`Storage` on a local folder: one file a key, atomic puts by write-then-rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        return cls(settings.data_dir / "recordings")

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes | Iterable[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A dot-name is never a key, so a half-written temporary file is invisible to `list`.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("wb") as fh:
                for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.stream(key, start, end))

    def stream(self, key: str, start: int = 0, end: int | None = None,
               chunk_size: int = CHUNK) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise InvalidInput(f"bad byte range [{start}, {end}) for {key!r}")
        path = self._path(key)
        try:
            fh = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no recording object {key!r}") from None
        return self._chunks(fh, start, end, chunk_size)

    @staticmethod
    def _chunks(fh: BinaryIO, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
        try:
            fh.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = fh.read(chunk_size if left is None else min(chunk_size, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            fh.close()

    def append(self, key: str) -> LocalAppender:
        return LocalAppender(self._path(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _files(self, prefix: str) -> Iterator[tuple[str, Path]]:
        check_key(prefix, prefix=True)
        base = self.root.joinpath(*prefix.split("/")) if prefix else self.root
        if base.is_file():
            yield prefix, base
            return
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath, name)
                yield path.relative_to(self.root).as_posix(), path

    def list(self, prefix: str = "") -> list[str]:
        return sorted(key for key, _ in self._files(prefix))

    def size(self, prefix: str) -> int:
        total = 0
        for _, path in self._files(prefix):
            try:
                total += path.stat().st_size
            except FileNotFoundError:  # deleted while we walked
                continue
        return total

    def delete(self, prefix: str) -> int:
        if not prefix:
            raise InvalidInput("refusing to delete every recording: give a prefix")
        count = 0
        for _, path in list(self._files(prefix)):
            try:
                path.unlink()
                count += 1
            except FileNotFoundError:
                continue
        # What a killed writer left half-written under the prefix goes too: it is the room's.
        for path in self._leftovers(prefix):
            path.unlink(missing_ok=True)
        self._prune(prefix)
        return count

    def clean(self) -> int:
        """Delete what killed writers left half-written (dot-named temporary files); returns how
        many. Call at start, before anything writes."""
        leftovers = list(self._leftovers(""))
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def _leftovers(self, prefix: str) -> Iterator[Path]:
        base = self.root.joinpath(*prefix.split("/")) if prefix else self.root
        if base.is_dir():
            yield from (path for path in base.rglob(".*.tmp") if path.is_file())

    def _prune(self, prefix: str) -> None:
        """Remove folders left empty, so a deleted room leaves no trace on disk."""
        if not prefix:
            return
        base = self.root.joinpath(*prefix.split("/"))
        if base.is_dir():
            for dirpath, _, _ in os.walk(base, topdown=False):
                with contextlib.suppress(OSError):  # not empty: a dot-file or a concurrent write
                    os.rmdir(dirpath)
        for parent in base.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                return
            try:
                os.rmdir(parent)
            except OSError:
                return
