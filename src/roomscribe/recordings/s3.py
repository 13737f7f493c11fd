"""`Storage` on an S3-compatible object store (boto3): the only module that speaks to one.

Whole objects (`put`: mixes, exports) are single PUTs, atomic as S3 makes them. Appended objects
(speaker tracks) cannot be appended to in place on S3, so each `flush()` stores what was written
since the last one as a part object of its own, `<key>@parts/<n>`: `@` is never in a key, so
parts never collide with real keys, and `list` shows the appended object as one key. A reader
sees the parts in order as one object; ranged reads fetch only the parts the range covers. A
process killed mid-write keeps every flushed part (the track writer flushes at least every
second); what it had buffered since is lost, where the local folder would have kept it in the OS.
That is the one difference between the backends, stated in the README.

Configured with `ROOMSCRIBE_STORAGE_URL=s3://bucket/optional/prefix`; the endpoint
(`ROOMSCRIBE_S3_ENDPOINT_URL`, for a non-AWS store) and the usual `AWS_*` credentials and region
come from the environment. Tests run it against moto's S3 server on loopback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from roomscribe.errors import InvalidInput, NotFound
from roomscribe.recordings.storage import CHUNK, check_key

PARTS = "@parts/"
_PART = re.compile(r"(?P<key>.+)@parts/(?P<n>\d{8})")


@dataclass(frozen=True, slots=True)
class _Piece:
    name: str
    size: int


class S3Appender:
    """Buffers writes; each `flush` stores the buffer as the next part (durable on return)."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self._storage = storage
        self._key = key
        parts = storage._parts(key)
        self._next = len(parts)
        self._size = sum(p.size for p in parts)
        self._buffer = bytearray()
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("write to a closed appender")
        self._buffer += data
        self._size += len(data)

    def flush(self) -> None:
        if not self._buffer:
            return
        self._storage._put_raw(f"{self._key}{PARTS}{self._next:08d}", bytes(self._buffer))
        self._next += 1
        self._buffer.clear()

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Storage:
    """`Storage` in `bucket` under `prefix` (see the module docstring)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client or boto3.client(
            "s3", endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}))

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3Storage:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInput(f"{url!r} is not an s3://bucket/prefix URL")
        return cls(parsed.netloc, parsed.path, endpoint_url=endpoint_url)

    # Names

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1:] if self.prefix else name

    def _objects(self, prefix: str) -> Iterator[_Piece]:
        """Every stored object (parts included) at or under the key path `prefix`."""
        check_key(prefix, prefix=True)
        paginator = self._client.get_paginator("list_objects_v2")
        base = self._name(prefix) if prefix else self.prefix
        wanted = [base + "/", base + "@"] if base else [""]
        for start in wanted:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    yield _Piece(item["Key"], int(item["Size"]))
        if prefix:
            exact = self._head(self._name(prefix))
            if exact is not None:
                yield exact

    def _head(self, name: str) -> _Piece | None:
        try:
            answer = self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return _Piece(name, int(answer["ContentLength"]))

    def _parts(self, key: str) -> list[_Piece]:
        paginator = self._client.get_paginator("list_objects_v2")
        parts = [_Piece(item["Key"], int(item["Size"]))
                 for page in paginator.paginate(Bucket=self.bucket,
                                                Prefix=self._name(key) + PARTS)
                 for item in page.get("Contents", [])]
        return sorted(parts, key=lambda p: p.name)

    def _put_raw(self, name: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._name(name), Body=data)

    # Storage

    def put(self, key: str, data: bytes | Iterable[bytes]) -> None:
        body = data if isinstance(data, bytes | bytearray) else b"".join(data)
        self._put_raw(check_key(key), bytes(body))

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.stream(key, start, end))

    def stream(self, key: str, start: int = 0, end: int | None = None,
               chunk_size: int = CHUNK) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise InvalidInput(f"bad byte range [{start}, {end}) for {key!r}")
        name = self._name(check_key(key))
        whole = self._head(name)
        pieces = [whole] if whole is not None else self._parts(key)
        if not pieces:
            raise NotFound(f"no recording object {key!r}")
        return self._read(pieces, start, end, chunk_size)

    def _read(self, pieces: list[_Piece], start: int, end: int | None,
              chunk_size: int) -> Iterator[bytes]:
        offset = 0
        for piece in pieces:
            first, last = max(start - offset, 0), piece.size if end is None else min(
                end - offset, piece.size)
            offset += piece.size
            if first >= last:
                if end is not None and offset >= end:
                    return
                continue
            answer = self._client.get_object(Bucket=self.bucket, Key=piece.name,
                                             Range=f"bytes={first}-{last - 1}")
            body = answer["Body"]
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    def append(self, key: str) -> S3Appender:
        return S3Appender(self, check_key(key))

    def exists(self, key: str) -> bool:
        name = self._name(check_key(key))
        return self._head(name) is not None or bool(self._parts(key))

    def list(self, prefix: str = "") -> list[str]:
        keys = set()
        for piece in self._objects(prefix):
            name = self._key(piece.name)
            part = _PART.fullmatch(name)
            keys.add(part["key"] if part else name)
        return sorted(keys)

    def size(self, prefix: str) -> int:
        return sum(piece.size for piece in self._objects(prefix))

    def delete(self, prefix: str) -> int:
        if not prefix:
            raise InvalidInput("refusing to delete every recording: give a prefix")
        pieces = list(self._objects(prefix))
        keys = {_PART.sub(r"\g<key>", self._key(p.name)) for p in pieces}
        for start in range(0, len(pieces), 1000):  # S3 deletes at most 1000 a request
            batch = pieces[start:start + 1000]
            self._client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": p.name} for p in batch], "Quiet": True})
        return len(keys)

    def clean(self) -> int:
        """Nothing to clean: every object S3 holds was stored whole."""
        return 0
