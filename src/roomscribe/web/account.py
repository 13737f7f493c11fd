"""The pages about one's own account and other people: my rooms, account settings (name,
password, signing out everywhere, my data, closing the account) and profiles with a follow button.

Each form posts here and calls the services, as the room pages' actions do. Closing an account
touches three domains, in this order: the host's open rooms end or are cancelled (rooms), their
ended rooms' recordings are deleted now unless a report or hold keeps them (retention), then the
account itself loses its name and password (accounts).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from roomscribe.accounts.security import SESSION_COOKIE
from roomscribe.accounts.service import AccountService, public
from roomscribe.accounts.tables import Account
from roomscribe.errors import Forbidden, InvalidInput
from roomscribe.reports.service import ReportService
from roomscribe.reports.tables import ReportStatus
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.schemas import RoomPublic
from roomscribe.rooms.service import RoomService
from roomscribe.rooms.tables import RoomState
from roomscribe.web.forms import FormData, checked, value
from roomscribe.web.responses import done, render, sentence

REPORT_WORDS = {ReportStatus.OPEN: "Reported; an admin will look into it",
                ReportStatus.INVESTIGATING: "Reported; an admin is looking into it",
                ReportStatus.RESOLVED: "Reported; the report is resolved"}


@dataclass(frozen=True, slots=True)
class MyRooms:
    upcoming: list[RoomPublic]
    """Live and scheduled."""
    past: list[RoomPublic]
    """Ended and cancelled, newest first."""
    reports: dict[str, ReportStatus]


async def my_rooms(rooms: RoomService, reports: ReportService, viewer: Account) -> MyRooms:
    hosted = await rooms.hosted(viewer)
    upcoming = [r for r in hosted if r.state in (RoomState.LIVE, RoomState.SCHEDULED)]
    past = [r for r in hosted if r not in upcoming]
    standing = await asyncio.to_thread(reports.standing, [r.id for r in past if r.record])
    return MyRooms(upcoming, past, standing)


def account_data(viewer: Account, hosted: list[RoomPublic], filed: list[Any],
                 accounts: AccountService) -> dict[str, Any]:
    """Everything the site keeps about the account and made by it, as JSON."""
    return {
        "account": public(viewer, viewer).model_dump(mode="json"),
        "following": [a.handle for a in accounts.following(viewer)],
        "rooms_hosted": [room.model_dump(mode="json") for room in hosted],
        "reports_filed": [report.model_dump(mode="json", exclude={"reporter_id"})
                          for report in filed],
    }


class AccountPageController(Controller):
    include_in_schema = False

    @get("/me/rooms")
    async def rooms(self, page_caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService],
                    reports: NamedDependency[ReportService]) -> Template:
        """The caller's rooms: coming up, and past ones with their recordings."""
        return render("my_rooms.html", page_caller, section="my-rooms",
                      mine=await my_rooms(rooms, reports, page_caller), report_words=REPORT_WORDS)

    @get("/account")
    async def settings(self, request: Request[Any, Any, Any],
                       page_caller: NamedDependency[Account]) -> Template:
        return render("account.html", page_caller, section="account", errors={},
                      values={"display_name": page_caller.display_name},
                      done_message=request.query_params.get("done", ""))

    @post("/account/name", sync_to_thread=True)
    def rename(self, request: Request[Any, Any, Any], data: FormData,
               page_caller: NamedDependency[Account],
               accounts: NamedDependency[AccountService]) -> Response[Any]:
        try:
            accounts.rename(page_caller, value(data, "display_name"))
        except InvalidInput:
            return _refused(page_caller, data, {"display_name": "Enter a name of 1 to 50 "
                                                                "characters."})
        return done(request, data, "Your name is changed.", "/account?done=name")

    @post("/account/password", sync_to_thread=True)
    def password(self, request: Request[Any, Any, Any], data: FormData,
                 page_caller: NamedDependency[Account],
                 accounts: NamedDependency[AccountService]) -> Response[Any]:
        try:
            accounts.change_password(page_caller, current=value(data, "current_password"),
                                     new=value(data, "new_password"),
                                     keep=request.cookies.get(SESSION_COOKIE))
        except InvalidInput:
            return _refused(page_caller, data, {"new_password": "Use at least 8 characters."})
        except Forbidden:
            return _refused(page_caller, data, {"current_password": "That is not your current "
                                                                    "password."}, status=403)
        return done(request, data, "Your password is changed; every other session is signed "
                    "out.", "/account?done=password")

    @post("/account/signout-everywhere", sync_to_thread=True)
    def sign_out_everywhere(self, page_caller: NamedDependency[Account],
                            accounts: NamedDependency[AccountService]) -> Redirect:
        accounts.sign_out_everywhere(page_caller)
        response = Redirect(path="/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/account/data.json")
    async def data(self, page_caller: NamedDependency[Account],
                   accounts: NamedDependency[AccountService],
                   rooms: NamedDependency[RoomService],
                   reports: NamedDependency[ReportService]) -> Response[dict[str, Any]]:
        """My data: the account, whom it follows, the rooms it hosted, the reports it filed."""
        assert page_caller.id is not None
        hosted = await rooms.hosted(page_caller)
        filed = await asyncio.to_thread(reports.filed_by, page_caller.id)
        body = await asyncio.to_thread(account_data, page_caller, hosted, filed, accounts)
        return Response(body, headers={
            "Content-Disposition": f'attachment; filename="roomscribe-{page_caller.handle}.json"',
            "Cache-Control": "private, no-store"})

    @post("/account/close")
    async def close(self, data: FormData, page_caller: NamedDependency[Account],
                    accounts: NamedDependency[AccountService],
                    rooms: NamedDependency[RoomService],
                    retention: NamedDependency[RetentionService],
                    now: NamedDependency[datetime]) -> Response[Any]:
        if not checked(data, "understood"):
            return _refused(page_caller, data, {"understood": "Tick the box to say you understand "
                                                              "what closing deletes."})
        password = value(data, "close_password")
        try:
            # The password first: nothing of the account changes unless it is theirs.
            await asyncio.to_thread(accounts.check_password, page_caller, password)
        except Forbidden:
            return _refused(page_caller, data, {"close_password": "That is not your password."},
                            status=403)
        assert page_caller.id is not None
        for room in await rooms.close_hosted(page_caller):
            if room.record and room.state is RoomState.ENDED and room.purged_at is None:
                await asyncio.to_thread(retention.purge_for_closed_account, room.id,
                                        by=page_caller.id, now=now)
        await asyncio.to_thread(accounts.close, page_caller, password=password)
        response = Redirect(path="/?closed=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/u/{handle:str}")
    async def profile(self, handle: FromPath[str], page_caller: NamedDependency[Account],
                      accounts: NamedDependency[AccountService]) -> Template:
        person = await asyncio.to_thread(accounts.profile, page_caller, handle)
        following = await asyncio.to_thread(accounts.follows, page_caller, handle)
        return render("profile.html", page_caller, person=person, following=following)

    @post("/u/{handle:str}/follow", sync_to_thread=True)
    def follow(self, request: Request[Any, Any, Any], handle: FromPath[str], data: FormData,
               page_caller: NamedDependency[Account],
               accounts: NamedDependency[AccountService]) -> Response[Any]:
        accounts.follow(page_caller, handle)
        return done(request, data, "You follow them now.", f"/u/{handle}")

    @post("/u/{handle:str}/unfollow", sync_to_thread=True)
    def unfollow(self, request: Request[Any, Any, Any], handle: FromPath[str], data: FormData,
                 page_caller: NamedDependency[Account],
                 accounts: NamedDependency[AccountService]) -> Response[Any]:
        accounts.unfollow(page_caller, handle)
        return done(request, data, "You no longer follow them.", f"/u/{handle}")


def _refused(viewer: Account, data: dict[str, Any], errors: dict[str, str], *,
             status: int = 400) -> Template:
    return render("account.html", viewer, section="account", status=status,
                  errors={k: sentence(v) for k, v in errors.items()}, done_message="",
                  values={"display_name": value(data, "display_name") or viewer.display_name})
