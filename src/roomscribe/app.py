"""create_app(): routes, plugins, lifespan and error mapping. Wiring only."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.openapi import OpenAPIConfig

from roomscribe import __version__
from roomscribe.config import Settings, get_settings
from roomscribe.errors import RoomscribeError


def to_http(_: Request[Any, Any, Any], exc: RoomscribeError) -> Response[dict[str, str]]:
    """The one place domain errors become HTTP responses."""
    return Response({"error": type(exc).__name__, "detail": str(exc)}, status_code=exc.status)


@get("/health", operation_id="health", sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: answers as soon as the process serves requests."""
    return {"status": "ok", "version": __version__}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    app = Litestar(
        route_handlers=[health],
        exception_handlers={RoomscribeError: to_http},
        openapi_config=OpenAPIConfig(title="Roomscribe", version=__version__, path="/schema"),
    )
    app.state.settings = settings
    return app
