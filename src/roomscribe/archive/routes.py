"""The search API: transcript segments the asker may see, with highlighted snippets."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery

from roomscribe.accounts.security import client_address
from roomscribe.accounts.tables import Account
from roomscribe.archive.search import Order, SearchPage
from roomscribe.archive.service import ArchiveService
from roomscribe.params import Page


def provide_archive(state: State) -> ArchiveService:
    service: ArchiveService = state.archive
    return service


class SearchController(Controller):
    path = "/api/v1/search"
    tags = ("archive",)

    @get("/", operation_id="search")
    async def search(
        self, request: Request[Any, Any, Any], viewer: NamedDependency[Account | None],
        archive: NamedDependency[ArchiveService], q: FromQuery[str], page: Page = 1,
        per_page: FromQuery[int] = 20, order: FromQuery[Order] = Order.NEWEST,
    ) -> SearchPage:
        """Words, "phrases", AND/OR/NOT, speaker:, room:, date:; a malformed query is 400 with
        the reason. Anonymous callers find public rooms, members also members' rooms, hosts
        their own; `per_page` is at most 100. 429 past 60 a minute (20 without an account)."""
        return await archive.search(viewer, q, page=page, per_page=per_page, order=order,
                                    client=client_address(request))
