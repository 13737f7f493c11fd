"""How web processes and ASR workers (`roomscribe worker`) talk, through Redis streams.

The one place the keys and fields are spelled; `captions.remote` is the web side, and
`captions.worker` the worker side.

- `{p}:jobs`, read by the consumer group `workers`: one entry per speaker stream, opened by the
  web process that holds the speaker's audio socket (`stream`, `room`, `speaker_id`,
  `speaker_name`, `origin`). The worker that reads an entry owns the stream; while it lives it
  claims the entry again every `HEARTBEAT` seconds, which keeps the entry's idle time near zero.
  An entry idle for `TAKEOVER` seconds belongs to a dead worker, and the next worker to look
  claims it (`XAUTOCLAIM`) and resumes the stream.
- `{p}:audio:{stream}`: the speaker's audio as received, 16-bit mono PCM at 16 kHz, one entry per
  flush (`pcm`; `at`, the room time of its first sample; `language`, the speaker's language as
  set now, empty while it is detected), then one entry with `end`. The
  worker trims what its finals have covered, so a long stream does not pile up in Redis.
- `{p}:events:{stream}`: the caption events the worker made, in order (`event`, JSON as
  `CaptionEvent.to_json`), then `done` once the stream is flushed. The web process relays them
  to the room's sink, which stores each final once (one writer) and publishes it.

A new owner resumes where the events say captions stopped: after the last final's `end`, from the
audio entry holding that instant, so no received audio is skipped and no final repeated.
"""

from __future__ import annotations

import json
from typing import Any

from roomscribe.captions.events import CaptionEvent

PREFIX = "roomscribe:asr"
GROUP = "workers"
HEARTBEAT = 1.0
"""Seconds between a worker's claims of its own streams."""
TAKEOVER = 3.0
"""Seconds a stream's entry may go unclaimed before another worker takes it over."""
KEEP_SECONDS = 13 * 3600
"""How long a stream's keys outlive their last write (a room lasts at most 12 hours)."""


def jobs_key(prefix: str = PREFIX) -> str:
    return f"{prefix}:jobs"


def worker_key(name: str, prefix: str = PREFIX) -> str:
    """A live worker's presence (streams served / capacity), expiring unless renewed."""
    return f"{prefix}:worker:{name}"


def audio_key(stream: str, prefix: str = PREFIX) -> str:
    return f"{prefix}:audio:{stream}"


def events_key(stream: str, prefix: str = PREFIX) -> str:
    return f"{prefix}:events:{stream}"


def encode_event(event: CaptionEvent) -> bytes:
    return json.dumps(event.to_json()).encode()


def decode_event(data: bytes) -> CaptionEvent:
    return CaptionEvent.from_json(json.loads(data))


def text(fields: dict[Any, Any], name: str, default: str | None = None) -> str:
    """A field of a stream entry as text (redis-py returns bytes); `default` when absent (an
    entry written by an older version), else KeyError."""
    if default is not None and name.encode() not in fields and name not in fields:
        return default
    value = fields[name.encode()] if name.encode() in fields else fields[name]
    return value.decode() if isinstance(value, bytes) else str(value)
