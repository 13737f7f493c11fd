"""Domain errors, and their one mapping to HTTP.

Services raise these and never build HTTP responses; `app.py` installs `to_http` as the handler.

    RoomscribeError
    ├── InvalidInput          bad arguments, malformed audio, broken query syntax   → 400
    │   ├── TooLarge          over a size or duration limit                          → 413
    │   └── RangeNotSatisfiable  a byte range past the end of a recording            → 416
    ├── NotAuthenticated      no or expired credentials                             → 401
    ├── Forbidden             known caller, wrong role                              → 403
    ├── NotFound              unknown room, account, file                           → 404
    ├── Conflict              a rule of the current state forbids it                → 409
    ├── Gone                  existed, expired under the retention policy           → 410
    └── ModelUnavailable      missing or corrupt Whisper model                      → 503
"""

from __future__ import annotations

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


class ModelUnavailable(RoomscribeError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
