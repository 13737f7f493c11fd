"""The pages: room list, sign-in and sign-up, new room, and each room's listener, public captions,
host console and microphone pages, plus the panels the page scripts refresh.

Pages know who is asking from the session cookie alone (`page_viewer`, or `page_caller` where an
account is required); the API never reads that cookie. A cookie that has expired or been revoked
is the same as none: the visitor is simply signed out.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from roomscribe.accounts.schemas import AccountCreate, SessionCreate
from roomscribe.accounts.security import SESSION_COOKIE, client_address, session_cookie
from roomscribe.accounts.service import AccountService, IssuedToken
from roomscribe.accounts.tables import Account, TokenKind
from roomscribe.errors import Conflict, InvalidInput, NotAuthenticated
from roomscribe.reports.service import ReportService
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.service import RoomService
from roomscribe.rooms.tables import RoomState
from roomscribe.web import forms, views
from roomscribe.web.forms import FormData, value
from roomscribe.web.responses import render, sentence
from roomscribe.web.room_settings import starts_in
from roomscribe.web.security import local_path

ROOM = "/r/{room_id:str}"


def provide_page_viewer(request: Request[Any, Any, Any],
                        accounts: NamedDependency[AccountService]) -> Account | None:
    try:
        return accounts.identify(request.cookies.get(SESSION_COOKIE))
    except NotAuthenticated:
        return None


def provide_page_caller(page_viewer: NamedDependency[Account | None]) -> Account:
    if page_viewer is None:
        raise NotAuthenticated("sign in to see this page")
    return page_viewer


def here(request: Request[Any, Any, Any], default: str) -> str:
    """The page a panel is shown on (`?page=`), where its forms return to without script."""
    return local_path(request.query_params.get("page"), default)


class PageController(Controller):
    include_in_schema = False

    @get("/")
    async def home(self, page_viewer: NamedDependency[Account | None],
                   rooms: NamedDependency[RoomService]) -> Template:
        return render("home.html", page_viewer, rooms=await views.room_list(rooms, page_viewer))

    @get("/signin", sync_to_thread=False)
    def sign_in_form(self, request: Request[Any, Any, Any],
                     page_viewer: NamedDependency[Account | None]) -> Template:
        return render("signin.html", page_viewer, values={}, errors={},
                      next=local_path(request.query_params.get("next")))

    @get("/signup", sync_to_thread=False)
    def sign_up_form(self, request: Request[Any, Any, Any],
                     page_viewer: NamedDependency[Account | None]) -> Template:
        return render("signup.html", page_viewer, values={}, errors={},
                      next=local_path(request.query_params.get("next")))

    @get("/rooms/new", sync_to_thread=False)
    def new_room_form(self, page_caller: NamedDependency[Account],
                      rooms: NamedDependency[RoomService]) -> Template:
        return render("room_new.html", page_caller, values={}, errors={},
                      languages_missing=rooms.languages_missing)

    @get(ROOM)
    async def room(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                   page_viewer: NamedDependency[Account | None],
                   rooms: NamedDependency[RoomService],
                   membership: NamedDependency[MembershipService],
                   reports: NamedDependency[ReportService],
                   now: NamedDependency[datetime]) -> Template:
        """The listener page; anonymous visitors only where captions are public. A scheduled
        room counts down to its start; an ended one leads to its replay."""
        page = await views.room_page(rooms, membership, page_viewer, room_id)
        room = page.room
        may_report = room.state is RoomState.ENDED and await asyncio.to_thread(
            reports.may_report, room.id, page_viewer.id if page_viewer else None)
        return render("room.html", page_viewer, page=page, may_report=may_report,
                      live_audio=views.live_audio(rooms),
                      share_url=str(request.base_url).rstrip("/") + f"/r/{room.id}",
                      starts_in=starts_in(room.scheduled_for, now) if room.scheduled_for
                      else "")

    @get(ROOM + "/captions")
    async def captions(self, room_id: FromPath[str],
                       page_viewer: NamedDependency[Account | None],
                       rooms: NamedDependency[RoomService]) -> Template:
        """Captions only, for anyone with the link, where the host made captions public."""
        return render("captions.html", page_viewer, room=await views.public_room(rooms, room_id))

    @get(ROOM + "/host")
    async def host(self, room_id: FromPath[str], page_caller: NamedDependency[Account],
                   rooms: NamedDependency[RoomService],
                   membership: NamedDependency[MembershipService]) -> Template:
        return render("host.html", page_caller, live_audio=views.live_audio(rooms),
                      languages_missing=rooms.languages_missing,
                      page=await views.host_page(rooms, membership, page_caller, room_id))

    @get(ROOM + "/speak")
    async def speak(self, room_id: FromPath[str], page_caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService],
                   membership: NamedDependency[MembershipService]) -> Template:
        return render("speak.html", page_caller, live_audio=views.live_audio(rooms),
                      page=await views.speak_page(rooms, membership, page_caller, room_id))

    @get(ROOM + "/panels/me")
    async def me_panel(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                       page_caller: NamedDependency[Account],
                       rooms: NamedDependency[RoomService],
                   membership: NamedDependency[MembershipService]) -> Template:
        """The viewer's own standing and actions, refreshed as it changes."""
        return render("panels/me.html", page_caller, here=here(request, f"/r/{room_id}"),
                      page=await views.room_page(rooms, membership, page_caller, room_id))

    @get(ROOM + "/panels/console")
    async def console_panel(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                            page_caller: NamedDependency[Account],
                            rooms: NamedDependency[RoomService],
                   membership: NamedDependency[MembershipService]) -> Template:
        """The host console's people and pins, refreshed as they change."""
        return render("panels/console.html", page_caller, here=here(request, f"/r/{room_id}/host"),
                      page=await views.host_page(rooms, membership, page_caller, room_id))


