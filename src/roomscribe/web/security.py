"""What keeps the pages safe: CSRF checks on their forms, response headers, local redirects.

Pages are signed in by the HttpOnly session cookie, so every form they post is checked against
cross-site request forgery: Litestar's CSRF middleware (a signed double-submit token in a cookie
and in the form or `X-CSRFToken` header) runs on the page routes only; the API never reads the
session cookie and needs none of this. The token's HMAC secret is kept in a file in the data
folder, created on first start, so it survives restarts and is shared by every worker on the host.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader

SECRET_FILE = "web-secret"
CSRF_COOKIE = "roomscribe_csrf"

HEADERS = [
    # Scripts and styles come from our static files only: no inline script can run, so injected
    # markup cannot either. `'self'` also covers this site's ws:// and wss:// sockets.
    ResponseHeader(name="Content-Security-Policy", value=(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Permissions-Policy", value="microphone=(self), camera=()"),
]


def load_secret(data_dir: Path) -> str:
    """The site's secret, created once with owner-only permissions.

    Written to a temporary file and then hard-linked into place, so a worker starting at the same
    moment reads either nothing (and links its own, which loses) or the whole secret, never a part.
    """
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()


def csrf_config(data_dir: Path) -> CSRFConfig:
    # Scripts read the token from the page's <meta name="csrf-token">, never from the cookie.
    return CSRFConfig(secret=load_secret(data_dir), cookie_name=CSRF_COOKIE, cookie_httponly=True)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`: redirects never leave the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
