"""Domain errors, and their one mapping to HTTP.

Services raise these and never build HTTP responses; `app.py` installs `to_http` as the handler.

    RoomscribeError
    ├── InvalidInput          bad arguments, malformed audio, broken query syntax   → 400
    │   ├── TooLarge          over a size or duration limit                          → 413
    │   ├── UnsupportedMediaType  a body that is not the type the endpoint reads     → 415
    │   ├── RangeNotSatisfiable  a byte range past the end of a recording            → 416
    │   └── Unprocessable     well-formed, but a value the field cannot take (null)  → 422
    ├── NotAuthenticated      no or expired credentials                             → 401
    ├── Forbidden             known caller, wrong role                              → 403
    ├── NotFound              unknown room, account, file                           → 404
    ├── Conflict              a rule of the current state forbids it                → 409
    ├── Gone                  existed, expired under the retention policy           → 410
    ├── RateLimited           too many requests, or more than real time of audio    → 429
    └── Unavailable           not now: try again after `Retry-After` seconds        → 503
        ├── NotReady          still being prepared (a recording being mixed)        → 503
        └── ModelUnavailable  missing or corrupt Whisper model                      → 503
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from http import HTTPStatus


class RoomscribeError(Exception):
    """Base of every error Roomscribe raises on purpose. `str(err)` is a one-line reason."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    headers: Mapping[str, str] = {}
    """Response headers the error's HTTP form needs (a 416 says how long the resource is)."""


class InvalidInput(RoomscribeError):
    status = HTTPStatus.BAD_REQUEST


class TooLarge(InvalidInput):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(InvalidInput):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class Unprocessable(InvalidInput):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class RangeNotSatisfiable(InvalidInput):
    status = HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.headers = {"Content-Range": f"bytes */{size}"}


class NotAuthenticated(RoomscribeError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(RoomscribeError):
    status = HTTPStatus.FORBIDDEN


class NotFound(RoomscribeError):
    status = HTTPStatus.NOT_FOUND


class Conflict(RoomscribeError):
    status = HTTPStatus.CONFLICT


class Gone(RoomscribeError):
    status = HTTPStatus.GONE


class RateLimited(RoomscribeError):
    """Over a limit; `retry_after` says in how many seconds the next try may succeed."""

    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class Unavailable(RoomscribeError):
    status = HTTPStatus.SERVICE_UNAVAILABLE

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        if retry_after is not None:
            self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class NotReady(Unavailable):
    pass


class ModelUnavailable(Unavailable):
    pass