class FormController(Controller):
    """Forms that sign in, sign up, sign out and create rooms."""

    include_in_schema = False

    @post("/signin", sync_to_thread=True)
    def sign_in(self, request: Request[Any, Any, Any], data: FormData,
                accounts: NamedDependency[AccountService]) -> Response[Any]:
        return _sign_in(request, data, accounts)

    @post("/signup", sync_to_thread=True)
    def sign_up(self, request: Request[Any, Any, Any], data: FormData,
                accounts: NamedDependency[AccountService]) -> Response[Any]:
        return _sign_up(request, data, accounts)

    @post("/signout", sync_to_thread=True)
    def sign_out(self, request: Request[Any, Any, Any],
                 accounts: NamedDependency[AccountService]) -> Redirect:
        accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        response = Redirect(path="/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @post("/rooms/new")
    async def create_room(self, data: FormData, page_caller: NamedDependency[Account],
                          rooms: NamedDependency[RoomService]) -> Response[Any]:
        return await _create_room(data, page_caller, rooms)


SIGN_IN_MESSAGES = {"handle": "Enter your handle.", "password": "Enter your password."}


def _sign_in(request: Request[Any, Any, Any], data: dict[str, Any],
             accounts: AccountService) -> Response[Any]:
    next_page = local_path(value(data, "next"))
    fields = {"handle": value(data, "handle"), "password": value(data, "password")}
    credentials, errors = forms.validate(SessionCreate, fields, SIGN_IN_MESSAGES)
    if credentials is not None:
        try:
            return _signed_in(request, accounts.sign_in(credentials, kind=TokenKind.SESSION,
                                                        client=client_address(request)),
                              next_page)
        except NotAuthenticated:
            errors = {"": "That handle and password do not match an account. Check both and "
                          "try again."}
    return render("signin.html", None, status=400 if "" not in errors else 401,
                  values={"handle": fields["handle"]}, errors=errors, next=next_page)


def _sign_up(request: Request[Any, Any, Any], data: dict[str, Any],
             accounts: AccountService) -> Response[Any]:
    next_page = local_path(value(data, "next"))
    fields = {name: value(data, name) for name in ("handle", "display_name", "password")}
    account, errors = forms.validate(AccountCreate, fields)
    if account is not None:
        try:
            accounts.register(account, client=client_address(request))
            issued = accounts.sign_in(SessionCreate(handle=account.handle,
                                                    password=account.password),
                                      kind=TokenKind.SESSION)
            return _signed_in(request, issued, next_page)
        except Conflict:
            errors = {"handle": "That handle is taken. Choose another."}
    return render("signup.html", None, status=400, errors=errors, next=next_page,
                  values={"handle": fields["handle"], "display_name": fields["display_name"]})


def _signed_in(request: Request[Any, Any, Any], issued: IssuedToken, next_page: str) -> Redirect:
    cookie = session_cookie(issued.token, issued.expires_at, secure=request.url.scheme == "https")
    return Redirect(path=next_page, status_code=303, cookies=[cookie])


async def _create_room(data: dict[str, Any], caller: Account,
                       rooms: RoomService) -> Response[Any]:
    room, errors = forms.room_create(data)
    if room is not None:
        try:
            created = await rooms.create(caller, room)
            return Redirect(path=f"/r/{created.id}/host", status_code=303)
        except (InvalidInput, Conflict) as err:
            where = "scheduled_for" if room.scheduled_for is not None else ""
            # The rules name API fields; the form calls this one "Start time".
            errors = {where: sentence(str(err).replace("scheduled_for", "the start time"))}
    return render("room_new.html", caller, status=400, values=data, errors=errors)
