"""How the pages answer: templates for people, JSON for the page scripts, errors as pages.

A form the page script posts (it sends `Accept: application/json`) gets `{"message"}` to announce,
or `{"error", "detail"}` to show; the same form posted without script gets a redirect back (303)
or an error page. A page that needs an account sends the browser to the sign-in page, which
brings it back afterwards.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.response import Redirect, Template

from roomscribe.accounts.tables import Account
from roomscribe.errors import NotAuthenticated, RoomscribeError
from roomscribe.web.forms import value
from roomscribe.web.security import CSRF_COOKIE, HEADERS, local_path

_ROOM_PATH = re.compile(r"^/r/[A-Za-z0-9_-]+")
FORM_EXPIRED = "This form has expired. Go back, reload the page and try again."


def render(template: str, viewer: Account | None, *, status: int = 200,
           **context: Any) -> Template:
    return Template(template_name=template, context={"viewer": viewer, **context},
                    status_code=status)


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.accept.best_match(["text/html", "application/json"]) == "application/json"


def done(request: Request[Any, Any, Any], data: dict[str, Any], message: str,
         back: str) -> Response[Any]:
    """A form action succeeded: the message for the script, or back to `next` (else `back`)."""
    if wants_json(request):
        return Response({"message": message}, status_code=200)
    return Redirect(path=local_path(value(data, "next"), back), status_code=303)


def sign_in_first(request: Request[Any, Any, Any]) -> Redirect:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(path=f"/signin?next={quote(here, safe='/')}", status_code=303)


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The page routes' one error mapping (the API keeps its JSON mapping in `app.py`)."""
    if isinstance(exc, NotAuthenticated) and request.method == "GET" and not wants_json(request):
        return sign_in_first(request)
    status, detail = _describe(exc)
    if wants_json(request):
        return Response({"error": type(exc).__name__, "detail": sentence(detail)},
                        status_code=status)
    response = render("error.html", None, status=status, message=sentence(detail),
                      status_code=status, known_viewer=False, back=_room_of(request))
    # Router-level response headers do not reach responses built by exception handlers.
    response.headers.update({header.name: header.value or "" for header in HEADERS})
    if detail == FORM_EXPIRED:
        # A token signed with a secret this site no longer has: start over with a fresh one.
        response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def _room_of(request: Request[Any, Any, Any]) -> str:
    """The room page an error happened under, to link back to (unless it is that page)."""
    match = _ROOM_PATH.match(request.url.path)
    if match is None or (match.group(0) == request.url.path and request.method == "GET"):
        return ""
    return match.group(0)


def _describe(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, RoomscribeError):
        return int(exc.status), str(exc)
    if isinstance(exc, PermissionDeniedException):
        # The only permission check on page routes is the CSRF token's.
        return exc.status_code, FORM_EXPIRED
    if isinstance(exc, HTTPException):
        return exc.status_code, exc.detail
    return 500, "something went wrong on our side"


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Something went wrong."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
