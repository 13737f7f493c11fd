"""Settings, read once from `ROOMSCRIBE_*` environment variables.

One object so every seam (database, storage, model, retention) is configured in one place and a
test can build its own `Settings(...)` without touching the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root when running from a checkout (holds `models/`).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class Settings(BaseSettings):
    """Everything Roomscribe can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="ROOMSCRIBE_", extra="ignore")

    data_dir: Path = Path("./data")
    """The one folder holding the SQLite file, recordings and the search index."""

    database_url: str | None = None
    """SQLAlchemy URL; defaults to `sqlite:///{data_dir}/roomscribe.db`."""

    asr_model: str = "tiny.en"
    """A catalog name (`tiny.en`, `base`) or a path to a CTranslate2 Whisper directory."""

    languages: str = "en"
    """Languages this server expects rooms in (comma-separated codes): any but English has the
    multilingual model loaded at start (and `scripts/serve` installs it), so the first such
    room does not wait for it."""

    multilingual_model: str = "base"
    """The model of rooms in other languages, of language detection and of the English track
    (`translate`): a multilingual catalog name or CTranslate2 Whisper directory."""

    models_dir: Path = PROJECT_ROOT / "models"
    """Where the catalog lives and where `models install` assembles weights."""

    asr_threads: int = Field(default_factory=_default_threads)
    """CPU threads CTranslate2 may use in total (workers × threads per worker)."""

    max_upload_bytes: int = 512 * 1024 * 1024
    """Largest input file `transcribe` (and uploads) accept."""

    max_duration_seconds: float = 6 * 3600.0
    """Longest input audio accepted, in seconds."""

    host: str = "127.0.0.1"
    """Address `serve` binds to."""

    port: int = 8000
    """Port `serve` listens on."""

    retention_days: int = Field(default=30, ge=1)
    """Days a recording and its transcript are kept after the room ends."""

    report_retention_days: int = Field(default=120, ge=1)
    """Days after the room ended that a recording reported inside the retention window is kept."""

    media: str = "auto"
    """Live audio: `auto` runs the installed Janus media server (Debian package `janus`) beside
    the service; `off` runs none. Without it rooms are still captioned, from the PCM socket."""

    janus_port: int = 0
    """Loopback port of the Janus API (0: a free one at start)."""

    rtp_ports: str = "20000-40000"
    """UDP ports Janus uses for WebRTC and for the audio it forwards to Roomscribe."""

    media_public_ip: str | None = None
    """The address browsers reach Janus at when it is behind NAT (Janus's 1:1 NAT mapping)."""

    # Limits on what a stranger can make expensive. Rates are `limits` strings ("20/minute").

    max_room_hours: float = Field(default=12.0, gt=0)
    """A live room ends by itself this many hours after it started."""

    max_live_rooms_per_account: int = Field(default=2, ge=1)
    """Live rooms one account may host at the same time."""

    max_audio_sockets_per_account: int = Field(default=2, ge=1)
    """Microphone connections one account may hold at once, across rooms."""

    audio_burst_seconds: float = Field(default=2.0, gt=0)
    """Audio a socket may send ahead of real time (network jitter); past it, it is closed."""

    max_stream_backlog_seconds: float = Field(default=30.0, gt=0)
    """Audio not yet heard that one speaker's caption stream may pile up before it is closed."""

    max_caption_connections_per_account: int = Field(default=10, ge=1)
    """Caption connections (WebSocket or SSE) one account may hold at once, across rooms."""

    max_caption_connections_per_address: int = Field(default=200, ge=1)
    """Caption connections from one client address (a venue's shared address counts once)."""

    signin_limit: str = "20/minute"
    """Sign-in attempts from one client address."""

    signin_failure_limit: str = "10/15 minutes"
    """Failed sign-ins to one handle, from anywhere, before it is locked for the rest of the
    window."""

    signup_limit: str = "10/hour"
    """Accounts created from one client address."""

    search_limit: str = "60/minute"
    """Searches by one signed-in account."""

    anonymous_search_limit: str = "20/minute"
    """Searches from one client address without an account."""

    reaction_limit: str = "10/10 seconds"
    """Reactions one account may send to one live room."""

    max_concurrent_hashes: int = Field(default=4, ge=1)
    """Password hashes (argon2, ~50 ms of a core each) computed at once; more wait."""

    storage_url: str | None = None
    """Where recordings live: None for `data_dir/recordings`, or `s3://bucket/prefix`."""

    s3_endpoint_url: str | None = None
    """An S3-compatible store's endpoint (None: AWS itself); credentials are the `AWS_*` ones."""

    redis_url: str | None = None
    """Redis for the scale-out profile (`redis://host:6379/0`): room events cross web processes
    through it, and the rate limits count there unless `rate_limit_storage` says otherwise."""

    asr: Literal["local", "workers"] = "local"
    """Where live captions are made: `local`, by this process's own model; `workers`, by ASR
    worker processes (`roomscribe worker`) reached through `redis_url`."""

    worker_streams: int = Field(default=16, ge=1)
    """Speaker streams one ASR worker serves at once (16 fit the 2-core machine measured)."""

    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose `X-Forwarded-For` names the client (comma-separated addresses, or `*`):
    behind a proxy on another host, set it to the proxy's address, or every client counts as
    that one address in the per-address limits."""

    rate_limit_storage: str = "memory://"
    """Where the rate limiters count: `memory://` for one process, a `redis://` URL to share
    the counts between processes."""

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: str) -> str:
        from roomscribe import languages  # Babel's data: only when the setting is read
        from roomscribe.errors import InvalidInput

        for code in (c.strip() for c in value.split(",")):
            try:
                if code:
                    languages.check(code)
            except InvalidInput as err:
                raise ValueError(f"ROOMSCRIBE_LANGUAGES: {err}") from None
        return value

    @model_validator(mode="after")
    def _workers_need_redis(self) -> Settings:
        if self.asr == "workers" and not self.redis_url:
            raise ValueError("ROOMSCRIBE_ASR=workers needs ROOMSCRIBE_REDIS_URL: the ASR workers "
                             "are reached through Redis")
        return self

    @property
    def limits_storage(self) -> str:
        """Where the rate limiters count: Redis when there is one and nothing else is set."""
        if self.rate_limit_storage == "memory://" and self.redis_url:
            return self.redis_url
        return self.rate_limit_storage

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'roomscribe.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
